"""Operations on the suite's running lab (the default lab's config, its stack up):
node reset of a worker and of the control plane, replace (of the data node: MySQL
and RabbitMQ kept), add and remove, resume after a node dies during `up`, status.
kubectl runs inside cp1."""

import json
import time

import pytest

from provision.playbooks.converged import STAMP_DIR
from provision.verify.checks import in_pod
from tests.conftest import CLI, ROOT, inventory_hosts, provision
from tests.e2e.conftest import LAB
from tests.integration.conftest import (
    docker,
    existing_hosts_inventory,
    lab_containers,
    lab_state,
)
from tests.integration.test_machines import run_on

pytestmark = pytest.mark.e2e
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"


@pytest.fixture(scope="module")
def lab(running_lab):
    return running_lab


def on_cp(command: str) -> str:
    return run_on("cp1", inventory_hosts()["cp1"], command)


def node_ready(name: str) -> bool:
    nodes = json.loads(on_cp(f"{KUBECTL} get nodes -o json"))["items"]
    for n in nodes:
        if n["metadata"]["name"] == name:
            return {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"] == "True"
    return False


def mysql(sql: str) -> str:
    return on_cp(
        in_pod(
            "mysql-0",
            'mysql -h 127.0.0.1 -N -u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" '
            f'-e "{sql}"',
        )
    )


def rabbit(path: str, body: str, method: str = "POST") -> str:
    return on_cp(
        in_pod(
            "rabbitmq-0",
            'curl -sf -u "$RABBITMQ_DEFAULT_USER:$RABBITMQ_DEFAULT_PASS" '
            f"-X {method} http://127.0.0.1:15672/api/{path} "
            f"-H content-type:application/json -d '{body}'",
        )
    )


def queue_names() -> set[str]:
    """RabbitMQ's queues, as rabbitmqctl lists them in rabbitmq-0."""
    out = on_cp(
        f"{KUBECTL} -n addons exec rabbitmq-0 -- rabbitmqctl -q list_queues name --formatter json"
    )
    return {q["name"] for q in json.loads(out)}


def test_status_shows_nodes_and_addons(lab):
    data = json.loads(provision("status", "--json").stdout)
    assert {m["name"]: m["state"] for m in data["machines"]} == {
        "cp1": "running",
        "w1": "running",
        "w2": "running",
    }
    assert all(n["ready"] and n["version"] == "v1.35.4" for n in data["nodes"])
    addons = {a["name"]: a for a in data["addons"]}
    assert addons["mysql"]["ready"] == 1
    assert addons["zipkin"]["url"] == f"http://{LAB.ip('cp1')}:30008/zipkin/"


def node_uid(name: str) -> str:
    return on_cp(f"{KUBECTL} get node {name} -o jsonpath={{.metadata.uid}}")


def stamp_times(name: str) -> dict[str, int]:
    """The converged stamps on a node: {playbook: mtime}, as the node's stat reports."""
    out = run_on(name, inventory_hosts()[name], f"stat -c '%n %Y' {STAMP_DIR}/*.yml || true")
    found = (line.rsplit(" ", 1) for line in out.splitlines() if line.startswith("/"))
    return {path.rsplit("/", 1)[-1]: int(when) for path, when in found}


def test_reset_a_worker_removes_it_and_its_stamps_and_it_comes_back(lab):
    """Asked of the cluster and the node: w1 is deleted and joins anew (a new Node
    object); the reset removes every converged stamp on it, and only the join it runs
    stamps it again, so the next `up` runs prepare, runtime and kubernetes there."""
    uid = node_uid("w1")
    before = stamp_times("w1")
    assert "prepare.yml" in before, f"w1 was not prepared before the reset: {before}"
    started = int(run_on("w1", inventory_hosts()["w1"], "date +%s"))
    provision("node", "reset", "w1")
    assert node_uid("w1") not in ("", uid), "w1 is the same Node object: never removed"
    assert node_ready("w1")
    after = stamp_times("w1")
    kept = {playbook for playbook, when in after.items() if when < started}
    assert not kept, f"stamps from before the reset left on w1: {kept}"
    assert set(after) == {"join.yml"}, after
    pods = json.loads(on_cp(f"{KUBECTL} get pods -A -o json --field-selector spec.nodeName=w1"))
    names = [p["metadata"]["name"] for p in pods["items"]]
    assert any(n.startswith("calico-node-") for n in names)
    assert any(n.startswith("kube-proxy-") for n in names)


def test_reset_the_control_plane_brings_the_same_cluster_back(lab):
    """`node reset cp1`: cp1 is backed up, reset by kubeadm and started again on that
    backup. Asked of the node and the cluster: the control plane's static pods were
    written again after the reset began, an object made before it is there, and the
    workers kept their kubelet credentials (they did not join again)."""
    on_cp(
        f"{KUBECTL} -n default create configmap reset-marker --from-literal=t=kept "
        f"--dry-run=client -o yaml | {KUBECTL} apply -f -"
    )
    kubelet_conf = {
        w: run_on(w, inventory_hosts()[w], "sha256sum /etc/kubernetes/kubelet.conf")
        for w in ("w1", "w2")
    }
    started = int(on_cp("date +%s"))
    try:
        provision("node", "reset", "cp1")
        written = int(on_cp("stat -c %Y /etc/kubernetes/manifests/kube-apiserver.yaml"))
        assert written >= started, "kube-apiserver's manifest is the one from before the reset"
        assert all(node_ready(n) for n in ("cp1", "w1", "w2"))
        got = on_cp(f"{KUBECTL} -n default get configmap reset-marker -o jsonpath='{{.data.t}}'")
        assert got == "kept"
        assert {
            w: run_on(w, inventory_hosts()[w], "sha256sum /etc/kubernetes/kubelet.conf")
            for w in ("w1", "w2")
        } == kubelet_conf
        assert not (lab_state() / "operation.json").exists()
    finally:
        on_cp(f"{KUBECTL} -n default delete configmap reset-marker --ignore-not-found")


def test_reset_an_existing_host_reached_over_ssh(lab, tmp_path):
    """The same reset for machines.kind ssh: the lab's nodes stand in for an
    operator's hosts, reached on their private IPs; no machine is destroyed."""
    inv, _ = existing_hosts_inventory(tmp_path)
    config = str(inv / "cluster.yml")
    provision("up", "-i", config, "--only", "machines")
    uid = node_uid("w1")
    provision("node", "reset", "w1", "-i", config)
    assert node_uid("w1") not in ("", uid), "w1 is the same Node object: never removed"
    assert node_ready("w1")
    assert len(lab_containers()) == 3


def test_the_control_plane_is_never_removed(lab):
    out = provision("node", "remove", "cp1", check=False)
    assert out.returncode == 9
    text = " ".join((out.stdout + out.stderr).split())
    assert "cp1 is the control plane" in text and "node replace cp1" in text


def test_replacing_the_data_node_is_refused_only_for_data_no_backup_carries(lab):
    out = provision("node", "replace", "w2", check=False)
    assert out.returncode == 9
    text = " ".join((out.stdout + out.stderr).split())
    assert "data-elasticsearch-0" in text and "--force" in text
    assert "data-mysql-0" not in text and "put back either way" in text


def test_replace_the_data_node_keeps_mysql_and_rabbitmq_data(lab):
    """w2 holds the local volumes of MySQL, RabbitMQ and Elasticsearch: --force
    drops Elasticsearch's indices (no backup carries them); MySQL's rows and
    RabbitMQ's definitions are backed up first and put back."""
    mysql("CREATE TABLE IF NOT EXISTS kept (v VARCHAR(32)); INSERT INTO kept VALUES ('before');")
    rabbit("queues/%2F/kept", '{"durable":true}', method="PUT")
    container_before = docker("inspect", "-f", "{{.Id}}", LAB.container("w2")).strip()
    out = " ".join(provision("node", "replace", "w2", "--force").stdout.split())
    assert "node: w2 holds mysql, rabbitmq data: backed up now" in out
    assert "restore: MySQL:" in out and "restore: RabbitMQ: definitions imported" in out
    assert docker("inspect", "-f", "{{.Id}}", LAB.container("w2")).strip() != container_before
    assert node_ready("w2")
    assert "before" in mysql("SELECT v FROM kept;")
    assert "kept" in queue_names()


def test_add_a_third_worker_then_remove_it(lab):
    """`node add` writes w3 into the lab's cluster.yml (the suite's own copy) and
    makes it; `node remove` takes it out of the cluster, the machines and the file."""
    before = LAB.config.read_text()
    try:
        provision("node", "add", "w3", "--ip", LAB.ip("w3"), "--memory-mb", "2048")
        assert "name: w3" in LAB.config.read_text()
        assert node_ready("w3")
        provision("node", "remove", "w3")
        assert LAB.config.read_text() == before
        nodes = json.loads(on_cp(f"{KUBECTL} get nodes -o json"))["items"]
        assert "w3" not in {n["metadata"]["name"] for n in nodes}
        assert not docker("ps", "-aq", "--filter", f"name=^{LAB.container('w3')}$").strip()
    finally:
        LAB.config.write_text(before)


def test_a_node_killed_during_up_converges_on_the_next_up(lab):
    """Kill w2's container while `up` runs its runtime phase; the next `up` resumes
    at the phase that did not finish, brings w2 back, and the cluster is whole."""
    import subprocess

    proc = subprocess.Popen(
        [str(CLI), "up", "--from", "prepare", "--full"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        if "==> phase runtime" in line or time.monotonic() > deadline:
            break
    docker("kill", LAB.container("w2"))
    proc.communicate(timeout=900)
    assert proc.returncode != 0
    state = json.loads((lab_state() / "phases.json").read_text())
    assert state["phases"]["runtime"]["status"] == "failed"
    out = provision("up").stdout
    assert "resuming at phase runtime" in " ".join(out.split())
    assert node_ready("w2")
    state = json.loads((lab_state() / "phases.json").read_text())
    assert all(p["status"] == "done" for p in state["phases"].values()), state
    provision("verify")  # every add-on's real check, asked again: exit 0
