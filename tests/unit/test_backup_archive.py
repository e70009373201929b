"""The backup archive format: real files, corrupted and hostile ones refused."""

from __future__ import annotations

import gzip
import io
import json
import stat
import tarfile

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


def test_a_flipped_byte_in_a_part_is_refused(tmp_path):
    path = make(tmp_path)

    def flip(members):
        for m, data in members:
            if m.name == "etcd/snapshot.db":
                data = b"\x01" + data[1:]
            yield m, data

    rewrite(path, flip)
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

    def link(members):
        for m, data in members:
            if m.name == "pki/ca.crt":
                m = tarfile.TarInfo(m.name)
                m.type, m.linkname = tarfile.SYMTYPE, "/etc/shadow"
                data = None
            yield m, data

    rewrite(path, link)
    with pytest.raises(ArchiveRefused, match=r"pki/ca\.crt is not"):
        read_parts(path)


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
