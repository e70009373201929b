"""`provision verify`: prove each part of the running lab does its real job."""

from __future__ import annotations

import click

from provision.cli.common import inventory_option, load_config, open_run, reports_errors


@click.command("verify")
@inventory_option
@reports_errors
def command(inventory: str | None) -> None:
    """Check every enabled add-on by doing its job (exit 7 when a check fails)."""
    from provision.verify.run import Verify

    inv, config = load_config(inventory)
    log = open_run(inv, "verify")
    log.say(f"provision verify: {config.cluster.name} ({inv.cluster_file}); log {log.path}")
    Verify(inv, config, log).run()
