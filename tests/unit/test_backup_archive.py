"""The backup archive format: real files, corrupted and hostile ones refused."""

from __future__ import annotations

import gc
import gzip
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import tarfile
import time
import tracemalloc
from types import SimpleNamespace

import pytest

from provision.backup.archive import (
    ArchiveRefused,
    ForeignArchive,
    Identity,
    archive_name,
    archives,
    check_fits,
    iter_listing,
    prune,
    read_manifest,
    read_parts,
    write_archive,
)
from provision.backup.model import MAX_PART
from provision.files import MAX_DEPTH

ID = Identity("lab", "a" * 64, "v1.31.4", {"cp1": "192.168.56.10", "w1": "192.168.56.11"})
PARTS = {
    "etcd/snapshot.db": b"\x00etcd" * 1000,
    "pki/ca.crt": b"-----BEGIN CERTIFICATE-----\n",
    "mysql/dump.sql": b"",
}


def make(tmp_path, name="backup-lab-20261128T120000Z.tar.gz", parts=PARTS):
    path = tmp_path / name
    write_archive(path, ID, parts, "0.1.0")
    return path


def test_round_trip_is_private_and_checked(tmp_path):
    path = make(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    manifest, parts = read_parts(path)
    assert parts == PARTS
    assert manifest.identity == ID
    check_fits(path, manifest, ID)  # the same cluster: no error
    assert not list(tmp_path.glob(".*tmp"))


def test_mode_is_0600_whatever_the_umask(tmp_path):
    import os

    old = os.umask(0)
    try:
        path = make(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "field,value,what",
    [
        ("cluster", "other", "cluster name"),
        ("config_sha256", "b" * 64, "config"),
        ("kubernetes", "v1.30.0", "Kubernetes version"),
        ("nodes", {"cp1": "192.168.56.20", "w1": "192.168.56.11"}, "node names and addresses"),
    ],
)
def test_another_clusters_backup_is_refused(tmp_path, field, value, what):
    path = make(tmp_path)
    here = Identity(**{**ID.__dict__, field: value})
    with pytest.raises(ForeignArchive, match=what):
        check_fits(path, read_manifest(path), here)


def rewrite(path, edit):
    """Rewrite the tar stream of an archive through edit(members) -> members."""
    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for m, data in edit(members):
            tar.addfile(m, io.BytesIO(data) if data is not None else None)
    path.write_bytes(buf.getvalue())


def flipped(name: str):
    """A rewrite that changes the first byte of member `name` (its size kept)."""

    def flip(members):
        for m, data in members:
            if m.name == name:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            yield m, data

    return flip


def test_a_flipped_byte_in_a_part_is_refused(tmp_path):
    path = make(tmp_path)

    rewrite(path, flipped("etcd/snapshot.db"))
    with pytest.raises(ArchiveRefused, match="does not match its sha256"):
        read_parts(path)


def test_a_member_the_manifest_does_not_name_is_refused(tmp_path):
    path = make(tmp_path)

    def add_evil(members):
        yield from members
        evil = tarfile.TarInfo("../../etc/cron.d/evil")
        evil.size = 4
        yield evil, b"evil"

    rewrite(path, add_evil)
    with pytest.raises(ArchiveRefused, match="does not name"):
        read_parts(path)
    assert not (tmp_path.parent.parent / "etc").exists()


def test_a_part_replaced_by_a_symlink_is_refused(tmp_path):
    path = make(tmp_path)

    rewrite(path, as_kind("pki/ca.crt", tarfile.SYMTYPE, "/etc/shadow"))
    with pytest.raises(ArchiveRefused, match=r"pki/ca\.crt is not"):
        read_parts(path)


def as_kind(name: str, kind: bytes, linkname: str = ""):
    """A rewrite that makes member `name` a header of another kind (a link, a device,
    a directory), with no data."""

    def swap(members):
        for m, data in members:
            if m.name == name:
                m = tarfile.TarInfo(m.name)
                m.type, m.linkname = kind, linkname
                data = None
            yield m, data

    return swap


def test_a_missing_part_is_refused(tmp_path):
    path = make(tmp_path)
    rewrite(path, lambda ms: ((m, d) for m, d in ms if m.name != "mysql/dump.sql"))
    with pytest.raises(ArchiveRefused, match=r"mysql/dump\.sql is missing"):
        read_parts(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a gzip file", gzip.compress(b"not a tar stream" * 100)],
    ids=["empty", "garbage", "gzip-of-garbage"],
)
def test_unreadable_files_are_refused(tmp_path, content):
    path = tmp_path / "backup-lab-20261128T120000Z.tar.gz"
    path.write_bytes(content)
    with pytest.raises(ArchiveRefused):
        read_parts(path)


def test_a_truncated_archive_is_refused(tmp_path):
    path = make(tmp_path)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ArchiveRefused):
        read_parts(path)


