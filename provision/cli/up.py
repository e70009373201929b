import click

from provision.cli.common import (
    interrupted,
    inventory_option,
    load_config,
    open_run,
    reports_errors,
)
from provision.errors import UsageError


@click.command("up")
@inventory_option
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
@reports_errors
def command(inventory: str | None, only: str | None, start_from: str | None) -> None:
    """Bring the lab up, phase by phase (see `provision plan`)."""
    from provision.up import Up

    inv, config = load_config(inventory)
    log = open_run(inv, "up")
    log.say(f"provision up: cluster {config.cluster.name} ({inv.cluster_file}); log {log.path}")
    try:
        if only and start_from:
            raise UsageError("use --only or --from, not both\n  fix: drop one of them")
        timings = Up(inv, config, log).run(only.split(",") if only else None, start_from)
    except KeyboardInterrupt:
        interrupted(log)
    total = sum(t for _, t in timings)
    log.say(
        f"up finished in {total:.1f} s: " + ", ".join(f"{n} {t:.1f}s" for n, t in timings),
        style="bold green",
    )
