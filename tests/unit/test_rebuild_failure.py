"""`provision rebuild` when the rebuild fails: exit 8, and a report that names the
phase that failed. The failure is real: existing hosts on a port of this machine where
nothing listens, so the machines phase cannot reach them."""

from __future__ import annotations

import json
import socket

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
