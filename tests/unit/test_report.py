"""A rebuild's report: JSON, JUnit XML, summary, history and chart (drawn by a real
headless Chromium), and the pruning of old reports and diagnostics archives."""

import json
import os
import re
import shutil
import subprocess
import time
from xml.etree import ElementTree as ET

import pytest

from provision.report.build import FailureReport, PhaseReport, Report
from provision.report.write import Pruned, prune, write_report
from provision.verify.run import Result


def report(passed: bool = True) -> Report:
    phases = [
        PhaseReport("machines", "done", "t0", "t1", 14.6),
        PhaseReport("prepare", "done", "t1", "t2", 30.0),
        PhaseReport("join", "done" if passed else "failed", "t2", "t3", 20.0,
                    "" if passed else "playbook join.yml failed (rc 2)"),
    ]  # fmt: skip
    checks = [
        Result("mysql", "create, insert, select", "passed", "ok", 0.2),
        Result("elk", "manifests (validate only)", "validated", "12 objects", 0.4),
    ]
    failures = [] if passed else [FailureReport("join.yml", "w1", "Join the cluster", "boom")]
    return Report("lab", "inventories/lab/cluster.yml", "2026-11-23T18:00:00+00:00",
                  "2026-11-23T18:06:00+00:00", 360.0, {"kubernetes": "1.35.4"},
                  phases, checks, failures)  # fmt: skip


def test_passed_only_when_every_phase_and_check_passed():
    assert report().passed
    assert not report(passed=False).passed
    failing_check = report()
    failing_check.checks.append(Result("zipkin", "span", "failed", "no trace", 10.0))
    assert not failing_check.passed


def test_junit_has_a_case_per_phase_and_check(tmp_path):
    out = write_report(report(passed=False), tmp_path, "20261123T180000Z")
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.tag == "testsuite"
    assert suite.get("tests") == "5" and suite.get("failures") == "1"
    failed = [c.get("name") for c in suite if c.find("failure") is not None]
    assert failed == ["join"]
    assert suite.find("properties") is None  # no diagnostics: nothing to name


def test_json_summary_history_and_chart(tmp_path):
    write_report(report(), tmp_path, "run-1")
    out = write_report(report(passed=False), tmp_path, "run-2")
    data = json.loads((out / "report.json").read_text())
    assert data["passed"] is False
    assert data["versions"] == {"kubernetes": "1.35.4"}
    assert [p["name"] for p in data["phases"]] == ["machines", "prepare", "join"]
    assert data["diagnostics"] is None and data["images"] == {}
    summary = (out / "summary.txt").read_text()
    assert summary.startswith("FAILED: provision rebuild of lab")
    assert "host w1, task 'Join the cluster': boom" in summary
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [(h["report"], h["passed"]) for h in history] == [("run-1", True), ("run-2", False)]
    assert history[-1]["checks_passed"] == 1 and history[-1]["checks_validated"] == 1
    chart = (tmp_path / "history.html").read_text()
    assert chart.count('fill="#2e7d32"><title>') == 1  # the strip: one passed run
    assert chart.count('fill="#c62828"><title>') == 1  # and one failed
    assert "2026-11-23 18:00: join 20.0 s" in chart


def test_the_diagnostics_archive_is_named_by_every_file(tmp_path):
    failed = report(passed=False)
    failed.diagnostics = str(tmp_path / "diagnostics" / "diagnostics-20261123T180000Z.tar.gz")
    out = write_report(failed, tmp_path, "20261123T180000Z")
    assert json.loads((out / "report.json").read_text())["diagnostics"] == failed.diagnostics
    assert f"diagnostics: {failed.diagnostics}\n" in (out / "summary.txt").read_text()
    suite = ET.parse(out / "junit.xml").getroot()
    (prop,) = suite.iter("property")
    assert (prop.get("name"), prop.get("value")) == ("diagnostics", failed.diagnostics)
    assert suite.find("system-out").text == f"diagnostics: {failed.diagnostics}"
    assert suite.get("tests") == "5"  # the archive is no test case


def test_the_chart_never_counts_a_validated_only_part_as_passed(tmp_path):
    run = report()
    run.checks += [Result("elk", f"part {i} (validate only)", "validated", "", 0.1)
                   for i in range(2)]  # fmt: skip
    write_report(run, tmp_path, "20261123T180000Z")
    chart = (tmp_path / "history.html").read_text()
    assert "1 passed, 3 validated only, 0 failed" in chart
    # a line written before the split was recorded says what it knows
    line = {"report": "old", "passed": True, "seconds": 1, "checks": 11, "checks_failed": 1,
            "phases": {}}  # fmt: skip
    (tmp_path / "history.jsonl").write_text(json.dumps(line) + "\n")
    write_report(run, tmp_path, "20261124T180000Z")
    assert "10 passed or validated, 1 failed" in (tmp_path / "history.html").read_text()


def test_the_drills_stages_have_colours_of_their_own(tmp_path):
    run = report()
    run.phases += [PhaseReport(f"drill-{s}", "done", seconds=5.0)
                   for s in ("markers", "backup", "restore", "compare")]  # fmt: skip
    write_report(run, tmp_path, "20261123T180000Z")
    chart = (tmp_path / "history.html").read_text()
    fills = {}
    for phase in ("machines", "prepare", "join", "drill-markers", "drill-backup",
                  "drill-restore", "drill-compare"):  # fmt: skip
        (fill,) = set(re.findall(rf': {phase} [\d.]+ s</title><rect [^>]* fill="(#\w+)"', chart))
        fills[phase] = fill
    assert len(set(fills.values())) == len(fills), fills
    # the legend names each, in a group of its own, the drill's hatched
    assert ">lab phases</text>" in chart and ">drill</text>" in chart
    assert all(f">{phase}</text>" in chart for phase in fills)
    assert chart.count('fill="url(#hatch)"') == 4 + 4  # bars and legend swatches


