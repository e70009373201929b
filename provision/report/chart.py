"""history.html: the rebuilds across time. One stacked bar of phase durations per run
(the lab's phases in one set of colours, the restore drill's stages in darker, hatched
ones), dates on the x axis, a pass/fail strip under the bars, and a table; each run
links to its report. One self-contained file: HTML with inline SVG, no script, no
external asset."""

from __future__ import annotations

import html
import math
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from provision.files import write_state

# The lab's phases (machines ... verify) in the order they run, then any other.
LAB_COLORS = (
    "#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#a0cbe8", "#ffbe7d", "#8cd17d", "#f1ce63", "#d4a6c8",
)  # fmt: skip
# A drill's stages (restore or upgrade): dark, and hatched, so never mistaken for a lab phase.
DRILL_COLORS = ("#1f3b5a", "#7a3e00", "#1f5a2e", "#5a2463", "#6b1d1d", "#3d3d3d")
DRILL_PREFIX = "drill-"
PASSED, FAILED = "#2e7d32", "#c62828"
# The newest runs drawn (the table lists the same); older lines stay in the history.
CHART_RUNS = 60
BAR, STEP, HEIGHT, LEFT, TOP = 40, 64, 260, 72, 30
STRIP = 14  # the pass/fail strip's height
LEGEND_ROW = 18
REPORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def write_chart(entries: list[dict], path: Path) -> None:
    """history.html beside the reports (`path`), from the history's lines."""
    shown = entries[-CHART_RUNS:]
    runs = [_Run(e, path.parent) for e in shown]
    colors = _colors(runs)
    longest = max([sum(r.phases.values()) for r in runs] + [1.0])
    unit, scale = ("min", 60.0) if longest >= 600 else ("s", 1.0)
    step = _tick_step(longest / scale)
    top_value = math.ceil(longest / scale / step) * step
    plot_right = LEFT + max(len(runs), 1) * STEP
    legend = _legend(colors, plot_right + 30)
    width = plot_right + 30 + 200
    height = max(TOP + HEIGHT + 100, TOP + len(legend) * LEGEND_ROW + 20)
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" role="img" aria-label="rebuild history">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="2" height="6" fill="#fff" '
        'fill-opacity="0.55"/></pattern></defs>',
    ]
    # the y axis: duration, with ticks and grid lines
    svg.append(
        f'<text x="14" y="{TOP + HEIGHT / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + HEIGHT / 2})">duration ({unit})</text>'
    )
    value = 0.0
    while value <= top_value + 1e-9:
        y = TOP + HEIGHT - HEIGHT * value / top_value
        svg.append(
            f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{plot_right}" y2="{y:.1f}" '
            f'stroke="{"#999" if value == 0 else "#e4e4e4"}"/>'
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{value:g} {unit}</text>"
        )
        value += step
    svg.append(
        f'<line x1="{LEFT - 4}" y1="{TOP}" x2="{LEFT - 4}" y2="{TOP + HEIGHT}" stroke="#999"/>'
    )
    strip_y = TOP + HEIGHT + 6
    svg.append(
        f'<text x="{LEFT - 8}" y="{strip_y + 11}" font-size="11" text-anchor="end">result</text>'
    )
    for i, run in enumerate(runs):
        x = LEFT + i * STEP + (STEP - BAR) / 2
        y = TOP + HEIGHT
        parts = []
        for phase, seconds in run.phases.items():
            h = HEIGHT * seconds / scale / top_value
            y -= h
            title = html.escape(f"{run.when}: {phase} {seconds:.1f} s")
            parts.append(
                _swatch(x, y, BAR, h, colors[phase], phase.startswith(DRILL_PREFIX), title)
            )
        verdict = "passed" if run.passed else "FAILED"
        parts.append(
            f'<rect x="{x}" y="{strip_y}" width="{BAR}" height="{STRIP}" '
            f'fill="{PASSED if run.passed else FAILED}"><title>{html.escape(run.when)}: '
            f"{verdict}</title></rect>"
        )
        cx = x + BAR / 2
        parts.append(
            f'<text x="{cx}" y="{strip_y + STRIP + 16}" font-size="10" text-anchor="middle">'
            f"{html.escape(run.date)}</text>"
            f'<text x="{cx}" y="{strip_y + STRIP + 29}" font-size="10" text-anchor="middle">'
            f"{html.escape(run.time)}</text>"
        )
        body = "".join(parts)
        svg.append(f'<a href="{run.href}">{body}</a>' if run.href else f"<g>{body}</g>")
    svg.append(
        f'<text x="{(LEFT + plot_right) / 2}" y="{strip_y + STRIP + 50}" font-size="12" '
        'text-anchor="middle">run started (UTC); each run links to its report</text>'
    )
    svg += legend
    svg.append("</svg>")
    rows = "".join(
        "<tr>"
        + (
            f'<td><a href="{run.href}">{html.escape(run.when)}</a></td>'
            if run.href
            else f"<td>{html.escape(run.when)}</td>"
        )
        + f"<td>{'passed' if run.passed else '<b>FAILED</b>'}</td>"
        f"<td>{run.seconds:.0f} s</td><td>{html.escape(run.checks)}</td>"
        f"<td>{html.escape(run.drill)}</td><td>{run.links}</td></tr>"
        for run in reversed(runs)
    )
    older = len(entries) - len(shown)
    drawn = f" The newest {len(shown)} runs are drawn; {older} older ones are in history.jsonl."
    write_state(
        path,
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        "<title>provision rebuilds</title></head><body style='font-family:sans-serif'>\n"
        f"<h1>provision rebuilds ({len(entries)})</h1>\n"
        "<p>Phase durations per rebuild, stacked; the strip under the bars is green when "
        "the rebuild passed and red when it failed. Hover a bar for its phase and time; "
        "click it for the run's summary."
        + (drawn if older else "")
        + "</p>\n"
        + "\n".join(svg)
        + "\n<table border='1' cellpadding='4' style='border-collapse:collapse'>"
        "<tr><th>run started (UTC)</th><th>result</th><th>time</th><th>checks</th>"
        "<th>drill</th><th>report</th></tr>" + rows + "</table>\n</body></html>\n",
    )


