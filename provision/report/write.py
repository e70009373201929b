"""Write one rebuild's report files and append it to the history (see build.py)."""

from __future__ import annotations

import json
from pathlib import Path

from provision.report.build import Report
from provision.report.chart import write_chart
from provision.report.junit import junit_xml


def write_report(report: Report, reports_dir: Path, stamp: str) -> Path:
    out = reports_dir / stamp
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    (out / "junit.xml").write_text(junit_xml(report))
    (out / "summary.txt").write_text(report.summary())
    history = reports_dir / "history.jsonl"
    with history.open("a") as f:
        f.write(json.dumps({"report": stamp, **report.history_line()}) + "\n")
    entries = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    write_chart(entries, reports_dir / "history.html")
    return out
