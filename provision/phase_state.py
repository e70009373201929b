"""What `up` has completed, as one readable mapping in <state>/phases.json (the
record of provision/record.py):

    {"config_sha256": "...", "run": "20261123T...-up",
     "phases": {"machines": {"status": "done", "started": "...", "ended": "...",
                             "seconds": 14.6},
                "prepare": {"status": "failed", "started": "...", "ended": "...",
                            "seconds": 3.1, "error": "playbook prepare.yml failed"}}}

After a failed or interrupted `up`, the next `up` starts at the first phase the
record does not mark done (and says so). The machines phase always runs first: it
is cheap, and it brings back a machine that died in between. A changed cluster
config, or a record whose run finished, means a full run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from provision.files import read_record, refuse
from provision.record import Record

FILE = "phases.json"
WHAT = "the record of up's phases"


def config_hash(cluster_file: Path) -> str:
    return hashlib.sha256(cluster_file.read_bytes()).hexdigest()


@dataclass
class PhaseState(Record):
    KEY: ClassVar[str] = "phases"

    config_sha256: str = ""

    @classmethod
    def load(cls, state_dir: Path, cluster_file: Path) -> PhaseState:
        path = state_dir / FILE
        digest = config_hash(cluster_file)
        fix = f"remove it (`rm {path}`: the next up runs every phase) and run up again"
        data = read_record(path, WHAT, fix)
        if data is None:
            return cls(path, config_sha256=digest)
        if not cls.shape_ok(data):
            raise refuse(path, WHAT, "not the record provision writes", fix)
        if data.get("config_sha256") != digest:
            return cls(path, config_sha256=digest)  # another config: nothing to resume
        return cls(path, data.get("run", ""), data.get(cls.KEY, {}), digest)

    def resume_point(self, order: tuple[str, ...]) -> str | None:
        """The first phase not done, when an earlier run stopped part way."""
        if not self.entries or self.all_done(order):
            return None
        if not any(self.done(p) for p in self.entries):
            return None
        return next(p for p in order if not self.done(p))

    def begin_run(self, run: str, keep: list[str]) -> None:
        """A new run: forget phases it will run again; keep the completed ones it skips."""
        self.run = run
        self.entries = {p: v for p, v in self.entries.items() if p in keep}
        self.save()

    def fields(self) -> dict:
        return {"config_sha256": self.config_sha256}
