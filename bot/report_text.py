"""Score reports as text: a short GSM-7 summary (SMS, chat) and lines for the terminal table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.followups import figures_text
from bot.periods import REASON, TIME_UNITS


def pct(value: float | None) -> str:
    """A percentage as people read it, or "-" when there is none (never a fake 0%)."""
    return "-" if value is None else f"{value:.1f}%"


def change_text(group: Mapping[str, Any]) -> str:
    previous = group.get("previous")
    if not previous or previous.get("change") is None:
        return "no previous data"
    change = float(previous["change"])
    sign = "+" if change >= 0 else "-"
    note = "significant" if previous.get("significant") else "not significant"
    return f"{sign}{abs(change):.1f} pts vs previous ({note})"


def group_line(group: Mapping[str, Any], *, compare: bool = True) -> str:
    """One line: CSAT %, interval, n, change; or NPS/CES when those are the questions asked.
    A time bucket has no comparison of its own (``compare=False``)."""
    responses = int(group.get("responses") or 0)
    if responses == 0:
        answered = int(group.get("answered") or 0)
        if answered:
            return f"no rating yet ({answered} of {group.get('sent', 0)} answered)"
        return f"no responses yet ({group.get('sent', 0)} sent)"
    parts: list[str] = []
    csat = group.get("csat")
    if csat and csat.get("score") is not None:
        lo, hi = csat.get("ci95") or (None, None)
        interval = f" [{lo:.0f}-{hi:.0f}]" if lo is not None and hi is not None else ""
        parts.append(f"CSAT {pct(csat['score'])}{interval}")
    nps = group.get("nps")
    if nps and nps.get("score") is not None:
        ci = nps.get("ci95")
        interval = f" [{ci[0]:+.0f}..{ci[1]:+.0f}]" if ci else ""
        parts.append(f"NPS {nps['score']:+.0f}{interval}")
    ces = group.get("ces")
    if ces and ces.get("mean") is not None:
        parts.append(f"CES {ces['mean']:.2f}")
    parts.append(f"n={responses}")
    if group.get("low_sample"):
        parts.append("low sample")
    if compare:
        parts.append(change_text(group))
    return ", ".join(parts)


def short_summary(report: Mapping[str, Any], limit: int = 6) -> str:
    """A few lines that fit a couple of SMS segments; names the zone."""
    period = report["period"]
    lines = [f"Score {period['label']} ({period['timezone']}): {group_line(report['overall'])}"]
    groups: Mapping[str, Any] = report.get("groups") or {}
    if report.get("by") == REASON:
        return "\n".join([*lines, *reason_lines(report, limit)])
    if report.get("by") in TIME_UNITS:
        # Over time the newest buckets matter most: the last ones, oldest first.
        names = list(groups)
        if len(names) > limit:
            lines.append(f"({len(names) - limit} earlier not shown)")
        for name in names[-limit:]:
            lines.append(f"{name}: {group_line(groups[name], compare=False)}")
        return "\n".join(lines)
    for name in list(groups)[:limit]:
        lines.append(f"{name}: {group_line(groups[name])}")
    if len(groups) > limit:
        lines.append(f"+{len(groups) - limit} more")
    follow_up = figures_text(report.get("follow_up") or {})
    if follow_up:
        lines.append(follow_up)
    return "\n".join(lines)


def reason_line(name: str, group: Mapping[str, Any]) -> str:
    """``Speed: 3 (37.5%)``: how many low ratings came with this reason, and their share."""
    return f"{group.get('label') or name}: {group['count']} ({group['share'] * 100:.1f}%)"


def reason_lines(report: Mapping[str, Any], limit: int = 6) -> list[str]:
    """The reasons of the period's low ratings, most frequent first (``by reason``)."""
    low = int(report.get("low") or 0)
    if low == 0:
        return ["No low ratings in this period."]
    groups: Mapping[str, Any] = report.get("groups") or {}
    lines = [f"Reasons of {low} low rating{'s' if low != 1 else ''}:"]
    lines += [reason_line(name, group) for name, group in list(groups.items())[:limit]]
    if len(groups) > limit:
        lines.append(f"+{len(groups) - limit} more")
    return lines


def top_reasons(report: Mapping[str, Any], count: int = 3) -> str | None:
    """One line naming the most frequent reasons of low ratings (the digest's), or None when
    no low rating came with a reason."""
    named = [
        f"{group.get('label') or name} {group['count']}"
        for name, group in (report.get("groups") or {}).items()
        if name != "(none)"
    ][:count]
    if not named:
        return None
    return f"Top reasons of {report.get('low', 0)} low ratings: {', '.join(named)}"
