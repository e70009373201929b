"""A rebuild's report: JSON, JUnit XML, summary, history and chart."""

import json
from xml.etree import ElementTree as ET

from provision.report.build import FailureReport, PhaseReport, Report
from provision.report.write import write_report
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


def test_json_summary_history_and_chart(tmp_path):
    write_report(report(), tmp_path, "run-1")
    out = write_report(report(passed=False), tmp_path, "run-2")
    data = json.loads((out / "report.json").read_text())
    assert data["passed"] is False
    assert data["versions"] == {"kubernetes": "1.35.4"}
    assert [p["name"] for p in data["phases"]] == ["machines", "prepare", "join"]
    summary = (out / "summary.txt").read_text()
    assert "FAILED" in summary and "host w1, task 'Join the cluster': boom" in summary
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [(h["report"], h["passed"]) for h in history] == [("run-1", True), ("run-2", False)]
    chart = (tmp_path / "history.html").read_text()
    assert chart.count("<circle") == 2 and "#2e7d32" in chart and "#c62828" in chart
    assert "run-2: join 20.0 s" in chart
