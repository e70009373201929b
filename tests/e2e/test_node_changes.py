"""The ops tier (`tox -e ops`, not in CI's `tox`): the node operations that make or
destroy machines, on the suite's running lab (made by `up` when this file runs
alone). Replace the data node (MySQL's rows and RabbitMQ's durable queue kept),
replace the control plane from a `backup --out` file, add a third worker and remove
it, resume after a node dies during `up`, and reset an existing host reached over
SSH. Each asks the cluster, the node or the add-on, never provision's log.

CI runs the cheaper half of the same code: `node reset` of a worker and of the
control plane (from a `backup --out` file), the refusals, backup and restore."""

import json
import subprocess
import time

import pytest

from tests.conftest import CLI, ROOT, provision
from tests.e2e.conftest import LAB
from tests.e2e.test_ops import (
    KUBECTL,
    mysql,
    node_ready,
    node_uid,
    on_cp,
    queue_names,
    rabbit,
)
from tests.e2e.test_restore import configmap, marked_backup, on
from tests.integration.conftest import (
    docker,
    existing_hosts_inventory,
    lab_containers,
    lab_state,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lab(running_lab):
    return running_lab


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


def test_replace_the_data_node_keeps_mysql_and_rabbitmq_data(lab):
    """w2 holds the local volumes of MySQL, RabbitMQ and Elasticsearch: --force
    drops Elasticsearch's indices (no backup carries them); MySQL's rows and
    RabbitMQ's definitions are backed up first and put back."""
    mysql("CREATE TABLE IF NOT EXISTS kept (v VARCHAR(32)); INSERT INTO kept VALUES ('before');")
    rabbit("queues/%2F/kept", '{"durable":true}', method="PUT")
    container_before = docker("inspect", "-f", "{{.Id}}", LAB.container("w2")).strip()
    provision("node", "replace", "w2", "--force")
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


def test_node_replace_cp1_from_backup_out_file_brings_that_cluster_back(lab, tmp_path):
    saved = marked_backup(tmp_path / "cp1.tar.gz")
    # made after the archive: the control plane made from it must not know it
    on_cp(f"{KUBECTL} -n cp-marker create configmap later --from-literal=t=later")
    kubelet_conf = {w: on(w, "sha256sum /etc/kubernetes/kubelet.conf") for w in ("w1", "w2")}
    container = docker("inspect", "-f", "{{.Id}}", LAB.container("cp1")).strip()

    out = provision("node", "replace", "cp1", "--backup", str(saved)).stdout
    assert docker("inspect", "-f", "{{.Id}}", LAB.container("cp1")).strip() != container
    assert all(node_ready(n) for n in ("cp1", "w1", "w2"))
    assert configmap("cp-marker", "m") == "kept"
    assert configmap("cp-marker", "later") == ""
    assert "kept" in mysql("SELECT v FROM cp_marker;")
    assert "cp-marker" in queue_names()
    # the workers did not rejoin: their kubelet's kubeconfig is the one they had
    assert {
        w: on(w, "sha256sum /etc/kubernetes/kubelet.conf") for w in ("w1", "w2")
    } == kubelet_conf
    assert "verify: 10 real checks passed" in " ".join(out.split())
    provision("verify")  # asked again, on its own: exit 0
    assert not (lab_state() / "operation.json").exists()
    assert on_cp("ls /var/lib/provision/restore 2>/dev/null || true").strip() == ""
