"""Commands on the lab's nodes over SSH (fabric, pinned host keys): kubectl runs on
the control plane, never from the host toward pod or service addresses.

Every command runs as root: directly when the inventory logs in as root, else
through `sudo -n` (the admin kubeconfig, containerd's socket and the container
logs are root's), so a login user with passwordless sudo works like root."""

from __future__ import annotations

import hashlib
import io
import logging
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import BinaryIO

from provision.config.model import ClusterConfig
from provision.errors import NodeStepFailed, UsageError
from provision.machines.base import SshEndpoint
from provision.node_scripts import SCRIPT_DIR, script
from provision.project import Inventory
from provision.shared import ADMIN_KUBECTL

# The admin's kubectl on the control plane, as argv (provision/shared_defaults.yml, as
# the roles have it).
KUBECTL: tuple[str, ...] = tuple(shlex.split(ADMIN_KUBECTL))

# Every node command, with its node, exit code and time, at DEBUG: a run's log
# (runlog.RunLog) records them. Commands carry no secret (data goes by put()).
LOG = logging.getLogger("provision.remote")

# A command on a node: its argv, never a shell string (values are arguments, never
# pasted into a command's text; what needs a shell is a script in node_scripts/).
Argv = Sequence[str]

# provision-run.sh on the node: tries a command again while the API server does not
# answer, feeds it files on its stdin, prints its stdout as base64.
RUN = f"{SCRIPT_DIR}/provision-run.sh"


def kubectl(*args: str) -> list[str]:
    """The admin's kubectl with args, as argv."""
    return [*KUBECTL, *args]


class RemoteFailed(NodeStepFailed):
    """A command run on a node exited non-zero."""


class NodeShell:
    """Commands on one node, as root: `sh(argv) -> stdout` (a non-zero exit raises
    the error given to shells(), unless check=False), and `sh.put(data, path)` to
    write a file there (over SFTP, then moved into place by root: no data on a
    command line). A script of node_scripts/ named in argv (under SCRIPT_DIR) is put
    on the node first when the node's copy differs. The connection opens at the
    first command; a node that cannot be reached raises UnreachableHost naming it
    and its address (ssh_hosts.reaching)."""

    def __init__(
        self, conn, node: str, user: str, error: type[Exception], endpoint: SshEndpoint
    ) -> None:
        self.conn, self.node, self.user, self.error = conn, node, user, error
        self.endpoint = endpoint
        self._scripts: set[str] = set()  # node scripts known to be this package's
        self._lock = threading.Lock()

    def __call__(self, argv: Argv, timeout: int = 600, check: bool = True) -> str:
        if isinstance(argv, str):
            raise TypeError("a node command is an argv list, not a shell string")
        for arg in argv:
            if arg.startswith(SCRIPT_DIR + "/"):
                self._ensure_script(arg)
        return self._run(shlex.join(argv), timeout, check)

    def _ensure_script(self, path: str) -> None:
        """The node's copy of a node script is this package's, or is put there."""
        with self._lock:
            if path in self._scripts:
                return
            text = script(path.removeprefix(SCRIPT_DIR + "/")).encode()
            found = self._run(shlex.join(["sha256sum", "--", path]), 60, check=False)
            if found.split()[:1] != [hashlib.sha256(text).hexdigest()]:
                self._run(shlex.join(["mkdir", "-p", "-m", "0755", SCRIPT_DIR]), 60, True)
                self.put(text, path, 0o755)
            self._scripts.add(path)

    def _run(self, command: str, timeout: int, check: bool) -> str:
        from invoke.exceptions import CommandTimedOut

        from provision.machines.ssh_hosts import as_root, reaching, sudo_fix

        begin = time.monotonic()
        shown = command if len(command) <= 300 else command[:300] + "..."
        try:
            with reaching(self.node, self.endpoint):
                out = self.conn.run(
                    as_root(command, self.user),
                    hide=True,
                    warn=True,
                    in_stream=False,
                    timeout=timeout,
                )
        except CommandTimedOut:
            LOG.debug("%s: %s: did not end in %d s", self.node, shown, timeout)
            raise self.error(f"{self.node}: a command did not end in {timeout} s") from None
        LOG.debug(
            "%s: %s: exit %d in %.1f s", self.node, shown, out.exited, time.monotonic() - begin
        )
        if out.exited != 0 and check:
            text = out.stderr.strip() or out.stdout.strip() or f"exit {out.exited}"
            if "sudo: a password is required" in text:
                text = (
                    f"{self.node}: sudo asks {self.user} for a password\n"
                    f"  fix: {sudo_fix(self.user)}"
                )
            raise self.error(text[-400:])
        return out.stdout

    def put(self, data: bytes | BinaryIO, path: str, mode: int = 0o600) -> None:
        """Write data (bytes, or a file streamed from where it is) to path on the node
        (root's, `mode`), whole or not at all."""
        import paramiko

        from provision.machines.ssh_hosts import reaching

        with reaching(self.node, self.endpoint):
            made = self.conn.run("umask 077 && mktemp", hide=True, warn=True, in_stream=False)
        if made.exited != 0:
            raise self.error(f"{self.node}: mktemp failed: {made.stderr.strip()[-400:]}")
        tmp = made.stdout.strip()
        try:
            try:
                with reaching(self.node, self.endpoint):
                    sftp = self.conn.sftp()
                sftp.putfo(io.BytesIO(data) if isinstance(data, bytes) else data, tmp)
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise self.error(f"{self.node}: writing {path} failed: {e}") from None
            self._run(shlex.join(["install", "-m", f"{mode:o}", tmp, f"{path}.part"]), 600, True)
            self._run(shlex.join(["mv", f"{path}.part", path]), 600, True)
        finally:
            # best effort: a node that went away took its temporary file with it
            with suppress(Exception):
                self.conn.run(f"rm -f {shlex.quote(tmp)}", hide=True, warn=True, in_stream=False)


