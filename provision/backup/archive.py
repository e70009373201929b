"""The backup archive: one gzip'd tar, 0600 from creation, with a manifest.

The manifest (the first member, manifest.json) names the cluster the parts
came from (its name, the hash of its config, its node addresses, its Kubernetes
version) and the sha256 and size of every part. Reading never extracts: each
part is read by its manifest name, must be a regular file, and must match its
sha256, so a corrupted, tampered or foreign archive is refused before anything
is restored from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import tarfile
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from provision.errors import DataGuard, UsageError
from provision.files import private_file

FORMAT = 1
MANIFEST = "manifest.json"
# backup-<cluster>-<UTC time>.tar.gz: the only names retention ever deletes.
NAME_RE = re.compile(
    r"^backup-(?P<cluster>[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)-(?P<stamp>\d{8}T\d{6}Z)\.tar\.gz$"
)
PART_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}(/[a-z0-9][a-z0-9._-]{0,63}){0,3}$")
MAX_MANIFEST = 1 << 20


class ArchiveRefused(UsageError):
    """The archive cannot be used: corrupt, tampered, or not a backup of this cluster."""


class ForeignArchive(DataGuard):
    """The archive is another cluster's, or another Kubernetes version's."""


@dataclass(frozen=True)
class Identity:
    """What makes a backup fit a cluster: restore refuses any difference."""

    cluster: str
    config_sha256: str
    kubernetes: str
    nodes: Mapping[str, str]  # name -> IP

    def as_dict(self) -> dict:
        return {
            "cluster": self.cluster,
            "config_sha256": self.config_sha256,
            "kubernetes": self.kubernetes,
            "nodes": dict(sorted(self.nodes.items())),
        }


@dataclass(frozen=True)
class Manifest:
    identity: Identity
    created: str
    provision: str
    parts: Mapping[str, Mapping[str, int | str]]  # name -> {"sha256", "size"}

    def as_dict(self) -> dict:
        return {
            "format": FORMAT,
            "created": self.created,
            "provision": self.provision,
            **self.identity.as_dict(),
            "parts": {n: dict(p) for n, p in sorted(self.parts.items())},
        }


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


def read_manifest(path: Path) -> Manifest:
    """The manifest of an archive, or ArchiveRefused naming what is wrong."""
    with _open(path) as tar:
        return _manifest(path, tar)


def read_parts(path: Path) -> tuple[Manifest, dict[str, bytes]]:
    """Every part, each checked against the manifest's sha256 and size; no
    member that the manifest does not name, and nothing but regular files."""
    with _open(path) as tar:
        manifest = _manifest(path, tar)
        members = {m.name: m for m in tar.getmembers()}
        extra = sorted(set(members) - set(manifest.parts) - {MANIFEST})
        if extra:
            raise _refused(
                path, f"holds members its manifest does not name: {', '.join(extra[:5])}"
            )
        parts = {}
        for name, want in manifest.parts.items():
            member = members.get(name)
            if member is None:
                raise _refused(path, f"part {name} is missing")
            if not member.isreg() or member.size != want["size"]:
                raise _refused(
                    path, f"part {name} is not the {want['size']}-byte file its manifest names"
                )
            reader = tar.extractfile(member)
            assert reader is not None, "a regular member always has a reader"
            data = reader.read()
            if hashlib.sha256(data).hexdigest() != want["sha256"]:
                raise _refused(
                    path, f"part {name} does not match its sha256 (corrupted or tampered)"
                )
            parts[name] = data
        return manifest, parts


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
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
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


def _manifest(path: Path, tar: tarfile.TarFile) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isreg() or first.size > MAX_MANIFEST:
        raise _refused(path, f"does not start with its {MANIFEST}")
    try:
        reader = tar.extractfile(first)
        assert reader is not None, "a regular member always has a reader"
        raw = json.loads(reader.read())
        identity = Identity(
            cluster=str(raw["cluster"]),
            config_sha256=str(raw["config_sha256"]),
            kubernetes=str(raw["kubernetes"]),
            nodes={str(k): str(v) for k, v in raw["nodes"].items()},
        )
        parts: dict[str, dict[str, int | str]] = {
            str(n): {"sha256": str(p["sha256"]), "size": int(p["size"])}
            for n, p in raw["parts"].items()
        }
        if raw["format"] != FORMAT:
            raise _refused(
                path, f"is format {raw['format']!r}; this provision reads format {FORMAT}"
            )
        return Manifest(identity, str(raw["created"]), str(raw["provision"]), parts)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise _refused(path, f"has an unreadable manifest ({type(e).__name__}: {e})") from None


@contextlib.contextmanager
def _open(path: Path) -> Iterator[tarfile.TarFile]:
    """tarfile.open for reading; a truncated or corrupt file is ArchiveRefused."""
    if not path.is_file():
        raise ArchiveRefused(
            f"{path}: no such backup file\n  fix: `provision backup --list` shows them"
        )
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            yield tar
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise _refused(path, f"is not a readable archive ({type(e).__name__}: {e})") from None


def _refused(path: Path, what: str) -> ArchiveRefused:
    return ArchiveRefused(
        f"{path}: {what}\n"
        "  fix: use another backup (`provision backup --list`); nothing was changed"
    )


def iter_listing(directory: Path, cluster: str) -> Iterator[tuple[Path, Manifest | None, str]]:
    """(archive, manifest or None, problem) for `provision backup --list`, newest first."""
    for p in reversed(archives(directory, cluster)):
        try:
            yield p, read_manifest(p), ""
        except ArchiveRefused as e:
            yield p, None, str(e).splitlines()[0]
