"""Existing machines, reached over SSH with pinned host keys.

Nothing here creates or destroys a machine: `up` proves each host is reachable
with the key the config names and a host key found in the config's known_hosts
(never auto-accepted), and that the login user can run commands as root (root
itself, or passwordless sudo), before anything is changed; `destroy` only forgets
the generated inventory.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.errors import MachinesError, ProvisionError
from provision.files import read_small, refuse
from provision.machines.base import MachineState, SshEndpoint, static_endpoints
from provision.runlog import RunLog

# A private key or a known_hosts file: a few kilobytes; more is no such file.
MAX_SSH_FILE = 1 << 20


class UnreachableHost(MachinesError):
    """An existing host that SSH cannot reach with the configured user and key."""


class NoPasswordlessSudo(MachinesError):
    """An existing host where the login user cannot run `sudo -n`."""


def as_root(command: str, user: str) -> str:
    """A shell command that runs `command` as root on a host logged into as `user`:
    unchanged for root, else through `sudo -n` (never waits for a password)."""
    if user == "root":
        return command
    return f"sudo -n -- sh -c {shlex.quote(command)}"


def sudo_fix(user: str) -> str:
    """How to give `user` passwordless sudo on a host."""
    entry = f"{user} ALL=(ALL) NOPASSWD: ALL"
    return (
        f"on each host, as root: echo '{entry}' > /etc/sudoers.d/{user} && "
        f"chmod 0440 /etc/sudoers.d/{user} && visudo -c (or log in as root: machines.ssh.user)"
    )


def sudo_problem(conn, user: str) -> str | None:
    """None when `user` can run commands as root without a password, else why not."""
    if user == "root":
        return None
    out = conn.run("sudo -n true", hide=True, warn=True, in_stream=False, timeout=15)
    if out.exited == 0:
        return None
    said = (out.stderr.strip() or out.stdout.strip()).splitlines()
    return f"sudo -n true as {user} failed (exit {out.exited}): {said[-1] if said else ''}"


def connect(ep: SshEndpoint, known_hosts: Path, timeout: float = 15):
    """A fabric Connection that refuses unknown host keys. Its files are checked
    first (paramiko would wait on a FIFO, read a file of any size, and fail on one
    that is not UTF-8); its failures to connect are for `reaching` to report."""
    import paramiko
    from fabric import Connection

    quiet_paramiko()
    _check_file(known_hosts, "the known_hosts file", "writes the lab's known_hosts again")
    if ep.private_key:
        _check_file(Path(ep.private_key).resolve(), "the SSH private key", "checks the key")
    conn = Connection(
        ep.host,
        user=ep.user,
        port=ep.port,
        connect_timeout=timeout,
        connect_kwargs={
            "key_filename": [ep.private_key],
            "look_for_keys": False,
            "allow_agent": False,
        },
    )
    conn.client.load_host_keys(str(known_hosts))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return conn


def _check_file(path: Path, what: str, up_does: str) -> None:
    """A key or known_hosts file paramiko may read: small, regular, UTF-8 (or none)."""
    fix = (
        f"make {path} a regular file of UTF-8 text of at most {MAX_SSH_FILE} bytes; "
        f"`provision up --only machines` {up_does}"
    )
    raw = read_small(path, what, fix, MAX_SSH_FILE)
    if raw is None:
        raise refuse(path, what, "there is no such file", fix)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise refuse(path, what, f"not UTF-8 text (byte {e.start})", fix) from None


def quiet_paramiko() -> None:
    """paramiko logs a failed connection with its traceback and, with no logging set
    up, Python prints that on stderr. The failure reaches provision as an exception,
    reported by `reaching` or a probe; the log goes nowhere (PROVISION_DEBUG=1 keeps it)."""
    if os.environ.get("PROVISION_DEBUG") == "1":
        return
    logger = logging.getLogger("paramiko")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def ssh_failure(e: BaseException) -> str:
    """What paramiko's or the socket's error says, and what it means when that is
    not plain (a port that answers, but not as an SSH server)."""
    said = f"{type(e).__name__}: {e}"
    if "protocol banner" in str(e):
        return f"it answers, but not as an SSH server ({said})"
    return said


@contextmanager
def reaching(node: str, ep: SshEndpoint) -> Iterator[None]:
    """An SSH failure inside the block (connection refused or dropped, a port that is
    no SSH server, a host key not pinned, a key refused, a timeout) as UnreachableHost
    naming the node, its address and the fix."""
    import paramiko

    try:
        yield
    except (paramiko.SSHException, OSError, EOFError, UnicodeDecodeError) as e:
        raise UnreachableHost(
            f"{node}: cannot be reached over SSH at {ep.host}:{ep.port}: {ssh_failure(e)}\n"
            f"  fix: check that {node} runs and answers SSH there (`provision status`); "
            "`provision up --only machines` makes a lab's machine again and writes its "
            "address and host key"
        ) from None


class SshHosts:
    provider = "ssh"

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
        unreachable = {n: s for n, s in states.items() if s.startswith("unreachable")}
        if unreachable:
            lines = "\n".join(f"  {n}: {s}" for n, s in unreachable.items())
            raise UnreachableHost(
                f"existing hosts not reachable with pinned host keys:\n{lines}\n"
                f"  fix: check address, user and key in the config, and add each host's key to "
                f"{self.access.known_hosts} (e.g. ssh-keyscan, checked against the host's console)"
            )
        no_sudo = {n: s for n, s in states.items() if s != "running"}
        if no_sudo:
            lines = "\n".join(f"  {n}: {s}" for n, s in no_sudo.items())
            raise NoPasswordlessSudo(
                f"existing hosts where {self.access.user} cannot run commands as root without "
                f"a password (provision runs every change through `sudo -n`):\n{lines}\n"
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
