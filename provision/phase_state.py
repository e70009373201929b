"""What `up` has completed, as one readable mapping in <state>/phases.json:

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
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeGuard

from provision.files import read_record, refuse, write_state

FILE = "phases.json"
WHAT = "the record of up's phases"


def _is_record(data: object) -> TypeGuard[dict]:
    """The shape save() writes (the fields load and resume_point use)."""
    if not isinstance(data, dict):
        return False
    phases = data.get("phases", {})
    return (
        isinstance(data.get("run", ""), str)
        and isinstance(phases, dict)
        and all(isinstance(v, dict) for v in phases.values())
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def config_hash(cluster_file: Path) -> str:
    return hashlib.sha256(cluster_file.read_bytes()).hexdigest()


@dataclass
class PhaseState:
    path: Path
    config_sha256: str
    run: str = ""
    phases: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path, cluster_file: Path) -> PhaseState:
        path = state_dir / FILE
        digest = config_hash(cluster_file)
        fix = f"remove it (`rm {path}`: the next up runs every phase) and run up again"
        data = read_record(path, WHAT, fix)
        if data is None:
            return cls(path, digest)
        if not _is_record(data):
            raise refuse(path, WHAT, "not the record provision writes", fix)
        if data.get("config_sha256") != digest:
            return cls(path, digest)  # another config: nothing to resume
        return cls(path, digest, data.get("run", ""), data.get("phases", {}))

    def resume_point(self, order: tuple[str, ...]) -> str | None:
        """The first phase not done, when an earlier run stopped part way."""
        if not self.phases or all(self.phases.get(p, {}).get("status") == "done" for p in order):
            return None
        if not any(v.get("status") == "done" for v in self.phases.values()):
            return None
        return next(p for p in order if self.phases.get(p, {}).get("status") != "done")

    def begin_run(self, run: str, keep: list[str]) -> None:
        """A new run: forget phases it will run again; keep the completed ones it skips."""
        self.run = run
        self.phases = {p: v for p, v in self.phases.items() if p in keep}
        self.save()

    def started(self, phase: str) -> None:
        self.phases[phase] = {"status": "running", "started": _now()}
        self.save()

    def finished(self, phase: str, seconds: float, error: str | None = None) -> None:
        entry = self.phases.setdefault(phase, {"started": _now()})
        entry.update(status="failed" if error else "done", ended=_now(), seconds=round(seconds, 1))
        if error:
            entry["error"] = error.splitlines()[0][:300] if error else ""
        self.save()

    def save(self) -> None:
        data = {"config_sha256": self.config_sha256, "run": self.run, "phases": self.phases}
        write_state(self.path, json.dumps(data, indent=2) + "\n")
