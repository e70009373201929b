"""Existing machines reached over SSH (machines.kind: ssh), for real: the lab's
running nodes stand in for an operator's hosts, reached on their private IPs with
host keys pinned in a known_hosts file the config names."""

import pytest

from tests.integration.conftest import existing_hosts_inventory, inventory_hosts, provision

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    provision("up", "--only", "machines")
    return existing_hosts_inventory(tmp_path_factory.mktemp("existing"))


def test_up_reaches_existing_hosts_and_writes_inventory(existing):
    inv, _ = existing
    out = provision("up", "-i", str(inv / "cluster.yml"), "--only", "machines").stdout
    assert "3 existing hosts reachable over SSH" in out
    hosts = inventory_hosts(inv / "hosts.yml")
    assert {n: h["ansible_host"] for n, h in hosts.items()} == {
        "cp1": "192.168.56.10",
        "w1": "192.168.56.11",
        "w2": "192.168.56.12",
    }
    assert all(h["ansible_port"] == 22 for h in hosts.values())


def test_playbooks_run_against_existing_hosts(existing):
    inv, _ = existing
    provision("up", "-i", str(inv / "cluster.yml"), "--only", "prepare")


def test_unpinned_host_key_is_refused(existing):
    inv, known = existing
    saved = known.read_text()
    known.write_text(
        "".join(
            line
            for line in saved.splitlines(keepends=True)
            if not line.startswith("192.168.56.11 ")
        )
    )
    try:
        out = provision("up", "-i", str(inv / "cluster.yml"), "--only", "machines", check=False)
    finally:
        known.write_text(saved)
    assert out.returncode == 4
    assert "w1: unreachable" in out.stderr and "not found in known_hosts" in out.stderr
    assert "cp1:" not in out.stderr  # only the host without a pinned key


def test_destroy_never_touches_existing_hosts(existing):
    inv, _ = existing
    out = provision("destroy", "--yes", "-i", str(inv / "cluster.yml")).stdout
    assert "existing hosts are not destroyed" in out
    assert not (inv / "hosts.yml").exists()
    assert len(inventory_hosts()) == 3  # the lab itself is still there
