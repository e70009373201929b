"""The record of an operation that must finish once begun (backup/stages.py): a
failed stage is resumed, done stages are skipped, another operation is refused
until the recorded one finishes; and what counts as a lab's own objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provision.backup.put import own_objects
from provision.backup.stages import Stages, UnfinishedOperation
from provision.cli.common import console
from provision.remote import RemoteFailed
from provision.runlog import RunLog


def log(tmp_path, name="restore") -> RunLog:
    return RunLog(tmp_path, name, console())


def test_a_failed_stage_is_resumed_and_done_stages_are_skipped(tmp_path):
    ran = []
    first = Stages.begin(tmp_path, "restore", log(tmp_path), "hint")
    first.archive = "/backups/a.tar.gz"
    first.step("one", lambda: ran.append("one"), log(tmp_path))

    def boom():
        ran.append("two")
        raise RuntimeError("the node went away")

    with pytest.raises(RuntimeError):
        first.step("two", boom, log(tmp_path))
    record = json.loads((tmp_path / "operation.json").read_text())
    assert record["stages"]["one"]["status"] == "done"
    two = record["stages"]["two"]
    assert (two["status"], two["error"]) == ("failed", "the node went away")
    assert two["started"] <= two["ended"] and isinstance(two["seconds"], float)
    again = Stages.begin(tmp_path, "restore", log(tmp_path), "hint")
    assert again.archive == "/backups/a.tar.gz"
    again.step("one", lambda: ran.append("one again"), log(tmp_path))
    again.step("two", lambda: ran.append("two again"), log(tmp_path))
    assert ran == ["one", "two", "two again"]
    again.finish()
    assert not (tmp_path / "operation.json").exists()


def test_another_operation_is_refused_until_the_recorded_one_finishes(tmp_path):
    stages = Stages.begin(tmp_path, "node replace cp1", log(tmp_path), "hint")
    stages.archive = "/backups/b.tar.gz"

    def fails():
        raise RuntimeError("etcd did not answer")

    with pytest.raises(RuntimeError):
        stages.step("etcd", fails, log(tmp_path))
    with pytest.raises(UnfinishedOperation, match="node replace cp1 is unfinished") as e:
        Stages.begin(tmp_path, "restore", log(tmp_path), "hint")
    assert "provision node replace cp1" in str(e.value) and "b.tar.gz" in str(e.value)
    assert f"rm {tmp_path / 'operation.json'}" in str(e.value)  # or give it up
    assert e.value.exit_code == 2


def test_an_operation_refused_before_its_first_stage_leaves_no_record(tmp_path):
    Stages.begin(tmp_path, "restore", log(tmp_path), "hint")
    # ... a check refuses here, before any stage ran
    assert not (tmp_path / "operation.json").exists()


def test_a_record_of_an_operation_that_never_began_is_dropped(tmp_path):
    (tmp_path / "operation.json").write_text(
        '{"operation": "node replace cp1", "archive": "", "run": "r", "stages": {}}'
    )
    stages = Stages.begin(tmp_path, "restore", log(tmp_path), "hint")
    assert stages.operation == "restore" and stages.entries == {}
    assert not (tmp_path / "operation.json").exists()


def test_a_torn_record_starts_over(tmp_path):
    (tmp_path / "operation.json").write_text('{"operation": "rest')
    stages = Stages.begin(tmp_path, "restore", log(tmp_path), "hint")
    assert stages.entries == {} and stages.archive == ""


def test_own_objects_are_namespaces_and_default_objects_up_does_not_make():
    answers = {
        "get namespaces": "namespace/default\nnamespace/kube-system\nnamespace/kube-public\n"
        "namespace/kube-node-lease\nnamespace/addons\nnamespace/shop\n"
        "namespace/provision-probe\n",
        "-n default get": "service/kubernetes\nconfigmap/kube-root-ca.crt\nconfigmap/mine\n",
    }

    def sh(argv) -> str:
        return next(v for k, v in answers.items() if k in " ".join(argv))

    assert own_objects(sh) == ["namespace/shop", "default/configmap/mine"]
    answers["get namespaces"] = "namespace/default\nnamespace/addons\n"
    answers["-n default get"] = "service/kubernetes\nconfigmap/kube-root-ca.crt\n"
    assert own_objects(sh) == []


def test_the_probe_namespace_is_the_one_the_join_probe_uses():
    import yaml

    from provision.backup.put import PROBE_NAMESPACE

    role = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "cluster_probe"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    assert defaults["cluster_probe_namespace"] == PROBE_NAMESPACE


def test_the_drill_compares_markers_counts_checksum_and_queues():
    from provision.backup.drill import compare

    before = {
        "counts": {"configmaps": 20, "secrets": 2},
        "configmap": "t0k",
        "mysql_checksum": "766809340",
        "mysql_rows": "100",
        "mysql_tables": {"provision_drill": "766809340", "orders": "42"},
        "durable_queues": ["provision-drill", "kept"],
    }
    assert compare(before, dict(before), "t0k") == []
    after = {
        **before,
        "counts": {"configmaps": 19, "secrets": 2},
        "configmap": "",
        "mysql_checksum": "1",
        "mysql_tables": {"provision_drill": "766809340", "orders": "43", "new": "1"},
        "durable_queues": ["kept", "new"],
    }
    got = compare(before, after, "t0k")
    assert len(got) == 5, got
    assert "MySQL table orders: checksum '43', '42' before" in got
    assert "configmaps: 19 after, 20 before" in got
    assert any("mysql_checksum" in line for line in got)
    assert any("provision-drill" in line and "lost" in line for line in got)
    assert any("token ''" in line for line in got)


def test_api_calls_are_tried_again_only_when_the_failure_is_transient(tmp_path):
    """remote.api() runs the node script provision-run.sh (here, with a stand-in
    kubectl that fails as told, then prints its stdin): a transient failure is tried
    again, any other failure ends at once, the last try's output only is printed."""
    from provision.remote import api

    from .local_node import LocalShell, stand_in

    count = tmp_path / "count"
    stand_in(
        tmp_path / "bin",
        "kubectl",
        f"n=$(($(cat {count} 2>/dev/null || echo 0) + 1)); echo $n > {count}\n"
        'echo "try $n"\n'
        '[ "$n" -ge "$OK_AT" ] && { cat; exit 0; }\n'
        'echo "$FAILURE" >&2; exit 1\n',
    )

    def run(failure: str, ok_at: int, tries: int = 6) -> str:
        count.unlink(missing_ok=True)
        sh = LocalShell(tmp_path / "bin")
        sh.env.update(FAILURE=failure, OK_AT=str(ok_at))
        return api(sh, ["kubectl", "get", "nodes"], tries=tries, delay=0)

    flaky = "Unable to connect to the server: net/http: TLS handshake timeout"
    assert run(flaky, ok_at=3) == "try 3\n" and count.read_text() == "3\n"
    with pytest.raises(RemoteFailed, match="not found"):
        run('pods "mysql-0" not found', ok_at=9)
    assert count.read_text() == "1\n"
    with pytest.raises(RemoteFailed, match=r"try 3 of 4.*connection refused"):
        run("dial tcp 10.0.0.2:6443: connect: connection refused", ok_at=9, tries=4)
    assert count.read_text() == "4\n"
    # the API server's own deadline (measured: an emulated VM's control plane)
    busy = "Error from server (Timeout): Timeout: request did not complete within requested timeout"
    assert run(busy, ok_at=2) == "try 2\n" and count.read_text() == "2\n"
    # kubectl's own words for a refused connection (measured: an emulated VM's API
    # server restarting while the add-ons phase applied its first manifest)
    refused = (
        "The connection to the server 192.168.64.10:6443 was refused - "
        "did you specify the right host or port?"
    )
    assert run(refused, ok_at=2) == "try 2\n" and count.read_text() == "2\n"


def test_the_node_runner_feeds_files_text_and_carries_bytes(tmp_path):
    import base64

    from provision.remote import RUN

    from .local_node import LocalShell

    (tmp_path / "a").write_bytes(b"first\n")
    (tmp_path / "b").write_bytes(b"\x00\xffsecond")
    sh = LocalShell()
    feed = ["--input", str(tmp_path / "a"), "--input", str(tmp_path / "b"), "--text", "t"]
    out = sh([RUN, *feed, "--base64", "--", "cat"])
    assert base64.b64decode(out) == b"first\n\x00\xffsecondt\n"
    assert sh([RUN, "--", "cat"]) == ""  # no input given: stdin is /dev/null
    with pytest.raises(RemoteFailed, match="--tries takes a number above 0"):
        sh([RUN, "--tries", "0", "--", "true"])
    with pytest.raises(RemoteFailed, match="no command"):
        sh([RUN, "--"])
