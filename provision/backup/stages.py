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
Its stages run through the one runner of provision/record.py, as up's phases do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from provision.errors import UsageError
from provision.files import read_record, refuse
from provision.record import Record
from provision.runlog import RunLog

FILE = "operation.json"
WHAT = "the record of an unfinished operation"


class UnfinishedOperation(UsageError):
    """Another operation's record is in place: it must be finished first."""


@dataclass
class Stages(Record):
    KEY: ClassVar[str] = "stages"

    operation: str = ""
    archive: str = ""

    @classmethod
    def begin(cls, state_dir: Path, operation: str, log: RunLog, resume_hint: str) -> Stages:
        """The record of `operation`: a resumed one, or a new one. Another
        operation's unfinished record is refused, naming how to finish it."""
        path = state_dir / FILE
        fix = f"finish or drop it: remove it (`rm {path}`) and run the command again"
        data = read_record(path, WHAT, fix)
        if data is None:
            data = {}
        if not cls.shape_ok(data, "operation", "archive"):
            raise refuse(path, WHAT, "not the record provision writes", fix)
        if data and data.get("operation") != operation:
            if not data.get(cls.KEY):
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
        stages = cls(path, operation=operation)
        if data:
            stages.archive = data.get("archive", "")
            stages.entries = data.get(cls.KEY, {})
            done = [n for n in stages.entries if stages.done(n)]
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

    def step(self, name: str, fn: Callable[[], object], log: RunLog) -> None:
        """Run one stage unless the record has it done; record how it ended."""
        if self.done(name):
            log.say(f"  {name}: done in an earlier run")
            return
        self.run_step(name, fn, log, f"{self.operation}: {name}")

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)

    def fields(self) -> dict:
        return {"operation": self.operation, "archive": self.archive}
