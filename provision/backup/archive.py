"""The backup archive: one gzip'd tar, 0600 from creation, with a manifest.

The manifest (the first member, manifest.json, model.py) names the cluster the
parts came from and the sha256 and size of every part. Reading never extracts
(stream.py): the archive is read once, in order, each part checked against its
manifest as it streams past, so a corrupted, tampered or foreign archive is
refused before anything is restored from it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from provision.backup.model import (
    FORMAT,
    MANIFEST,
    MAX_PART,
    MAX_PARTS,
    MAX_TOTAL,
    PART_RE,
    ArchiveRefused,
    ForeignArchive,
    Identity,
    Manifest,
)
from provision.backup.stream import Parts, check_archive, read_manifest, read_parts
from provision.files import private_file

# backup-<cluster>-<UTC time>.tar.gz: the only names retention ever deletes.
NAME_RE = re.compile(
    r"^backup-(?P<cluster>[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)-(?P<stamp>\d{8}T\d{6}Z)\.tar\.gz$"
)

__all__ = [
    "FORMAT",
    "MANIFEST",
    "ArchiveRefused",
    "ForeignArchive",
    "Identity",
    "Manifest",
    "Parts",
    "archive_name",
    "archives",
    "check_archive",
    "check_fits",
    "iter_listing",
    "prune",
    "read_manifest",
    "read_parts",
    "write_archive",
]


def archive_name(cluster: str, when: float | None = None) -> str:
    return f"backup-{cluster}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(when))}.tar.gz"


def write_archive(
    path: Path, identity: Identity, parts: Mapping[str, bytes], provision_version: str
) -> Manifest:
    """Write the archive at path (a new file, 0600 from creation, renamed into
    place only when complete)."""
    for name in parts:
        if not PART_RE.match(name) or name == MANIFEST:
            raise ValueError(f"bad part name {name!r}")
    sizes = {name: len(data) for name, data in parts.items()}
    if (
        len(sizes) > MAX_PARTS
        or sum(sizes.values()) > MAX_TOTAL
        or max([0, *sizes.values()]) > MAX_PART
    ):
        raise ArchiveRefused(
            f"{path}: parts of {', '.join(f'{n} {s} bytes' for n, s in sizes.items())}: more than "
            f"a restore reads ({MAX_PARTS} parts, each at most {MAX_PART} bytes, "
            f"{MAX_TOTAL} in all); nothing was written\n"
            "  fix: remove what grew so large (objects in etcd, MySQL's tables), then back up again"
        )
    manifest = Manifest(
        identity=identity,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        provision=provision_version,
        parts={
            n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for n, b in parts.items()
        },
    )
    with private_file(path) as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
        _add(tar, MANIFEST, json.dumps(manifest.as_dict(), indent=2).encode())
        for name, data in sorted(parts.items()):
            _add(tar, name, data)
    return manifest


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def check_fits(path: Path, manifest: Manifest, here: Identity) -> None:
    """Refuse a backup of another cluster, config, node set or Kubernetes version."""
    theirs, ours = manifest.identity, here
    for field, what in (
        ("cluster", "cluster name"),
        ("config_sha256", "config"),
        ("nodes", "node names and addresses"),
        ("kubernetes", "Kubernetes version"),
    ):
        a, b = getattr(theirs, field), getattr(ours, field)
        if isinstance(a, Mapping):
            a, b = dict(a), dict(b)
        if a != b:
            raise ForeignArchive(
                f"{path}: this backup was taken with another {what} "
                f"({_short(a)}; this lab: {_short(b)})\n"
                "  fix: restore it onto a lab made from the same cluster.yml, "
                "or take a backup of this lab"
            )


def _short(value) -> str:
    if isinstance(value, Mapping):
        text = ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
        return text if len(text) <= 120 else text[:117] + "..."
    return str(value)[:16]


def archives(directory: Path, cluster: str) -> list[Path]:
    """This cluster's archives in directory, oldest first (by the time in the name)."""
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = NAME_RE.match(p.name)
        if m and m["cluster"] == cluster and p.is_file() and not p.is_symlink():
            found.append((m["stamp"], p))
    return [p for _, p in sorted(found)]


def prune(directory: Path, cluster: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives of this cluster; returns the deleted.
    Only regular files named like ours are ever deleted."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    old = archives(directory, cluster)[:-keep]
    for p in old:
        p.unlink()
    return old


def iter_listing(directory: Path, cluster: str) -> Iterator[tuple[Path, Manifest | None, str]]:
    """(archive, manifest or None, problem) for `provision backup --list`, newest first:
    each archive read through and every part checked (nothing is kept)."""
    for p in reversed(archives(directory, cluster)):
        try:
            yield p, check_archive(p), ""
        except ArchiveRefused as e:
            yield p, None, str(e).splitlines()[0]
