"""End to end with runtime.cri: docker (the suite's own copy of
inventories/lab-cri-docker): the kubelet talks to Docker Engine through cri-dockerd
from the bundle, containerd's CRI plugin is off (one CRI socket), the nodes are
Ready, pods reach each other across nodes and resolve the cluster DNS, a second
runtime phase changes nothing, and `provision rebuild` (which made the lab) wrote a
passing report. Part of the ops tier (`tox -e ops`, not CI's `tox`): this lab has no
add-ons; the restore drill runs on the suite's main lab, in test_up.py."""

import json
import shutil
from xml.etree import ElementTree as ET

import pytest

from provision.project import resolve_inventory
from tests.conftest import bundle_source_by_host, inventory_hosts, provision
from tests.e2e.conftest import CRI
from tests.integration.conftest import ensure_bundle
from tests.integration.test_machines import run_on

pytestmark = pytest.mark.e2e
INV = str(CRI.config)


@pytest.fixture(scope="module")
def lab(cri_lab_config):
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


def test_pods_reach_across_nodes_and_resolve_the_cluster_dns(lab):
    """Asked of the pod network itself: a pod on each node (the kube-proxy image every
    node holds: a Debian base with bash and getent) resolves kubernetes.default to the
    service range's first address, reaches the API server through it, and opens a TCP
    connection to a CoreDNS pod on another node."""
    kubectl = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
    image = "registry.k8s.io/kube-proxy:v1.35.4"
    for node in ("cp1", "w1"):
        spec = json.dumps({"spec": {"nodeName": node}})
        on(
            lab,
            "cp1",
            f"{kubectl} -n default run probe-{node} --image {image} --restart Never "
            f"--overrides '{spec}' --command -- sleep 600",
        )
    try:
        on(
            lab,
            "cp1",
            f"{kubectl} -n default wait pod/probe-cp1 pod/probe-w1 --for "
            "condition=Ready --timeout 120s",
        )
        dns = json.loads(
            on(lab, "cp1", f"{kubectl} -n kube-system get pods -l k8s-app=kube-dns -o json")
        )["items"]
        service_ip = f"10.{CRI.net}.128.1"
        for node in ("cp1", "w1"):
            run = f"{kubectl} -n default exec probe-{node} -- bash -c"
            got = on(lab, "cp1", f"{run} 'getent hosts kubernetes.default'")
            assert got.split()[0] == service_ip, (node, got)
            on(lab, "cp1", f"{run} 'exec 3<>/dev/tcp/{service_ip}/443'")
            for pod in dns:
                if pod["spec"]["nodeName"] != node:
                    on(lab, "cp1", f"{run} 'exec 3<>/dev/tcp/{pod['status']['podIP']}/53'")
        assert {p["spec"]["nodeName"] for p in dns} & {"cp1", "w1"}
    finally:
        on(
            lab,
            "cp1",
            f"{kubectl} -n default delete pod probe-cp1 probe-w1 --now --ignore-not-found",
        )


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


def test_rebuild_wrote_a_passing_report(lab):
    _, state = lab
    (run,) = [p for p in (state / "reports").iterdir() if p.is_dir()]
    report = json.loads((run / "report.json").read_text())
    assert report["passed"] is True and report["drill"] is None
    assert [p["status"] for p in report["phases"]] == ["done"] * len(report["phases"])
    assert report["versions"]["cri_dockerd"] == "0.3.17"
    suite = ET.parse(run / "junit.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 5


def test_a_second_green_rebuild_says_no_change_and_posts_its_verdict(lab):
    """Nightly trust, for real: a second `rebuild` of the same lab opens its summary
    with "no change since the last run", and `--notify URL --notify-on always` posts
    its verdict and report to a webhook (a server on loopback)."""
    import os
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    _, state = lab
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        provision("rebuild", "-i", INV, "--notify", url, "--notify-on", "always", env=env)
    finally:
        server.shutdown()
    first, second = sorted(p for p in (state / "reports").iterdir() if p.is_dir())
    summary = (second / "summary.txt").read_text().splitlines()
    assert summary[0].startswith("PASSED"), summary
    assert summary[1].startswith(f"no change since the last run ({first.name}"), summary
    (post,) = received
    assert post["verdict"] == "passed" and post["report"] == str(second), post
