"""The lab's life cycle on the suite's lab (ops tier): `halt` then `up`, the Docker
engine stopped and started again then `up`, and `certs renew`. Each test asks the
real system: the engine for the containers' state, each service for the data put
in it before (a MySQL row, a persistent message in a durable queue, an
Elasticsearch document, a file read back over NFS), the nodes for the certificates'
dates, and `provision verify` for the rest. Times are printed (README figures)."""

import json
import os
import secrets
import shlex
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from provision.playbooks.converged import STAMP_DIR
from provision.verify.checks import in_pod as in_pod_argv
from tests.conftest import ROOT, inventory_hosts, provision
from tests.e2e.conftest import LAB
from tests.e2e.test_ops import KUBECTL, mysql, on_cp, rabbit
from tests.integration.test_machines import run_on

pytestmark = pytest.mark.e2e
EXPORT = "/srv/nfs"  # the default lab's addons.nfs.export_path, served by cp1


def in_pod(pod: str, script: str, container: str | None = None) -> str:
    """provision's kubectl exec into a pod (argv), as this suite's shell command."""
    return shlex.join(in_pod_argv(pod, script, container))


def containers() -> dict[str, str]:
    """The suite lab's node containers and their state, as the engine says."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=io.provision.cluster={LAB.name}",
            "--format",
            "{{.Names}} {{.State}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines())


def put_markers() -> str:
    """A value of its own in each of MySQL, a durable queue, Elasticsearch and the
    NFS export."""
    value = f"lifecycle-{secrets.token_hex(4)}"
    mysql(
        "CREATE TABLE IF NOT EXISTS lifecycle (v VARCHAR(64)); "
        f"INSERT INTO lifecycle VALUES ('{value}');"
    )
    rabbit("queues/%2F/lifecycle", '{"durable":true}', method="PUT")
    message = {
        "routing_key": "lifecycle",
        "payload": value,
        "payload_encoding": "string",
        "properties": {"delivery_mode": 2},
    }
    assert '"routed":true' in rabbit("exchanges/%2F/amq.default/publish", json.dumps(message))
    on_cp(
        in_pod(
            "elasticsearch-0",
            f"curl -sf -XPUT 'http://127.0.0.1:9200/lifecycle/_doc/1?refresh=true' "
            f'-H content-type:application/json -d \'{{"v":"{value}"}}\'',
        )
    )
    run_on("cp1", inventory_hosts()["cp1"], f"echo {value} > {EXPORT}/{value}")
    return value


def markers_intact(value: str) -> None:
    """Each marker read back through its own service."""
    assert value in mysql("SELECT v FROM lifecycle"), "the MySQL row is gone"
    got = json.loads(
        rabbit(
            "queues/%2F/lifecycle/get",
            '{"count":10,"ackmode":"ack_requeue_true","encoding":"auto"}',
        )
    )
    assert value in [m["payload"] for m in got], f"the queued message is gone: {got}"
    doc = json.loads(
        on_cp(in_pod("elasticsearch-0", "curl -sf http://127.0.0.1:9200/lifecycle/_doc/1"))
    )
    assert doc["_source"]["v"] == value, doc
    url = f"nfs://{LAB.ip('cp1')}{EXPORT}/{value}?version=4"
    assert run_on("w1", inventory_hosts()["w1"], f"nfs-cat '{url}'").strip() == value


@pytest.fixture(scope="module")
def lab(running_lab):
    return running_lab


def stamps() -> dict[str, str]:
    """Each node's convergence stamps and their times: a playbook that runs writes its
    stamp again on every node it ran on."""
    hosts = inventory_hosts()
    return {
        name: run_on(name, hosts[name], f"stat -c '%n %Y' {STAMP_DIR}/*")
        for name in ("cp1", "w1", "w2")
    }


def test_halt_keeps_everything_and_up_resumes_it(lab):
    value = put_markers()
    stamped = stamps()
    started = time.monotonic()
    provision("halt")
    halted = time.monotonic() - started
    assert set(containers().values()) == {"exited"}, containers()
    status = json.loads(provision("status", "--json").stdout)
    assert {m["state"] for m in status["machines"]} == {"stopped"}
    assert status["lab"].startswith("halted")
    assert "already halted" in provision("halt").stdout  # again: nothing to do
    assert set(containers().values()) == {"exited"}
    started = time.monotonic()
    provision("up")
    resumed = time.monotonic() - started
    print(f"halt: {halted:.1f} s; up (resume, verify included): {resumed:.1f} s")
    assert set(containers().values()) == {"running"}
    # nothing that converged ran again: no playbook wrote its stamps again
    assert stamps() == stamped
    markers_intact(value)
    provision("verify")


def engine_stop() -> None:
    """Stop the Docker engine as the host's shutdown would (its containers stop)."""
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "stop", "docker.socket", "docker"], check=True)
        return
    pid = int(Path("/var/run/docker.pid").read_text())
    os.kill(pid, 15)
    for _ in range(120):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(1)
    raise AssertionError("dockerd did not stop in 120 s")


