"""`provision rebuild [--restore-drill]`: destroy, up, verify, and a report (for
nightly jobs); with the drill, a backup of the lab before and its restore after."""

from __future__ import annotations

import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors, wait_option


class RebuildCommand(RunCommand):
    run_name = "rebuild"

    def __init__(self, inventory: str | None, restore_drill: bool) -> None:
        super().__init__(inventory)
        self.restore_drill = restore_drill

    def execute(self) -> None:
        from provision.rebuild import Rebuild

        self.report, self.out = Rebuild(self.inv, self.config, self.log).run(self.restore_drill)

    def done(self) -> None:
        from provision.errors import RebuildFailed

        for line in self.report.summary().splitlines():
            self.log.say(line)
        self.log.say(
            f"report: {self.out} (report.json, junit.xml, summary.txt); history: {self.out.parent}"
        )
        if not self.report.passed:
            raise RebuildFailed(f"rebuild failed; see {self.out / 'summary.txt'}")
        self.log.say("rebuild passed", style="bold green")


@click.command("rebuild")
@inventory_option
@wait_option
@click.option(
    "--restore-drill",
    is_flag=True,
    help="before: markers and a backup of the running lab; after: restore it, compare",
)
@reports_errors
def command(inventory: str | None, restore_drill: bool) -> None:
    """Destroy and rebuild the lab, verify it, write a report (exit 0 only if all passed).

    With --restore-drill the backup of the lab as it was is restored onto the new
    one and compared: markers, object counts, MySQL's checksum."""
    RebuildCommand(inventory, restore_drill).main()
