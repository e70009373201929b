"""Write one rebuild's report files and append it to the history (see build.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeGuard

from provision.files import decode_json, read_small, refuse
from provision.report.build import Report
from provision.report.chart import write_chart
from provision.report.junit import junit_xml

# A line is a few hundred bytes: tens of thousands of rebuilds.
MAX_HISTORY = 16 << 20


def write_report(report: Report, reports_dir: Path, stamp: str) -> Path:
    out = reports_dir / stamp
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    (out / "junit.xml").write_text(junit_xml(report))
    (out / "summary.txt").write_text(report.summary())
    history = reports_dir / "history.jsonl"
    entries = read_history(history)  # first: a FIFO or a link there is refused, not appended to
    line = json.dumps({"report": stamp, **report.history_line()})
    with history.open("a") as f:
        f.write(line + "\n")
    write_chart([*entries, json.loads(line)], reports_dir / "history.html")
    return out


def read_history(history: Path) -> list[dict]:
    """The earlier rebuilds, one JSON object a line, each with what the chart uses."""
    fix = f"move it away (`mv {history} {history}.old`): the next rebuild starts a new one"
    raw = read_small(history, "the rebuild history", fix, max_bytes=MAX_HISTORY)
    entries = []
    for number, line in enumerate((raw or b"").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = decode_json(line)
        except ValueError as e:
            raise refuse(history, "the rebuild history", f"line {number}: {e}", fix) from None
        if not _is_entry(entry):
            problem = f"line {number}: not a rebuild's line (report, passed, phases)"
            raise refuse(history, "the rebuild history", problem, fix)
        entries.append(entry)
    return entries


def _is_entry(entry: object) -> TypeGuard[dict]:
    """What write_chart reads: report, passed, and seconds by phase name."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("report"), str)
        and "passed" in entry
        and isinstance(entry.get("phases"), dict)
        and all(
            isinstance(s, int | float) and not isinstance(s, bool) for s in entry["phases"].values()
        )
    )
