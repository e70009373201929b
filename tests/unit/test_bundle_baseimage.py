"""A debootstrap root that a stopped build leaves with mounts in it is unmounted before
it is removed, and never removed through a mount into the host's files (needs root
and mount; skipped elsewhere)."""

import os
import subprocess

import pytest

from provision.bundle import baseimage
from provision.errors import BundleError


@pytest.fixture
def rootfs_with_a_bind(tmp_path):
    """rootfs/dev/shm bind-mounted from a host directory holding a file, as debootstrap
    binds /dev/shm when it runs in a container."""
    host = tmp_path / "host-shm"
    host.mkdir()
    (host / "keep").write_text("the host's")
    rootfs = tmp_path / "bundle-base" / "rootfs-abc"
    (rootfs / "dev" / "shm").mkdir(parents=True)
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "os-release").write_text("bookworm")
    if os.geteuid() != 0:
        pytest.skip("needs root to mount")
    bind = ["mount", "--bind", str(host), str(rootfs / "dev" / "shm")]
    if subprocess.run(bind, capture_output=True, check=False).returncode != 0:
        pytest.skip("mount is not allowed here")
    run = subprocess.run  # the tests may replace it
    yield rootfs, host
    run(["umount", str(rootfs / "dev" / "shm")], capture_output=True, check=False)


def test_a_left_mount_is_unmounted_then_the_root_removed(rootfs_with_a_bind):
    rootfs, host = rootfs_with_a_bind
    baseimage._remove_rootfs(rootfs)
    assert not rootfs.exists()
    assert (host / "keep").read_text() == "the host's"


def test_a_mount_that_stays_stops_the_removal(rootfs_with_a_bind, monkeypatch):
    rootfs, host = rootfs_with_a_bind
    monkeypatch.setattr(baseimage.subprocess, "run", lambda *a, **k: None)  # umount fails
    with pytest.raises(BundleError, match=r"still has .*/dev/shm mounted") as raised:
        baseimage._remove_rootfs(rootfs)
    assert "fix: umount them" in str(raised.value)
    assert (host / "keep").read_text() == "the host's"
    assert (rootfs / "etc" / "os-release").is_file(), "nothing removed while mounted"


def test_no_mounts_no_umount(tmp_path, monkeypatch):
    rootfs = tmp_path / "rootfs-abc"
    (rootfs / "etc").mkdir(parents=True)
    calls = []
    monkeypatch.setattr(baseimage.subprocess, "run", lambda *a, **k: calls.append(a))
    baseimage._remove_rootfs(rootfs)
    assert not rootfs.exists() and calls == []
