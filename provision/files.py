"""Files only their owner can read, written whole or not at all; and the one careful
reader of the files provision keeps (state, records, a bundle's manifest)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from provision.errors import ProvisionError, UsageError


@contextlib.contextmanager
def private_file(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """A new file at path, 0600 (or `mode`) from creation, renamed into place only
    when the block ends without an error (an error leaves nothing behind).

    A temporary file left by an earlier run (any mode, or a symlink planted there) is
    removed first and the new one made with O_EXCL, so its mode is always ours and it
    is always a new file of ours; fchmod covers a umask that would take bits away."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode & 0o600)
    try:
        os.fchmod(fd, mode)
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


# What a state file may hold at most, unless its reader says otherwise: every one
# provision writes is a few kilobytes.
MAX_BYTES = 1 << 20
# How deeply a JSON document may nest: provision's own records nest four levels.
MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def refuse(
    path: Path, what: str, problem: str, fix: str, error: type[ProvisionError] = UsageError
) -> ProvisionError:
    """The error for a file provision will not use: which file, what is wrong, the fix."""
    return error(f"{what} {path}: {problem}\n  fix: {fix}")


def read_small(
    path: Path,
    what: str,
    fix: str = "",
    max_bytes: int = MAX_BYTES,
    error: type[ProvisionError] = UsageError,
) -> bytes | None:
    """The bytes of a regular file of at most max_bytes, or None when there is none.

    Never blocks (a FIFO is refused, not opened for a writer to come), never follows
    a final symlink, never reads more than max_bytes + 1. Anything else than a small
    regular file raises `error` naming the file and the fix (default: remove it)."""
    fix = fix or f"remove it (`rm {path}`) and run the command again"
    try:
        # lstat first: a device or a FIFO is never even opened (opening some devices acts)
        _check_kind(path, os.lstat(path), what, fix, error)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        problem = "it is a symlink" if e.errno == errno.ELOOP else f"cannot open it ({e.strerror})"
        raise refuse(path, what, problem, fix, error) from None
    try:
        info = os.fstat(fd)  # again: it may have been replaced since lstat
        _check_kind(path, info, what, fix, error)
        if info.st_size > max_bytes:
            problem = f"it is {info.st_size} bytes, more than the {max_bytes} provision reads"
            raise refuse(path, what, problem, fix, error)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        raise refuse(path, what, f"cannot read it ({e.strerror})", fix, error) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:  # it grew after fstat
        raise refuse(
            path, what, f"it holds more than the {max_bytes} bytes provision reads", fix, error
        )
    return data


def _check_kind(
    path: Path, info: os.stat_result, what: str, fix: str, error: type[ProvisionError]
) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise refuse(path, what, "it is a symlink (provision follows none)", fix, error)
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "of another kind")
        raise refuse(path, what, f"it is {kind}, not a regular file", fix, error)


def decode_json(raw: bytes) -> object:
    """UTF-8 JSON nested at most MAX_DEPTH levels; ValueError for anything else."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 (byte {e.start})") from None
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise ValueError("a string holds a lone surrogate (\\ud800 ... \\udfff)")
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            values = [*item, *item.values()] if isinstance(item, dict) else item
            stack.extend((v, depth + 1) for v in values)
    return data


def read_json(
    path: Path,
    what: str,
    shape: type = dict,
    fix: str = "",
    max_bytes: int = MAX_BYTES,
    error: type[ProvisionError] = UsageError,
) -> Any:
    """A small regular file of JSON whose top level is a `shape` (read_small), or None
    when there is none. Not UTF-8, not JSON, too deep or another shape: `error`."""
    fix = fix or f"remove it (`rm {path}`) and run the command again"
    raw = read_small(path, what, fix, max_bytes, error)
    if raw is None:
        return None
    try:
        data = decode_json(raw)
    except ValueError as e:
        raise refuse(path, what, f"not valid JSON: {e}", fix, error) from None
    if not isinstance(data, shape):
        problem = f"its top level is {_json_type(data)}, not {_json_type(shape())}"
        raise refuse(path, what, problem, fix, error)
    return data


def read_record(path: Path, what: str, fix: str) -> object:
    """The JSON of a record provision rewrites as it goes (up's phases, an operation's
    stages), or None when there is none or a killed writer tore it: nothing reliable to
    resume from. A link, a FIFO or a huge file is refused (read_small); the caller
    checks the shape."""
    raw = read_small(path, what, fix)
    if raw is None:
        return None
    try:
        return decode_json(raw)
    except ValueError:
        return None


def _json_type(value: object) -> str:
    """JSON's name for a value's type: an object, an array, ..."""
    kinds = ((bool, "a boolean"), (dict, "an object"), (list, "an array"), (str, "a string"))
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return "null" if value is None else "a number"


def write_state(path: Path, text: str) -> None:
    """A state file written whole or not at all, never through a link (a symlink
    planted at its path is replaced, not followed), readable by its owner only."""
    with private_file(path) as f:
        f.write(text.encode("utf-8"))


def private_dir(path: Path, what: str) -> Path:
    """A directory of provision's own inside a state directory, made 0700 when missing;
    a symlink there (a write through it would leave the state directory) or a file of
    another kind is refused."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a directory"
        raise refuse(
            path, what, f"it is {kind}", f"remove it (`rm {path}`) and run the command again"
        )
    return path
