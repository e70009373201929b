"""The suite's own copy of inventories/lab-libvirt on a real VM: first a VM that does
not answer within machines.boot_timeout_s (exit 4 naming it and its console log,
nothing left half-made), then Vagrant's libvirt provider, the offline box,
`up --only machines,prepare` as the `vagrant` user, pinned host keys, a no-op second
run, and a destroy that leaves no domain, network or volume behind.

Needs scripts/host-setup-libvirt. Where KVM does not work (this CI host) the VM
runs under QEMU's software emulation: minutes, not seconds. The tests run in file
order and share one VM, destroyed when the session ends (tests/vm/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from provision.machines.base import SshEndpoint
from provision.machines.ssh_hosts import connect
from provision.project import resolve_inventory
from tests.conftest import inventory_hosts, provision
from tests.vm.conftest import LAB

pytestmark = pytest.mark.vm
CLUSTER_FILE = LAB.config
INV = str(CLUSTER_FILE)
CLUSTER = LAB.data()
NODES = {n["name"]: n["ip"] for n in CLUSTER["nodes"]}
PREFIX = f"{CLUSTER['cluster']['name']}-"
STATE = resolve_inventory(str(CLUSTER_FILE)).state_dir
TIMINGS: dict[str, float] = {}


def virsh(*args: str) -> list[str]:
    out = subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, check=True
    )
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def labs_leftovers() -> dict[str, list[str]]:
    """This lab's domains, networks and volumes in libvirt."""
    return {
        "domains": [d for d in virsh("list", "--all", "--name") if d.startswith(PREFIX)],
        "networks": [n for n in virsh("net-list", "--all", "--name") if n.startswith(PREFIX)],
        "volumes": [
            v.split()[0]
            for v in virsh("vol-list", "default")[2:]
            if v.split()[0].startswith(PREFIX)
        ],
    }


def endpoint(host: dict) -> SshEndpoint:
    return SshEndpoint(
        host["ansible_host"],
        host["ansible_port"],
        host["ansible_user"],
        host["ansible_ssh_private_key_file"],
    )


def run_on(host: dict, command: str, known_hosts: Path | None = None) -> str:
    """stdout of `command`, run as the login user over SSH with the pinned key."""
    with connect(endpoint(host), known_hosts or STATE / "known_hosts") as conn:
        return conn.run(command, hide=True, in_stream=False, timeout=120).stdout.strip()


def latest_playbooks() -> list[dict]:
    return json.loads((STATE / "runs" / "latest" / "playbooks.json").read_text())


@pytest.fixture(scope="module")
def boot_timed_out():
    """`up --only machines` of the lab with machines.boot_timeout_s: 1, which no VM
    meets: (its output, this lab's libvirt objects left once it has failed)."""
    provision("destroy", "--yes", "-i", INV)
    assert labs_leftovers() == {"domains": [], "networks": [], "volumes": []}
    data = LAB.data()
    data.setdefault("machines", {})["boot_timeout_s"] = 1
    CLUSTER_FILE.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        start = time.monotonic()
        out = provision("up", "--only", "machines", "-i", INV, check=False, timeout=1800)
        TIMINGS["up that timed out"] = time.monotonic() - start
    finally:
        LAB.write()  # the suite's config again
    return out, labs_leftovers()


