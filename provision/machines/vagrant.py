"""Machines made by Vagrant, through python-vagrant: what every Vagrant provider
shares. Each provider's module (machines/providers/) fills in the hooks below.

Vagrant reads the one Vagrantfile at the project root; the node list comes from
machines.json, rendered here from the cluster config. Vagrant's own records live
in the lab's state directory (VAGRANT_DOTFILE_PATH), so several inventories can
coexist and nothing generated lands in the work tree.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.errors import MachinesError
from provision.files import read_json, write_state
from provision.machines.base import Check, Machines, MachineState, SshEndpoint, tool_check
from provision.machines.routes import add_blackholes, remove_blackholes
from provision.project import Inventory
from provision.runlog import RunLog

# What Vagrant prints when a machine did not answer within config.vm.boot_timeout.
BOOT_TIMED_OUT = "Timed out while waiting for the machine to boot"
SPEC = "the lab's machines spec"  # machines.json, in errors


def spec_fix(path: Path) -> str:
    """How to get past a machines.json provision cannot use."""
    return (
        f"remove it (`rm {path}`): the next command writes it again from the config "
        "(with the provider the config chooses)"
    )


class VagrantMachines(Machines):
    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog):
        self.inv = inv
        self.config = config
        self.log = log
        self.state_dir = inv.state_dir
        self.spec_path = self.state_dir / "machines.json"
        self._not_booted: set[str] = set()  # machines whose `vagrant up` timed out

    # -- hooks: a provider's module overrides what differs ------------------------
    @classmethod
    def host_checks(cls, config: ClusterConfig) -> list[Check]:
        return [tool_check("vagrant", "scripts/host-setup (or apt-get install vagrant)")]

    def spec_extra(self, teardown: bool = False) -> dict:
        """The provider's part of machines.json (teardown: for halt or destroy, which
        need no box or image)."""
        return {}

    def prepare(self) -> None:
        """Before `vagrant up`: what the machines are made from (an image, a box)."""

    def before_create(self, new: list[str]) -> None:
        """Before the machines in `new` (not created yet) are made."""

    def console_log(self, name: str) -> Path | None:
        """Where a machine's console (its boot messages) is written, if anywhere."""
        return None

    def bring_up(self, todo: list[str]) -> None:
        """`vagrant up` of the machines in todo: one `vagrant up NAME` each, side by
        side, once the box is present (parallel first downloads of a box race)."""
        first, rest = todo[0], todo[1:]
        self._raise_unless_ok(self._vagrant_up([first]), [first])
        with ThreadPoolExecutor(max_workers=max(1, len(rest))) as pool:
            codes = list(pool.map(lambda n: self._vagrant_up([n]), rest))
        failed = [n for n, rc in zip(rest, codes, strict=True) if rc != 0]
        if failed:
            self._raise_unless_ok(1, failed)

    def engine_states(self) -> dict[str, str] | None:
        """Each machine's state asked of the provider's engine directly (well under a
        second, where Vagrant takes seconds), or None where it cannot say."""
        return None

    def host_key(self, name: str) -> tuple[str, str]:
        """(type, key) of a machine's ed25519 host key. Read with `vagrant ssh`, which
        connects with host key checking turned off: what is trusted is the first
        connection Vagrant makes to the address and port its own provider reports for
        the machine it just created (trust on first use); from then on Ansible and
        fabric accept only the key recorded here."""
        out = self._vagrant().ssh(vm_name=name, command="cat /etc/ssh/ssh_host_ed25519_key.pub")
        return key_line(name, out, "Vagrant's ssh")

    # -- environment -------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "VAGRANT_CWD": str(self.inv.root),
                "VAGRANT_DOTFILE_PATH": str(self.state_dir / "vagrant"),
                "VAGRANT_CHECKPOINT_DISABLE": "1",
                "VAGRANT_DEFAULT_PROVIDER": self.provider,
                "PROVISION_MACHINES": str(self.spec_path),
                # Debian's docker client matches Debian's engine
                "PATH": "/usr/bin:" + env.get("PATH", ""),
            }
        )
        return env

    def _vagrant(self):
        import vagrant

        self._write_spec_if_missing()
        return vagrant.Vagrant(
            root=str(self.inv.root), env=self.env(), quiet_stdout=True, quiet_stderr=True
        )

    def write_spec(self, teardown: bool = False) -> None:
        """machines.json for the Vagrantfile."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        spec = {**self.static_spec(self.config), **self.spec_extra(teardown)}
        write_state(self.spec_path, json.dumps(spec, indent=2) + "\n")

    def _write_spec_if_missing(self) -> None:
        # read, not just looked for: a FIFO or a link there would be handed to Vagrant
        if read_json(self.spec_path, SPEC, fix=spec_fix(self.spec_path)) is None:
            self.write_spec()

    # -- operations --------------------------------------------------------
    def up(self) -> list[str]:
        self.prepare()
        self.write_spec()
        # the lab's pod and service ranges are dropped on the host (routes.py)
        add_blackholes(self.config, self.log.say)
        names = [n.name for n in self.config.nodes]
        before = self._states()
        todo = [n for n in names if before.get(n) != "running"]
        if not todo:
            self.log.say(f"machines: all {len(names)} already running, nothing to do")
            return []
        new = [n for n in todo if before.get(n) == "not_created"]
        self.before_create(new)
        self.log.say(f"machines: bringing up {', '.join(todo)} with Vagrant ({self.provider})")
        self.bring_up(todo)
        after = self._states()
        not_running = [n for n in names if after.get(n) != "running"]
        if not_running:
            raise MachinesError(
                f"machines not running after up: {', '.join(not_running)}\n"
                f"  see {self.log.path}; then run `provision up` again"
            )
        return [n for n in todo if n not in new]

    def halt(self) -> list[str]:
        """`vagrant halt` for each running machine, side by side: a clean shutdown
        (the spec's halt_timeout), forced only after that."""
        states = self._states()
        running = [n.name for n in self.config.nodes if states.get(n.name) == "running"]
        if not running:
            return []
        self.write_spec(teardown=True)  # the Vagrantfile of this version reads it
        self.log.say(f"machines: vagrant halt {' '.join(running)} ({self.provider})")
        with ThreadPoolExecutor(max_workers=len(running)) as pool:
            outs = list(pool.map(self._vagrant_halt, running))
        after = self._states()
        still = [n for n in running if after.get(n) == "running"]
        if still:
            failed = "\n".join(f"    {o}" for o in outs if o)
            raise MachinesError(
                f"still running after vagrant halt: {', '.join(still)}\n{failed}\n"
                f"  see {self.log.path}; run `provision halt` again"
            )
        return running

    def _vagrant_halt(self, name: str) -> str:
        cmd = ["vagrant", "halt", name]
        self.log.write("$ " + " ".join(cmd))
        out = subprocess.run(
            cmd, env=self.env(), cwd=self.inv.root, capture_output=True, text=True, check=False
        )
        self.log.write(out.stdout + out.stderr)
        return "" if out.returncode == 0 else f"{name}: exit {out.returncode}: {out.stderr[-300:]}"

    def _vagrant_up(self, names: list[str]) -> int:
        cmd = ["vagrant", "up", "--no-provision", f"--provider={self.provider}", *names]
        self.log.write("$ " + " ".join(cmd))
        proc = subprocess.Popen(
            cmd,
            env=self.env(),
            cwd=self.inv.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if BOOT_TIMED_OUT in line:
                self._not_booted.update(names)
            if line.startswith("==> "):
                self.log.say("  " + line[4:], style="dim")
            else:
                self.log.write("  " + line)
        return proc.wait()

    def _raise_unless_ok(self, rc: int, names: list[str]) -> None:
        if rc == 0:
            return
        lines = [f"vagrant up failed for {', '.join(names)} (exit {rc})"]
        timeout = self.static_spec(self.config)["boot_timeout"]
        for name in names:
            console = self.console_log(name)
            seen = f"; its console log: {console}" if console else ""
            if name in self._not_booted:
                lines.append(
                    f"  {name} did not answer SSH within {timeout} s (machines.boot_timeout_s)"
                    f"{seen}"
                )
            elif seen:
                lines.append(f"  {name}{seen}")
        lines.append(
            f"  see {self.log.path}; fix the cause, then run `provision up`"
            " again (machines already made are kept)"
        )
        raise MachinesError("\n".join(lines))

    def _states(self) -> dict[str, str]:
        if not (self.state_dir / "vagrant").exists():
            return {n.name: "not_created" for n in self.config.nodes}
        return {s.name: s.state for s in self._vagrant().status()}

    def status(self) -> list[MachineState]:
        """Each machine's state, from the engine where it can say (no SSH address
        then, the generated inventory has it), else from Vagrant with the SSH address
        of each running machine. Nothing is written."""
        if read_json(self.spec_path, SPEC, fix=spec_fix(self.spec_path)) is None:
            # never made (or destroyed): nothing to ask Vagrant, and status writes no state
            return [
                MachineState(n.name, "not_created", self.provider, str(n.ip), "")
                for n in self.config.nodes
            ]
        fast = self.engine_states()
        states = fast if fast is not None else self._states()
        endpoints = {} if fast is not None else self.endpoints(only_running=states)
        return [
            MachineState(
                n.name,
                states.get(n.name) or "unknown",
                self.provider,
                str(n.ip),
                f"{endpoints[n.name].host}:{endpoints[n.name].port}" if n.name in endpoints else "",
            )
            for n in self.config.nodes
        ]

    def endpoints(self, only_running: dict[str, str] | None = None) -> dict[str, SshEndpoint]:
        import paramiko

        v = self._vagrant()
        names = [
            n.name
            for n in self.config.nodes
            if only_running is None or only_running.get(n.name) == "running"
        ]

        def one(name: str) -> tuple[str, SshEndpoint]:
            text = v.ssh_config(vm_name=name)
            host = paramiko.SSHConfig.from_text(text).lookup(name)
            return name, SshEndpoint(
                host["hostname"], int(host.get("port", 22)), host["user"], host["identityfile"][0]
            )

        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            return dict(pool.map(one, names))

    def known_hosts(self, endpoints: dict[str, SshEndpoint]) -> str:
        """known_hosts lines for these nodes: each node's ed25519 host key, read
        through the provider's channel (host_key)."""

        def one(name: str) -> str:
            kind, key = self.host_key(name)
            ep = endpoints[name]
            host = ep.host if ep.port == 22 else f"[{ep.host}]:{ep.port}"
            return f"{host} {kind} {key}"

        with ThreadPoolExecutor(max_workers=max(1, len(endpoints))) as pool:
            return "\n".join(pool.map(one, endpoints)) + "\n"

    @property
    def lab_key(self) -> str:
        """This lab's identity: its state directory's name (<inventory>-<hash>)."""
        return self.inv.state_dir.name

    def destroy_one(self, name: str) -> None:
        """Destroy one machine (its disks or volumes too); the others keep running."""
        self.write_spec()  # the Vagrantfile of this version reads it
        self._vagrant_destroy([name])

    def destroy(self) -> None:
        if (self.state_dir / "vagrant").exists():
            self.write_spec(teardown=True)  # the Vagrantfile of this version reads it
            self._vagrant_destroy([])
        remove_blackholes(self.config)

    def _vagrant_destroy(self, names: list[str]) -> None:
        """`vagrant destroy --force [NAMES]` (all machines when none are named)."""
        what = " ".join(names)
        self.log.say(f"machines: vagrant destroy {what + ' ' if what else ''}({self.provider})")
        cmd = ["vagrant", "destroy", "--force", *names]
        self.log.write("$ " + " ".join(cmd))
        out = subprocess.run(
            cmd, env=self.env(), cwd=self.inv.root, capture_output=True, text=True, check=False
        )
        self.log.write(out.stdout + out.stderr)
        if out.returncode != 0:
            raise MachinesError(
                f"vagrant destroy {what + ' ' if what else ''}failed (exit {out.returncode}); "
                f"see {self.log.path}"
            )


def key_line(name: str, out: str, channel: str) -> tuple[str, str]:
    """(type, key) of the ed25519 host key line in a command's output. Vagrant may
    print its own "==> NAME: ..." lines around the command's output: the key line only."""
    line = next((ln for ln in out.splitlines() if ln.startswith("ssh-ed25519 ")), None)
    if line is None:
        raise MachinesError(
            f"no ed25519 host key read from {name} through {channel}:\n"
            f"    {out.strip()[-300:]}\n  fix: run `provision up` again"
        )
    kind, key = line.split()[:2]
    return kind, key
