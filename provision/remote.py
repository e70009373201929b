"""Commands on the lab's nodes over SSH (fabric, pinned host keys): kubectl runs on
the control plane, never from the host toward pod or service addresses.

Every command runs as root: directly when the inventory logs in as root, else
through `sudo -n` (the admin kubeconfig, containerd's socket and the container
logs are root's), so a login user with passwordless sudo works like root."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from provision.config.model import ClusterConfig
from provision.errors import NodeStepFailed, UsageError
from provision.project import Inventory

KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"


class RemoteFailed(NodeStepFailed):
    """A command run on a node exited non-zero."""


# run(command, stdin=None) -> stdout; stdin (text) is fed to the command, then closed
Shell = Callable[..., str]


@contextmanager
def shells(inv: Inventory, names: dict[str, str], error=RemoteFailed) -> Iterator[dict[str, Shell]]:
    """{role: run(command) -> stdout} for {role: node name}; a non-zero exit raises
    `error` with the command's last output."""
    from provision.inventory import read_endpoints
    from provision.machines.ssh_hosts import as_root, connect, sudo_fix

    hosts = inv.hosts_file
    if not hosts.is_file():
        raise UsageError(f"no inventory at {hosts}\n  fix: run `provision up` first")
    endpoints = read_endpoints(hosts)
    known_hosts = inv.state_dir / "known_hosts"
    with ExitStack() as stack:
        conns = {
            role: stack.enter_context(connect(endpoints[name], known_hosts))
            for role, name in names.items()
        }

        def shell(role: str) -> Shell:
            user = endpoints[names[role]].user

            def run(command: str, stdin: str | None = None) -> str:
                out = conns[role].run(
                    as_root(command, user),
                    hide=True,
                    warn=True,
                    in_stream=io.StringIO(stdin) if stdin is not None else False,
                    timeout=600,
                )
                if out.exited != 0:
                    text = out.stderr.strip() or out.stdout.strip() or f"exit {out.exited}"
                    if "sudo: a password is required" in text:
                        text = (
                            f"{names[role]}: sudo asks {user} for a password\n"
                            f"  fix: {sudo_fix(user)}"
                        )
                    raise error(text[-400:])
                return out.stdout

            return run

        yield {role: shell(role) for role in conns}


def control_plane(inv: Inventory, config: ClusterConfig):
    """A shell on the control-plane node."""
    return shells(inv, {"control-plane": config.control_plane.name})
