"""What every command shares: the -i option, error handling, the console."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

import click

from provision.errors import INTERRUPTED, OSFailure, ProvisionError, UsageError


def _inventory_value(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is not None and not value.strip():
        raise click.BadParameter(
            "is empty: name an inventory (e.g. lab) or a cluster.yml, or leave -i out "
            "for the default"
        )
    if value is not None and "\x00" in value:
        raise click.BadParameter("holds a NUL byte")
    return value


inventory_option = click.option(
    "-i",
    "--inventory",
    "inventory",
    default=None,
    callback=_inventory_value,
    metavar="INVENTORY",
    help="inventory name under inventories/, or a path to a cluster.yml "
    "(default: $PROVISION_INVENTORY or lab)",
)


WAIT_KEY = "provision.wait"


def _remember_wait(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    ctx.meta[WAIT_KEY] = value


# On every command that changes a lab (it takes the lab's lock: provision/lock.py).
wait_option = click.option(
    "--wait",
    is_flag=True,
    expose_value=False,
    callback=_remember_wait,
    help="if another provision command is changing this lab, wait for it to finish "
    "instead of refusing (exit 10)",
)


WAIT_TIMEOUT_KEY = "provision.wait_timeout"


def _remember_wait_timeout(ctx: click.Context, param: click.Parameter, value: float | None):
    ctx.meta[WAIT_TIMEOUT_KEY] = value


# On a command a nightly job runs (rebuild): a wait for the lab's lock with a bound.
wait_timeout_option = click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0),
    default=None,
    expose_value=False,
    callback=_remember_wait_timeout,
    metavar="SECONDS",
    help="wait for another provision command changing this lab at most this long "
    "(implies --wait); then give up with exit 10",
)


def wants_wait() -> bool:
    """--wait (or --wait-timeout) was given to the command running now."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and (ctx.meta.get(WAIT_KEY) or ctx.meta.get(WAIT_TIMEOUT_KEY) is not None))


def wait_timeout() -> float | None:
    """--wait-timeout of the command running now; None: wait as long as it takes."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(WAIT_TIMEOUT_KEY) if ctx else None


# Where output is not a terminal (a run log, a pipe, CI), lines are never broken:
# rich would otherwise wrap at 80 columns, mid-path and mid-word.
UNWRAPPED_WIDTH = 100_000


def console(stderr: bool = False):
    from rich.console import Console

    class DataConsole(Console):
        """Output is data: text from configs, files and the environment is never read
        as rich markup (`[/bold]` in a path prints as it is; styles come from
        `style=`), and its control characters are shown escaped, never sent raw to
        the terminal. Tables and plain strings alike pass through render_str."""

        def render_str(self, text: str, **kwargs):
            return super().render_str(printable(text), **kwargs)

    out = DataConsole(stderr=stderr, highlight=False, markup=False)
    if not out.is_terminal:
        out.soft_wrap = True
        out.width = UNWRAPPED_WIDTH
    return out


def reports_errors(fn: Callable) -> Callable:
    """Turn any error into a message on stderr and an exit code (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with error_exit():
            return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def error_exit() -> Iterator[None]:
    """A ProvisionError exits with its own code; an OS error (disk full, permission,
    read-only file system) with 1 and its message; anything else with 1 and one
    line naming it (PROVISION_DEBUG=1 shows the traceback)."""
    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except ProvisionError as e:
        _fail(e.render(), e.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", INTERRUPTED)
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        _fail(
            f"{e.strerror or e}{where}\n  fix: check that path (permissions, free space, "
            "a writable file system)",
            OSFailure.exit_code,
        )
    except ValueError as e:
        if "null byte" not in str(e):  # a path argument with a NUL byte (os.stat refuses it)
            _internal(e)
        _fail("an argument holds a NUL byte\n  fix: pass paths and names without it", 2)
    except Exception as e:
        _internal(e)


def _internal(e: Exception) -> NoReturn:
    if os.environ.get("PROVISION_DEBUG") == "1":
        raise e
    _fail(
        f"internal error: {type(e).__name__}: {e}\n"
        "  fix: run again with PROVISION_DEBUG=1 for the traceback and report it",
        1,
    )


def printable(text: str) -> str:
    """Text as data for a terminal: control characters (an escape sequence in a file
    name, a config value, a reader's message) shown escaped, never sent raw."""
    return "".join(
        c if c.isprintable() or c in "\n\t" else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def _fail(message: str, code: int) -> NoReturn:
    print(f"error: {printable(message)}", file=sys.stderr)
    sys.exit(code)


def load_config(inventory: str | None):
    """(Inventory, ClusterConfig) for the -i option, or a ProvisionError."""
    from provision.config import load
    from provision.project import resolve_inventory

    try:
        inv = resolve_inventory(inventory)
    except (OSError, RuntimeError, ValueError) as e:  # loops, NUL bytes, unreadable dirs
        raise UsageError(
            f"cannot use -i {inventory!r}: {e}\n"
            "  fix: name an inventory under inventories/, or a cluster.yml file"
        ) from None
    return inv, load(inv.cluster_file)
