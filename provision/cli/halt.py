import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors, wait_option


class HaltCommand(RunCommand):
    run_name = "halt"

    def execute(self) -> None:
        from provision.halt import halt_lab

        halt_lab(self.inv, self.config, self.log)


@click.command("halt")
@inventory_option
@wait_option
@reports_errors
def command(inventory: str | None) -> None:
    """Stop the lab's machines and keep everything; `provision up` resumes it."""
    HaltCommand(inventory).main()