def test_a_manifest_that_is_not_first_or_not_ours_is_refused(tmp_path):
    path = make(tmp_path)
    rewrite(path, lambda ms: reversed(list(ms)))
    with pytest.raises(ArchiveRefused, match="does not start with"):
        read_manifest(path)

    path = make(tmp_path, "backup-lab-20261128T120001Z.tar.gz")

    def bad_format(members):
        for m, data in members:
            if m.name == "manifest.json":
                raw = json.loads(data)
                raw["format"] = 99
                data = json.dumps(raw).encode()
                m.size = len(data)
            yield m, data

    rewrite(path, bad_format)
    with pytest.raises(ArchiveRefused, match="format 99"):
        read_manifest(path)


def test_bad_part_names_are_refused_when_writing(tmp_path):
    for name in ("../x", "/etc/x", "manifest.json", "a/../b", "A"):
        with pytest.raises(ValueError):
            write_archive(tmp_path / "b.tar.gz", ID, {name: b""}, "0.1.0")
    assert list(tmp_path.iterdir()) == []


def test_retention_keeps_the_newest_and_deletes_only_ours(tmp_path):
    names = [archive_name("lab", t) for t in (1_000_000, 2_000_000, 3_000_000, 4_000_000)]
    for n in names:
        make(tmp_path, n)
    other = make(tmp_path, archive_name("lab2", 1))
    stray = tmp_path / "backup-lab-notes.txt"
    stray.write_text("mine")
    link = tmp_path / archive_name("lab", 500)
    link.symlink_to(tmp_path / names[0])
    assert [p.name for p in archives(tmp_path, "lab")] == names
    deleted = prune(tmp_path, "lab", keep=2)
    assert [p.name for p in deleted] == names[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[2:], other.name, stray.name, link.name]
    )


def test_listing_reports_a_corrupt_archive_instead_of_failing(tmp_path):
    good = make(tmp_path, archive_name("lab", 2_000_000))
    bad = tmp_path / archive_name("lab", 1_000_000)
    bad.write_bytes(b"junk")
    listing = list(iter_listing(tmp_path, "lab"))
    assert [(p, m is not None) for p, m, _ in listing] == [(good, True), (bad, False)]
    assert "not a readable archive" in listing[1][2]


def test_listing_checks_every_part_not_only_the_manifest(tmp_path):
    path = make(tmp_path, archive_name("lab", 1_000_000))

    rewrite(path, flipped("pki/ca.crt"))
    read_manifest(path)  # the manifest alone is fine
    [(_, manifest, problem)] = iter_listing(tmp_path, "lab")
    assert manifest is None and "pki/ca.crt does not match its sha256" in problem


# -- streaming: sizes checked before reading, members refused when met ------------


def with_manifest(path, edit):
    """Rewrite the archive with edit(manifest dict) applied to its manifest."""

    def rewrite_manifest(members):
        for m, data in members:
            if m.name == "manifest.json":
                raw = json.loads(data)
                edit(raw)
                data = json.dumps(raw).encode()
                m.size = len(data)
            yield m, data

    rewrite(path, rewrite_manifest)


