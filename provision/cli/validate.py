import click

from provision.cli.base import Command
from provision.cli.common import console, inventory_option, reports_errors


class ValidateCommand(Command):
    def execute(self) -> None:
        from rich.table import Table

        config = self.config
        table = Table(title=f"cluster {config.cluster.name} ({self.inv.cluster_file})")
        for col in ("node", "role", "cpus", "memory", "ip"):
            table.add_column(col)
        for n in config.nodes:
            table.add_row(n.name, n.role, str(n.cpus), f"{n.memory_mb} MiB", str(n.ip))
        out = console()
        out.print(table)
        out.print(
            f"config OK: {len(config.nodes)} nodes, Kubernetes {config.versions.kubernetes}, "
            f"add-ons: {', '.join(config.addons.enabled()) or 'none'}"
        )


@click.command("validate")
@inventory_option
@reports_errors
def command(inventory: str | None) -> None:
    """Check the cluster config and print the nodes."""
    ValidateCommand(inventory).main()
