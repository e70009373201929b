"""One rebuild's report: what ran, how long, what passed, what failed, and how that
compares with the runs before.

<state>/reports/<time>/report.json   versions, images, phases, checks, failures, compare
<state>/reports/<time>/junit.xml     one test case per phase and per check
<state>/reports/<time>/summary.txt   the verdict and what changed, then the details
<state>/reports/history.jsonl        one line per rebuild (appended)
<state>/reports/history.html         phase durations and pass/fail across runs

The report is data (this module); compare.py fills in the comparison, write.py writes
the files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from provision.record import Entry
from provision.verify.run import Result

# A phase in the report: as the resumable record holds it (name, status, started,
# ended, seconds, error).
PhaseReport = Entry


@dataclass
class FailureReport:
    where: str  # phase or check
    host: str
    task: str
    message: str


@dataclass
class Change:
    """One version or image that differs between two runs (None: not in that run)."""

    name: str
    before: str | None
    now: str | None

    def text(self) -> str:
        return f"{self.name} {self.before or '(none)'} -> {self.now or '(none)'}"


@dataclass
class Diff:
    """This run against an earlier one (`against`, the name of its report directory)."""

    against: str
    started: str
    passed: bool
    versions: list[Change] = field(default_factory=list)
    # None: one of the two runs recorded no image digests (images pulled online)
    images: list[Change] | None = None
    newly_failing: list[str] = field(default_factory=list)  # "phase join", "check mysql: ..."
    fixed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.versions or self.images or self.newly_failing or self.fixed)

    def text(self) -> str:
        """What changed, on one line: versions, images, then checks and phases."""
        parts = [c.text() for c in self.versions]
        if self.images:
            shown = [f"image {c.text()}" for c in self.images[:5]]
            more = len(self.images) - len(shown)
            parts += shown + ([f"{more} more images"] if more else [])
        if self.newly_failing:
            parts.append("newly failing: " + ", ".join(self.newly_failing))
        if self.fixed:
            parts.append("fixed: " + ", ".join(self.fixed))
        return "; ".join(parts)


@dataclass
class PhaseTime:
    """A phase's seconds against its median over the last runs that ran it."""

    name: str
    seconds: float
    median: float | None  # None: too few earlier runs to say
    runs: int  # how many earlier runs the median is of
    slow: bool


@dataclass
class Comparison:
    previous: Diff | None  # None: no earlier run with a readable report
    last_green: Diff | None  # None: no earlier passing run with a readable report
    phases: list[PhaseTime] = field(default_factory=list)
    images_compared: bool = False  # False: versions only (no image digests on both sides)
    notes: list[str] = field(default_factory=list)  # reports skipped, and why
    earlier: int = 0  # runs in the history before this one (-1: the history unreadable)

    def lines(self) -> list[str]:
        """The lines that open summary.txt after the verdict."""
        p, g = self.previous, self.last_green
        what = "versions and image digests" if self.images_compared else "versions only"
        if p is None:
            lines = [
                "first run: nothing to compare with"
                if self.earlier == 0
                else "no earlier report could be read: nothing compared"
            ]
        elif not p.changed:
            lines = [f"no change since the last run ({_run(p)}; compared {what})"]
        else:
            lines = [f"since the last run ({_run(p)}; compared {what}): {p.text()}"]
        if p is not None:
            if g is None:
                lines.append("no earlier green run to compare with")
            elif g.against == p.against:
                lines.append("the last run was the last green one")
            elif not g.changed:
                lines.append(f"no change since the last green run ({_run(g)})")
            else:
                lines.append(f"since the last green run ({_run(g)}): {g.text()}")
        slow = [t for t in self.phases if t.slow]
        if slow:
            lines.append(
                "slower than usual: "
                + ", ".join(
                    f"{t.name} {t.seconds:.0f} s (median {t.median:.0f} s of {t.runs} runs)"
                    for t in slow
                )
            )
        return lines + [f"note: {n}" for n in self.notes]


def first_line(text: str, limit: int = 200) -> str:
    """The first line of a message, at most `limit` characters ("" for none)."""
    return (text.splitlines() or [""])[0][:limit]


def _run(diff: Diff) -> str:
    return f"{diff.against}, {'passed' if diff.passed else 'FAILED'}"


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
    drill: dict | None = None  # the restore or upgrade drill's result (backup/drill.py)
    # image reference -> sha256 of its archive, as the bundle's manifest records it;
    # empty when the nodes pulled their images online (no digest known to provision)
    images: dict[str, str] = field(default_factory=dict)
    images_from: str = ""  # where `images` came from, or why there are none
    compare: Comparison | None = None  # against the runs before (compare.py)
    diagnostics: str | None = None  # the diagnostics archive of this run, when one was made

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
            "checks_passed": sum(c.status == "passed" for c in self.checks),
            "checks_validated": sum(c.status == "validated" for c in self.checks),
            "checks": len(self.checks),
            **({"drill_passed": self.drill["passed"]} if self.drill is not None else {}),
        }

    def summary(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"{verdict}: provision rebuild of {self.cluster} ({self.inventory}) "
            f"in {self.seconds:.0f} s, started {self.started}",
            *(self.compare.lines() if self.compare is not None else []),
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
                f"{d.get('kind', 'restore')} drill: "
                + ("PASSED" if d["passed"] else "FAILED")
                + (f": {d['error']}" if d["error"] else "")
                + "".join(f"\n  differs: {line}" for line in d["differences"])
            )
        for f in self.failures:
            host = f" host {f.host}," if f.host else ""
            task = f" task '{f.task}'" if f.task else ""
            lines.append(f"failure in {f.where}:{host}{task}: {first_line(f.message)}")
        for c in self.checks:
            if c.status == "failed":
                lines.append(f"check failed: {c.addon}: {c.check}: {first_line(c.detail)}")
        if self.diagnostics:
            lines.append(f"diagnostics: {self.diagnostics}")
        return "\n".join(lines) + "\n"
