"""One changing command at a time per lab: an advisory lock on <state>.lock, beside
the lab's state directory (so a refused command creates no state directory, and
`destroy` never removes a lock another process waits on).

The lock is the kernel's (flock) on an open file: it is released when the holder's
process ends, however it ends, so a crash never leaves it held. The file also names
the holder (command, process, start time) for the next command's refusal; the file
outliving its holder means nothing. Children (Ansible, Vagrant, ssh) do not inherit
it (O_CLOEXEC). Read-only commands never take it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from provision.errors import LabBusy, UsageError

SUFFIX = ".lock"
# What the holder record may be: a few hundred bytes; more is not ours.
MAX_RECORD = 4096


def _open(path: Path) -> int:
    """The lock file, opened without following a link and without blocking."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UsageError(
                f"{path} is a symbolic link: provision never writes through one\n"
                f"  fix: remove it (`rm {path}`) and run the command again"
            ) from e
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise UsageError(
            f"{path} is not a regular file of this user\n"
            f"  fix: remove it (`rm {path}`) and run the command again"
        )
    return fd


# How often a bounded wait tries the lock again.
POLL = 0.2


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as the holder wrote it (each field one clean line)."""

    command: str
    pid: int
    started: str

    def text(self) -> str:
        return f"`provision {self.command}` (process {self.pid}, started {self.started})"

    def short(self) -> str:
        return f"`provision {self.command}`, process {self.pid}, since {self.started}"


UNREADABLE = "another provision command (its record is unreadable)"


class LabHeld(LabBusy):
    """LabBusy saying who holds the lock (None: its record is unreadable), for a
    command that words its refusal its own way (rebuild: "skipped: busy")."""

    def __init__(self, message: str, holder: Holder | None):
        super().__init__(message)
        self.holder = holder


def _clean(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def _holder(fd: int) -> Holder | None:
    """Who holds it, as the holder wrote it; None when the record is unreadable."""
    try:
        raw = os.pread(fd, MAX_RECORD, 0)
        record = json.loads(raw.decode("utf-8"))
        command = _clean(str(record["command"])[:200])
        pid = int(record["pid"])
        started = _clean(str(record["started"])[:40])
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    return Holder(command, pid, started)


def _busy(fd: int, state_dir: Path, waited: float | None) -> LabHeld:
    """The refusal naming the holder; the descriptor is closed."""
    holder = _holder(fd)
    os.close(fd)
    who = holder.text() if holder else UNREADABLE
    if waited is None:
        return LabHeld(
            f"this lab is busy: {who} is changing it ({state_dir})\n"
            "  fix: wait for it to finish, or run this command again with --wait",
            holder,
        )
    return LabHeld(
        f"this lab is still busy after waiting {waited:g} s: {who} is changing it "
        f"({state_dir})\n  fix: run this command again later, or with a longer --wait-timeout",
        holder,
    )


def _same_file(fd: int, path: Path) -> bool:
    """The file we locked is still the one at `path` (not removed and made again)."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def _wait_until(fd: int, deadline: float) -> None:
    """The lock, tried every POLL seconds; BlockingIOError once the deadline passed."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            time.sleep(min(POLL, left))


def lock_path(state_dir: Path) -> Path:
    return state_dir.with_name(state_dir.name + SUFFIX)


@contextlib.contextmanager
def lab_lock(
    state_dir: Path,
    command: str,
    wait: bool = False,
    say: Callable[[str], None] = print,
    timeout: float | None = None,
) -> Iterator[None]:
    """Hold the lab's lock for the block. Busy: LabHeld (a LabBusy) naming the holder
    at once, or, with wait, a line saying whom it waits for, then the wait (Ctrl-C
    ends it); with a timeout too, LabHeld once that many seconds passed."""
    path = lock_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise _busy(fd, state_dir, None) from None
            holder = _holder(fd)
            bound = "" if timeout is None else f" at most {timeout:g} s"
            say(
                f"waiting{bound} for {holder.text() if holder else UNREADABLE} to finish "
                "(Ctrl-C stops waiting)"
            )
            try:
                if deadline is None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                else:
                    _wait_until(fd, deadline)
            except BlockingIOError:
                raise _busy(fd, state_dir, timeout) from None
            except BaseException:
                os.close(fd)
                raise
        if _same_file(fd, path):
            break
        os.close(fd)  # locked a file someone removed: lock the one there now
        time.sleep(0.05)
    try:
        record = {
            "command": command,
            "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock
