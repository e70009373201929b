"""Node preparation and container runtime, for real, on the suite lab's three
nodes: Docker runs a locally imported image, containerd's CRI answers, the
kernel settings read back, and a second run changes nothing."""

import json
import os
import subprocess
import time

import pytest

from tests.conftest import CLI, ROOT, provision
from tests.integration.conftest import latest_run
from tests.integration.test_machines import NODES, run_on

pytestmark = pytest.mark.lab

SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
}


@pytest.fixture(scope="module")
def prepared():
    provision("up", "--only", "machines")
    provision("up", "--only", "prepare,runtime")
    from tests.conftest import inventory_hosts

    return inventory_hosts()


def test_docker_runs_a_locally_imported_image(prepared):
    script = (
        "set -e; apt-get install -y -qq busybox-static >/dev/null; d=$(mktemp -d); "
        "mkdir $d/bin; cp /bin/busybox $d/bin/; "
        "tar -C $d -c . | docker import - provision-test/busybox:1 >/dev/null; rm -rf $d; "
        "docker run --rm --network none provision-test/busybox:1 "
        "/bin/busybox echo hello-$(hostname)"
    )
    for name, host in prepared.items():
        assert run_on(name, host, script).splitlines()[-1] == f"hello-{name}"


def test_containerd_cri_answers(prepared):
    for name, host in prepared.items():
        plugins = run_on(name, host, "ctr plugins ls")
        cri = [line.split() for line in plugins.splitlines() if " cri " in f" {line} "]
        assert cri and cri[0][-1] == "ok", plugins
        # the CRI's image namespace takes an image, as it will the Kubernetes ones
        run_on(name, host, "docker save provision-test/busybox:1 | ctr -n k8s.io images import -")
        assert "provision-test/busybox:1" in run_on(name, host, "ctr -n k8s.io images ls -q")
        config = run_on(name, host, "cat /etc/crictl.yaml")
        assert "unix:///run/containerd/containerd.sock" in config


def test_only_one_cri_socket(prepared):
    for name, host in prepared.items():
        sockets = run_on(
            name,
            host,
            "ls /run/containerd/containerd.sock /run/crio/crio.sock "
            "/run/cri-dockerd.sock 2>/dev/null || true",
        ).split()
        assert sockets == ["/run/containerd/containerd.sock"]


def test_sysctls_read_back_as_set(prepared):
    for name, host in prepared.items():
        for key, value in SYSCTLS.items():
            assert run_on(name, host, f"sysctl -n {key}") == value, (name, key)


def test_hosts_file_maps_names_to_private_ips(prepared):
    for name, host in prepared.items():
        for other, ip in NODES.items():
            assert run_on(name, host, f"getent ahostsv4 {other} | head -1").split()[0] == ip


def test_second_run_changes_nothing(prepared):
    provision("up", "--only", "prepare,runtime", "--full")  # the roles run, not skipped
    results = json.loads((latest_run() / "playbooks.json").read_text())
    assert [r["playbook"] for r in results] == ["prepare.yml", "runtime.yml"]
    for result in results:
        assert result["status"] == "successful"
        assert set(result["hosts"]) == set(NODES)
        for host, stats in result["hosts"].items():
            assert stats["changed"] == 0, (result["playbook"], host, stats)
            assert stats["failed"] == 0 and stats["unreachable"] == 0


def test_mitogen_strategy_runs_the_roles_on_the_nodes_and_changes_nothing(prepared):
    """README's opt-in Mitogen path (`pip install '.[fast]'`,
    PROVISION_ANSIBLE_STRATEGY=mitogen): asked of a node while the run goes on, its
    modules run in Mitogen's interpreter there (`python3(mitogen:...)`); the run
    succeeds and, the nodes being prepared, changes nothing."""
    env = {**os.environ, "PROVISION_ANSIBLE_STRATEGY": "mitogen"}
    proc = subprocess.Popen(
        [str(CLI), "up", "--only", "prepare", "--full"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = ""
    try:
        while proc.poll() is None and not seen:
            seen = run_on("w1", prepared["w1"], "ps -eo args | grep '[(]mitogen:' || true")
            time.sleep(0.5)
    finally:
        output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output
    assert "(mitogen:" in seen, "no Mitogen interpreter ran on w1 during the run"
    (result,) = json.loads((latest_run() / "playbooks.json").read_text())
    assert result["status"] == "successful"
    assert all(stats["changed"] == 0 for stats in result["hosts"].values()), result