def test_a_4_gib_part_in_a_4_mb_archive_is_refused_before_reading_it(tmp_path):
    """The manifest's size is checked against the limit before a byte of the part
    is read: no MemoryError, no time spent reading, nothing spooled."""
    big = os.urandom(4 << 20)  # incompressible: the archive is 4 MB
    path = make(tmp_path, parts={**PARTS, "etcd/snapshot.db": big})
    with_manifest(path, lambda m: m["parts"]["etcd/snapshot.db"].update(size=4 << 30))
    assert 4 << 20 < path.stat().st_size < 5 << 20
    spool = tmp_path / "spool"
    spool.mkdir()
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ArchiveRefused) as e:
            read_parts(path, spool)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert peak < 2 << 20, f"{peak} bytes held"
    text = str(e.value)
    assert str(path) in text and "etcd/snapshot.db" in text and str(4 << 30) in text
    assert f"more than the {MAX_PART}" in text and "\n  fix: use another backup" in text
    assert e.value.exit_code == 2
    assert list(spool.iterdir()) == []


def test_a_tar_header_larger_than_its_manifest_says_is_refused_before_its_data(tmp_path):
    path = make(tmp_path)

    def lie(members):
        for m, data in members:
            if m.name == "etcd/snapshot.db":
                m.size = len(data) + 1
                data += b"x"
            yield m, data

    rewrite(path, lie)
    with pytest.raises(ArchiveRefused, match=r"part etcd/snapshot\.db is not the 5000-byte file"):
        read_parts(path)


def test_parts_are_hashed_as_they_stream_never_held_whole(tmp_path):
    """A 64 MiB part is read, hashed and spooled with a few MiB of memory at most."""
    part = bytes(64 << 20)
    path = make(tmp_path, parts={**PARTS, "etcd/snapshot.db": part})
    want = hashlib.sha256(part).hexdigest()
    del part
    spool = tmp_path / "spool"
    spool.mkdir()
    tracemalloc.start()
    try:
        _, parts = read_parts(path, spool)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes held"
    with parts, parts.open("etcd/snapshot.db") as f:
        got = hashlib.sha256()
        while chunk := f.read(1 << 20):
            got.update(chunk)
        assert got.hexdigest() == want == parts.sha256("etcd/snapshot.db")
        assert parts.size("etcd/snapshot.db") == 64 << 20
        assert parts.archive_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        (held,) = spool.iterdir()
        assert stat.S_IMODE(held.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in held.iterdir())
    assert list(spool.iterdir()) == []  # closed: the spool is gone


def test_dropped_parts_take_their_spool_with_them(tmp_path):
    path = make(tmp_path)
    _, parts = read_parts(path, tmp_path)
    assert len(list(tmp_path.glob(".backup-parts-*"))) == 1
    del parts
    gc.collect()
    assert list(tmp_path.glob(".backup-parts-*")) == []


def test_a_spool_left_by_a_killed_reader_is_swept(tmp_path):
    proc = subprocess.Popen(["true"])  # its pid is gone once it is waited for
    proc.wait()
    stale = tmp_path / f".backup-parts-{proc.pid}-abc"
    stale.mkdir()
    (stale / "0").write_bytes(b"secret")
    alive = tmp_path / f".backup-parts-{os.getpid()}-xyz"
    alive.mkdir()
    with read_parts(make(tmp_path), tmp_path)[1]:
        assert not stale.exists() and alive.exists()


def test_a_member_not_named_is_refused_the_moment_its_header_is_read(tmp_path):
    """Whatever follows the stray member (here: nothing, the stream is cut) is never
    read: the refusal names the member, not a truncated archive."""
    path = make(tmp_path)
    manifest = None

    def stray_then_cut(members):
        nonlocal manifest
        for m, data in members:
            if m.name == "manifest.json":
                manifest = (m, data)
        evil = tarfile.TarInfo("evil")
        evil.size = 1 << 20
        yield manifest
        yield evil, os.urandom(1 << 20)

    rewrite(path, stray_then_cut)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut inside the stray member's data
    with pytest.raises(ArchiveRefused, match="does not name: 'evil'"):
        read_parts(path)


