"""Commands on the lab's nodes over SSH (fabric, pinned host keys): kubectl runs on
the control plane, never from the host toward pod or service addresses.

Every command runs as root: directly when the inventory logs in as root, else
through `sudo -n` (the admin kubeconfig, containerd's socket and the container
logs are root's), so a login user with passwordless sudo works like root."""

from __future__ import annotations

import io
import shlex
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from provision.config.model import ClusterConfig
from provision.errors import NodeStepFailed, UsageError
from provision.project import Inventory

KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"


class RemoteFailed(NodeStepFailed):
    """A command run on a node exited non-zero."""


class NodeShell:
    """Commands on one node, as root: `sh(command) -> stdout` (a non-zero exit raises
    the error given to shells()), and `sh.put(data, path)` to write a file there
    (over SFTP, then moved into place by root: no data on a command line)."""

    def __init__(self, conn, node: str, user: str, error: type[Exception]) -> None:
        self.conn, self.node, self.user, self.error = conn, node, user, error

    def __call__(self, command: str) -> str:
        from provision.machines.ssh_hosts import as_root, sudo_fix

        out = self.conn.run(
            as_root(command, self.user), hide=True, warn=True, in_stream=False, timeout=600
        )
        if out.exited != 0:
            text = out.stderr.strip() or out.stdout.strip() or f"exit {out.exited}"
            if "sudo: a password is required" in text:
                text = (
                    f"{self.node}: sudo asks {self.user} for a password\n"
                    f"  fix: {sudo_fix(self.user)}"
                )
            raise self.error(text[-400:])
        return out.stdout

    def put(self, data: bytes, path: str, mode: int = 0o600) -> None:
        """Write data to path on the node (root's, `mode`), whole or not at all."""
        tmp = self.conn.run("umask 077 && mktemp", hide=True, in_stream=False).stdout.strip()
        try:
            self.conn.sftp().putfo(io.BytesIO(data), tmp)
            target = shlex.quote(path)
            self(
                f"install -m {mode:o} {shlex.quote(tmp)} {target}.part && mv {target}.part {target}"
            )
        finally:
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
    known_hosts = inv.state_dir / "known_hosts"
    with ExitStack() as stack:
        yield {
            role: NodeShell(
                stack.enter_context(connect(endpoints[name], known_hosts)),
                name,
                endpoints[name].user,
                error,
            )
            for role, name in names.items()
        }


def control_plane(inv: Inventory, config: ClusterConfig):
    """A shell on the control-plane node."""
    return shells(inv, {"control-plane": config.control_plane.name})
