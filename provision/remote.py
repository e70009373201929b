"""Commands on the lab's nodes over SSH (fabric, pinned host keys): kubectl runs on
the control plane, never from the host toward pod or service addresses.

Every command runs as root: directly when the inventory logs in as root, else
through `sudo -n` (the admin kubeconfig, containerd's socket and the container
logs are root's), so a login user with passwordless sudo works like root."""

from __future__ import annotations

import io
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import BinaryIO

from provision.config.model import ClusterConfig
from provision.errors import NodeStepFailed, UsageError
from provision.machines.base import SshEndpoint
from provision.project import Inventory
from provision.shared import ADMIN_KUBECTL, API_TRANSIENT

KUBECTL = ADMIN_KUBECTL  # provision/shared_defaults.yml, as the roles have it


class RemoteFailed(NodeStepFailed):
    """A command run on a node exited non-zero."""


class NodeShell:
    """Commands on one node, as root: `sh(command) -> stdout` (a non-zero exit raises
    the error given to shells()), and `sh.put(data, path)` to write a file there
    (over SFTP, then moved into place by root: no data on a command line). The
    connection opens at the first command; a node that cannot be reached raises
    UnreachableHost naming it and its address (ssh_hosts.reaching)."""

    def __init__(
        self, conn, node: str, user: str, error: type[Exception], endpoint: SshEndpoint
    ) -> None:
        self.conn, self.node, self.user, self.error = conn, node, user, error
        self.endpoint = endpoint

    def __call__(self, command: str, timeout: int = 600) -> str:
        from invoke.exceptions import CommandTimedOut

        from provision.machines.ssh_hosts import as_root, reaching, sudo_fix

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
            raise self.error(f"{self.node}: a command did not end in {timeout} s") from None
        if out.exited != 0:
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
            target = shlex.quote(path)
            self(
                f"install -m {mode:o} {shlex.quote(tmp)} {target}.part && mv {target}.part {target}"
            )
        finally:
            # best effort: a node that went away took its temporary file with it
            with suppress(Exception):
                self.conn.run(f"rm -f {shlex.quote(tmp)}", hide=True, warn=True, in_stream=False)


# A node's shell as its users see it: run(command) -> stdout (NodeShell, or a
# plain function in unit tests).
Shell = Callable[[str], str]


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


# What kubectl says while the API server restarts or is too busy to answer: worth
# another try (provision/shared_defaults.yml, as the roles have it).
TRANSIENT = API_TRANSIENT


def transient(error: Exception) -> bool:
    return any(t in str(error) for t in TRANSIENT)


def api(sh: Shell, command: str, tries: int = 6, delay: float = 10) -> str:
    """sh(command) for a command that talks to the API server, tried again while
    the failure is a transient one: the one retry of node commands."""
    for attempt in range(1, tries + 1):
        try:
            return sh(command)
        except RemoteFailed as e:
            if attempt == tries or not transient(e):
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


def cluster_nodes(sh: Shell) -> list[dict]:
    """The cluster's Node objects, as the control plane's kubectl gives them."""
    import json

    return json.loads(sh(f"{KUBECTL} get nodes -o json"))["items"]
