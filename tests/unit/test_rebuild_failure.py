"""`provision rebuild` when the rebuild fails: exit 8, and a report that names the
phase that failed. The failure is real: existing hosts on a port of this machine where
nothing listens, so the machines phase cannot reach them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from click.testing import CliRunner

from provision.cli import cli
from provision.errors import RebuildFailed
from provision.project import resolve_inventory
from tests.conftest import as_existing_hosts

HOST = socket.gethostname()  # this machine, by a name the config accepts


def closed_port() -> int:
    with socket.socket() as s:
        s.bind((socket.gethostbyname(HOST), 0))
        return s.getsockname()[1]  # closed again when the block ends


def test_a_failed_rebuild_exits_8_with_a_report_naming_the_phase(
    lab, write_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    as_existing_hosts(lab, tmp_path, HOST, closed_port())
    path = write_config(lab)
    result = CliRunner().invoke(cli, ["rebuild", "-i", str(path)])
    assert result.exit_code == RebuildFailed.exit_code == 8, result.output
    assert "rebuild failed; see" in result.output
    reports = resolve_inventory(str(path)).state_dir / "reports"
    (out,) = [p for p in reports.iterdir() if p.is_dir()]
    report = json.loads((out / "report.json").read_text())
    phases = {p["name"]: p["status"] for p in report["phases"]}
    assert phases["machines"] == "failed"
    assert all(phases[p] == "not run" for p in ("prepare", "verify"))
    assert report["failures"] and "cp1: unreachable" in report["failures"][0]["message"]
    assert "failed" in (out / "summary.txt").read_text()
    assert "<failure" in (out / "junit.xml").read_text()
    history = (reports / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and json.loads(history[0])["passed"] is False


def failing_lab(lab, write_config, tmp_path, monkeypatch):
    """(cluster.yml, reports dir) of a lab whose rebuild fails in its machines phase."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    as_existing_hosts(lab, tmp_path, HOST, closed_port())
    path = write_config(lab)
    return path, resolve_inventory(str(path)).state_dir


def test_the_next_failed_rebuild_opens_with_its_verdict_and_what_changed(
    lab, write_config, tmp_path, monkeypatch
):
    path, state = failing_lab(lab, write_config, tmp_path, monkeypatch)
    for _ in range(2):
        result = CliRunner().invoke(cli, ["rebuild", "-i", str(path)])
        assert result.exit_code == 8, result.output
    first, second = sorted(p for p in (state / "reports").iterdir() if p.is_dir())
    report = json.loads((second / "report.json").read_text())
    assert report["compare"]["previous"]["against"] == first.name
    # digests when this machine has a bundle for the lab (its manifest lists them)
    assert bool(report["images"]) == report["images_from"].startswith("sha256 of each image")
    what = "versions and image digests" if report["images"] else "versions only"
    lines = (second / "summary.txt").read_text().splitlines()
    assert lines[0].startswith("FAILED: provision rebuild of lab")
    assert lines[1] == f"no change since the last run ({first.name}, FAILED; compared {what})"
    assert lines[2] == "no earlier green run to compare with"
    assert lines[1] in result.output  # the summary is printed too


def test_keep_reports_removes_older_reports_and_archives_only(
    lab, write_config, tmp_path, monkeypatch
):
    import os

    path, state = failing_lab(lab, write_config, tmp_path, monkeypatch)
    diagnostics = state / "diagnostics"
    diagnostics.mkdir(parents=True)
    for i in range(3):
        archive = diagnostics / f"diagnostics-2026112{i}T000000Z.tar.gz"
        archive.write_bytes(b"x")
        os.utime(archive, (1_000_000 + i, 1_000_000 + i))
    (diagnostics / "keep-me.txt").write_text("mine\n")
    for keep in ("3", "3", "1"):
        result = CliRunner().invoke(cli, ["rebuild", "-i", str(path), "--keep-reports", keep])
        assert result.exit_code == 8, result.output
    reports = [p for p in (state / "reports").iterdir() if p.is_dir()]
    assert len(reports) == 1
    # the failed rebuilds ran `diagnose` by themselves: the newest archive is the
    # last one's, named by its report; the older ones went, the foreign file stays
    report = json.loads((reports[0] / "report.json").read_text())
    newest = Path(report["diagnostics"])
    assert newest.parent == diagnostics and newest.name.startswith("diagnostics-")
    assert sorted(p.name for p in diagnostics.iterdir()) == sorted([newest.name, "keep-me.txt"])
    history = (state / "reports" / "history.jsonl").read_text().splitlines()
    assert len(history) == 3  # the history keeps every run; the chart says which are gone
    assert (state / "reports" / "history.html").read_text().count("(removed)") == 2


def test_the_result_is_posted_and_a_failed_post_changes_no_exit_code(
    lab, write_config, tmp_path, monkeypatch
):
    from tests.unit.test_notify import Webhook

    path, state = failing_lab(lab, write_config, tmp_path, monkeypatch)
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    hook = Webhook([])
    try:
        result = CliRunner().invoke(cli, ["rebuild", "-i", str(path), "--notify", hook.url])
    finally:
        hook.close()
    assert result.exit_code == 8, result.output
    (posted,) = [json.loads(b) for b in hook.bodies]
    (out,) = [p for p in (state / "reports").iterdir() if p.is_dir()]
    assert posted["verdict"] == "failed" and posted["failed_phases"] == ["machines"]
    assert posted["report"] == str(out)
    # the failed rebuild ran `diagnose` by itself: the post names its archive
    assert posted["diagnostics"] == json.loads((out / "report.json").read_text())["diagnostics"]
    assert Path(posted["diagnostics"]).is_file()
    assert posted["diff"] == ["first run: nothing to compare with"]
    assert "cp1: unreachable" in posted["failures"][0]["message"]
    assert "notify: posted to http://127.0.0.1:" in result.output
    # a webhook that is down: said, and the verdict and exit code stand
    hook = Webhook([500, 500, 500])
    try:
        result = CliRunner().invoke(cli, ["rebuild", "-i", str(path), "--notify", hook.url])
    finally:
        hook.close()
    assert result.exit_code == 8, result.output
    assert len(hook.bodies) == 3
    assert "(HTTP 500); the rebuild's result stands" in result.output
    assert "T0K3N" not in result.output  # the webhook's path is never printed
