"""One directory per run: a log file, and the console lines that went with it.

Runs live under <state>/runs/<UTC time>-<command>/; `latest` points at the newest.
Nothing secret is written here: callers pass secrets to no log.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

# The loggers whose DEBUG lines the newest run's log file records: every command run
# on a node (provision/remote.py).
RECORDED = ("provision.remote",)


class _ToRunLog(logging.Handler):
    def __init__(self, log: RunLog):
        super().__init__(logging.DEBUG)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        # a log closed or gone: the command still runs
        with contextlib.suppress(OSError, ValueError):
            self.log.write(f"  node: {record.getMessage()}")


class RunLog:
    def __init__(self, state_dir: Path, command: str, console=None):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self.dir = state_dir / "runs" / f"{stamp}-{command}"
        self.dir.mkdir(parents=True, exist_ok=True)
        latest = state_dir / "runs" / "latest"
        latest.unlink(missing_ok=True)
        latest.symlink_to(self.dir.name)
        self.path = self.dir / "run.log"
        self._file = self.path.open("a", encoding="utf-8")
        self._console = console
        self._started = time.monotonic()
        for name in RECORDED:
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            for old in [h for h in logger.handlers if isinstance(h, _ToRunLog)]:
                logger.removeHandler(old)
            logger.addHandler(_ToRunLog(self))

    @property
    def console(self):
        """Where say() prints (None: the log file only)."""
        return self._console

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def write(self, line: str) -> None:
        """To the log file only."""
        self._file.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}\n")
        self._file.flush()

    def say(self, line: str, style: str | None = None) -> None:
        """To the console and the log file."""
        self.write(line)
        if self._console is not None:
            self._console.print(line, style=style, markup=False, highlight=False)


class NoRunLog(RunLog):
    """What a read-only command hands to code that takes a log: lines for the console
    go there; no run directory is made, nothing is written, `latest` stays put."""

    def __init__(self, console=None):
        self._console = console
        self._started = time.monotonic()

    def write(self, line: str) -> None:
        """A read-only command keeps no log."""