@pytest.mark.parametrize(
    "kind",
    [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE],
    ids=["symlink", "hardlink", "dir", "chardev", "fifo"],
)
def test_a_part_of_another_kind_is_refused(tmp_path, kind):
    path = make(tmp_path)

    rewrite(path, as_kind("mysql/dump.sql", kind))
    with pytest.raises(ArchiveRefused, match=r"part mysql/dump\.sql is not the 0-byte file"):
        read_parts(path)


def test_a_pax_extension_header_is_refused_not_read(tmp_path):
    """A pax header's body could name any size: it is refused as a member the
    manifest does not name, never read."""
    path = make(tmp_path)

    def pax(members):
        for m, data in members:
            if m.name == "pki/ca.crt":
                m.pax_headers = {"comment": "x" * 100}
            yield m, data

    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for m, data in pax(members):
            tar.addfile(m, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    with pytest.raises(ArchiveRefused, match=re.escape("does not name: '././@PaxHeader'")):
        read_parts(path)


def test_a_part_twice_is_refused(tmp_path):
    path = make(tmp_path)
    rewrite(path, lambda ms: [*ms, *[(m, d) for m, d in ms if m.name == "pki/ca.crt"]])
    with pytest.raises(ArchiveRefused, match=r"holds part pki/ca\.crt twice"):
        read_parts(path)


def test_data_after_the_end_of_the_archive_is_refused(tmp_path):
    path = make(tmp_path)
    with gzip.open(path) as f:
        stream = f.read()
    path.write_bytes(gzip.compress(stream + b"\x01" * 100))
    with pytest.raises(ArchiveRefused, match="data after the end"):
        read_parts(path)


def test_a_corrupt_tar_header_is_refused(tmp_path):
    path = make(tmp_path)
    with gzip.open(path) as f:
        stream = bytearray(f.read())
    manifest_size = int(stream[124:135], 8)
    second = 512 + (manifest_size + 511) // 512 * 512  # the header after the manifest
    stream[second] ^= 0x01  # a byte of its name: the checksum no longer matches
    path.write_bytes(gzip.compress(bytes(stream)))
    with pytest.raises(ArchiveRefused, match="member 2 has no valid tar header"):
        read_parts(path)


@pytest.mark.parametrize(
    "size",
    [float("inf"), float("nan"), -1, 1.5, 5000.0, True, "5000", None, [5000]],
    ids=["Infinity", "NaN", "negative", "fraction", "float", "bool", "string", "null", "list"],
)
def test_a_part_size_that_is_no_number_of_bytes_is_refused(tmp_path, size):
    path = make(tmp_path)
    with_manifest(path, lambda m: m["parts"]["etcd/snapshot.db"].update(size=size))
    with pytest.raises(ArchiveRefused, match=r"part etcd/snapshot\.db: size .* is not a number"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda m: m.update(parts=[]), "parts are not a mapping"),
        (lambda m: m.update(nodes={"cp1": 1}), "nodes are not a mapping"),
        (lambda m: m.update(cluster=["lab"]), "cluster is ['lab'], not a string"),
        (lambda m: m.pop("kubernetes"), "kubernetes is None, not a string"),
        (lambda m: m.update(format="1"), "is format '1'"),
        (lambda m: m.update(format=True), "is format True"),
        (lambda m: m.pop("format"), "names no format"),
        (lambda m: m["parts"]["pki/ca.crt"].update(sha256="A" * 64), "is not 64 hex digits"),
        (lambda m: m["parts"].update({"../x": m["parts"]["pki/ca.crt"]}), "not a part name"),
        (lambda m: m["parts"].update({"manifest.json": {}}), "not a part name"),
        (
            lambda m: m["parts"].update(
                {f"p{i}": {"sha256": "0" * 64, "size": 0} for i in range(70)}
            ),
            "more than 64",
        ),
        (
            lambda m: m["parts"].update(
                {f"p{i}": {"sha256": "0" * 64, "size": MAX_PART} for i in range(3)}
            ),
            "bytes in all, more than",
        ),
    ],
)
def test_a_manifest_of_another_shape_is_refused(tmp_path, edit, words):
    path = make(tmp_path)
    with_manifest(path, edit)
    with pytest.raises(ArchiveRefused) as e:
        read_manifest(path)
    assert words in str(e.value) and "\n  fix: " in str(e.value)


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, f"nested more than {MAX_DEPTH} levels"),
        (b'{"format": 1, "cluster": "\xff"}', "not UTF-8"),
        (b'{"format": 1, "cluster": "\\ud800"}', "lone surrogate"),
        (b"[1]", "not a JSON object"),
        (b"{" + b'"a": 1, ' * 10 + b"}", "unreadable manifest.json"),
    ],
    ids=["deep", "not-utf8", "surrogate", "a-list", "not-json"],
)
def test_a_manifest_that_is_no_json_object_is_refused(tmp_path, manifest, words):
    path = tmp_path / "backup-lab-20261128T120000Z.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    path.write_bytes(buf.getvalue())
    with pytest.raises(ArchiveRefused, match=re.escape(words)):
        read_parts(path)