def test_the_docker_engine_restarted_then_up_brings_the_lab_back(lab):
    value = put_markers()
    engine_stop()
    try:
        assert subprocess.run(["docker", "info"], capture_output=True).returncode != 0
    finally:
        subprocess.run([str(ROOT / "scripts" / "host-setup")], check=True, capture_output=True)
    assert set(containers().values()) == {"exited"}, containers()
    started = time.monotonic()
    provision("up")
    print(f"up after an engine restart (verify included): {time.monotonic() - started:.1f} s")
    assert set(containers().values()) == {"running"}
    markers_intact(value)
    provision("verify")


def earliest_kubeadm_expiry() -> str:
    """The earliest expiry kubeadm reports on cp1 (read on the node, not by provision)."""
    out = run_on("cp1", inventory_hosts()["cp1"], "kubeadm certs check-expiration -o json")
    return min(c["expirationDate"] for c in json.loads(out)["certificates"])


def served_expiry() -> datetime:
    """The notAfter of the certificate the API server serves now."""
    out = on_cp(
        "echo | openssl s_client -connect 127.0.0.1:6443 2>/dev/null | openssl x509 -noout -enddate"
    )
    value = " ".join(out.split("=", 1)[1].split())
    return datetime.strptime(value, "%b %d %H:%M:%S %Y %Z")


def test_certs_renew_moves_the_expiry_and_the_cluster_still_answers(lab):
    before = earliest_kubeadm_expiry()
    served_before = served_expiry()
    shown = json.loads(provision("certs", "check", "--json").stdout)
    assert shown["earliest"]["not_after"] <= before and not shown["warn"]
    time.sleep(2)  # expiry dates are whole seconds
    provision("certs", "renew")
    after = earliest_kubeadm_expiry()
    assert after > before, (before, after)
    # the API server was restarted: it serves the renewed certificate
    assert served_expiry() > served_before
    # the fetched admin kubeconfig answers from the host side of provision
    nodes = json.loads(provision("kubectl", "--", "get", "nodes", "-o", "json").stdout)
    assert len(nodes["items"]) == 3


def container_id(name: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}}", f"{LAB.name}-{name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


def node_uid(name: str) -> str:
    return on_cp(f"{KUBECTL} get node {name} -o jsonpath='{{.metadata.uid}}'")


def test_a_worker_removed_outside_provision_is_made_again_and_joined(lab):
    """w1 holds no data of its own: `up` deletes its stale Node object, makes a new
    container, joins it (a new Node object), and the lab verifies."""
    before, uid = container_id("w1"), node_uid("w1")
    subprocess.run(["docker", "rm", "-f", f"{LAB.name}-w1"], check=True, capture_output=True)
    started = time.monotonic()
    out = provision("up").stdout
    print(f"up with w1 removed outside provision: {time.monotonic() - started:.1f} s")
    assert "w1 gone (removed outside provision" in " ".join(out.split())
    assert container_id("w1") not in ("", before)
    assert node_uid("w1") not in ("", uid)
    on_cp(f"{KUBECTL} wait node/w1 --for=condition=Ready --timeout 60s")
    provision("verify")


def test_the_data_node_removed_outside_provision_is_refused_with_nothing_changed(lab):
    """w2 held MySQL's, RabbitMQ's and Elasticsearch's volumes: `up` refuses (exit 9)
    naming them and the fix, and makes nothing; `halt` refuses the half-made lab
    (last: the lab is left without w2)."""
    subprocess.run(["docker", "rm", "-f", f"{LAB.name}-w2"], check=True, capture_output=True)
    running = {n: container_id(n) for n in ("cp1", "w1")}
    out = provision("up", check=False)
    assert out.returncode == 9, out.stdout + out.stderr
    said = " ".join(out.stderr.split())
    assert "w2: machine gone" in said and "data-mysql-0" in said and "provision restore" in said
    assert container_id("w2") == ""
    assert {n: container_id(n) for n in ("cp1", "w1")} == running
    # a half-made lab is not halted either: nothing stopped
    out = provision("halt", check=False)
    assert out.returncode == 2 and "half made (w2 not created)" in " ".join(out.stderr.split())
    assert containers() == {f"{LAB.name}-cp1": "running", f"{LAB.name}-w1": "running"}
