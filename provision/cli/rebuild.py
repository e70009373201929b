"""`provision rebuild`: destroy, up, verify, and a report (for nightly jobs)."""

from __future__ import annotations

import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors


class RebuildCommand(RunCommand):
    run_name = "rebuild"

    def execute(self) -> None:
        from provision.rebuild import Rebuild

        self.report, self.out = Rebuild(self.inv, self.config, self.log).run()

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
@reports_errors
def command(inventory: str | None) -> None:
    """Destroy and rebuild the lab, verify it, write a report (exit 0 only if all passed)."""
    RebuildCommand(inventory).main()
