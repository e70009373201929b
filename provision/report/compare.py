"""The nights before: this rebuild against the previous run and the last green one
(versions, image digests, phases and checks newly failing or fixed), and each phase's
seconds against its median over the last runs.

Earlier runs are found through history.jsonl (their order, verdict and phase times)
and read from their report.json by the careful reader (provision/files.py). A report
that is gone or damaged is skipped with a note in the comparison, never an error: a
nightly report is written whatever the nights before left.
"""

from __future__ import annotations

import os
import re
import stat
import statistics
from pathlib import Path

from provision.errors import ProvisionError
from provision.files import read_json
from provision.report.build import Change, Comparison, Diff, PhaseTime, first_line
from provision.report.write import read_history

# A phase is slow when it took more than SLOW_FACTOR times its median over the last
# MEDIAN_RUNS runs (of at least MIN_RUNS) and more than SLOW_SECONDS.
MEDIAN_RUNS = 10
MIN_RUNS = 3
SLOW_FACTOR = 1.5
SLOW_SECONDS = 30.0
# How far back the history is searched for a green run, and how many unreadable
# reports end the search (reports beyond --keep-reports are gone: older ones too).
LOOK_BACK = 400
MAX_SKIPPED = 3
MAX_REPORT = 16 << 20
# What a report directory's name may be (the run's UTC time); a history line naming
# anything else (a path, `..`) is not followed.
REPORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def compare(now: dict, reports_dir: Path, name: str) -> Comparison:
    """This run's report (`now`, Report.as_dict(); its directory `name`) against the
    runs before it in reports_dir."""
    notes: list[str] = []
    try:
        entries = read_history(reports_dir / "history.jsonl")
    except ProvisionError as e:
        return Comparison(None, None, notes=[f"nothing compared: {first_line(str(e))}"], earlier=-1)
    earlier = [e for e in entries if e["report"] != name]
    previous: Diff | None = None
    green: Diff | None = None
    skipped = 0
    for entry in reversed(earlier[-LOOK_BACK:]):
        if previous is not None and (green is not None or skipped >= MAX_SKIPPED):
            break
        if previous is not None and entry["passed"] is not True:
            continue  # only a green run is still looked for
        old = read_report(reports_dir, entry["report"], notes)
        if old is None:
            skipped += 1
            continue
        diff = _diff(now, old, entry["report"])
        if previous is None:
            previous = diff
        if green is None and old["passed"] is True:
            green = diff
    return Comparison(
        previous,
        green,
        _phase_times(now, earlier[-MEDIAN_RUNS:]),
        images_compared=previous is not None and previous.images is not None,
        notes=notes,
        earlier=len(earlier),
    )


def read_report(reports_dir: Path, name: str, notes: list[str]) -> dict | None:
    """An earlier run's report.json, or None with a note saying why it is skipped."""
    if not REPORT_NAME.fullmatch(name):
        notes.append(f"skipped a history line naming {name[:60]!r}: not a report's name")
        return None
    directory = reports_dir / name
    try:
        if not stat.S_ISDIR(os.lstat(directory).st_mode):
            notes.append(f"skipped {name}: {directory} is not a directory (links are not followed)")
            return None
    except FileNotFoundError:
        notes.append(f"skipped {name}: its report is gone (older reports are removed)")
        return None
    except OSError as e:
        notes.append(f"skipped {name}: cannot inspect {directory} ({e.strerror})")
        return None
    try:
        data = read_json(
            directory / "report.json", "an earlier rebuild's report", max_bytes=MAX_REPORT
        )
    except ProvisionError as e:
        notes.append(f"skipped {name}: {first_line(str(e))}")
        return None
    if data is None:
        notes.append(f"skipped {name}: it has no report.json")
        return None
    if not _is_report(data):
        notes.append(
            f"skipped {name}: its report.json is not a rebuild's report "
            "(passed, started, versions, phases, checks)"
        )
        return None
    return data


def _is_report(data: dict) -> bool:
    """What the comparison reads, each of the type it expects."""

    def rows(key: str, fields: tuple[str, ...]) -> bool:
        value = data.get(key)
        return isinstance(value, list) and all(
            isinstance(r, dict) and all(isinstance(r.get(f), str) for f in fields) for r in value
        )

    drill = data.get("drill")
    return (
        isinstance(data.get("passed"), bool)
        and isinstance(data.get("started"), str)
        and _strings(data.get("versions"))
        and _strings(data.get("images", {}))
        and rows("phases", ("name", "status"))
        and rows("checks", ("addon", "check", "status"))
        and (drill is None or (isinstance(drill, dict) and isinstance(drill.get("passed"), bool)))
    )


def _strings(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _diff(now: dict, old: dict, name: str) -> Diff:
    images = None
    if now.get("images") and old.get("images"):
        images = _changes(_by_repository(old["images"]), _by_repository(now["images"]))
    before, after = _outcomes(old), _outcomes(now)
    return Diff(
        against=name,
        started=old["started"],
        passed=old["passed"],
        versions=_changes(old["versions"], now["versions"]),
        images=images,
        newly_failing=[k for k, failed in after.items() if failed and not before.get(k)],
        fixed=[k for k, failed in before.items() if failed and after.get(k) is False],
    )


def _changes(before: dict[str, str], now: dict[str, str]) -> list[Change]:
    return [
        Change(k, before.get(k), now.get(k))
        for k in sorted(before.keys() | now.keys())
        if before.get(k) != now.get(k)
    ]


def _by_repository(images: dict[str, str]) -> dict[str, str]:
    """{repository: "tag sha256:<12 hex>"}: a new tag of an image is one change, not a
    removed image and an added one."""
    found = {}
    for ref, digest in images.items():
        repository, _, tag = ref.rpartition(":")
        if not repository or "/" in tag:  # no tag: the whole reference is the name
            repository, tag = ref, ""
        found[repository] = f"{tag} {digest[:19]}".strip()
    return found


def _outcomes(report: dict) -> dict[str, bool]:
    """What passed or failed in a run, by name -> failed: phases that ran, every
    check, the restore drill."""
    found = {
        f"phase {p['name']}": p["status"] == "failed"
        for p in report["phases"]
        if p["status"] in ("done", "failed")
    }
    found.update(
        (f"check {c['addon']}: {c['check']}", c["status"] == "failed") for c in report["checks"]
    )
    if report.get("drill") is not None:
        found["restore drill"] = not report["drill"]["passed"]
    return found


def _phase_times(now: dict, entries: list[dict]) -> list[PhaseTime]:
    """Each phase that ran, against its median over `entries` (the history's lines of
    the last runs) where those runs ran it."""
    times = []
    for p in now["phases"]:
        if p["status"] != "done":
            continue
        samples = [e["phases"][p["name"]] for e in entries if e["phases"].get(p["name"], 0) > 0]
        median = statistics.median(samples) if len(samples) >= MIN_RUNS else None
        slow = (
            median is not None
            and p["seconds"] > SLOW_FACTOR * median
            and p["seconds"] > SLOW_SECONDS
        )
        times.append(PhaseTime(p["name"], p["seconds"], median, len(samples), slow))
    return times
