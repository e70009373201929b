"""The record of an operation that must finish once begun (a restore, a control
plane remade from a backup), as one readable mapping in <state>/operation.json:

    {"operation": "restore", "archive": "/…/backup-lab-….tar.gz",
     "run": "20261129T…-restore",
     "stages": {"etcd": {"status": "done", "seconds": 41.2},
                "kubelets": {"status": "failed", "seconds": 3.0, "error": "…"}}}

A killed or failed operation leaves its record; running the same operation again
resumes it at the first stage not done, with the same archive (a control plane
is never backed up again half-made). Another operation is refused until the
recorded one is finished. The record is removed when the last stage is done.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from provision.errors import UsageError
from provision.files import read_record, refuse, write_state
from provision.runlog import RunLog

FILE = "operation.json"
WHAT = "the record of an unfinished operation"


def _is_record(data: object) -> TypeGuard[dict]:
    """The shape save() writes (the fields begin, done and timings use)."""
    if not isinstance(data, dict):
        return False
    stages = data.get("stages", {})
    return (
        all(isinstance(data.get(k, ""), str) for k in ("operation", "archive", "run"))
        and isinstance(stages, dict)
        and all(
            isinstance(s, dict)
            and isinstance(s.get("seconds", 0.0), int | float)
            and not isinstance(s.get("seconds"), bool)
            for s in stages.values()
        )
    )


class UnfinishedOperation(UsageError):
    """Another operation's record is in place: it must be finished first."""


@dataclass
class Stages:
    path: Path
    operation: str
    archive: str = ""
    run: str = ""
    stages: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def begin(cls, state_dir: Path, operation: str, log: RunLog, resume_hint: str) -> Stages:
        """The record of `operation`: a resumed one, or a new one. Another
        operation's unfinished record is refused, naming how to finish it."""
        path = state_dir / FILE
        fix = f"finish or drop it: remove it (`rm {path}`) and run the command again"
        data = read_record(path, WHAT, fix)
        if data is None:
            data = {}
        if not _is_record(data):
            raise refuse(path, WHAT, "not the record provision writes", fix)
        if data and data.get("operation") != operation:
            if not data.get("stages"):
                # refused or stopped before its first stage: nothing to resume or lose
                log.say(f"{operation}: dropping {path} ({data.get('operation')} never began)")
                path.unlink()
                data = {}
            else:
                raise UnfinishedOperation(
                    f"{data.get('operation')} is unfinished (its record: {path})\n"
                    f"  fix: run `provision {data.get('operation')}` again to finish it"
                    + (f" (it resumes with {data['archive']})" if data.get("archive") else "")
                    + f", or give it up: `rm {path}` (the lab may then need a rebuild)"
                )
        stages = cls(path, operation)
        if data:
            stages.archive = data.get("archive", "")
            stages.stages = data.get("stages", {})
            done = [n for n, s in stages.stages.items() if s.get("status") == "done"]
            log.say(
                f"{operation}: resuming the run {data.get('run', '?')} left unfinished"
                + (f" (done: {', '.join(done)})" if done else "")
                + f"; {resume_hint}",
                style="yellow",
            )
        stages.run = log.dir.name
        if data:
            stages.save()  # a new record is written by its first stage: a command
            # refused before any stage ran leaves none behind
        return stages

    def done(self, name: str) -> bool:
        return self.stages.get(name, {}).get("status") == "done"

    def step(self, name: str, fn: Callable[[], object], log: RunLog) -> None:
        """Run one stage unless the record has it done; record how it ended."""
        if self.done(name):
            log.say(f"  {name}: done in an earlier run")
            return
        start = log.elapsed()
        log.say(f"==> {self.operation}: {name}", style="bold")
        self.stages[name] = {"status": "running"}
        self.save()
        try:
            fn()
        except BaseException as e:
            self.stages[name] = {
                "status": "failed",
                "seconds": round(log.elapsed() - start, 1),
                "error": (str(e) or type(e).__name__).splitlines()[0][:300],
            }
            self.save()
            raise
        took = round(log.elapsed() - start, 1)
        self.stages[name] = {"status": "done", "seconds": took}
        self.save()
        log.say(f"<== {self.operation}: {name} done in {took:.1f} s", style="green")

    def timings(self) -> list[tuple[str, float]]:
        return [(n, s.get("seconds", 0.0)) for n, s in self.stages.items()]

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)

    def save(self) -> None:
        data = {
            "operation": self.operation,
            "archive": self.archive,
            "run": self.run,
            "stages": self.stages,
        }
        write_state(self.path, json.dumps(data, indent=2) + "\n")