def chromium() -> str:
    """The headless browser (scripts/host-setup-tests installs Debian's)."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.skip("no chromium: run scripts/host-setup-tests")
    return path


def test_the_history_renders_in_a_real_browser(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    runs = []
    for day in (20, 21, 22):
        run = report(passed=day != 21)
        run.started = f"2026-11-{day}T02:30:00+00:00"
        run.phases.append(PhaseReport("drill-restore", "done", seconds=12.0))
        name = f"202611{day}T023000.000000Z"
        write_report(run, reports, name)
        runs.append((f"2026-11-{day}", name))
    started = time.monotonic()
    out = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         (reports / "history.html").as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    print(f"chromium --dump-dom: {time.monotonic() - started:.1f} s")
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert "<svg" in dom and "</table>" in dom, dom[:500]
    for date, name in runs:
        assert date in dom, date
        assert f'href="{name}/summary.txt"' in dom and f'href="{name}/report.json"' in dom
    assert dom.count('fill="#c62828"><title>') == 1  # one failed run on the strip
    assert "duration (s)" in dom and "run started (UTC)" in dom
    assert "1 passed, 1 validated only, 0 failed" in dom
    assert "://" not in dom.replace("http://www.w3.org/2000/svg", "")  # no external asset


def stamp(day: int) -> str:
    return f"202611{day:02d}T020000.000000Z"


def test_prune_keeps_the_newest_reports_and_archives_and_nothing_else(tmp_path):
    reports, diagnostics = tmp_path / "reports", tmp_path / "diagnostics"
    for day in range(1, 6):
        write_report(report(), reports, stamp(day))
    # not provision's: kept whatever their age
    (reports / "notes.txt").write_text("mine\n")
    (reports / "20261101T000000Z-copy").mkdir()
    foreign = reports / stamp(0)
    foreign.mkdir()
    (foreign / "report.json").write_text("{}")
    (foreign / "my-notes.txt").write_text("mine\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "report.json").write_text("keep me\n")
    (reports / "20261031T000000Z").symlink_to(elsewhere)
    (reports / stamp(2) / "summary.txt").unlink()
    (reports / stamp(2) / "summary.txt").symlink_to(elsewhere / "report.json")
    diagnostics.mkdir()
    for i in range(4):
        archive = diagnostics / f"diagnostics-{stamp(i)}.tar.gz"
        archive.write_bytes(b"x")
        os.utime(archive, (1_000_000 + i, 1_000_000 + i))
    (diagnostics / "diagnostics-notes.txt").write_text("mine\n")
    (diagnostics / "diagnostics-link.tar.gz").symlink_to(elsewhere / "report.json")

    said = prune(reports, diagnostics, keep=2)

    left = sorted(p.name for p in reports.iterdir())
    assert left == sorted([
        "20261031T000000Z", "20261101T000000Z-copy", stamp(0), stamp(2), stamp(4), stamp(5),
        "history.html", "history.jsonl", "notes.txt",
    ])  # fmt: skip
    assert (foreign / "my-notes.txt").exists() and (reports / stamp(2) / "summary.txt").is_symlink()
    assert (elsewhere / "report.json").read_text() == "keep me\n"
    assert sorted(p.name for p in diagnostics.iterdir()) == [
        "diagnostics-20261102T020000.000000Z.tar.gz",
        "diagnostics-20261103T020000.000000Z.tar.gz",
        "diagnostics-link.tar.gz",
        "diagnostics-notes.txt",
    ]
    assert sorted(said.removed) == [
        diagnostics / "diagnostics-20261100T020000.000000Z.tar.gz",
        diagnostics / "diagnostics-20261101T020000.000000Z.tar.gz",
        reports / stamp(1),
        reports / stamp(3),
    ]
    assert sorted(said.left) == [
        f"{foreign}: it holds my-notes.txt, which provision did not make",
        f"{reports / stamp(2)}: it holds summary.txt, which provision did not make",
    ]


def test_prune_follows_no_linked_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_report(report(), elsewhere, stamp(1))
    write_report(report(), elsewhere, stamp(2))
    archive = tmp_path / "archives" / f"diagnostics-{stamp(1)}.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"x")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "reports").symlink_to(elsewhere)
    (tmp_path / "state" / "diagnostics").symlink_to(archive.parent)
    assert prune(tmp_path / "state" / "reports", tmp_path / "state" / "diagnostics", 1) == Pruned()
    assert (elsewhere / stamp(1) / "report.json").exists() and archive.exists()
    assert prune(tmp_path / "none", tmp_path / "none", 1) == Pruned()  # nothing made yet


def test_the_name_of_a_rebuilds_report_is_one_prune_recognises(tmp_path):
    from provision.report.write import REPORT_DIR
    from provision.runlog import RunLog

    log = RunLog(tmp_path, "rebuild")  # the rebuild's report is named after its run
    assert REPORT_DIR.fullmatch(log.dir.name.removesuffix("-rebuild")), log.dir.name
    assert not REPORT_DIR.fullmatch(log.dir.name) and not REPORT_DIR.fullmatch("run-1")
