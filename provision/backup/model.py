"""What a backup archive holds, and what a reader of one accepts.

The manifest (the archive's first member, manifest.json) names the cluster the
parts came from (its name, the hash of its config, its node addresses, its
Kubernetes version) and the sha256 and size of every part. An archive is
untrusted input: parse_manifest takes only the shape write_archive writes, down
to the types of its fields, and part sizes within the limits below, so a reader
knows how much it may read before it reads a part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from provision.errors import DataGuard, UsageError
from provision.files import decode_json

FORMAT = 1
MANIFEST = "manifest.json"
PART_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}(/[a-z0-9][a-z0-9._-]{0,63}){0,3}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_MANIFEST = 1 << 20
# etcd's default backend quota is 2 GiB: a lab's snapshot, its largest part, is
# never larger. A lab's archive has five parts.
MAX_PART = 2 << 30
MAX_TOTAL = 4 << 30
MAX_PARTS = 64


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

    def size(self, name: str) -> int:
        size = self.parts[name]["size"]
        assert isinstance(size, int), "parse_manifest and write_archive make it an int"
        return size

    def sha256(self, name: str) -> str:
        return str(self.parts[name]["sha256"])


def refused(path: Path, what: str) -> ArchiveRefused:
    return ArchiveRefused(
        f"{path}: {what}\n"
        "  fix: use another backup (`provision backup --list`); nothing was changed"
    )


def shown(value: object) -> str:
    """A value from an archive, short enough for one line of an error."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_manifest(path: Path, raw: bytes) -> Manifest:
    """The manifest of the archive at path from its bytes, or ArchiveRefused naming
    what is wrong: not UTF-8 JSON nested at most files.MAX_DEPTH levels, another
    format, a field missing or of another type, a part name, sha256 or size that
    write_archive never writes."""
    try:
        data = decode_json(raw)
    except ValueError as e:
        raise refused(path, f"has an unreadable {MANIFEST} ({e})") from None
    if not isinstance(data, dict):
        raise refused(path, f"its {MANIFEST} is not a JSON object")
    if "format" not in data:
        raise refused(path, f"its {MANIFEST} names no format")
    if type(data["format"]) is not int or data["format"] != FORMAT:
        raise refused(
            path, f"is format {shown(data['format'])}; this provision reads format {FORMAT}"
        )
    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or not all(isinstance(v, str) for v in nodes.values()):
        raise refused(path, f"its {MANIFEST}'s nodes are not a mapping of names to addresses")
    identity = Identity(
        cluster=_text(path, data, "cluster"),
        config_sha256=_text(path, data, "config_sha256"),
        kubernetes=_text(path, data, "kubernetes"),
        nodes=nodes,
    )
    return Manifest(
        identity, _text(path, data, "created"), _text(path, data, "provision"), _parts(path, data)
    )


def _text(path: Path, data: dict, field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str):
        raise refused(path, f"its {MANIFEST}'s {field} is {shown(value)}, not a string")
    return value


def _parts(path: Path, data: dict) -> dict[str, dict[str, int | str]]:
    parts = data.get("parts")
    if not isinstance(parts, dict):
        raise refused(path, f"its {MANIFEST}'s parts are not a mapping of names to parts")
    if len(parts) > MAX_PARTS:
        raise refused(path, f"its {MANIFEST} names {len(parts)} parts, more than {MAX_PARTS}")
    checked: dict[str, dict[str, int | str]] = {}
    for name, part in parts.items():
        if not PART_RE.match(name) or name == MANIFEST:
            raise refused(path, f"its {MANIFEST} names a part {shown(name)}, not a part name")
        if not isinstance(part, dict):
            raise refused(path, f"part {name}: not a mapping of sha256 and size")
        digest, size = part.get("sha256"), part.get("size")
        if not isinstance(digest, str) or not SHA256_RE.match(digest):
            raise refused(path, f"part {name}: sha256 {shown(digest)} is not 64 hex digits")
        # bool is an int to Python; inf, NaN and 1.0 are floats: none is a size
        if type(size) is not int or size < 0:
            raise refused(path, f"part {name}: size {shown(size)} is not a number of bytes")
        if size > MAX_PART:
            raise refused(
                path,
                f"part {name} is declared {size} bytes, more than the {MAX_PART} a "
                "part may be (nothing of it was read)",
            )
        checked[name] = {"sha256": digest, "size": size}
    total = sum(int(p["size"]) for p in checked.values())
    if total > MAX_TOTAL:
        raise refused(
            path,
            f"its parts are declared {total} bytes in all, more than the {MAX_TOTAL} a "
            "backup may hold (nothing of them was read)",
        )
    return checked
