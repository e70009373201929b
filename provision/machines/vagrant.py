"""Machines made by Vagrant (virtualbox, libvirt or docker), through python-vagrant.

Vagrant reads the one Vagrantfile at the project root; the node list comes from
machines.json, rendered here from the cluster config. Vagrant's own records live
in the lab's state directory (VAGRANT_DOTFILE_PATH), so several inventories can
coexist and nothing generated lands in the work tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from provision.config.model import ClusterConfig
from provision.errors import MachinesError
from provision.files import read_json, refuse, write_state
from provision.machines.base import MachineState, SshEndpoint
from provision.machines.node_image import INIT_PATH, LOGIN_HOME, LOGIN_USER
from provision.machines.routes import add_blackholes, remove_blackholes
from provision.machines.seed import STORE_ON_NODE, store_volume
from provision.machines.spec import machines_spec
from provision.project import Inventory
from provision.runlog import RunLog
from provision.sources import BUNDLE_ON_NODE, resolve_sources

LABEL = "io.provision.cluster"
# The lab's identity (its state key, <inventory>-<hash>): provision removes a
# container or volume only when it carries this lab's, never by cluster name alone.
LAB_LABEL = "io.provision.lab"
SPEC = "the lab's machines spec"  # machines.json, in errors
_RECORDED: Any = object()  # write_spec: the seed machines.json already names


def docker_create_args(
    cluster: str,
    authorized_keys: Path,
    bundle: Path | None = None,
    seeded: bool = False,
    lab: str | None = None,
) -> list[str]:
    """Flags that boot a systemd node container without --privileged (README:
    "Machines"): every capability but CAP_SYS_RESOURCE, which a sandboxed Docker
    engine may not grant, every device, seccomp and AppArmor unconfined. The volumes
    give containerd, Docker and the kubelet a real filesystem; they start empty,
    so creating several nodes at once does not race on copying image content.

    With an offline bundle, it is mounted read-only at BUNDLE_ON_NODE: the roles
    install binaries and import images from there instead of copying each file
    over SSH (kind mounts nothing like it: its node image already holds them).
    A path `-v` cannot carry (one with a colon) is not mounted; the roles copy.
    With an image seed (machines/seed.py), each node's containerd store is its
    own named volume instead (node_store_args).
    """
    mounts = []
    if bundle is not None and ":" not in str(bundle):
        mounts = ["-v", f"{bundle}:{BUNDLE_ON_NODE}:ro"]
    identity = ["--label", f"{LAB_LABEL}={lab}"] if lab else []
    return [
        "--label",
        f"{LABEL}={cluster}",
        *identity,
        "--cap-add",
        "ALL",
        "--cap-drop",
        "SYS_RESOURCE",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "--security-opt",
        "systempaths=unconfined",
        "--device-cgroup-rule",
        "a *:* rwm",
        "--device",
        "/dev/kmsg",
        "--device",
        "/dev/fuse",
        "--cgroupns",
        "private",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        "--tmpfs",
        "/tmp",
        *([] if seeded else ["-v", STORE_ON_NODE]),
        "-v",
        "/var/lib/docker",
        "-v",
        "/var/lib/kubelet",
        # The lab's public key, for the login user (as in a Vagrant box) and for root.
        "-v",
        f"{authorized_keys}:{LOGIN_HOME}/.ssh/authorized_keys:ro",
        "-v",
        f"{authorized_keys}:/root/.ssh/authorized_keys:ro",
        *mounts,
        "--stop-signal",
        "SIGRTMIN+3",
    ]


def node_store_args(cluster: str, node: str) -> list[str]:
    """A seeded node's containerd store: its named volume, filled from the seed."""
    return ["-v", f"{store_volume(cluster, node)}:{STORE_ON_NODE}"]


def export_volume(cluster: str, node: str) -> str:
    """The named volume that holds the NFS export on a container node. It outlives a
    halt, an engine restart and a replaced node, and, unlike the container's overlayfs,
    it has the file handles NFS-Ganesha serves by."""
    return f"{cluster}-{node}-nfs-export"


def spec_fix(path: Path) -> str:
    """How to get past a machines.json provision cannot use."""
    return (
        f"remove it (`rm {path}`): the next command writes it again from the config "
        "(with the provider the config chooses)"
    )