@pytest.fixture(scope="module")
def vm_lab(boot_timed_out):
    """The next `up`, from the state the timed-out one left, finishes the job."""
    start = time.monotonic()
    out = provision("up", "--only", "machines,prepare", "-i", INV, timeout=2400)
    TIMINGS["first up (machines,prepare)"] = time.monotonic() - start
    yield out
    print("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in TIMINGS.items()))


def test_a_vm_that_does_not_boot_in_time_exits_4_naming_it_and_its_console_log(boot_timed_out):
    out, _ = boot_timed_out
    assert out.returncode == 4, out.stdout + out.stderr
    console = STATE / "console" / "cp1.log"
    assert (
        f"cp1 did not answer SSH within 1 s (machines.boot_timeout_s); its console log: {console}"
        in (out.stderr)
    ), out.stderr
    # the file is libvirt's (root's, 0600): what the VM's kernel printed on its serial line
    text = subprocess.run(
        ["cat", str(console)] if os.geteuid() == 0 else ["sudo", "-n", "cat", str(console)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Linux version" in text, text[-2000:]


def test_the_vm_that_did_not_boot_is_not_left_half_made(boot_timed_out):
    """vagrant-libvirt destroys a VM whose first `up` failed; the next `up` makes it."""
    _, left = boot_timed_out
    assert left["domains"] == [] and left["volumes"] == [], left


def test_up_says_which_libvirt_driver(vm_lab):
    assert "machines: libvirt driver " in vm_lab.stdout
    line = next(ln for ln in vm_lab.stdout.splitlines() if "libvirt driver" in ln)
    assert ("driver kvm" in line) or ("driver qemu" in line), line


def test_a_libvirt_domain_runs(vm_lab):
    running = virsh("list", "--name")
    for name in NODES:
        assert f"{PREFIX}{name}" in running


def test_no_unit_failed_on_the_vm_after_prepare(vm_lab):
    """The VM's own systemd, booted from the box and prepared, reports running."""
    for host in inventory_hosts(INV).values():
        state = run_on(host, "systemctl is-system-running --wait || true")
        failed = run_on(
            host,
            "sudo systemctl --failed --no-pager; sudo journalctl -b -p err --no-pager | tail -40",
        )
        assert state == "running", failed


def test_eth1_holds_the_node_ip(vm_lab):
    prefixlen = CLUSTER["network"]["node_subnet"].split("/")[1]
    for name, host in inventory_hosts(INV).items():
        assert host["node_ip"] == NODES[name]
        eth1 = run_on(host, "ip -4 -o addr show dev eth1")
        assert f"inet {NODES[name]}/{prefixlen}" in eth1
        assert NODES[name] not in run_on(host, "ip -4 -o addr show dev eth0")


def test_login_is_vagrant_and_become_works(vm_lab):
    for host in inventory_hosts(INV).values():
        assert host["ansible_user"] == "vagrant"
        assert run_on(host, "id -un") == "vagrant"
        assert run_on(host, "sudo -n id -u") == "0"
        # what prepare did as root through become
        assert run_on(host, "grep -c . /etc/hosts") != "0"


def test_pinned_host_key_is_used_and_an_unknown_one_refused(vm_lab, tmp_path):
    import paramiko

    pinned = (STATE / "known_hosts").read_text().split()
    for host in inventory_hosts(INV).values():
        # the pinned key is the VM's own (made at its first boot, not in the box)
        own = run_on(host, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2]
        assert own[1] in pinned
        other = tmp_path / "other"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True
        )
        kind, key = other.with_suffix(".pub").read_text().split()[:2]
        ep = endpoint(host)
        name = ep.host if ep.port == 22 else f"[{ep.host}]:{ep.port}"
        wrong = tmp_path / "known_hosts"
        wrong.write_text(f"{name} {kind} {key}\n")
        conn = connect(ep, wrong)
        with pytest.raises(paramiko.SSHException):
            conn.run("true", hide=True, in_stream=False)
        conn.close()


def test_second_run_changes_nothing(vm_lab):
    start = time.monotonic()
    provision("up", "--only", "machines,prepare", "--full", "-i", INV, timeout=1800)
    TIMINGS["second up"] = time.monotonic() - start
    results = latest_playbooks()
    assert results
    for result in results:
        for host, stats in result["hosts"].items():
            assert stats["changed"] == 0, (result["playbook"], host, stats)


def test_destroy_leaves_no_domain_network_or_volume(vm_lab):
    start = time.monotonic()
    provision("destroy", "--yes", "-i", INV)
    TIMINGS["destroy"] = time.monotonic() - start
    assert labs_leftovers() == {"domains": [], "networks": [], "volumes": []}
