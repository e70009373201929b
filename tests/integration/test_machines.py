"""A lab's machines, for real (the suite's own lab, made from the default lab's
config): Vagrant's docker provider, SSH with pinned host keys, idempotent up,
interrupted up, and a destroy that leaves nothing behind. Each test that needs the
machines makes them (`up --only machines` is a no-op when they run)."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from provision.machines.base import SshEndpoint
from provision.machines.ssh_hosts import as_root, connect
from tests.conftest import CLI, ROOT, hosts_file, inventory_hosts, provision
from tests.integration.conftest import (
    LAB,
    LABEL,
    docker,
    known_hosts_file,
    lab_containers,
    lab_state,
)

pytestmark = pytest.mark.lab
NODES = {name: LAB.ip(name) for name in ("cp1", "w1", "w2")}


def run_on(
    name: str,
    host: dict,
    command: str,
    known_hosts: Path | None = None,
    as_login: bool = False,
    user: str | None = None,
) -> str:
    """stdout of `command` on a node, as root (through sudo for a non-root login,
    like provision's own remote commands) or, with as_login, as the login user."""
    ep = SshEndpoint(
        host["ansible_host"],
        host["ansible_port"],
        user or host["ansible_user"],
        host["ansible_ssh_private_key_file"],
    )
    if not as_login:
        command = as_root(command, ep.user)
    with connect(ep, known_hosts or known_hosts_file()) as conn:
        return conn.run(command, hide=True, in_stream=False, timeout=60).stdout.strip()


@pytest.fixture(scope="module")
def made_lab():
    """The machines made from nothing, once for this module."""
    provision("destroy", "--yes")
    assert lab_containers() == []
    started = time.monotonic()
    out = provision("up", "--only", "machines")
    print(f"up --only machines: {time.monotonic() - started:.1f} s")
    return out


@pytest.fixture
def fresh_lab(made_lab):
    """The three machines running, whatever a test before this one did to them (a
    test that destroys them does not decide what the next one finds)."""
    states = [docker("inspect", "-f", "{{.State.Running}}", c).strip() for c in lab_containers()]
    if states != ["true"] * len(NODES):
        provision("up", "--only", "machines")
    return made_lab


def test_up_gives_three_reachable_nodes(fresh_lab):
    hosts = inventory_hosts()
    assert set(hosts) == set(NODES)
    for name, host in hosts.items():
        assert host["node_ip"] == NODES[name]
        assert run_on(name, host, "hostname") == name
        eth1 = run_on(name, host, "ip -4 -o addr show dev eth1")
        assert f"inet {NODES[name]}/24" in eth1
        eth0 = run_on(name, host, "ip -4 -o addr show dev eth0")
        assert NODES[name] not in eth0  # the node IP is never the NAT address
        state = run_on(name, host, "systemctl is-system-running --wait || true")
        assert state == "running", run_on(name, host, "systemctl --failed --no-legend")
        assert run_on(name, host, "python3 -c 'import sys; print(sys.version_info[0])'") == "3"


def test_each_new_node_gets_its_containerd_store_from_the_image_seed(fresh_lab):
    """Made before the node, as its own labelled volume: image files hard-linked to
    the seed's, containerd's bolt databases its own copies. The lab's only other
    volume is the NFS server node's export (cp1 in this lab)."""
    volumes = docker("volume", "ls", "-q", "--filter", f"label=io.provision.cluster={LAB.name}")
    assert sorted(volumes.split()) == sorted(
        [f"{LAB.container(n)}-containerd" for n in NODES] + [f"{LAB.container('cp1')}-nfs-export"]
    )
    root = "/var/lib/containerd"
    for name, host in inventory_hosts().items():
        out = run_on(
            name,
            host,
            f"stat -c %h {root}/io.containerd.metadata.v1.bolt/meta.db; "
            f"find {root}/io.containerd.content.v1.content/blobs -type f -links +1 | wc -l; "
            f"find {root}/io.containerd.content.v1.content/blobs -type f -links 1 | wc -l; "
            f"ls {root}/io.containerd.snapshotter.v1.overlayfs/snapshots | wc -l",
        ).split()
        db_links, linked, own, snapshots = map(int, out)
        assert db_links == 1, (name, out)
        assert linked > 10 and own == 0, (name, out)
        assert snapshots > 10, (name, out)


def test_login_is_a_sudo_user_like_a_vagrant_box(fresh_lab):
    """Nodes are logged into as `vagrant` (not root), which has passwordless sudo;
    root can log in with the same key."""
    for name, host in inventory_hosts().items():
        assert host["ansible_user"] == "vagrant"
        assert run_on(name, host, "id -un", as_login=True) == "vagrant"
        assert run_on(name, host, "id -u", as_login=True) != "0"
        assert run_on(name, host, "sudo -n id -u", as_login=True) == "0"
        assert run_on(name, host, "id -u", user="root", as_login=True) == "0"
        # sshd's StrictModes: home and ~/.ssh belong to the user, not group-writable
        modes = run_on(name, host, "stat -c '%U %a' ~ ~/.ssh", as_login=True).splitlines()
        assert modes == ["vagrant 755", "vagrant 700"], modes


def test_host_keys_are_pinned_from_the_engine(fresh_lab):
    """known_hosts holds, for each node's forwarded port, the key the container
    itself holds (read through `docker exec`, not over SSH)."""
    pinned = {}
    for line in known_hosts_file().read_text().splitlines():
        host, kind, key = line.split()
        pinned[host] = f"{kind} {key}"
    for name, host in inventory_hosts().items():
        on_disk = docker("exec", LAB.container(name), "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
        forwarded = "[{}]:{}".format(host["ansible_host"], host["ansible_port"])
        assert pinned[forwarded] == " ".join(on_disk.split()[:2])


def test_unknown_host_key_is_refused(fresh_lab, tmp_path):
    host = next(iter(inventory_hosts().values()))
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    ep = SshEndpoint(
        host["ansible_host"],
        host["ansible_port"],
        host["ansible_user"],
        host["ansible_ssh_private_key_file"],
    )
    import paramiko

    conn = connect(ep, empty)
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        conn.run("true", hide=True, in_stream=False)
    conn.close()


def blackholes() -> str:
    return subprocess.run(
        ["ip", "route", "show", "type", "blackhole"], capture_output=True, text=True, check=True
    ).stdout


def test_host_never_routes_to_pod_or_service_ranges(fresh_lab):
    routes = blackholes()
    assert f"10.{LAB.net}.0.0/17" in routes and f"10.{LAB.net}.128.0/17" in routes


def test_status_lists_running_machines(fresh_lab):
    out = provision("status").stdout
    for name, ip in NODES.items():
        line = next(line for line in out.splitlines() if f" {name} " in line)
        assert "running" in line and ip in line and "docker" in line


def started_at() -> dict[str, str]:
    """Each lab container's start time, as the Docker engine reports it."""
    return {c: docker("inspect", "-f", "{{.State.StartedAt}}", c).strip() for c in lab_containers()}


def test_second_up_is_a_noop(fresh_lab):
    """The same containers, none restarted (asked of the engine)."""
    before = started_at()
    provision("up", "--only", "machines")
    assert started_at() == before


def test_interrupted_up_exits_130_records_its_phase_and_the_next_up_finishes(fresh_lab):
    provision("destroy", "--yes")
    proc = subprocess.Popen(
        [str(CLI), "up", "--only", "machines"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=os.environ.copy(),
        # Ctrl-C's disposition, whatever the suite inherited (a background job ignores
        # SIGINT, and provision would then ignore it while Vagrant did not).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not lab_containers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lab_containers(), "no container appeared within 120 s"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's group
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "interrupted: run the same command again to continue" in output, output
    record = json.loads((lab_state() / "phases.json").read_text())
    assert record["phases"]["machines"]["status"] == "failed", record
    assert record["phases"]["machines"]["error"] == "KeyboardInterrupt", record
    provision("up", "--only", "machines")
    record = json.loads((lab_state() / "phases.json").read_text())
    assert record["phases"]["machines"]["status"] == "done", record
    hosts = inventory_hosts()
    for name, host in hosts.items():
        assert run_on(name, host, "hostname") == name
    assert len(lab_containers()) == 3


def test_destroy_asks_first_and_a_no_keeps_every_machine(fresh_lab):
    before = sorted(lab_containers())
    assert len(before) == 3
    out = provision("destroy", input="n\n", check=False)
    assert out.returncode != 0, out
    assert "Destroy every machine of cluster" in out.stdout + out.stderr, out
    assert sorted(lab_containers()) == before
    assert all(docker("inspect", "-f", "{{.State.Running}}", c).strip() == "true" for c in before)
    assert hosts_file().exists()


def test_destroy_removes_only_what_carries_this_labs_identity(fresh_lab):
    """A container and a volume labelled with this cluster's name but another lab's
    identity (another checkout's lab of the same name) survive destroy."""
    image = docker("inspect", "-f", "{{.Config.Image}}", lab_containers()[0]).strip()
    labels = ["--label", f"{LABEL}={LAB.name}", "--label", f"io.provision.lab={LAB.name}-0ther0"]
    stranger = docker("create", *labels, "--name", LAB.container("stranger"), image, "true")
    stranger = stranger.strip()
    volume = f"{LAB.container('w9')}-containerd"
    docker("volume", "create", *labels, volume)
    try:
        provision("destroy", "--yes")
        assert lab_containers() == [stranger]
        assert volume in docker("volume", "ls", "-q").split()
    finally:
        docker("rm", "-f", stranger)
        docker("volume", "rm", "-f", volume)
    provision("up", "--only", "machines")  # the lab back for the tests after this one
    assert len(lab_containers()) == 3


def test_destroy_leaves_nothing_behind(fresh_lab):
    ids = lab_containers()
    volumes = [
        m["Name"]
        for i in ids
        for m in json.loads(docker("inspect", i))[0]["Mounts"]
        if m["Type"] == "volume"
    ]
    assert len(volumes) >= 3 * len(ids)
    provision("destroy", "--yes")
    assert lab_containers() == []
    remaining = docker("volume", "ls", "-q").split()
    assert not set(volumes) & set(remaining)
    assert (
        f"vagrant_network_192.168.{LAB.net}.0/24"
        not in docker("network", "ls", "--format", "{{.Name}}").split()
    )
    assert not hosts_file().exists()
    assert f"10.{LAB.net}.0.0/17" not in blackholes()
