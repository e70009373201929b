"""Write one rebuild's report files and append it to the history (see build.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeGuard

from provision.files import decode_json, private_dir, read_small, refuse, write_state
from provision.report.build import Report
from provision.report.chart import write_chart
from provision.report.junit import junit_xml

# A line is a few hundred bytes: tens of thousands of rebuilds.
MAX_HISTORY = 16 << 20


def write_report(report: Report, reports_dir: Path, stamp: str) -> Path:
    """The report's files in reports_dir/stamp, its line appended to the history and
    the chart drawn again; every file written whole, never through a link."""
    private_dir(reports_dir, "the reports directory")
    out = private_dir(reports_dir / stamp, "a report's directory")
    write_state(out / "report.json", json.dumps(report.as_dict(), indent=2) + "\n")
    write_state(out / "junit.xml", junit_xml(report))
    write_state(out / "summary.txt", report.summary())
    history = reports_dir / "history.jsonl"
    lines = _history_lines(history)  # first: a FIFO or a link there is refused, not read
    entry = {"report": stamp, **report.history_line()}
    lines.append((json.dumps(entry), entry))
    kept = _newest(lines, MAX_HISTORY)
    write_state(history, "".join(text + "\n" for text, _ in kept))
    write_chart([e for _, e in kept], reports_dir / "history.html")
    return out


def read_history(history: Path) -> list[dict]:
    """The earlier rebuilds, one JSON object a line, each with what the chart uses."""
    return [entry for _, entry in _history_lines(history)]


def _history_lines(history: Path) -> list[tuple[str, dict]]:
    """(line, entry) for every rebuild in the history, oldest first; [] for none."""
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
            problem = (
                f"line {number}: not a rebuild's line (report, passed, seconds, checks, "
                "checks_failed, phases)"
            )
            raise refuse(history, "the rebuild history", problem, fix)
        entries.append((line.decode("utf-8"), entry))
    return entries


def _newest(lines: list[tuple[str, dict]], max_bytes: int) -> list[tuple[str, dict]]:
    """The newest lines that fit in max_bytes (each with its newline): the history
    never grows past what read_history reads."""
    kept: list[tuple[str, dict]] = []
    size = 0
    for line in reversed(lines):
        size += len(line[0].encode("utf-8")) + 1
        if size > max_bytes:
            break
        kept.append(line)
    return kept[::-1]


def _is_entry(entry: object) -> TypeGuard[dict]:
    """What write_chart reads: report, passed, seconds, checks, checks_failed, and
    seconds by phase name."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("report"), str)
        and "passed" in entry
        and all(_number(entry.get(k)) for k in ("seconds", "checks", "checks_failed"))
        and isinstance(entry.get("phases"), dict)
        and all(_number(s) for s in entry["phases"].values())
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
