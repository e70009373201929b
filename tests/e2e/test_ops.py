"""Operations on the suite's running lab (the default lab's config, its stack up):
status, node reset of a worker, and what node operations refuse. The control plane's
reset from a `backup --out` file is in test_restore.py; the operations that make or
destroy machines (replace, add, remove, a node killed during `up`, an existing
host's reset) are the ops tier, test_node_changes.py. kubectl runs inside cp1."""

import json
import shlex

import pytest

from provision.playbooks.converged import STAMP_DIR
from provision.verify.checks import in_pod as in_pod_argv
from tests.conftest import inventory_hosts, provision
from tests.e2e.conftest import LAB
from tests.integration.test_machines import run_on

pytestmark = pytest.mark.e2e
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"


def in_pod(pod: str, script: str, container: str | None = None) -> str:
    """provision's kubectl exec into a pod (argv), as this suite's shell command."""
    return shlex.join(in_pod_argv(pod, script, container))


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