# A node's shell as its users see it: sh(argv) -> stdout (NodeShell, or a plain
# function in unit tests).
Shell = Callable[..., str]


@contextmanager
def shells(
    inv: Inventory, names: dict[str, str], error=RemoteFailed
) -> Iterator[dict[str, NodeShell]]:
    """{role: NodeShell} for {role: node name}; a non-zero exit raises `error`
    with the command's last output."""
    from provision.inventory import read_endpoints
    from provision.machines.ssh_hosts import connect

    hosts = inv.hosts_file
    endpoints = read_endpoints(hosts)  # a link, a FIFO, another shape: refused
    if endpoints is None:
        raise UsageError(f"no inventory at {hosts}\n  fix: run `provision up` first")
    missing = sorted(set(names.values()) - set(endpoints))
    if missing:
        raise UsageError(
            f"the generated inventory {hosts} has no node {', '.join(missing)}\n"
            "  fix: `provision up --only machines` writes it again"
        )
    known_hosts = inv.state_dir / "known_hosts"
    with ExitStack() as stack:
        yield {
            role: NodeShell(
                stack.enter_context(connect(endpoints[name], known_hosts)),
                name,
                endpoints[name].user,
                error,
                endpoints[name],
            )
            for role, name in names.items()
        }


def control_plane_shell(inv: Inventory, config: ClusterConfig, error=RemoteFailed):
    """A shell on the control-plane node."""
    return shells(inv, {"control-plane": config.control_plane.name}, error)


def retried(argv: Argv, tries: int = 6, delay: int = 10) -> list[str]:
    """argv run by provision-run.sh, tried up to `tries` times while it fails because
    the API server does not answer (restarting, or too busy): the one retry of node
    commands, the roles' too."""
    return [RUN, "--tries", str(tries), "--delay", str(delay), "--", *argv]


def api(sh: Shell, argv: Argv, tries: int = 6, delay: int = 10, timeout: int = 900) -> str:
    """sh(argv) for a command that talks to the API server, tried again on the node
    while the failure is a transient one."""
    return sh(retried(argv, tries, delay), timeout=timeout)


def cluster_nodes(sh: Shell) -> list[dict]:
    """The cluster's Node objects, as the control plane's kubectl gives them."""
    import json

    return json.loads(sh(kubectl("get", "nodes", "-o", "json")))["items"]
