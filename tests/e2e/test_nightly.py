"""A red night, for real, on the suite's lab (last in the e2e run: it leaves the lab
half made; the session destroys it). test_up.py's `rebuild --restore-drill` was the
green night before. Tonight Zipkin's image is one no registry has (a registry on the
node's own loopback where nothing listens: nothing leaves the lab), and `provision
rebuild --notify` runs unattended: it must exit 8 in bounded time, its add-ons wait
must name the pod and image instead of waiting out its timeout, the diagnostics it
made by itself must show the cause, the summary must open with the verdict and what
changed since the green night, and the test's webhook must receive the post."""

from __future__ import annotations

import json
import stat
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import provision
from tests.e2e.conftest import LAB
from tests.integration.conftest import lab_state
from tests.unit.test_notify import Webhook

pytestmark = pytest.mark.e2e
MISSING = "127.0.0.1:9/provision/no-such-zipkin:0"


@pytest.fixture(scope="module")
def red_night(monkeypatch_module):
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                  "ALL_PROXY", "no_proxy", "NO_PROXY"):  # fmt: skip
        monkeypatch_module.delenv(proxy, raising=False)
    reports = lab_state() / "reports"
    before = {p.name for p in reports.iterdir() if p.is_dir()} if reports.is_dir() else set()
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
    (run,) = [p for p in reports.iterdir() if p.is_dir() and p.name not in before]
    return out, run, hook, seconds


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


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
