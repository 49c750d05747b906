"""The trend chart as a PNG, for chat (Slack, Telegram) and the digest.

Drawn with matplotlib on its Agg backend (no display, thread-safe enough when each call owns its
figure). One picture says what a lead needs and no more: CSAT per bucket as a line with its 95 %
band, responses as bars behind it, low-sample buckets as hollow points, the previous period's
level as a dashed line, and the zone in the title. Imported lazily: only a trend pays for it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.0, 100
LINE, BAND, BARS, EMPTY = "#1f6feb", "#9ec5fe", "#d0d7de", "#8c959f"


def _short(label: str) -> str:
    """Tick labels that fit: 2025-06-04 -> 06-04, a range -> its first day, a month stays."""
    first = label.split("..")[0]
    return first[5:] if len(first) == 10 else first


def trend_png(report: Mapping[str, Any]) -> bytes:
    """The chart of a report made ``by day|week|month`` (its groups are the buckets, in order)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    labels = list(report["groups"])
    groups = [report["groups"][label] for label in labels]
    xs = list(range(len(labels)))
    scores = [(g.get("csat") or {}).get("score") for g in groups]
    intervals = [(g.get("csat") or {}).get("ci95") for g in groups]
    responses = [int(g.get("responses") or 0) for g in groups]

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    counts = figure.add_subplot()
    counts.bar(xs, responses, color=BARS, width=0.8, label="responses")
    counts.set_ylabel("responses")
    counts.set_ylim(0, max([*responses, 1]) * 3)  # bars stay in the lower third
    pct = counts.twinx()
    counts.set_zorder(pct.get_zorder() - 1)
    counts.patch.set_visible(False)
    known = [(x, s, ci) for x, s, ci in zip(xs, scores, intervals, strict=True) if s is not None]
    if known:
        kx = [x for x, _, _ in known]
        pct.fill_between(
            kx,
            [ci[0] if ci else s for _, s, ci in known],
            [ci[1] if ci else s for _, s, ci in known],
            color=BAND,
            alpha=0.5,
            linewidth=0,
            label="95 % interval",
        )
        pct.plot(kx, [s for _, s, _ in known], color=LINE, linewidth=2, label="CSAT %")
        low = [(x, s) for x, s, _ in known if groups[x].get("low_sample")]
        solid = [(x, s) for x, s, _ in known if not groups[x].get("low_sample")]
        if solid:
            pct.scatter([x for x, _ in solid], [y for _, y in solid], color=LINE, s=18, zorder=3)
        if low:
            pct.scatter(
                [x for x, _ in low],
                [y for _, y in low],
                facecolors="white",
                edgecolors=LINE,
                s=28,
                zorder=3,
                label="low sample",
            )
    previous = (report.get("overall") or {}).get("previous") or {}
    if previous.get("csat") is not None:
        pct.axhline(
            float(previous["csat"]),
            color=EMPTY,
            linestyle="--",
            linewidth=1,
            label=f"previous period {previous['csat']:.0f}%",
        )
    pct.set_ylim(0, 100)
    pct.set_ylabel("CSAT %")
    pct.yaxis.set_label_position("left")
    pct.yaxis.tick_left()
    counts.yaxis.set_label_position("right")
    counts.yaxis.tick_right()
    step = max(1, len(xs) // 10)
    counts.set_xticks(xs[::step], [_short(label) for label in labels[::step]])
    period = report["period"]
    overall = (report.get("overall") or {}).get("csat") or {}
    headline = f"{overall['score']:.1f}%" if overall.get("score") is not None else "no answers"
    figure.suptitle(
        f"CSAT {period['label']} by {report.get('by')}: {headline} ({period['timezone']})",
        fontsize=11,
    )
    handles, names = pct.get_legend_handles_labels()
    if handles:
        pct.legend(handles, names, loc="lower left", fontsize=8, frameon=False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
