"""Existing machines reached over SSH (machines.kind: ssh), for real: the lab's
running nodes stand in for an operator's hosts, reached on their private IPs with
host keys pinned in a known_hosts file the config names, logged into as the lab's
sudo user (`vagrant`) and as root; a user whose sudo asks for a password is
refused before anything changes."""

import json

import pytest

from provision.project import resolve_inventory
from tests.conftest import hosts_file, inventory_hosts, provision
from tests.integration.conftest import LAB, existing_hosts_inventory
from tests.integration.test_machines import run_on

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    provision("up", "--only", "machines")
    return existing_hosts_inventory(tmp_path_factory.mktemp("existing"))


def test_up_reaches_existing_hosts_and_writes_inventory(existing):
    inv, _ = existing
    out = provision("up", "-i", str(inv / "cluster.yml"), "--only", "machines").stdout
    assert "3 existing hosts reachable over SSH (as vagrant, sudo ok)" in out
    hosts = inventory_hosts(str(inv / "cluster.yml"))
    assert {n: h["ansible_host"] for n, h in hosts.items()} == {
        n: LAB.ip(n) for n in ("cp1", "w1", "w2")
    }
    assert all(h["ansible_port"] == 22 for h in hosts.values())


def playbook_stats(config: str) -> dict[str, dict]:
    """Ansible's own recap of the inventory's latest run: {host: stats} of prepare.yml."""
    run = resolve_inventory(config).state_dir / "runs" / "latest" / "playbooks.json"
    (result,) = [r for r in json.loads(run.read_text()) if r["playbook"] == "prepare.yml"]
    assert result["status"] == "successful", result
    return result["hosts"]


def test_playbooks_change_existing_hosts_then_a_second_run_changes_nothing(existing):
    """w1's /etc/hosts loses the cluster's block: prepare puts it back on that host (and
    w1 resolves w2 again), then a second full run changes nothing on any host."""
    inv, _ = existing
    config = str(inv / "cluster.yml")
    lab_hosts = inventory_hosts()
    run_on(
        "w1",
        lab_hosts["w1"],
        # rewritten in place: /etc/hosts is a bind mount in a container node
        "awk '/provision: cluster nodes/ {skip = !skip; next} !skip' /etc/hosts >/tmp/h"
        " && cat /tmp/h >/etc/hosts && rm /tmp/h",
    )
    marks = "grep -c 'provision: cluster nodes' /etc/hosts || true"
    assert run_on("w1", lab_hosts["w1"], marks) == "0"
    provision("up", "-i", config, "--only", "prepare", "--full")
    assert run_on("w1", lab_hosts["w1"], "getent ahostsv4 w2 | head -1").split()[0] == LAB.ip("w2")
    stats = playbook_stats(config)
    assert set(stats) == {"cp1", "w1", "w2"}
    assert stats["w1"]["changed"] > 0, stats
    provision("up", "-i", config, "--only", "prepare", "--full")
    stats = playbook_stats(config)
    assert all(s["changed"] == 0 and s["failed"] == 0 for s in stats.values()), stats


def test_unpinned_host_key_is_refused(existing):
    inv, known = existing
    saved = known.read_text()
    known.write_text(
        "".join(
            line
            for line in saved.splitlines(keepends=True)
            if not line.startswith(LAB.ip("w1") + " ")
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
    assert not hosts_file(str(inv / "cluster.yml")).exists()
    assert len(inventory_hosts()) == 3  # the lab itself is still there


def test_root_login_runs_playbooks_too(existing, tmp_path):
    """The same hosts reached as root (no sudo involved): prepare passes and, the
    nodes being prepared already, changes nothing."""
    inv, _ = existing_hosts_inventory(tmp_path, user="root", name="existing-root")
    out = provision("up", "-i", str(inv / "cluster.yml"), "--only", "machines,prepare").stdout
    assert "(as root)" in out
    hosts = inventory_hosts(str(inv / "cluster.yml"))
    assert {h["ansible_user"] for h in hosts.values()} == {"root"}


SUDO_USER = "opsuser"


@pytest.fixture
def sudo_with_password():
    """A login user on every node whose sudo asks for a password on w1 only
    (passwordless on cp1 and w2); removed afterwards."""
    lab_hosts = inventory_hosts()
    for name, host in lab_hosts.items():
        rule = "ALL=(ALL) ALL" if name == "w1" else "ALL=(ALL) NOPASSWD: ALL"
        run_on(
            name,
            host,
            f"id {SUDO_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {SUDO_USER}; "
            f"install -d -m 0700 -o {SUDO_USER} -g {SUDO_USER} /home/{SUDO_USER}/.ssh; "
            f"install -m 0600 -o {SUDO_USER} -g {SUDO_USER} /home/vagrant/.ssh/authorized_keys "
            f"/home/{SUDO_USER}/.ssh/authorized_keys; "
            f"echo '{SUDO_USER} {rule}' > /etc/sudoers.d/{SUDO_USER}; "
            f"chmod 0440 /etc/sudoers.d/{SUDO_USER}; visudo -c -q",
        )
    yield SUDO_USER
    for name, host in lab_hosts.items():
        run_on(name, host, f"rm -f /etc/sudoers.d/{SUDO_USER}; userdel -r {SUDO_USER} || true")


def test_sudo_asking_for_a_password_is_refused_before_any_change(sudo_with_password, tmp_path):
    inv, _ = existing_hosts_inventory(tmp_path, user=sudo_with_password, name="existing-pw")
    config = str(inv / "cluster.yml")
    for phases in ("machines,prepare", "prepare"):
        out = provision("up", "-i", config, "--only", phases, check=False)
        assert out.returncode == 4, out.stdout + out.stderr
        assert f"{sudo_with_password} cannot run commands as root without a password" in out.stderr
        assert "w1: no passwordless sudo" in out.stderr
        assert "a password is required" in out.stderr
        assert "nothing was changed" in out.stderr
        assert f"{sudo_with_password} ALL=(ALL) NOPASSWD: ALL" in out.stderr  # the fix
        assert "cp1:" not in out.stderr and "w2:" not in out.stderr
        assert "playbook prepare.yml" not in out.stdout  # refused before any playbook
