"""What every command shares: the -i option, error handling, the console."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import click

from provision.errors import ProvisionError

inventory_option = click.option(
    "-i",
    "--inventory",
    "inventory",
    default=None,
    metavar="INVENTORY",
    help="inventory name under inventories/, or a path to a cluster.yml "
    "(default: $PROVISION_INVENTORY or lab)",
)


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def reports_errors(fn: Callable) -> Callable:
    """Turn a ProvisionError into its message on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ProvisionError as e:
            print(f"error: {e.render()}", file=sys.stderr)
            sys.exit(e.exit_code)

    return wrapper


def load_config(inventory: str | None):
    """(Inventory, ClusterConfig) for the -i option, or a ProvisionError."""
    from provision.config import load
    from provision.project import resolve_inventory

    inv = resolve_inventory(inventory)
    return inv, load(inv.cluster_file)


def open_run(inv, command: str):
    """The run log of this command, printing to the console as it goes."""
    from provision.runlog import RunLog

    return RunLog(inv.state_dir, command, console())


def interrupted(log) -> None:
    log.say(
        "interrupted: run the same command again to continue, or `provision destroy` "
        "to remove what was made",
        style="yellow",
    )
    sys.exit(130)
