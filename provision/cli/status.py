import click

from provision.cli.common import console, inventory_option, load_config, reports_errors


@click.command("status")
@inventory_option
@reports_errors
def command(inventory: str | None) -> None:
    """Show the machines: state, addresses, provider."""
    from rich.table import Table

    from provision.machines.factory import machines_for
    from provision.runlog import RunLog

    inv, config = load_config(inventory)
    log = RunLog(inv.state_dir, "status")
    table = Table(title=f"machines of {config.cluster.name}")
    for col in ("machine", "state", "provider", "node ip", "ssh"):
        table.add_column(col)
    for m in machines_for(inv, config, log).status():
        table.add_row(
            m.name,
            m.state,
            m.provider,
            m.node_ip,
            m.ssh or "-",
            style=None if m.state == "running" else "yellow",
        )
    console().print(table)
