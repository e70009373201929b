"""`provision node reset|replace|add|remove NAME`: reprovision one worker."""

from __future__ import annotations

import click

from provision.cli.common import (
    interrupted,
    inventory_option,
    load_config,
    open_run,
    reports_errors,
)

force_option = click.option(
    "--force", is_flag=True, help="go on even if data that lives only on this node is lost"
)


@click.group("node")
def command() -> None:
    """Reset, replace, add or remove a worker of the running cluster."""


def _run(inventory: str | None, what: str, name: str, action) -> None:
    from provision.node_ops import NodeOps

    inv, config = load_config(inventory)
    log = open_run(inv, f"node-{what}")
    log.say(f"provision node {what} {name}: cluster {config.cluster.name}; log {log.path}")
    try:
        action(NodeOps(inv, config, log))
    except KeyboardInterrupt:
        interrupted(log)
    log.say(f"node {what} {name}: done in {log.elapsed():.1f} s", style="bold green")


@command.command("reset")
@inventory_option
@click.argument("name")
@reports_errors
def reset(inventory: str | None, name: str) -> None:
    """Drain, remove, kubeadm reset and clean the node (SSH stays up), rejoin it."""
    _run(inventory, "reset", name, lambda ops: ops.reset(name))


@command.command("replace")
@inventory_option
@click.argument("name")
@force_option
@reports_errors
def replace(inventory: str | None, name: str, force: bool) -> None:
    """Drain, remove, destroy and recreate the machine, prepare it, rejoin it."""
    _run(inventory, "replace", name, lambda ops: ops.replace(name, force))


@command.command("add")
@inventory_option
@click.argument("name")
@click.option("--role", type=click.Choice(["worker"]), default="worker", show_default=True)
@click.option("--ip", required=True, help="its private IP in network.node_subnet")
@click.option("--cpus", type=int, default=2, show_default=True)
@click.option("--memory-mb", type=int, default=2048, show_default=True)
@reports_errors
def add(inventory: str | None, name: str, role: str, ip: str, cpus: int, memory_mb: int) -> None:
    """Add a worker to cluster.yml (checked first), make it, prepare it, join it."""
    node = {"name": name, "role": role, "cpus": cpus, "memory_mb": memory_mb, "ip": ip}
    _run(inventory, "add", name, lambda ops: ops.add(node))


@command.command("remove")
@inventory_option
@click.argument("name")
@force_option
@reports_errors
def remove(inventory: str | None, name: str, force: bool) -> None:
    """Drain, remove from the cluster, destroy the machine, drop it from cluster.yml."""
    _run(inventory, "remove", name, lambda ops: ops.remove(name, force))
