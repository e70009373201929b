import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors, wait_option
from provision.errors import UsageError


class UpCommand(RunCommand):
    run_name = "up"

    def __init__(
        self, inventory: str | None, only: str | None, start_from: str | None, full: bool = False
    ) -> None:
        super().__init__(inventory)
        self.full = full
        if only and start_from:
            raise UsageError("use --only or --from, not both\n  fix: drop one of them")
        self.only = only.split(",") if only else None
        self.start_from = start_from

    def execute(self) -> None:
        from provision.up import Up

        self.timings = Up(self.inv, self.config, self.log, full=self.full).run(
            self.only, self.start_from
        )

    def done(self) -> None:
        total = sum(t for _, t in self.timings)
        self.log.say(
            f"up finished in {total:.1f} s: " + ", ".join(f"{n} {t:.1f}s" for n, t in self.timings),
            style="bold green",
        )


@click.command("up")
@inventory_option
@wait_option
@click.option(
    "--only",
    default=None,
    metavar="PHASES",
    help="comma-separated phases to run (e.g. machines); default: all",
)
@click.option(
    "--from",
    "start_from",
    default=None,
    metavar="PHASE",
    help="start at this phase (default: all phases, or where a failed run stopped)",
)
@click.option(
    "--full",
    is_flag=True,
    help="run every playbook, also those that converged on every node since "
    "(repairs drift their stamps cannot see)",
)
@reports_errors
def command(inventory: str | None, only: str | None, start_from: str | None, full: bool) -> None:
    """Bring the lab up, phase by phase (see `provision plan`)."""
    UpCommand(inventory, only, start_from, full).main()
