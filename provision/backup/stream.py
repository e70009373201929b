"""Reading a backup archive in one pass, in order, a chunk at a time.

An archive is a gzip'd tar whose first member is its manifest. The reader parses
each 512-byte tar header itself (tarfile.TarInfo.frombuf) and decides on it before
reading what follows, so no archive makes it read or hold more than its manifest
allows: the manifest comes first and is at most MAX_MANIFEST bytes; every later
member must be a regular file the manifest names, met once, of the size the
manifest gives (a member that is not is refused the moment its header is read);
its data is hashed as it streams past, and goes to a private spool file when the
caller keeps the parts. Extension headers (pax, GNU long names), links, devices and
directories are refused: write_archive writes none.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import tarfile
import tempfile
import weakref
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from provision.backup.model import (
    MANIFEST,
    MAX_MANIFEST,
    ArchiveRefused,
    Manifest,
    parse_manifest,
    refused,
    shown,
)

CHUNK = 1 << 20
BLOCK = tarfile.BLOCKSIZE
# tar pads its stream with zeros to a whole record after the end-of-archive marker.
MAX_TAIL = tarfile.RECORDSIZE
# A spool's name holds its reader's process id: one whose process is gone is removed.
SPOOL = ".backup-parts-"
REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE)


class Parts(Mapping[str, bytes]):
    """The parts of an archive whose every part matched its manifest, each in a
    private file of a private directory (0700), removed by close() or when the
    object goes. parts[name] reads one part whole; open(name) streams it."""

    def __init__(
        self,
        manifest: Manifest,
        spool: tempfile.TemporaryDirectory,
        files: dict[str, Path],
        archive_sha256: str,
    ) -> None:
        self.manifest = manifest
        self.archive_sha256 = archive_sha256
        self._files = files
        self._remove = weakref.finalize(self, spool.cleanup)

    def __getitem__(self, name: str) -> bytes:
        return self._files[name].read_bytes()

    def __contains__(self, name: object) -> bool:
        return name in self._files

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def open(self, name: str) -> BinaryIO:
        return self._files[name].open("rb")

    def sha256(self, name: str) -> str:
        return self.manifest.sha256(name)

    def size(self, name: str) -> int:
        return self.manifest.size(name)

    def close(self) -> None:
        self._remove()

    def __enter__(self) -> Parts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_manifest(path: Path) -> Manifest:
    """The manifest of an archive (its first member only), or ArchiveRefused."""
    with _Tar.opened(path) as tar:
        return _manifest(tar)


def check_archive(path: Path) -> Manifest:
    """The manifest of an archive whose every part matches it; nothing is kept."""
    with _Tar.opened(path) as tar:
        manifest = _manifest(tar)
        _stream_parts(tar, manifest, None)
        return manifest


def read_parts(path: Path, spool_in: Path | None = None) -> tuple[Manifest, Parts]:
    """Every part, each checked against the manifest's size and sha256 as it is
    read, into a private spool directory made in spool_in (default: the system's
    temporary directory); a refused archive leaves no spool behind."""
    if spool_in is not None:
        _sweep(spool_in)
    spool = tempfile.TemporaryDirectory(prefix=f"{SPOOL}{os.getpid()}-", dir=spool_in)
    files: dict[str, Path] = {}

    def sink(name: str) -> BinaryIO:
        files[name] = Path(spool.name) / str(len(files))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.fdopen(os.open(files[name], flags, 0o600), "wb")

    try:
        with _Tar.opened(path) as tar:
            manifest = _manifest(tar)
            _stream_parts(tar, manifest, sink)
            digest = tar.sha256()
    except BaseException:
        spool.cleanup()
        raise
    return manifest, Parts(manifest, spool, files, digest)


def _manifest(tar: _Tar) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST or first.type not in REGULAR:
        raise refused(tar.path, f"does not start with its {MANIFEST}")
    if first.size > MAX_MANIFEST:
        raise refused(
            tar.path, f"its {MANIFEST} is {first.size} bytes, more than the {MAX_MANIFEST} read"
        )
    return parse_manifest(tar.path, b"".join(tar.data(first)))


def _stream_parts(tar: _Tar, manifest: Manifest, sink: Callable[[str], BinaryIO] | None) -> None:
    """Every member after the manifest, in one pass: each refused when its header
    is met unless the manifest names it and its size; each hashed as it is read."""
    seen: set[str] = set()
    while (member := tar.next()) is not None:
        name = member.name
        if name in seen:
            raise refused(tar.path, f"holds part {name} twice")
        if name not in manifest.parts:
            raise refused(tar.path, f"holds a member its manifest does not name: {shown(name)}")
        size = manifest.size(name)
        if member.type not in REGULAR or member.size != size:
            raise refused(tar.path, f"part {name} is not the {size}-byte file its manifest names")
        digest = hashlib.sha256()
        with sink(name) if sink else contextlib.nullcontext() as out:
            for chunk in tar.data(member):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
        if digest.hexdigest() != manifest.sha256(name):
            raise refused(
                tar.path, f"part {name} does not match its sha256 (corrupted or tampered)"
            )
        seen.add(name)
    missing = sorted(set(manifest.parts) - seen)
    if missing:
        raise refused(tar.path, f"part {missing[0]} is missing")


class _Hashing:
    """A file read through: the sha256 of every byte read so far."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data

    def seek(self, offset: int) -> object:
        raise io.UnsupportedOperation("an archive is read once, in order")


