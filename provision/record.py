"""The one resumable record: which steps of a command ran and how each ended, as
one readable JSON mapping in the lab's state dir, saved by the careful writer
after every change. Each step's entry:

    {"status": "done", "started": "...", "ended": "...", "seconds": 14.6}
    {"status": "failed", ..., "error": "playbook prepare.yml failed"}

`up` keeps its phases in phases.json (provision/phase_state.py); an operation that
must finish once begun (a restore, a control plane made again from a backup) keeps
its stages in operation.json (provision/backup/stages.py). Both run their steps
through `Record.run_step`, the one runner: it says what starts and how long it
took, and records `running`, then `done` or `failed` with the error's first line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TypeGuard

from provision.files import write_state
from provision.runlog import RunLog

ERROR_CHARS = 300


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def first_line(error: BaseException | str) -> str:
    """What a record keeps of an error: its first line, cut."""
    text = error if isinstance(error, str) else str(error) or type(error).__name__
    return (text.splitlines() or [""])[0][:ERROR_CHARS]


def entries_ok(entries: object) -> bool:
    """Entries in the shape save() writes: a mapping of mappings whose seconds,
    when present, are a number."""
    return isinstance(entries, dict) and all(
        isinstance(e, dict)
        and isinstance(e.get("seconds", 0.0), int | float)
        and not isinstance(e.get("seconds"), bool)
        and all(isinstance(e.get(k, ""), str) for k in ("status", "started", "ended", "error"))
        for e in entries.values()
    )


@dataclass
class Entry:
    """One step as the record holds it (`not run` when it holds none); a rebuild's
    report lists its phases in this shape (report.build.PhaseReport)."""

    name: str
    status: str = "not run"  # done | failed | running | not run
    started: str = ""
    ended: str = ""
    seconds: float = 0.0
    error: str = ""


@dataclass
class Record:
    """A record's steps; subclasses name the file and what else it keeps."""

    KEY: ClassVar[str] = "steps"  # the mapping's name in the file

    path: Path
    run: str = ""
    entries: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def shape_ok(cls, data: object, *text_fields: str) -> TypeGuard[dict]:
        """A record in the shape save() writes: `run` and `text_fields` strings, the
        entries under KEY as entries_ok() wants them."""
        return (
            isinstance(data, dict)
            and all(isinstance(data.get(k, ""), str) for k in ("run", *text_fields))
            and entries_ok(data.get(cls.KEY, {}))
        )

    def done(self, name: str) -> bool:
        return self.entries.get(name, {}).get("status") == "done"

    def all_done(self, names: tuple[str, ...] | list[str]) -> bool:
        return all(self.done(n) for n in names)

    def entry(self, name: str) -> Entry:
        e = self.entries.get(name, {})
        return Entry(
            name,
            e.get("status", "not run"),
            e.get("started", ""),
            e.get("ended", ""),
            e.get("seconds", 0.0),
            e.get("error", ""),
        )

    def timings(self) -> list[tuple[str, float]]:
        return [(n, e.get("seconds", 0.0)) for n, e in self.entries.items()]

    def started(self, name: str) -> None:
        self.entries[name] = {"status": "running", "started": now()}
        self.save()

    def finished(self, name: str, seconds: float, error: BaseException | str | None = None) -> None:
        entry = self.entries.setdefault(name, {"started": now()})
        entry.update(status="failed" if error else "done", ended=now(), seconds=round(seconds, 1))
        if error is not None:
            entry["error"] = first_line(error)
        self.save()

    def run_step(self, name: str, fn: Callable[[], object], log: RunLog, label: str) -> float:
        """Run one step, recorded and announced; its seconds."""
        start = log.elapsed()
        log.say(f"==> {label}", style="bold")
        self.started(name)
        try:
            fn()
        except BaseException as e:
            self.finished(name, log.elapsed() - start, e)
            raise
        took = log.elapsed() - start
        self.finished(name, took)
        log.say(f"<== {label} done in {took:.1f} s", style="green")
        return took

    def fields(self) -> dict:
        """What the file holds besides the run and the entries."""
        return {}

    def save(self) -> None:
        data = {**self.fields(), "run": self.run, self.KEY: self.entries}
        write_state(self.path, json.dumps(data, indent=2) + "\n")
