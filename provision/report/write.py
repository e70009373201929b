"""Write one rebuild's report files and append it to the history (see build.py);
keep the newest reports and diagnostics archives, remove older ones."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from provision.files import decode_json, private_dir, read_small, refuse, write_state
from provision.report.build import Report
from provision.report.chart import write_chart
from provision.report.junit import junit_xml

# A line is a few hundred bytes: tens of thousands of rebuilds.
MAX_HISTORY = 16 << 20
# How many reports (and diagnostics archives) a rebuild keeps by default.
KEEP_REPORTS = 30
# What provision names the things it removes, and nothing else is removed: a report's
# directory is the run's UTC time (runlog.py) and holds these files (and the
# temporary file of each, left by a killed write); diagnostics-*.tar.gz archives.
REPORT_DIR = re.compile(r"\d{8}T\d{6}(\.\d{1,9})?Z")
REPORT_FILES = frozenset(
    name for made in ("report.json", "junit.xml", "summary.txt") for name in (made, f".{made}.tmp")
)
DIAGNOSTICS_ARCHIVE = re.compile(r"diagnostics-[A-Za-z0-9._-]+\.tar\.gz")


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
    seconds by phase name; started, checks_passed and checks_validated when there
    (older lines lack them)."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("report"), str)
        and "passed" in entry
        and all(_number(entry.get(k)) for k in ("seconds", "checks", "checks_failed"))
        and all(_number(entry.get(k, 0)) for k in ("checks_passed", "checks_validated"))
        and isinstance(entry.get("started", ""), str)
        and isinstance(entry.get("phases"), dict)
        and all(_number(s) for s in entry["phases"].values())
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class Pruned:
    removed: list[Path] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # "<path>: why it was left"


def prune(reports_dir: Path, diagnostics_dir: Path, keep: int = KEEP_REPORTS) -> Pruned:
    """Remove the reports beyond the newest `keep` (by name: the run's time) and the
    diagnostics archives beyond the newest `keep` (by modification time); what was
    removed, and what was left and why. The chart is drawn again when a report went
    (its link with it).

    Only what provision makes is removed: entries named as it names them, a report
    directory only when it holds nothing but its files; every step inside a directory
    opened without following a link, so a link planted anywhere is never followed."""
    done = Pruned()
    with _opened(reports_dir) as fd:
        if fd is not None:
            names = sorted(
                n
                for n in os.listdir(fd)
                if REPORT_DIR.fullmatch(n) and stat.S_ISDIR(getattr(_lstat(fd, n), "st_mode", 0))
            )
            for name in names[: max(0, len(names) - keep)]:
                why = _remove_report(fd, name)
                if why:
                    done.left.append(f"{reports_dir / name}: {why}")
                else:
                    done.removed.append(reports_dir / name)
    if done.removed:
        # the chart links each run to its report: drawn again, a removed one unlinked
        write_chart(read_history(reports_dir / "history.jsonl"), reports_dir / "history.html")
    with _opened(diagnostics_dir) as fd:
        if fd is not None:
            archives = []
            for name in os.listdir(fd):
                info = _lstat(fd, name) if DIAGNOSTICS_ARCHIVE.fullmatch(name) else None
                if info is not None and stat.S_ISREG(info.st_mode):
                    archives.append((info.st_mtime_ns, name))
            for _, name in sorted(archives, reverse=True)[keep:]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=fd)
                done.removed.append(diagnostics_dir / name)
    return done


@contextlib.contextmanager
def _opened(directory: Path):
    """A directory's descriptor (None when there is none, or it is a link or no
    directory: nothing of provision's to remove there)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _report_file(dir_fd: int, name: str) -> bool:
    """A file a report's directory holds when provision wrote it: one of its names, a
    regular file (gone already counts: nothing to remove)."""
    info = _lstat(dir_fd, name)
    return name in REPORT_FILES and (info is None or stat.S_ISREG(info.st_mode))


def _remove_report(reports_fd: int, name: str) -> str:
    """Remove one report directory if it holds only a report's files; "" when it
    was removed, else why it was left."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=reports_fd
        )
    except OSError as e:  # replaced by a link since it was listed
        return e.strerror or "cannot open it"
    try:
        entries = os.listdir(fd)
        foreign = sorted(e for e in entries if not _report_file(fd, e))
        if foreign:
            return f"it holds {', '.join(foreign[:3])}, which provision did not make"
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=fd)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=reports_fd)
    except OSError as e:
        return e.strerror or "cannot remove it"
    return ""
