"""`provision backup` on the suite's running lab: one 0600 archive whose parts are
the real thing (etcd's snapshot holds a marker ConfigMap, the MySQL dump a marker
row, RabbitMQ's definitions a marker queue, the PKI the cluster's CA), listed by
`backup --list`, pruned to --keep, and no secret of the lab in any run log."""

import io
import json
import re
import stat
import tarfile
from pathlib import Path

import pytest

from provision.backup.archive import read_parts
from provision.backup.take import identity
from provision.config import load
from tests.conftest import provision
from tests.e2e.conftest import LAB
from tests.e2e.test_ops import mysql, on_cp, rabbit
from tests.integration.conftest import lab_state, latest_run

pytestmark = pytest.mark.e2e
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
MARK = "provision-backup-marker"


@pytest.fixture(scope="module")
def archive(running_lab):
    on_cp(
        f"{KUBECTL} -n default create configmap {MARK} --from-literal=k=v --dry-run=client -o yaml"
        f" | {KUBECTL} apply -f -"
    )
    mysql(
        "CREATE TABLE IF NOT EXISTS backup_marker (v VARCHAR(64)); "
        f"INSERT INTO backup_marker VALUES ('{MARK}');"
    )
    rabbit(f"queues/%2F/{MARK}", '{"durable":true}', method="PUT")
    out = provision("backup").stdout
    assert "backup written: " in out, out
    path = out.split("backup written: ", 1)[1].split()[0]
    return path, out


def test_the_archive_is_private_and_complete(archive):
    file = Path(archive[0])
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert file.parent == lab_state() / "backups"
    manifest, parts = read_parts(file)
    assert manifest.identity == identity(load(LAB.config))
    assert set(parts) == {
        "etcd/snapshot.db",
        "pki/kubernetes.tar.gz",
        "secrets/addons.json",
        "mysql/dump.sql",
        "rabbitmq/definitions.json",
    }


def test_each_part_holds_the_markers(archive):
    _, parts = read_parts(Path(archive[0]))
    assert MARK.encode() in parts["etcd/snapshot.db"]  # the ConfigMap's key in etcd
    row = rf"INSERT INTO `backup_marker` VALUES\s*\('{MARK}'\)".encode()
    assert re.search(row, parts["mysql/dump.sql"])  # MariaDB breaks the line after VALUES
    queues = json.loads(parts["rabbitmq/definitions.json"])["queues"]
    assert {q["name"] for q in queues if q["durable"]} >= {MARK}
    with tarfile.open(fileobj=io.BytesIO(parts["pki/kubernetes.tar.gz"])) as tar:
        names = set(tar.getnames())
    assert {"pki/ca.crt", "pki/ca.key", "pki/etcd/ca.key", "admin.conf"} <= names
    ca_on_node = on_cp("cat /etc/kubernetes/pki/ca.crt").encode()
    with tarfile.open(fileobj=io.BytesIO(parts["pki/kubernetes.tar.gz"])) as tar:
        assert tar.extractfile("pki/ca.crt").read().strip() == ca_on_node.strip()
    assert on_cp("ls /var/lib/etcd").split() == ["member"]  # the snapshot was removed


def test_no_secret_reaches_the_run_log(archive):
    _, out = archive
    secrets = json.loads((lab_state() / "secrets" / "addons.json").read_text())
    log = (latest_run() / "run.log").read_text()
    for key, value in secrets.items():
        if key != "rabbitmq-user":
            assert value not in log and value not in out, key


def test_list_shows_it_and_keep_prunes(archive):
    path, _ = archive
    name = path.rsplit("/", 1)[1]
    assert name in provision("backup", "--list").stdout
    provision("backup", "--keep", "1")
    kept = sorted(p.name for p in (lab_state() / "backups").iterdir())
    assert len(kept) == 1 and kept[0] != name
    (lab_state() / "backups" / kept[0]).write_bytes(b"damaged")
    listing = provision("backup", "--list").stdout
    assert "UNREADABLE" in listing and kept[0] in listing
