"""Every reader of a file provision reads, property-based: the lab's state records, the
generated inventory, the known_hosts file, the bundle's manifest, a backup's manifest
and a whole backup archive, each given files of random kind (regular, FIFO, directory,
symlink, sparse and huge, missing), size and bytes (random, random JSON or YAML, the
valid file with one member replaced, nested without end, a valid archive cut, flipped
or extended, tar streams of random members). Each gives its value or a clean error:
the project's root exception, of the class and exit code the README's table gives (2,
or 6 for the bundle), with a fix; never another exception, never a hang, and a backup
reader leaves no spool behind. Random each run; the seed is printed, and
PROVISION_HYPOTHESIS_SEED=N runs it again."""

from __future__ import annotations

import collections
import copy
import gzip
import hashlib
import io
import json
import os
import random
import tarfile
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from provision.backup.archive import Identity, read_manifest, read_parts, write_archive
from provision.backup.model import ArchiveRefused
from provision.errors import BundleError, ProvisionError, UsageError
from provision.files import MAX_DEPTH
from provision.inventory import read_endpoints
from tests.unit.test_hostile_state_files import JSON, READERS, _paths, _set, contents

ARCHIVE = "backup-lab-20261128T120000Z.tar.gz"
PARTS = {"etcd/snapshot.db": b"\x00etcd" * 300, "pki/ca.crt": b"ca\n", "mysql/dump.sql": b""}
ID = Identity("lab", "a" * 64, "v1.35.4", {"cp1": "192.168.56.10"})
INVENTORY = {
    "all": {
        "vars": {"cluster_name": "lab"},
        "children": {
            "k8s_cluster": {
                "children": {
                    "control_plane": {
                        "hosts": {
                            "cp1": {"ansible_host": "h", "ansible_port": 22, "ansible_user": "u"}
                        }
                    }
                }
            }
        },
    }
}


def _valid_archive() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ARCHIVE
        write_archive(path, ID, PARTS, "0.1.0")
        return path.read_bytes()


VALID_ARCHIVE = _valid_archive()
with tarfile.open(fileobj=io.BytesIO(VALID_ARCHIVE)) as _tarball:
    VALID_MANIFEST = json.loads(_tarball.extractfile("manifest.json").read())


def _archive_reader(d: Path) -> None:
    """read_parts into a spool in d/spool: every part there, as its manifest says,
    and nothing left of the spool once the parts are closed or the archive refused."""
    spool = d / "spool"
    spool.mkdir()
    try:
        _, parts = read_parts(d / ARCHIVE, spool)
    except ArchiveRefused:
        assert list(spool.iterdir()) == []
        raise
    with parts:
        assert set(parts) == set(parts.manifest.parts)
        for name in parts:
            assert hashlib.sha256(parts[name]).hexdigest() == parts.sha256(name)
    assert list(spool.iterdir()) == []


# name: (file under the directory, reader, the error class it may raise)
ALL = {
    **{name: (file, read, error) for name, (file, read, error) in READERS.items()},
    "hosts.yml": ("hosts.yml", lambda d: read_endpoints(d / "hosts.yml"), UsageError),
    "backup manifest": (ARCHIVE, lambda d: read_manifest(d / ARCHIVE), ArchiveRefused),
    "backup archive": (ARCHIVE, _archive_reader, ArchiveRefused),
}
EXIT = {UsageError: 2, ArchiveRefused: 2, BundleError: 6}


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(buf.getvalue()) if compress else buf.getvalue()


@st.composite
def manifests(draw) -> bytes:
    """The valid manifest with one member replaced, random JSON, or nested deep."""
    kind = draw(st.sampled_from(["mutated", "json", "deep", "bytes"]))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    if kind == "deep":
        return draw(st.sampled_from([b"[", b'{"a":'])) * draw(st.integers(0, 3 * MAX_DEPTH))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    record = copy.deepcopy(VALID_MANIFEST)
    at = draw(st.sampled_from(list(_paths(record))))
    value = draw(JSON | st.sampled_from([float("inf"), float("nan"), -1, 4 << 30, 1.5, True]))
    return json.dumps(_set(record, at, value)).encode()