def test_a_manifest_larger_than_its_limit_is_refused_unread(tmp_path):
    path = make(tmp_path)
    with_manifest(path, lambda m: m.update(padding="x" * (1 << 20)))
    with pytest.raises(ArchiveRefused, match=r"manifest\.json is \d+ bytes, more than the 1048576"):
        read_manifest(path)


@pytest.mark.parametrize("kind", ["fifo", "dir", "missing"])
def test_an_archive_path_that_is_no_file_is_refused_at_once(tmp_path, kind):
    path = tmp_path / "backup-lab-20261128T120000Z.tar.gz"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    started = time.monotonic()
    with pytest.raises(ArchiveRefused) as e:
        read_parts(path)
    assert time.monotonic() - started < 5
    words = "no such backup file" if kind == "missing" else "is not a regular file"
    assert words in str(e.value) and "fix:" in str(e.value)


def test_a_backup_a_restore_could_not_read_is_not_written(tmp_path, monkeypatch):
    import provision.backup.archive as archive

    monkeypatch.setattr(archive, "MAX_PART", 4000)
    with pytest.raises(ArchiveRefused, match="more than a restore reads") as e:
        make(tmp_path)
    assert "etcd/snapshot.db 5000 bytes" in str(e.value) and "fix:" in str(e.value)
    assert list(tmp_path.iterdir()) == []


# -- restore's reading: checked whole before anything changes ----------------------


def lab_archive(tmp_path, **parts: bytes):
    from provision.backup.take import identity
    from provision.config.load import load_text
    from tests.conftest import LAB

    config = load_text(LAB.read_text(), str(LAB))
    path = tmp_path / "backup-lab-20261128T120000Z.tar.gz"
    base = {"etcd/snapshot.db": b"etcd", "pki/kubernetes.tar.gz": b"pki"}
    write_archive(path, identity(config), {**base, **parts}, "0.1.0")
    state = tmp_path / "state"
    state.mkdir()
    return SimpleNamespace(state_dir=state), config, path


def test_restore_reads_a_fitting_backup_into_a_spool_in_the_state_dir(tmp_path):
    from provision.backup.restore import read_backup

    inv, config, path = lab_archive(tmp_path, **{"secrets/addons.json": b'{"a": "b"}'})
    with read_backup(inv, config, path) as parts:
        assert parts["secrets/addons.json"] == b'{"a": "b"}'
        assert len(list(inv.state_dir.glob(".backup-parts-*"))) == 1
    assert list(inv.state_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("credentials", "words"),
    [
        (b'{"a": "\xff"}', "not JSON (not UTF-8"),
        (b'{"a": 1}', "not a mapping of names to strings"),
        (b'["a"]', "not a mapping of names to strings"),
        (b"[" * 1000, "not JSON (nested more than"),
    ],
)
def test_restore_refuses_credentials_it_could_not_write_back(tmp_path, credentials, words):
    """Checked with the rest before any stage runs, the spool removed."""
    from provision.backup.restore import read_backup

    inv, config, path = lab_archive(tmp_path, **{"secrets/addons.json": credentials})
    with pytest.raises(ArchiveRefused) as e:
        read_backup(inv, config, path)
    assert words in str(e.value) and "nothing was changed" in str(e.value)
    assert e.value.exit_code == 2
    assert list(inv.state_dir.iterdir()) == []