class _Run:
    """One history line as the chart shows it."""

    def __init__(self, entry: dict, reports_dir: Path):
        self.name = entry["report"]
        self.passed = entry["passed"] is True
        self.seconds = float(entry["seconds"])
        self.phases = {p: float(s) for p, s in entry["phases"].items() if s > 0}
        self.date, self.time = _date_and_time(entry.get("started"), self.name)
        self.when = f"{self.date} {self.time}".strip()
        self.checks = _checks(entry)
        drill = entry.get("drill_passed")
        self.drill = "" if drill is None else ("passed" if drill is True else "FAILED")
        report = reports_dir / self.name
        ok = REPORT_NAME.fullmatch(self.name) and _regular(report / "summary.txt")
        self.href = html.escape(quote(self.name) + "/summary.txt") if ok else ""
        self.links = (
            " ".join(
                f'<a href="{html.escape(quote(self.name) + "/" + f)}">{f}</a>'
                for f in ("summary.txt", "report.json", "junit.xml")
            )
            if ok
            else "(removed)"
        )


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _date_and_time(started: object, name: str) -> tuple[str, str]:
    """("2026-11-23", "18:00") in UTC from the run's start; its report's name if the
    line has no readable start."""
    try:
        when = datetime.fromisoformat(started)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return name[:20], ""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d"), when.strftime("%H:%M")


def _checks(entry: dict) -> str:
    """ "8 passed, 3 validated only, 1 failed": a part only validated (its manifests
    dry-run, nothing deployed) is not counted as passed."""
    failed = int(entry["checks_failed"])
    if "checks_passed" not in entry:  # a line written before the split was recorded
        return f"{int(entry['checks']) - failed} passed or validated, {failed} failed"
    return (
        f"{int(entry['checks_passed'])} passed, "
        f"{int(entry.get('checks_validated', 0))} validated only, {failed} failed"
    )


def _colors(runs: list[_Run]) -> dict[str, str]:
    """A colour per phase: the lab's phases from one palette, the drill's from the
    other, each distinct as long as the palette lasts."""
    names: list[str] = []
    for run in runs:
        names += [p for p in run.phases if p not in names]
    lab = [n for n in names if not n.startswith(DRILL_PREFIX)]
    drill = [n for n in names if n.startswith(DRILL_PREFIX)]
    colors = {n: LAB_COLORS[i % len(LAB_COLORS)] for i, n in enumerate(lab)}
    colors.update({n: DRILL_COLORS[i % len(DRILL_COLORS)] for i, n in enumerate(drill)})
    return colors


def _swatch(x: float, y: float, w: float, h: float, color: str, hatched: bool, title: str) -> str:
    box = f'x="{x}" y="{y:.1f}" width="{w}" height="{h:.1f}"'
    overlay = f'<rect {box} fill="url(#hatch)"/>' if hatched else ""
    return f'<g><title>{title}</title><rect {box} fill="{color}"/>{overlay}</g>'


def _legend(colors: dict[str, str], x: float) -> list[str]:
    """The legend at the chart's right, a row each: the lab's phases, the drill's
    stages, then the strip's colours."""
    rows: list[str] = []

    def label(text: str, dx: float = 20, bold: bool = False) -> str:
        y = TOP + len(rows) * LEGEND_ROW + 12
        weight = ' font-weight="bold"' if bold else ""
        return f'<text x="{x + dx}" y="{y}" font-size="12"{weight}>{html.escape(text)}</text>'

    groups = (
        ("lab phases", [n for n in colors if not n.startswith(DRILL_PREFIX)]),
        ("drill", [n for n in colors if n.startswith(DRILL_PREFIX)]),
    )
    for title, names in groups:
        if names:
            rows.append(label(title, dx=0, bold=True))
        for n in names:
            y = TOP + len(rows) * LEGEND_ROW + 2
            hatched = n.startswith(DRILL_PREFIX)
            rows.append(_swatch(x, y, 14, 12, colors[n], hatched, html.escape(n)) + label(n))
    rows.append(label("result", dx=0, bold=True))
    for text, color in (("passed", PASSED), ("failed", FAILED)):
        y = TOP + len(rows) * LEGEND_ROW + 2
        rows.append(f'<rect x="{x}" y="{y}" width="14" height="12" fill="{color}"/>' + label(text))
    return rows


def _tick_step(top: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about five ticks."""
    raw = max(top / 5, 1e-9)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
