"""`provision verify`: prove each part of the running lab does its real job."""

from __future__ import annotations

import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors


class VerifyCommand(RunCommand):
    locks_lab = False  # changes no lab
    run_name = "verify"

    def execute(self) -> None:
        from provision.verify.run import Verify

        Verify(self.inv, self.config, self.log).run()  # says its own summary


@click.command("verify")
@inventory_option
@reports_errors
def command(inventory: str | None) -> None:
    """Check every enabled add-on by doing its job (exit 7 when a check fails)."""
    VerifyCommand(inventory).main()
