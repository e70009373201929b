"""`provision rebuild`: destroy, up, verify, and a report (for nightly jobs)."""

from __future__ import annotations

import click

from provision.cli.common import (
    interrupted,
    inventory_option,
    load_config,
    open_run,
    reports_errors,
)


@click.command("rebuild")
@inventory_option
@reports_errors
def command(inventory: str | None) -> None:
    """Destroy and rebuild the lab, verify it, write a report (exit 0 only if all passed)."""
    from provision.rebuild import Rebuild, RebuildFailed

    inv, config = load_config(inventory)
    log = open_run(inv, "rebuild")
    log.say(f"provision rebuild: {config.cluster.name} ({inv.cluster_file}); log {log.path}")
    try:
        report, out = Rebuild(inv, config, log).run()
    except KeyboardInterrupt:
        interrupted(log)
    for line in report.summary().splitlines():
        log.say(line)
    log.say(f"report: {out} (report.json, junit.xml, summary.txt); history: {out.parent}")
    if not report.passed:
        raise RebuildFailed(f"rebuild failed; see {out / 'summary.txt'}")
    log.say("rebuild passed", style="bold green")