class _Tar:
    """The tar stream inside a gzip file: headers and data, in order, never more
    than a chunk at a time. Any fault of the file is ArchiveRefused."""

    def __init__(self, path: Path, raw: BinaryIO) -> None:
        self.path = path
        self.raw = _Hashing(raw)
        self.gz = gzip.GzipFile(fileobj=self.raw, mode="rb")
        self.count = 0

    @classmethod
    @contextlib.contextmanager
    def opened(cls, path: Path) -> Iterator[_Tar]:
        """The archive named by the command line (a link is followed to it): a
        regular file, opened without blocking, never a FIFO or a device."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise refused(path, "is not a regular file")
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ArchiveRefused(
                f"{path}: no such backup file\n  fix: `provision backup --list` shows them"
            ) from None
        except OSError as e:
            raise refused(path, f"cannot be opened ({e.strerror})") from None
        with os.fdopen(fd, "rb") as raw:
            if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):  # replaced since stat
                raise refused(path, "is not a regular file")
            yield cls(path, raw)

    def next(self) -> tarfile.TarInfo | None:
        """The next member's header; None at the end of the archive."""
        header = self._exact(BLOCK)
        if header == bytes(BLOCK):
            self._end()
            return None
        self.count += 1
        try:
            member = tarfile.TarInfo.frombuf(header, "utf-8", "strict")
        except (tarfile.HeaderError, ValueError):
            raise refused(self.path, f"member {self.count} has no valid tar header") from None
        if member.size < 0:
            raise refused(self.path, f"member {self.count} has a negative size")
        return member

    def data(self, member: tarfile.TarInfo) -> Iterator[bytes]:
        """The member's data, a chunk at a time, then the padding skipped."""
        left = member.size
        while left:
            chunk = self._exact(min(left, CHUNK))
            left -= len(chunk)
            yield chunk
        self._exact(-member.size % BLOCK)

    def sha256(self) -> str:
        """The sha256 of the whole archive file, once it has been read to its end."""
        return self.raw.digest.hexdigest()

    def _end(self) -> None:
        """After the end-of-archive marker: zeros up to a record, then the end of
        the file (which makes gzip check its CRC and length)."""
        tail = self._upto(MAX_TAIL + 1)
        if len(tail) > MAX_TAIL or tail.count(0) != len(tail):
            raise refused(self.path, "holds data after the end of its archive")
        while self.raw.read(CHUNK):
            pass

    def _exact(self, size: int) -> bytes:
        data = self._upto(size)
        if len(data) < size:
            raise refused(self.path, "ends too early (truncated)")
        return data

    def _upto(self, size: int) -> bytes:
        """Up to size bytes of the tar stream; fewer only at its end."""
        chunks: list[bytes] = []
        left = size
        try:
            while left > 0:
                chunk = self.gz.read(left)
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        except (OSError, EOFError, zlib.error) as e:
            raise refused(
                self.path, f"is not a readable archive ({type(e).__name__}: {e})"
            ) from None
        return b"".join(chunks)


def _sweep(directory: Path) -> None:
    """Spools left by a reader that was killed (its process is gone) are removed."""
    for entry in directory.glob(f"{SPOOL}*"):
        pid = re.match(rf"{re.escape(SPOOL)}(\d+)-", entry.name)
        if pid and not _alive(int(pid[1])) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
