"""The trend as inline SVG for the dashboard: no JavaScript and nothing fetched from elsewhere.

A hand-written drawing of a few dozen elements (the band, the line, the bars, hollow points for
low samples), because a chart library would mean shipping its JavaScript with the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

W, H, PAD, BAR_SHARE = 640, 220, 28, 0.25


def trend_svg(report: Mapping[str, Any]) -> str:
    labels = list(report["groups"])
    groups = [report["groups"][label] for label in labels]
    n = max(len(groups), 1)
    step = (W - 2 * PAD) / n

    def x(i: int) -> float:
        return PAD + step * (i + 0.5)

    def y(pct: float) -> float:
        return PAD + (H - 2 * PAD) * (1 - pct / 100)

    top = max([int(g.get("responses") or 0) for g in groups] + [1])
    parts = [
        f'<svg viewBox="0 0 {W} {H}" role="img" class="trend" '
        f'aria-label="CSAT per {escape(str(report.get("by")))}">',
        f'<line x1="{PAD}" y1="{y(80):.1f}" x2="{W - PAD}" y2="{y(80):.1f}" class="grid"/>',
        f'<text x="2" y="{y(80) + 4:.1f}" class="axis">80%</text>',
    ]
    for i, g in enumerate(groups):
        height = (H - 2 * PAD) * BAR_SHARE * int(g.get("responses") or 0) / top
        parts.append(
            f'<rect x="{x(i) - step * 0.35:.1f}" y="{H - PAD - height:.1f}" '
            f'width="{step * 0.7:.1f}" height="{height:.1f}" class="bar">'
            f"<title>{escape(labels[i])}: {int(g.get('responses') or 0)} responses</title></rect>"
        )
    known = [
        (i, g["csat"])
        for i, g in enumerate(groups)
        if (g.get("csat") or {}).get("score") is not None
    ]
    if known:
        upper = " ".join(
            f"{x(i):.1f},{y((c.get('ci95') or [0, c['score']])[1]):.1f}" for i, c in known
        )
        lower = " ".join(
            f"{x(i):.1f},{y((c.get('ci95') or [c['score'], 0])[0]):.1f}" for i, c in reversed(known)
        )
        parts.append(f'<polygon points="{upper} {lower}" class="band"/>')
        line = " ".join(f"{x(i):.1f},{y(c['score']):.1f}" for i, c in known)
        parts.append(f'<polyline points="{line}" class="line"/>')
        for i, c in known:
            hollow = " low" if groups[i].get("low_sample") else ""
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(c["score"]):.1f}" r="3.5" class="point{hollow}">'
                f"<title>{escape(labels[i])}: {c['score']:.1f}%</title></circle>"
            )
    every = max(1, n // 8)
    for i in range(0, len(labels), every):
        first = labels[i].split("..")[0]
        parts.append(
            f'<text x="{x(i):.1f}" y="{H - 6}" class="axis" text-anchor="middle">'
            f"{escape(first[5:] if len(first) == 10 else first)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