def test_restore_of_another_clusters_backup_leaves_no_spool(tmp_path):
    from provision.backup.restore import read_backup

    inv, config, path = lab_archive(tmp_path)
    other = config.model_copy(update={"cluster": config.cluster.model_copy(update={"name": "x"})})
    with pytest.raises(ForeignArchive):
        read_backup(inv, other, path)
    assert list(inv.state_dir.iterdir()) == []


@pytest.mark.parametrize("hostile", ["4-gib-part", "fifo", "deep-manifest"])
def test_restore_refuses_a_hostile_archive_at_once_with_nothing_changed(
    tmp_path, lab, write_config, monkeypatch, hostile
):
    """The real command: exit 2 naming the file, the problem and the fix, no traceback,
    no operation record, no spool left in the state directory."""
    from provision.project import resolve_inventory
    from tests.conftest import as_existing_hosts, provision

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    config = write_config(as_existing_hosts(lab, tmp_path))
    path = tmp_path / "backup-lab-20261128T120000Z.tar.gz"
    if hostile == "fifo":
        os.mkfifo(path)
    elif hostile == "deep-manifest":
        write_archive(path, ID, PARTS, "0.1.0")
        with_manifest(path, lambda m: m.update(nodes=json.loads("[" * 200 + "]" * 200)))
    else:
        write_archive(path, ID, {**PARTS, "etcd/snapshot.db": os.urandom(4 << 20)}, "0.1.0")
        with_manifest(path, lambda m: m["parts"]["etcd/snapshot.db"].update(size=4 << 30))
    out = provision("restore", str(path), "-i", str(config), check=False, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    text = " ".join(out.stderr.split())
    assert str(path) in text and "fix: use another backup" in text
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    words = {
        "4-gib-part": f"is declared {4 << 30} bytes",
        "fifo": "is not a regular file",
        "deep-manifest": "nested more than",
    }[hostile]
    assert words in text
    state = resolve_inventory(str(config)).state_dir
    assert not (state / "operation.json").exists()
    assert not list(state.glob(".backup-parts-*"))


class RecordingShell:
    """A control plane's shell for AddonData: it keeps what is put (read the way
    paramiko reads a file object) and the commands run, and runs nothing."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.commands: list[list[str]] = []

    def __call__(self, argv, timeout: int = 600, check: bool = True) -> str:
        self.commands.append(list(argv))
        return ""

    def put(self, data, path: str, mode: int = 0o600) -> None:
        self.files[path] = data if isinstance(data, bytes) else data.read()


def test_addon_data_is_streamed_from_the_spool_in_order_and_removed(tmp_path):
    """The dump reaches the control plane as a file streamed from the archive's spool
    (Parts.open, never parts[name]), after the password line, in that order on the
    pod's stdin; every file put there is removed afterwards."""
    from provision.backup.put import AddonData

    dump = b"CREATE TABLE t (v INT);\n" * 1000
    _, parts = read_parts(
        make(tmp_path, parts={**PARTS, "mysql/dump.sql": dump, "rabbitmq/definitions.json": b"{}"})
    )
    parts.__class__ = type("NoWholeReads", (type(parts),), {"__getitem__": None})
    sh = RecordingShell()
    AddonData(sh, SimpleNamespace(say=lambda *a, **k: None)).restore(
        parts, "pw", only=["mysql/dump.sql"]
    )
    mysql = [c for c in sh.commands if "exec" in c and "mysql-0" in c]
    assert len(mysql) == 1 and not any("rabbitmq-0" in c for c in sh.commands)
    # the node runner feeds the files, in order, to the pod's stdin
    names = [mysql[0][i + 1] for i, a in enumerate(mysql[0]) if a == "--input"]
    assert b"".join(sh.files[n] for n in names) == b"pw\n" + dump
    assert sh.commands[-1] == ["rm", "-f", "--", *names]
