"""Three nights, for real, on the e2e suite's lab (ops tier: three rebuilds from no
machines and a restore drill are about 17 minutes, too much for CI's 60; CI's e2e
runs one green `rebuild` and tests/unit/test_rebuild_failure.py a failed one). Two
green nights, the second `rebuild --restore-drill` (markers and a backup of the first
night's lab, destroy, up, restore, compare): its markers are read back from the
restored lab itself, and its summary says nothing changed. Then a
red night: Zipkin's image is one no registry has (a registry on the node's own
loopback where nothing listens: nothing leaves the lab), and `rebuild --notify` runs
unattended: it must exit 8 in bounded time, the add-ons wait must name the pod and
image instead of waiting out its timeout, the diagnostics it made by itself must show
the cause, the summary must open with the verdict and what changed since the green
night, and the test's webhook must receive the post. The lab is left half made (the
next module's `up` finishes it; the session destroys it)."""

from __future__ import annotations

import json
import shutil
import stat
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from provision.backup.drill import MARK as DRILL
from tests.conftest import inventory_hosts, provision
from tests.e2e.conftest import LAB
from tests.integration.conftest import lab_state
from tests.integration.test_machines import run_on
from tests.unit.test_notify import Webhook

pytestmark = pytest.mark.e2e
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
MISSING = "127.0.0.1:9/provision/no-such-zipkin:0"


def new_run(reports, before: set[str]):
    (run,) = [p for p in reports.iterdir() if p.is_dir() and p.name not in before]
    return run


@pytest.fixture(scope="module")
def green_nights():
    """Two green rebuilds, the history emptied first; the second's report dir."""
    reports = lab_state() / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    for night, drill in ((1, ()), (2, ("--restore-drill",))):
        started = time.monotonic()
        before = {p.name for p in reports.iterdir()} if reports.is_dir() else set()
        provision("rebuild", *drill, timeout=2400)
        print(f"green rebuild {night} {' '.join(drill)}: {time.monotonic() - started:.0f} s")
    return new_run(reports, before)


@pytest.fixture(scope="module")
def red_night(green_nights, monkeypatch_module):
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                  "ALL_PROXY", "no_proxy", "NO_PROXY"):  # fmt: skip
        monkeypatch_module.delenv(proxy, raising=False)
    reports = lab_state() / "reports"
    before = {p.name for p in reports.iterdir()}
    hook = Webhook([])
    data = LAB.data()
    data["addons"].setdefault("images", {})["zipkin"] = MISSING
    LAB.config.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        started = time.monotonic()
        out = provision("rebuild", "--notify", hook.url, check=False, timeout=2400)
        seconds = time.monotonic() - started
    finally:
        LAB.write()  # the suite's own config again
        hook.close()
    print(f"red rebuild: exit {out.returncode} in {seconds:.0f} s")
    return out, new_run(reports, before), hook, seconds


def test_two_green_nights_in_a_row_say_no_change(green_nights):
    lines = (green_nights / "summary.txt").read_text().splitlines()
    assert lines[0].startswith("PASSED: provision rebuild of t-e2e"), lines[:3]
    assert lines[1].startswith("no change since the last run"), lines[:3]
    assert "versions and image digests" in lines[1], lines[:3]
    assert lines[2] == "the last run was the last green one", lines[:3]


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_the_restore_drill_brought_back_objects_rows_and_a_durable_queue(green_nights):
    """The lab the tests run on is the one made again and restored by the drill. The
    drill's markers, read from the restored lab itself, are what it wrote before the
    backup: its ConfigMap's token, MySQL's rows, RabbitMQ's durable queue."""
    hosts = inventory_hosts()
    report = json.loads((green_nights / "report.json").read_text())
    drill = report["drill"]
    assert drill["passed"] and drill["kind"] == "restore", drill
    assert {"drill-markers", "drill-backup", "drill-restore", "drill-compare"} <= {
        p["name"] for p in report["phases"]
    }
    token = run_on(
        "cp1",
        hosts["cp1"],
        f"{KUBECTL} -n {DRILL} get configmap {DRILL} -o jsonpath='{{.data.token}}'",
    )
    assert token and token == drill["before"]["configmap"]
    rows = run_on(
        "cp1",
        hosts["cp1"],
        f"{KUBECTL} -n addons exec mysql-0 -- sh -c 'mysql -h 127.0.0.1 -N "
        '-u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" '
        '-e "SELECT COUNT(*) FROM provision_drill"\'',
    )
    assert int(rows.split()[-1]) >= 1 and rows.split()[-1] == drill["before"]["mysql_rows"]
    queues = run_on(
        "cp1",
        hosts["cp1"],
        f"{KUBECTL} -n addons exec rabbitmq-0 -- rabbitmqctl -q list_queues name durable "
        "--formatter json",
    )
    assert {"name": DRILL, "durable": True} in json.loads(queues)


def test_the_red_night_exits_8_and_names_the_pod_and_image(red_night):
    out, run, _, _ = red_night
    assert out.returncode == 8, out.stdout[-3000:] + out.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    assert report["passed"] is False
    phases = {p["name"]: p["status"] for p in report["phases"]}
    assert phases["addons"] == "failed" and phases["verify"] == "not run", phases
    message = " ".join(f["message"] for f in report["failures"])
    assert "zipkin" in message and MISSING in message, message
    assert "could not pull its image" in message, message


def test_its_diagnostics_show_the_cause(red_night):
    _, run, _, _ = red_night
    report = json.loads((run / "report.json").read_text())
    archive = report["diagnostics"]
    assert archive, "a failed rebuild makes its diagnostics by itself"
    path = Path(archive)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert archive in (run / "summary.txt").read_text()
    assert archive in (run / "junit.xml").read_text()
    with tarfile.open(path) as tar:
        files = {
            m.name: tar.extractfile(m).read().decode(errors="replace")
            for m in tar.getmembers()
            if m.isfile()
        }
    described = "".join(text for name, text in files.items() if "zipkin" in name)
    assert MISSING in described, sorted(files)
    assert "ImagePullBackOff" in described or "ErrImagePull" in described, sorted(files)
    print(f"diagnostics of the red night: {path.stat().st_size} bytes, {len(files)} files")


def test_the_summary_opens_with_the_verdict_and_what_changed_since_the_green_night(red_night):
    _, run, _, _ = red_night
    lines = (run / "summary.txt").read_text().splitlines()
    assert lines[0].startswith("FAILED: provision rebuild of t-e2e"), lines[:3]
    assert lines[1].startswith("since the last run"), lines[:3]
    assert "newly failing: phase addons" in lines[1], lines[:3]
    # the image the lab ran changed: from the bundle's archive to one it lacks
    assert "no-such-zipkin" in lines[1], lines[:3]
    assert "image provision.local/addons/zipkin 3.5.1 sha256:" in lines[1], lines[:3]
    assert lines[2] == "the last run was the last green one", lines[:3]


def test_the_webhook_got_the_verdict_and_no_secret(red_night):
    _, run, hook, _ = red_night
    assert len(hook.bodies) == 1, hook.bodies
    posted = json.loads(hook.bodies[0])
    assert posted["verdict"] == "failed"
    assert posted["failed_phases"] == ["addons"]
    assert posted["report"] == str(run)
    assert any("newly failing: phase addons" in line for line in posted["diff"])
    secrets = json.loads((lab_state() / "secrets" / "addons.json").read_text())
    text = hook.bodies[0].decode()
    for key, value in secrets.items():
        if not key.endswith("-user"):
            assert value not in text, f"the secret {key} was posted"
