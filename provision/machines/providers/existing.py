"""Existing machines (machines.kind: ssh), reached over SSH with pinned host keys.

Nothing here creates or destroys a machine: `up` proves each host is reachable
with the key the config names and a host key found in the config's known_hosts
(never auto-accepted), and that the login user can run commands as root (root
itself, or passwordless sudo), before anything is changed; `destroy` only forgets
the generated inventory; `halt` refuses. Node operations reset such a host
instead of destroying it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

from provision.config.model import ClusterConfig
from provision.errors import ProvisionError
from provision.files import read_small, refuse
from provision.machines.base import (
    Check,
    Machines,
    MachineState,
    SshEndpoint,
    static_endpoints,
    tool_check,
)
from provision.machines.ssh_hosts import (
    MAX_SSH_FILE,
    NoPasswordlessSudo,
    UnreachableHost,
    connect,
    ssh_failure,
    sudo_fix,
    sudo_problem,
)
from provision.project import Inventory
from provision.runlog import RunLog


class SshHosts(Machines):
    provider: ClassVar[str] = "ssh"
    existing: ClassVar[bool] = True

    @classmethod
    def for_lab(cls, inv: Inventory, config: ClusterConfig, log: RunLog) -> SshHosts:
        return cls(config, inv.dir, log)

    @classmethod
    def host_checks(cls, config: ClusterConfig) -> list[Check]:
        return [tool_check("ssh-keygen", "apt-get install openssh-client")]

    def __init__(self, config: ClusterConfig, base_dir: Path, log: RunLog):
        self.config = config
        self.log = log
        assert config.machines.ssh is not None  # the config checks ensure it
        self.access = config.machines.ssh
        self.base_dir = base_dir

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def endpoints(self) -> dict[str, SshEndpoint]:
        key = str(self._path(self.access.private_key))
        return {
            name: SshEndpoint(ep.host, ep.port, ep.user, key)
            for name, ep in static_endpoints(self.config).items()
        }

    def _probe(self, item: tuple[str, SshEndpoint], sudo: bool = False) -> tuple[str, str]:
        """(name, "running"), (name, "unreachable (...)") or, with sudo, (name,
        "no passwordless sudo (...)")."""
        name, ep = item
        try:
            with connect(ep, self._path(self.access.known_hosts).resolve()) as conn:
                conn.run("true", hide=True, in_stream=False, timeout=15)
                problem = sudo_problem(conn, ep.user) if sudo else None
        except ProvisionError:
            raise  # a key or known_hosts file refused: the file's error, not the host's
        except Exception as e:  # paramiko and socket errors alike
            self.log.write(f"{name}: {type(e).__name__}: {e}")
            return name, f"unreachable at {ep.host}:{ep.port} ({ssh_failure(e)})"
        if problem:
            self.log.write(f"{name}: {problem}")
            return name, f"no passwordless sudo ({problem})"
        return name, "running"

    def up(self) -> list[str]:
        """Check every host before anything changes: reachable with its pinned host
        key, and root reachable from the login user without a password."""
        states = dict(self._probe_all(sudo=True))

        def listed(pick) -> str:
            return "\n".join(f"  {n}: {s}" for n, s in states.items() if pick(s))

        unreachable = listed(lambda s: s.startswith("unreachable"))
        if unreachable:
            raise UnreachableHost(
                f"existing hosts not reachable with pinned host keys:\n{unreachable}\n"
                f"  fix: check address, user and key in the config, and add each host's key to "
                f"{self.access.known_hosts} (e.g. ssh-keyscan, checked against the host's console)"
            )
        no_sudo = listed(lambda s: s != "running")
        if no_sudo:
            raise NoPasswordlessSudo(
                f"existing hosts where {self.access.user} cannot run commands as root without "
                f"a password (provision runs every change through `sudo -n`):\n{no_sudo}\n"
                f"  nothing was changed\n  fix: {sudo_fix(self.access.user)}"
            )
        how = "as root" if self.access.user == "root" else f"as {self.access.user}, sudo ok"
        self.log.say(f"machines: {len(states)} existing hosts reachable over SSH ({how})")
        return []

    def halt(self) -> list[str]:
        from provision.errors import UsageError

        raise UsageError(
            "machines.kind is ssh: existing hosts are not provision's to stop; nothing was "
            "changed\n  fix: shut them down yourself; `provision up` checks them and the "
            "cluster when they are back"
        )

    def _probe_all(self, sudo: bool = False) -> list[tuple[str, str]]:
        # paramiko would block on a FIFO and read a file of any size: checked first
        # (a missing file is left to the probe, which reports the host unreachable)
        self._read("private_key", self.access.private_key)
        self._read("known_hosts", self.access.known_hosts)
        endpoints = self.endpoints()
        with ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
            return list(pool.map(lambda item: self._probe(item, sudo), endpoints.items()))

    def status(self) -> list[MachineState]:
        states = dict(self._probe_all())
        eps = self.endpoints()
        return [
            MachineState(
                n.name, states[n.name], "ssh", str(n.ip), f"{eps[n.name].host}:{eps[n.name].port}"
            )
            for n in self.config.nodes
        ]

    def known_hosts(self, endpoints: dict[str, SshEndpoint]) -> str:
        raw = self._read("known_hosts", self.access.known_hosts)
        what, path = "machines.ssh.known_hosts", self._path(self.access.known_hosts)
        fix = f"point {what} at the known_hosts file that pins the hosts' keys"
        if raw is None:
            raise refuse(path, what, "it does not exist", fix)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise refuse(path, what, f"not UTF-8 text (byte {e.start})", fix) from None

    def _read(self, field: str, value: str) -> bytes | None:
        """A file the config names, when it is a small regular file (read_small); the
        config may name any path, so a link is followed to the file it names."""
        what = f"machines.ssh.{field}"
        fix = f"point {what} at a regular file of at most {MAX_SSH_FILE} bytes"
        return read_small(self._path(value).resolve(), what, fix, MAX_SSH_FILE)

    def destroy_one(self, name: str) -> None:
        self.log.say(f"machines: {name} is an existing host; it is not destroyed")

    def destroy(self) -> None:
        self.log.say("machines: existing hosts are not destroyed; forgetting the inventory only")
