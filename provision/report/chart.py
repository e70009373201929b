"""history.html: one stacked bar of phase durations per rebuild, green when the
rebuild passed and red when it failed. Plain HTML with inline SVG, no library."""

from __future__ import annotations

import html
from pathlib import Path

from provision.files import write_state

COLORS = (
    "#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
BAR, GAP, HEIGHT, LEFT, TOP = 36, 18, 260, 50, 20


def write_chart(entries: list[dict], path: Path) -> None:
    phases: list[str] = []
    for e in entries:
        phases += [p for p in e["phases"] if p not in phases]
    longest = max([sum(e["phases"].values()) for e in entries] + [1.0])
    width = LEFT + len(entries) * (BAR + GAP) + 20
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT + TOP + 60}">',
        f'<text x="4" y="{TOP + 10}" font-size="11">{longest:.0f} s</text>',
        f'<line x1="{LEFT - 4}" y1="{TOP}" x2="{LEFT - 4}" y2="{TOP + HEIGHT}" stroke="#999"/>',
    ]
    for i, e in enumerate(entries):
        x = LEFT + i * (BAR + GAP)
        y = TOP + HEIGHT
        for phase, seconds in e["phases"].items():
            h = HEIGHT * seconds / longest
            y -= h
            color = COLORS[phases.index(phase) % len(COLORS)]
            title = html.escape(f"{e['report']}: {phase} {seconds:.1f} s")
            svg.append(
                f'<rect x="{x}" y="{y:.1f}" width="{BAR}" height="{h:.1f}" fill="{color}">'
                f"<title>{title}</title></rect>"
            )
        verdict = "#2e7d32" if e["passed"] else "#c62828"
        svg.append(
            f'<circle cx="{x + BAR / 2}" cy="{TOP + HEIGHT + 14}" r="6" fill="{verdict}">'
            f"<title>{'passed' if e['passed'] else 'FAILED'}</title></circle>"
        )
        svg.append(f'<text x="{x}" y="{TOP + HEIGHT + 36}" font-size="10">#{i + 1}</text>')
    svg.append("</svg>")
    legend = "".join(
        f'<span style="background:{COLORS[i % len(COLORS)]};padding:0 8px;margin-right:4px">'
        f"</span>{html.escape(p)} &nbsp; "
        for i, p in enumerate(phases)
    )
    rows = "".join(
        f"<tr><td>#{i + 1}</td><td>{html.escape(e['report'])}</td>"
        f"<td>{'passed' if e['passed'] else 'FAILED'}</td><td>{e['seconds']:.0f} s</td>"
        f"<td>{e['checks'] - e['checks_failed']}/{e['checks']}</td></tr>"
        for i, e in enumerate(entries)
    )
    write_state(
        path,
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        "<title>provision rebuilds</title></head><body style='font-family:sans-serif'>\n"
        f"<h1>provision rebuilds ({len(entries)})</h1>\n"
        "<p>Phase durations per rebuild (stacked, seconds); the dot is green when the "
        "rebuild passed.</p>\n"
        + "\n".join(svg)
        + f"\n<p>{legend}</p>\n<table border='1' cellpadding='4'><tr><th>run</th>"
        "<th>report</th><th>result</th><th>time</th><th>checks passed</th></tr>"
        + rows
        + "</table>\n</body></html>\n",
    )
