"""`provision node reset|replace|add|remove NAME`: reprovision one node."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors, wait_option

force_option = click.option(
    "--force", is_flag=True, help="go on even if data that lives only on this node is lost"
)
backup_option = click.option(
    "--backup",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="the control plane: restore from this backup instead of taking a fresh one",
)


class NodeCommand(RunCommand):
    def __init__(self, inventory: str | None, what: str, name: str, action: Callable) -> None:
        super().__init__(inventory)
        self.run_name = f"node-{what}"
        self.what = what
        self.name = name
        self.action = action

    def title(self) -> str:
        return f"node {self.what} {self.name}"

    def execute(self) -> None:
        from provision.node_ops import NodeOps

        self.action(NodeOps(self.inv, self.config, self.log))

    def done(self) -> None:
        self.log.say(
            f"node {self.what} {self.name}: done in {self.log.elapsed():.1f} s", style="bold green"
        )


@click.group("node")
def command() -> None:
    """Reset or replace a node (the control plane from a backup); add or remove a worker."""


@command.command("reset")
@inventory_option
@wait_option
@click.argument("name")
@backup_option
@reports_errors
def reset(inventory: str | None, name: str, backup: Path | None) -> None:
    """Drain, remove, kubeadm reset and clean the node (SSH stays up), rejoin it.

    The control plane: backed up, reset, and started again on the backup."""
    NodeCommand(inventory, "reset", name, lambda ops: ops.reset(name, backup)).main()


@command.command("replace")
@inventory_option
@wait_option
@click.argument("name")
@force_option
@backup_option
@reports_errors
def replace(inventory: str | None, name: str, force: bool, backup: Path | None) -> None:
    """Drain, remove, destroy and recreate the machine, prepare it, rejoin it; the
    add-ons' data it held is backed up first and put back.

    The control plane: backed up, made again, and started again on the backup."""
    NodeCommand(inventory, "replace", name, lambda ops: ops.replace(name, force, backup)).main()


@command.command("add")
@inventory_option
@wait_option
@click.argument("name")
@click.option("--role", type=click.Choice(["worker"]), default="worker", show_default=True)
@click.option("--ip", required=True, help="its private IP in network.node_subnet")
@click.option("--cpus", type=int, default=2, show_default=True)
@click.option("--memory-mb", type=int, default=2048, show_default=True)
@reports_errors
def add(inventory: str | None, name: str, role: str, ip: str, cpus: int, memory_mb: int) -> None:
    """Add a worker to cluster.yml (checked first), make it, prepare it, join it."""
    node = {"name": name, "role": role, "cpus": cpus, "memory_mb": memory_mb, "ip": ip}
    NodeCommand(inventory, "add", name, lambda ops: ops.add(node)).main()


@command.command("remove")
@inventory_option
@wait_option
@click.argument("name")
@force_option
@reports_errors
def remove(inventory: str | None, name: str, force: bool) -> None:
    """Drain, remove from the cluster, destroy the machine, drop it from cluster.yml."""
    NodeCommand(inventory, "remove", name, lambda ops: ops.remove(name, force)).main()
