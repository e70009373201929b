import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors, wait_option


class DestroyCommand(RunCommand):
    run_name = "destroy"

    def confirm(self) -> None:
        click.confirm(
            f"Destroy every machine of cluster {self.config.cluster.name} "
            f"({', '.join(n.name for n in self.config.nodes)})?",
            abort=True,
        )

    def execute(self) -> None:
        from provision.destroy import destroy_lab

        destroy_lab(self.inv, self.config, self.log)

    def done(self) -> None:
        self.log.say(
            f"destroyed cluster {self.config.cluster.name}; "
            f"run logs kept in {self.inv.state_dir / 'runs'}",
            style="bold green",
        )


@click.command("destroy")
@inventory_option
@wait_option
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@reports_errors
def command(inventory: str | None, yes: bool) -> None:
    """Remove the machines, their network and volumes, and the generated inventory."""
    destroy = DestroyCommand(inventory)
    if not yes:
        destroy.confirm()
    destroy.main()
