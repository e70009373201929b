"""Files only their owner can read, written whole or not at all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def private_file(path: Path) -> Iterator[BinaryIO]:
    """A new file at path, 0600 from creation, renamed into place only when the
    block ends without an error (an error leaves nothing behind).

    A temporary file left by an earlier run (any mode, or a symlink planted there) is
    removed first and the new one made with O_EXCL, so its mode is always 0600 and it
    is always a new file of ours; fchmod covers a umask that would take bits away."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd != -1:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
