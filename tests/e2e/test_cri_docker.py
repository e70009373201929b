"""End to end with runtime.cri: docker (inventories/lab-cri-docker): the kubelet
talks to Docker Engine through cri-dockerd from the bundle, containerd's CRI
plugin is off (one CRI socket), the nodes are Ready and the join probe (pod
network, cluster DNS) passes; a second runtime phase changes nothing. The lab is
made by `provision rebuild`, then by `rebuild --restore-drill`: a marker
ConfigMap and a backup of the first lab, restored onto the second (a new CA, a
new etcd) and compared; two reports, a history of two and its chart. (This lab
has no add-ons, to keep CI short: MySQL and RabbitMQ across a restore are
proven on the default lab by test_restore.py's node replace cp1 and test_ops.py's
data node replace.)"""

import json
import shutil
from xml.etree import ElementTree as ET

import pytest

from provision.project import resolve_inventory
from tests.conftest import bundle_source_by_host, inventory_hosts, provision
from tests.integration.conftest import ensure_bundle
from tests.integration.test_machines import run_on

pytestmark = pytest.mark.e2e
INV = "lab-cri-docker"


@pytest.fixture(scope="module")
def lab():
    ensure_bundle()
    state = resolve_inventory(INV).state_dir
    shutil.rmtree(state / "reports", ignore_errors=True)
    provision("rebuild", "-i", INV)  # destroy, up (ends with verify), report
    yield inventory_hosts(INV), state
    provision("destroy", "-i", INV, "--yes")


def on(lab, name: str, command: str) -> str:
    hosts, state = lab
    return run_on(name, hosts[name], command, state / "known_hosts")


def test_nodes_ready_on_docker_engine(lab):
    out = provision("kubectl", "-i", INV, "--", "get", "nodes", "-o", "json").stdout
    nodes = json.loads(out)["items"]
    assert {n["metadata"]["name"] for n in nodes} == {"cp1", "w1"}
    for node in nodes:
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("docker://")
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]


def test_one_cri_socket(lab):
    for name in ("cp1", "w1"):
        kubelet = on(lab, name, "cat /var/lib/kubelet/config.yaml")
        assert "containerRuntimeEndpoint: unix:///var/run/cri-dockerd.sock" in kubelet
        assert on(lab, name, "systemctl is-active cri-docker.service") == "active"
        plugins = on(lab, name, "ctr plugins ls")
        assert not any(
            line.split()[:2] == ["io.containerd.grpc.v1", "cri"] and line.split()[-1] == "ok"
            for line in plugins.splitlines()
        ), plugins
        containers = on(lab, name, "docker ps --format '{{.Names}}'")
        assert "k8s_calico-node" in containers  # pods are Docker containers


def test_probe_passed(lab):
    _, state = lab
    log = " ".join((state / "runs" / "latest" / "run.log").read_text().split())
    assert "2 pods on cp1, w1 each reached the pods on the other nodes" in log
    assert "kubernetes.default resolved to 10.97.0.1 in every pod" in log


def test_runtime_rerun_changes_nothing(lab):
    _, state = lab
    provision("up", "-i", INV, "--only", "runtime", "--full")
    results = json.loads((state / "runs" / "latest" / "playbooks.json").read_text())
    for result in results:
        for host, stats in result["hosts"].items():
            assert stats["changed"] == 0, (result["playbook"], host, stats)
    # artifacts.mount_bundle: false: cri-dockerd came over SSH, as to a VM
    latest = (state / "runs" / "latest").resolve()
    assert bundle_source_by_host(latest / "ansible-runtime") == {"cp1": False, "w1": False}
    assert "/opt/provision" not in on(lab, "w1", "cat /proc/mounts")


def test_restore_drill_then_two_reports_a_history_and_a_chart(lab):
    _, state = lab
    out = provision("rebuild", "-i", INV, "--restore-drill").stdout
    assert "rebuild passed" in out
    assert "restore drill: PASSED" in out
    reports = state / "reports"
    runs = sorted(p for p in reports.iterdir() if p.is_dir())
    assert len(runs) == 2
    for run in runs:
        report = json.loads((run / "report.json").read_text())
        assert report["passed"] is True
        assert [p["status"] for p in report["phases"]] == ["done"] * len(report["phases"])
        assert report["versions"]["cri_dockerd"] == "0.3.17"
        suite = ET.parse(run / "junit.xml").getroot()
        assert suite.get("failures") == "0" and int(suite.get("tests")) >= 10
        assert "PASSED" in (run / "summary.txt").read_text()
    drill = json.loads((runs[1] / "report.json").read_text())["drill"]
    assert drill["passed"] and drill["differences"] == []
    before, after = drill["before"], drill["after"]
    assert before["configmap"] == after["configmap"] != ""
    assert before["counts"] == after["counts"] and after["counts"]["namespaces"] >= 5
    phases = [p["name"] for p in json.loads((runs[1] / "report.json").read_text())["phases"]]
    assert {"drill-markers", "drill-backup", "drill-restore", "drill-compare"} <= set(phases)
    assert json.loads((runs[0] / "report.json").read_text())["drill"] is None
    history = (reports / "history.jsonl").read_text().splitlines()
    assert len(history) == 2
    assert json.loads(history[1])["drill_passed"] is True
    assert (reports / "history.html").read_text().count("<circle") == 2
