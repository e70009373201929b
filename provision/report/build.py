"""One rebuild's report: what ran, how long, what passed, what failed.

<state>/reports/<time>/report.json   versions, phases, checks, failures
<state>/reports/<time>/junit.xml     one test case per phase and per check
<state>/reports/<time>/summary.txt   a few lines for people
<state>/reports/history.jsonl        one line per rebuild (appended)
<state>/reports/history.html         phase durations and pass/fail across runs

The report is data (this module); write.py writes the files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from provision.verify.run import Result


@dataclass
class PhaseReport:
    name: str
    status: str  # done | failed | running | not run
    started: str = ""
    ended: str = ""
    seconds: float = 0.0
    error: str = ""


@dataclass
class FailureReport:
    where: str  # phase or check
    host: str
    task: str
    message: str


@dataclass
class Report:
    cluster: str
    inventory: str
    started: str
    ended: str
    seconds: float
    versions: dict[str, str]
    phases: list[PhaseReport] = field(default_factory=list)
    checks: list[Result] = field(default_factory=list)
    failures: list[FailureReport] = field(default_factory=list)
    drill: dict | None = None  # the restore drill's result (backup/drill.py), when asked

    @property
    def passed(self) -> bool:
        return (
            not self.failures
            and (self.drill is None or self.drill["passed"])
            and all(p.status == "done" for p in self.phases)
            and all(c.status != "failed" for c in self.checks)
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}

    def history_line(self) -> dict:
        return {
            "started": self.started,
            "seconds": self.seconds,
            "passed": self.passed,
            "phases": {p.name: p.seconds for p in self.phases},
            "checks_failed": sum(c.status == "failed" for c in self.checks),
            "checks": len(self.checks),
            **({"drill_passed": self.drill["passed"]} if self.drill is not None else {}),
        }

    def summary(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"provision rebuild of {self.cluster} ({self.inventory}): {verdict} "
            f"in {self.seconds:.0f} s, started {self.started}",
            "phases: "
            + ", ".join(
                f"{p.name} {p.seconds:.0f}s"
                if p.status == "done"
                else f"{p.name} {p.status.upper()}"
                for p in self.phases
            ),
            f"checks: {sum(c.status == 'passed' for c in self.checks)} passed, "
            f"{sum(c.status == 'validated' for c in self.checks)} validated only, "
            f"{sum(c.status == 'failed' for c in self.checks)} failed",
        ]
        if self.drill is not None:
            d = self.drill
            lines.append(
                "restore drill: "
                + ("PASSED" if d["passed"] else "FAILED")
                + (f": {d['error']}" if d["error"] else "")
                + "".join(f"\n  differs: {line}" for line in d["differences"])
            )
        for f in self.failures:
            host = f" host {f.host}," if f.host else ""
            task = f" task '{f.task}'" if f.task else ""
            lines.append(f"failure in {f.where}:{host}{task}: {f.message.splitlines()[0][:200]}")
        return "\n".join(lines) + "\n"
