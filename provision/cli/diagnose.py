"""`provision diagnose`: the evidence of a failed or half-made lab in one archive
(provision/report/diagnose.py says what it holds)."""

from __future__ import annotations

from pathlib import Path

import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors
from provision.report.diagnose import RUN_NAME


class DiagnoseCommand(RunCommand):
    locks_lab = False  # reads the lab, changes nothing: runs beside a command that changes it
    run_name = RUN_NAME

    def __init__(self, inventory: str | None, out: Path | None) -> None:
        super().__init__(inventory)
        self.out = out

    def execute(self) -> None:
        from provision.report.diagnose import Diagnose

        self.path = Diagnose(self.inv, self.config, self.log).run(self.out)

    def done(self) -> None:
        self.log.say(f"diagnostics written: {self.path}", style="bold green")


@click.command("diagnose")
@inventory_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="write the archive into this directory (default: <state>/diagnostics/)",
)
@reports_errors
def command(inventory: str | None, out: Path | None) -> None:
    """Collect journals, cluster state, failed Ansible tasks and verify results of the
    lab, running or half made, into one redacted archive (for a failed nightly)."""
    DiagnoseCommand(inventory, out).main()