class VagrantMachines:
    def __init__(self, inv: Inventory, config: ClusterConfig, provider: str, log: RunLog):
        self.inv = inv
        self.config = config
        self.provider = provider
        self.log = log
        self.state_dir = inv.state_dir
        self.spec_path = self.state_dir / "machines.json"

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

    def seed_plan(self, image: str):
        """The image seed for this lab, or None: only the docker provider's nodes
        with containerd from Debian (the node image's) and images from a bundle
        the engine can mount get one."""
        from provision.machines.seed import plan_seed

        sources = resolve_sources(self.config)
        if (
            self.provider != "docker"
            or sources.artifacts != "bundle"
            or sources.docker != "distribution"
            or self.config.runtime.cri != "containerd"
            or ":" in str(sources.bundle_dir)
        ):
            return None
        return plan_seed(image, sources.bundle_dir, self.config.versions.kubernetes)

    def write_spec(self, image: str | None = None, seed: str | None = _RECORDED) -> None:
        """machines.json for the Vagrantfile; image and seed default to those recorded."""
        from provision.machines.keys import ensure_key

        self.state_dir.mkdir(parents=True, exist_ok=True)
        extra: dict[str, object] = {}
        if seed is _RECORDED:
            seed = self._recorded("seed")
        if self.provider == "docker":
            sources = resolve_sources(self.config)
            key = ensure_key(self.state_dir, f"provision-{self.config.cluster.name}")
            extra["docker"] = {
                "image": image or self._recorded_image(),
                "seed": seed,
                # Per node: a seeded node's containerd store, the NFS server's
                # export (the Vagrantfile adds them to create_args).
                "node_args": self._node_args(seeded=seed is not None),
                "cmd": [INIT_PATH],
                "private_key": str(key),
                "ssh_user": LOGIN_USER,
                "create_args": docker_create_args(
                    self.config.cluster.name,
                    key.parent / "authorized_keys",
                    sources.bundle_dir
                    if sources.artifacts == "bundle" and self.config.artifacts.mount_bundle
                    else None,
                    seeded=seed is not None,
                    lab=self.lab_key,
                ),
            }
        driver = "kvm"
        if self.provider in ("virtualbox", "libvirt"):
            from provision.machines import box
            from provision.machines.kvm import host_probe

            if self.config.machines.box == box.OFFLINE_BOX:
                extra["box"] = box.box_name(self._box_bake())
            if self.provider == "libvirt":
                driver = host_probe().driver
        spec = machines_spec(self.config, self.provider, extra, libvirt_driver=driver)
        write_state(self.spec_path, json.dumps(spec, indent=2) + "\n")

    def _node_args(self, seeded: bool) -> dict[str, list[str]]:
        cluster = self.config.cluster.name
        args = {
            n.name: node_store_args(cluster, n.name) if seeded else [] for n in self.config.nodes
        }
        nfs = self.config.addons.nfs
        if nfs.enabled:
            server = self.config.nfs_server
            args[server] += ["-v", f"{export_volume(cluster, server)}:{nfs.export_path}"]
        return args

    def _export_volume(self) -> None:
        """The NFS export's volume, made with this lab's labels before its node is
        created; one left by this lab (a replaced node) is kept with its files."""
        from provision.machines.docker import docker, labels

        if not self.config.addons.nfs.enabled:
            return
        server = self.config.nfs_server
        volume = export_volume(self.config.cluster.name, server)
        if labels("volume", volume) is not None:
            if not self._carries_identity(volume, kind="volume"):
                raise MachinesError(
                    f"volume {volume} exists but is not this lab's ({LAB_LABEL} "
                    f"{self.lab_key}; its labels: {labels('volume', volume)})\n"
                    f"  fix: remove it (`docker volume rm {volume}`) if nothing uses it, "
                    "or give this lab another cluster.name"
                )
            return
        ids = [a for k, v in self._identity().items() for a in ("--label", f"{k}={v}")]
        docker("volume", "create", *ids, "--label", f"io.provision.node={server}", volume)

    def _prepare_vms(self) -> None:
        """Check the config against this host, say which libvirt driver and why,
        build the offline box when asked for."""
        from provision.errors import ConfigError
        from provision.machines import box
        from provision.machines.kvm import host_probe
        from provision.machines.vm_checks import vm_problems

        problems = vm_problems(self.config, self.provider)
        if problems:
            raise ConfigError(str(self.inv.cluster_file), problems)
        if self.provider == "libvirt":
            probe = host_probe()
            self.log.say(f"machines: libvirt driver {probe.driver}: {probe.reason}")
        if self.config.machines.box == box.OFFLINE_BOX:
            box.ensure_box(self.inv.cache_dir, say=self.log.say, bake=self._box_bake())

    def _box_bake(self):
        """The bundle's part of the offline box (libvirt only: the box is a libvirt
        box), worked out once per command so the box built and the box named in
        machines.json are the same even when a bundle appears meanwhile."""
        from provision.machines import box

        if not hasattr(self, "_bake"):
            self._bake = box.bake_plan(self.config) if self.provider == "libvirt" else None
        return self._bake

    def _recorded(self, key: str):
        """What machines.json records for the docker provider (None when it does not)."""
        path = self.spec_path
        docker = (read_json(path, SPEC, fix=spec_fix(path)) or {}).get("docker")
        if docker is None:
            return None
        if not isinstance(docker, dict) or not isinstance(docker.get(key), str | None):
            raise refuse(path, SPEC, f"docker.{key} is not a string or null", spec_fix(path))
        return docker.get(key)

    def _recorded_image(self) -> str:
        from provision.machines.node_image import image_tag

        return self._recorded("image") or image_tag()

    def _write_spec_if_missing(self) -> None:
        # read, not just looked for: a FIFO or a link there would be handed to Vagrant
        if read_json(self.spec_path, SPEC, fix=spec_fix(self.spec_path)) is None:
            self.write_spec()

    # -- operations --------------------------------------------------------
    def up(self) -> list[str]:
        if self.provider == "docker":
            from provision.machines.node_image import ensure_image

            image, _ = ensure_image(self.inv.cache_dir, say=self.log.say)
            seed = self.seed_plan(image)
            self.write_spec(image, seed.volume if seed else None)
            add_blackholes(self.config, self.log.say)
        else:
            seed = None
            self._prepare_vms()
            self.write_spec()
            # the host's default route leaves the machine: the lab's pod and
            # service ranges are dropped on the host, as for container nodes
            add_blackholes(self.config, self.log.say)
        names = [n.name for n in self.config.nodes]
        before = self._states()
        todo = [n for n in names if before.get(n) != "running"]
        if not todo:
            self.log.say(f"machines: all {len(names)} already running, nothing to do")
            return []
        new = [n for n in todo if before.get(n) == "not_created"]
        if seed is not None:
            self._seed_stores(seed, image, new)
        if self.provider == "docker" and self.config.nfs_server in new:
            self._export_volume()
        self.log.say(f"machines: bringing up {', '.join(todo)} with Vagrant ({self.provider})")
        if self.provider == "docker":
            # The docker provider brings machines up in parallel by itself. A
            # creation racing another's `docker inspect` can fail; once more
            # settles it (the machines already made are kept).
            if self._vagrant_up(todo) != 0:
                self.log.say("machines: vagrant up failed once; retrying")
                self._raise_unless_ok(self._vagrant_up(todo), todo)
        else:
            # VirtualBox and libvirt: one `vagrant up NAME` each, side by side,
            # once the box is present (parallel first downloads of a box race).
            first, rest = todo[0], todo[1:]
            self._raise_unless_ok(self._vagrant_up([first]), [first])
            with ThreadPoolExecutor(max_workers=max(1, len(rest))) as pool:
                codes = list(pool.map(lambda n: self._vagrant_up([n]), rest))
            failed = [n for n, rc in zip(rest, codes, strict=True) if rc != 0]
            if failed:
                self._raise_unless_ok(1, failed)
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
        self._bake = None  # a halt needs no box: a bundle's state never stops it
        self.write_spec()  # the Vagrantfile of this version reads it (halt_timeout)
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

    def _seed_stores(self, seed, image: str, new: list[str]) -> None:
        """The seed made if needed, then a fresh store for each node not yet created
        (a stopped node keeps its own)."""
        from provision.machines.seed import ensure_seed, fill_stores

        if not new:
            return
        ensure_seed(seed, image, resolve_sources(self.config).bundle_dir, say=self.log.say)
        roles: dict[str, str] = {n.name: n.role for n in self.config.nodes if n.name in new}
        started = time.monotonic()
        fill_stores(seed, image, self.config.cluster.name, roles, LABEL, self._identity())
        self.log.say(
            f"machines: containerd stores of {', '.join(new)} filled from the seed "
            f"in {time.monotonic() - started:.1f} s"
        )

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
            if line.startswith("==> "):
                self.log.say("  " + line[4:], style="dim")
            else:
                self.log.write("  " + line)
        return proc.wait()

    def _raise_unless_ok(self, rc: int, names: list[str]) -> None:
        if rc != 0:
            raise MachinesError(
                f"vagrant up failed for {', '.join(names)} (exit {rc})\n"
                f"  see {self.log.path}; fix the cause, then run `provision up`"
                " again (machines already made are kept)"
            )

    def _states(self) -> dict[str, str]:
        if not (self.state_dir / "vagrant").exists():
            return {n.name: "not_created" for n in self.config.nodes}
        return {s.name: s.state for s in self._vagrant().status()}

    def _engine_states(self) -> dict[str, str] | None:
        """Each machine's state asked of the Docker engine or libvirt directly (well
        under a second, where Vagrant takes seconds), or None where neither applies."""
        if self.provider == "docker":
            from provision.machines.docker import docker

            out = docker(
                "ps",
                "-a",
                *self._identity_filters(),
                "--format",
                "{{.Names}}\t{{.State}}",
                check=False,
                timeout=30,
            )
            if out.returncode != 0:
                return None
            found = dict(line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line)
            states = {}
            for n in self.config.nodes:
                state = found.get(f"{self.config.cluster.name}-{n.name}")
                states[n.name] = (
                    "not_created"
                    if state is None
                    else "running"
                    if state == "running"
                    else "stopped"
                )
            return states
        if self.provider == "libvirt":
            states = {}
            for n in self.config.nodes:
                domain = f"{self.config.cluster.name}-{n.name}"
                out = subprocess.run(
                    ["virsh", "-c", "qemu:///system", "domstate", domain],
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=30,
                )
                word = out.stdout.strip().replace(" ", "")  # "shut off" is Vagrant's shutoff
                states[n.name] = word if out.returncode == 0 and word else "not_created"
            return states
        return None

    def status(self) -> list[MachineState]:
        """Each machine's state, from the engine where it can say (docker, libvirt:
        no SSH address then, the generated inventory has it), else from Vagrant with
        the SSH address of each running machine. Nothing is written."""
        if read_json(self.spec_path, SPEC, fix=spec_fix(self.spec_path)) is None:
            # never made (or destroyed): nothing to ask Vagrant, and status writes no state
            return [
                MachineState(n.name, "not_created", self.provider, str(n.ip), "")
                for n in self.config.nodes
            ]
        fast = self._engine_states()
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
        """known_hosts lines for these nodes: each node's ed25519 host key.

        Container nodes (docker provider): read through the Docker engine on this
        host (`docker exec`), a local channel that involves no network and no SSH,
        so the pinned key is the one the container really holds.

        VMs (virtualbox, libvirt): read with `vagrant ssh`, which connects with host
        key checking turned off. What is trusted is the first connection Vagrant
        makes to the address and port its own provider reports for the machine it
        just created (trust on first use); from then on Ansible and fabric accept
        only the key recorded here.
        """
        if self.provider == "docker":
            read = self._host_key_from_engine
        else:
            read = self._host_key_over_vagrant_ssh

        def one(name: str) -> str:
            kind, key = read(name)
            ep = endpoints[name]
            host = ep.host if ep.port == 22 else f"[{ep.host}]:{ep.port}"
            return f"{host} {kind} {key}"

        with ThreadPoolExecutor(max_workers=max(1, len(endpoints))) as pool:
            return "\n".join(pool.map(one, endpoints)) + "\n"

    def _host_key_from_engine(self, name: str) -> tuple[str, str]:
        from provision.machines.docker import docker, labels

        container = f"{self.config.cluster.name}-{name}"
        if not self._carries_identity(container):
            raise MachinesError(
                f"container {container} is not a node of this lab (cluster "
                f"{self.config.cluster.name}, {LAB_LABEL} {self.lab_key}; its labels: "
                f"{labels('container', container)})\n"
                "  fix: run `provision destroy`, then `provision up`"
            )
        out = docker("exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False)
        return self._key_line(name, out.stdout + out.stderr, "the Docker engine")

    def _host_key_over_vagrant_ssh(self, name: str) -> tuple[str, str]:
        out = self._vagrant().ssh(vm_name=name, command="cat /etc/ssh/ssh_host_ed25519_key.pub")
        return self._key_line(name, out, "Vagrant's ssh")

    @staticmethod
    def _key_line(name: str, out: str, channel: str) -> tuple[str, str]:
        # Vagrant may print its own "==> NAME: ..." lines around the command's
        # output: take the key line only.
        line = next((ln for ln in out.splitlines() if ln.startswith("ssh-ed25519 ")), None)
        if line is None:
            raise MachinesError(
                f"no ed25519 host key read from {name} through {channel}:\n"
                f"    {out.strip()[-300:]}\n  fix: run `provision up` again"
            )
        kind, key = line.split()[:2]
        return kind, key

    @property
    def lab_key(self) -> str:
        """This lab's identity: its state directory's name (<inventory>-<hash>)."""
        return self.inv.state_dir.name

    def _identity(self) -> dict[str, str]:
        return {LABEL: self.config.cluster.name, LAB_LABEL: self.lab_key}

    def _identity_filters(self) -> list[str]:
        """docker ps/volume ls filters matching this lab's objects only (ANDed)."""
        return [a for k, v in self._identity().items() for a in ("--filter", f"label={k}={v}")]

    def _carries_identity(self, name: str, kind: str = "container") -> bool:
        """The Docker object of that name exists and is this lab's (both labels)."""
        from provision.machines.docker import labels

        found = labels(kind, name)
        return found is not None and all(found.get(k) == v for k, v in self._identity().items())

    def destroy_one(self, name: str) -> None:
        """Destroy one machine (its disks or volumes too); the others keep running."""
        from provision.machines.docker import docker

        self.write_spec()  # the Vagrantfile of this version reads it
        if self.provider == "docker":
            # The node is being thrown away: removed at once, not shut down (a
            # node's systemd takes seconds to stop); Vagrant then finds it gone.
            container = f"{self.config.cluster.name}-{name}"
            if self._carries_identity(container):
                docker("rm", "-f", "-v", container)
        self._vagrant_destroy([name])
        if self.provider == "docker":
            volume = store_volume(self.config.cluster.name, name)
            if self._carries_identity(volume, kind="volume"):
                docker("volume", "rm", "-f", volume, check=False)

    def destroy(self) -> None:
        if self.provider == "docker":
            self._remove_containers()  # at once, as in destroy_one
        if (self.state_dir / "vagrant").exists():
            self._bake = None  # destroy needs no box: a bundle's state never stops it
            self.write_spec()  # the Vagrantfile of this version reads it
            self._vagrant_destroy([])
        if self.provider == "docker":
            self._sweep_docker()
        if self.provider in ("docker", "libvirt"):
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

    def _remove_containers(self) -> int:
        """Remove the lab's containers (with their anonymous volumes) at once."""
        from provision.machines.docker import docker

        ids = docker("ps", "-aq", *self._identity_filters()).stdout.split()
        if ids:
            docker("rm", "-f", "-v", *ids)
        return len(ids)

    def _sweep_docker(self) -> None:
        """Remove what an interrupted run may have left: labelled containers (with
        their volumes), the nodes' containerd store volumes and the private network
        once no container uses it."""
        from provision.machines.docker import docker

        removed = self._remove_containers()
        if removed:
            self.log.say(f"machines: removed {removed} leftover container(s)")
        stores = docker("volume", "ls", "-q", *self._identity_filters()).stdout.split()
        if stores:
            self.log.say(f"machines: removing {len(stores)} containerd store volume(s)")
            docker("volume", "rm", "-f", *stores)
        network = f"vagrant_network_{self.config.network.node_subnet}"
        inspect = docker(
            "network", "inspect", network, "--format", "{{len .Containers}}", check=False
        )
        if inspect.returncode == 0 and inspect.stdout.strip() == "0":
            self.log.say(f"machines: removing network {network}")
            docker("network", "rm", network)
