"""SSH to the lab's nodes, for every provider: a connection that accepts only the
pinned host key, commands run as root through `sudo -n`, and errors that name the
node and what failed. (Existing hosts as a provider: providers/existing.py.)
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provision.errors import MachinesError
from provision.files import read_small, refuse
from provision.machines.base import SshEndpoint

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
