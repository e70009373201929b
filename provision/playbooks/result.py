"""The outcome of one playbook run, as plain data (from ansible-runner's events)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Failure:
    host: str
    task: str
    message: str


@dataclass
class PlaybookResult:
    playbook: str
    status: str  # successful, failed, canceled, timeout
    rc: int
    hosts: dict[str, HostStats] = field(default_factory=dict)
    task_seconds: dict[str, float] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    artifacts: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "successful" and not self.failures

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    def summary(self) -> str:
        return ", ".join(
            f"{name} ok={h.ok} changed={h.changed} failed={h.failed} unreachable={h.unreachable}"
            for name, h in sorted(self.hosts.items())
        )

    def as_dict(self) -> dict:
        return {
            "playbook": self.playbook,
            "status": self.status,
            "rc": self.rc,
            "hosts": {k: vars(v) for k, v in self.hosts.items()},
            "task_seconds": self.task_seconds,
            "failures": [vars(f) for f in self.failures],
        }


def stats_from_event(data: dict) -> dict[str, HostStats]:
    """playbook_on_stats event_data -> per-host stats."""
    hosts: dict[str, HostStats] = {}
    for key, attr in (
        ("ok", "ok"),
        ("changed", "changed"),
        ("failures", "failed"),
        ("dark", "unreachable"),
        ("skipped", "skipped"),
    ):
        for host, count in (data.get(key) or {}).items():
            setattr(hosts.setdefault(host, HostStats()), attr, count)
    return hosts


def failure_message(res: dict) -> str:
    """The most useful lines of a failed task's result (a loop: its failed items)."""
    if res.get("censored"):
        return res["censored"]
    failed_items = [r for r in res.get("results") or [] if r.get("failed")]
    if failed_items:
        return "\n".join(f"item {r.get('item')!r}: {failure_message(r)}" for r in failed_items)[
            -2000:
        ]
    parts = [str(res[k]).strip() for k in ("msg", "stderr", "stdout") if res.get(k)]
    return "\n".join(parts)[-2000:] or "failed (no message)"
