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


def _holder(fd: int) -> str:
    """Who holds it, as the holder wrote it; whatever the file holds, one clean line."""
    try:
        raw = os.pread(fd, MAX_RECORD, 0)
        record = json.loads(raw.decode("utf-8"))
        command = str(record["command"])[:200]
        pid = int(record["pid"])
        started = str(record["started"])[:40]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "another provision command (its record is unreadable)"
    text = f"`provision {command}` (process {pid}, started {started})"
    return "".join(c if c.isprintable() else "?" for c in text)


def _same_file(fd: int, path: Path) -> bool:
    """The file we locked is still the one at `path` (not removed and made again)."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def lock_path(state_dir: Path) -> Path:
    return state_dir.with_name(state_dir.name + SUFFIX)


@contextlib.contextmanager
def lab_lock(
    state_dir: Path,
    command: str,
    wait: bool = False,
    say: Callable[[str], None] = print,
) -> Iterator[None]:
    """Hold the lab's lock for the block. Busy: LabBusy naming the holder at once, or,
    with wait, a line saying whom it waits for, then the wait (Ctrl-C ends it)."""
    path = lock_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                os.close(fd)
                raise LabBusy(
                    f"this lab is busy: {holder} is changing it ({state_dir})\n"
                    "  fix: wait for it to finish, or run this command again with --wait"
                ) from None
            say(f"waiting for {holder} to finish (Ctrl-C stops waiting)")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
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
