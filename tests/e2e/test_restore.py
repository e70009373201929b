"""Restore and the control plane on the suite's running lab, from one archive written
by `backup --out FILE`: a corrupted, a foreign archive and a lab with objects of its
own are refused with nothing changed; `node reset cp1 --backup FILE` starts the
control plane again on that archive, and that cluster comes back (the objects of
the archive, not one made after it; the data on the workers; the workers without a
rejoin); no secret in any run log. The restore onto a lab made again is proven on
this lab by the ops tier's test_nightly.py (`rebuild --restore-drill`)."""

import hashlib
import json
import stat
from pathlib import Path

import pytest

from provision.backup.archive import Identity, read_parts, write_archive
from tests.conftest import inventory_hosts, provision
from tests.e2e.conftest import LAB
from tests.e2e.test_ops import KUBECTL, mysql, node_ready, on_cp, queue_names, rabbit
from tests.integration.conftest import lab_state
from tests.integration.test_machines import run_on

pytestmark = pytest.mark.e2e
MARK = "provision-restore-marker"


def configmap(namespace: str, name: str) -> str:
    return on_cp(
        f"{KUBECTL} -n {namespace} get configmap {name} -o jsonpath='{{.data.t}}' "
        "2>/dev/null || true"
    ).strip()


def on(name: str, command: str) -> str:
    return run_on(name, inventory_hosts()[name], command)


def marked_backup(path: Path) -> Path:
    """`backup --out path` (0600, this lab's) of the lab with a ConfigMap, a MySQL row
    and a durable queue of its own, each named cp-marker."""
    on_cp(
        f"{KUBECTL} create namespace cp-marker --dry-run=client -o yaml | {KUBECTL} apply -f - && "
        f"{KUBECTL} -n cp-marker create configmap m --from-literal=t=kept "
        f"--dry-run=client -o yaml | {KUBECTL} apply -f -"
    )
    mysql(
        "CREATE TABLE IF NOT EXISTS cp_marker (v VARCHAR(32)); "
        "INSERT INTO cp_marker VALUES ('kept');"
    )
    rabbit("queues/%2F/cp-marker", '{"durable":true}', method="PUT")
    provision("backup", "--out", str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_parts(path)[0].identity.cluster == LAB.name
    return path


@pytest.fixture(scope="module")
def archive(running_lab, tmp_path_factory):
    """`backup --out FILE` of the lab with an object, a row and a durable queue of
    its own; then an object made after it (a restore would drop it)."""
    path = marked_backup(tmp_path_factory.mktemp("backup") / "lab.tar.gz")
    on_cp(f"{KUBECTL} -n default create configmap {MARK} --from-literal=t=after")
    yield path
    on_cp(f"{KUBECTL} -n default delete configmap {MARK} --ignore-not-found")


def unchanged() -> None:
    """Nothing was touched: the object made after the backup is there, and no
    restore began (no record, nothing staged on the control plane)."""
    assert configmap("default", MARK) == "after"
    assert not (lab_state() / "operation.json").exists()
    # the restore's own work directory (put.py); the add-ons keep others there
    assert "restore" not in on_cp("ls /var/lib/provision 2>/dev/null || true").split()


def test_a_corrupted_archive_is_refused(archive, tmp_path):
    bad = tmp_path / archive.name
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    out = provision("restore", str(bad), "--force", check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    text = " ".join((out.stdout + out.stderr).split())
    assert "nothing was changed" in text
    assert "not a readable archive" in text or "does not match its sha256" in text
    unchanged()


def test_another_clusters_archive_is_refused(archive, tmp_path):
    manifest, parts = read_parts(archive)
    theirs = Identity(
        "other-lab",
        manifest.identity.config_sha256,
        manifest.identity.kubernetes,
        manifest.identity.nodes,
    )
    foreign = tmp_path / "backup-other-lab-20260101T000000Z.tar.gz"
    write_archive(foreign, theirs, parts, "0")
    out = provision("restore", str(foreign), "--force", check=False)
    assert out.returncode == 9, out.stdout + out.stderr
    assert "another cluster name" in " ".join((out.stdout + out.stderr).split())
    unchanged()


def test_a_lab_with_objects_of_its_own_is_refused_without_force(archive):
    out = provision("restore", str(archive), check=False)
    assert out.returncode == 9, out.stdout + out.stderr
    text = " ".join((out.stdout + out.stderr).split())
    assert f"default/configmap/{MARK}" in text and "--force" in text
    unchanged()


def test_node_reset_cp1_from_the_backup_out_file_brings_that_cluster_back(archive):
    """`node reset cp1 --backup FILE`: kubeadm resets cp1 and its control plane is
    started again on the archive that `backup --out` wrote. Asked of the node and the
    cluster: the static pods were written again, the archive's objects, rows and
    durable queue are there and the object made after it is not, and the workers kept
    their kubelet credentials (they did not join again)."""
    kubelet_conf = {w: on(w, "sha256sum /etc/kubernetes/kubelet.conf") for w in ("w1", "w2")}
    started = int(on_cp("date +%s"))

    provision("node", "reset", "cp1", "--backup", str(archive))
    written = int(on_cp("stat -c %Y /etc/kubernetes/manifests/kube-apiserver.yaml"))
    assert written >= started, "kube-apiserver's manifest is the one from before the reset"
    assert all(node_ready(n) for n in ("cp1", "w1", "w2"))
    assert configmap("cp-marker", "m") == "kept"
    assert configmap("default", MARK) == "", "an object made after the archive came back"
    assert "kept" in mysql("SELECT v FROM cp_marker;")
    assert "cp-marker" in queue_names()
    # the workers did not rejoin: their kubelet's kubeconfig is the one they had
    assert {
        w: on(w, "sha256sum /etc/kubernetes/kubelet.conf") for w in ("w1", "w2")
    } == kubelet_conf
    provision("verify")  # every real check, asked on its own: exit 0
    assert not (lab_state() / "operation.json").exists()
    assert on_cp("ls /var/lib/provision/restore 2>/dev/null || true").strip() == ""


def test_no_secret_in_any_run_log(archive):
    _, parts = read_parts(archive)
    secrets = json.loads(parts["secrets/addons.json"])
    values = {v for k, v in secrets.items() if k != "rabbitmq-user"}
    logs = list((lab_state() / "runs").glob("*/run.log"))
    logs += list((lab_state() / "runs").glob("*/ansible-*/**/stdout"))
    assert logs
    for log in logs:
        text = log.read_text(errors="replace")
        for value in values:
            assert value not in text, (log, hashlib.sha256(value.encode()).hexdigest()[:8])