@st.composite
def members(draw) -> tuple[tarfile.TarInfo, bytes | None]:
    text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
    name = draw(st.sampled_from([*PARTS, "manifest.json", "evil", "../x", "a/"]) | text)
    kind = draw(
        st.sampled_from(
            [tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.DIRTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE]
        )
    )
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind != tarfile.REGTYPE:
        return info, None
    data = draw(st.sampled_from([*PARTS.values()]) | st.binary(max_size=600))
    info.size = len(data)
    return info, data


@st.composite
def archives(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "gzip", "manifest", "members", "damaged"]))
    if kind == "bytes":
        return draw(st.binary(max_size=600))
    if kind == "gzip":
        return gzip.compress(draw(st.binary(max_size=600)))
    if kind == "manifest":  # the valid parts behind a drawn manifest
        manifest = draw(manifests())
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        rest = []
        for name, data in PARTS.items():
            part = tarfile.TarInfo(name)
            part.size = len(data)
            rest.append((part, data))
        return _tar([(info, manifest), *rest])
    if kind == "members":  # the valid manifest, then drawn members
        manifest = json.dumps(VALID_MANIFEST).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        drawn = draw(st.lists(members(), max_size=6))
        return _tar([(info, manifest), *drawn])
    data = bytearray(
        gzip.decompress(VALID_ARCHIVE) if draw(st.booleans()) else VALID_ARCHIVE
    )  # damage the tar stream itself, or its gzip
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "cut", "extend"]))
        if how == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[draw(st.integers(0, len(data))) :]
        else:
            data += draw(st.binary(min_size=1, max_size=100))
    raw = bytes(data)
    return gzip.compress(raw) if not raw.startswith(b"\x1f\x8b") else raw


@st.composite
def inventories(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "yaml", "mutated", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "yaml":
        return yaml.safe_dump(draw(JSON)).encode()
    if kind == "deep":
        return draw(st.sampled_from([b"[", b"{a: ", b"- "])) * draw(st.integers(0, 3000))
    record = copy.deepcopy(INVENTORY)
    at = draw(st.sampled_from(list(_paths(record))))
    return yaml.safe_dump(_set(record, at, draw(JSON))).encode()


def content_for(name: str):
    if name.startswith("backup"):
        return archives()
    if name == "hosts.yml":
        return inventories()
    return contents(name)


@st.composite
def files(draw, name: str) -> tuple[str, bytes | int | None]:
    """(kind, what): the content of a regular file, the size of a sparse one, or none."""
    kind = draw(st.sampled_from(["content"] * 6 + ["fifo", "dir", "symlink", "sparse", "none"]))
    if kind == "content":
        return kind, draw(content_for(name))
    if kind == "sparse":
        return kind, draw(st.integers(0, 64 << 20))
    return kind, None


def place(d: Path, file: str, kind: str, what: bytes | int | None) -> None:
    path = d / file
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "content":
        assert isinstance(what, bytes)
        path.write_bytes(what)
    elif kind == "sparse":
        assert isinstance(what, int)
        path.touch()
        os.truncate(path, what)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "symlink":
        target = d / "target"
        target.write_bytes(VALID_ARCHIVE if file == ARCHIVE else b"{}")
        path.symlink_to(target)


def test_every_reader_gives_its_value_or_a_clean_error():
    chosen = int(os.environ.get("PROVISION_HYPOTHESIS_SEED") or random.randrange(2**32))
    print(f"hypothesis seed {chosen} (rerun: PROVISION_HYPOTHESIS_SEED={chosen})")
    outcomes: collections.Counter[str] = collections.Counter()

    @seed(chosen)
    @settings(
        max_examples=500,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(name=st.sampled_from(sorted(ALL)), data=st.data())
    def one(name: str, data: st.DataObject) -> None:
        file, reader, error = ALL[name]
        kind, what = data.draw(files(name), label="file")
        with tempfile.TemporaryDirectory() as d:
            place(Path(d), file, kind, what)
            try:
                reader(Path(d))
            except ProvisionError as e:
                assert isinstance(e, error), f"{name}: {type(e).__name__}: {e}"
                assert e.exit_code == EXIT[error], f"{name}: exit {e.exit_code}"
                assert "fix:" in str(e), f"{name}: no fix in {e}"
                outcomes[f"{name}: refused"] += 1
                event("refused")
                return
        outcomes[f"{name}: read"] += 1
        event("read")

    one()
    print(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    refused = {k.split(":")[0] for k in outcomes if k.endswith("refused")}
    assert refused == set(ALL), f"never refused: {set(ALL) - refused} (seed {chosen})"
