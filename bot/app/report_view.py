"""A score report drawn for a terminal at 80 columns: the table, the details, and over time a
trend chart (one bar per bucket with its interval and low-sample marks)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.followups import minutes_text
from bot.periods import REASON, TIME_UNITS
from bot.report_text import group_line, pct


def print_report(report: dict[str, Any], console: Console) -> None:
    """The report for a terminal: a table that fits 80 columns, then the overall details and
    the distribution of ratings as bars. Every number of the JSON report is here or in --json."""
    from rich import box

    if report.get("by") == REASON:
        print_reasons(report, console)
        return
    period = report["period"]
    rows = [("overall", report["overall"]), *report["groups"].items()]
    has_nps = any(group.get("nps") for _, group in rows)
    has_ces = any(group.get("ces") for _, group in rows)
    table = Table(
        title=f"CSAT {period['label']} ({period['timezone']})",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
    )
    table.add_column(report.get("by") or "group", overflow="fold", ratio=1)
    table.add_column("answered", justify="right", no_wrap=True)
    table.add_column("CSAT", justify="right", no_wrap=True)
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("mean", justify="right", no_wrap=True)
    if has_nps:
        table.add_column("NPS", justify="right", no_wrap=True)
    if has_ces:
        table.add_column("CES", justify="right", no_wrap=True)
    table.add_column("vs previous", no_wrap=True)
    low = False
    for name, group in rows:
        csat = group.get("csat") or {}
        flagged = bool(group.get("low_sample") and group["responses"])
        low = low or flagged
        cells = [
            name + ("*" if flagged else ""),
            _answered(group),
            pct(csat.get("score")),
            _interval(csat.get("ci95")),
            _num(csat.get("mean")),
        ]
        if has_nps:
            nps = group.get("nps") or {}
            cells.append(_signed(nps.get("score")))
        if has_ces:
            ces = group.get("ces") or {}
            cells.append(_num(ces.get("mean")))
        cells.append(_change(group))
        table.add_row(*cells)
    console.print(table)
    notes = ["answered: surveys answered / sent (response rate)"]
    if low:
        notes.append("* low sample: under 30 answers, read the interval rather than the score")
    notes.append("vs previous: CSAT points against the previous equal period")
    console.print("\n".join(notes), style="dim", highlight=False)
    if report.get("by") in TIME_UNITS:
        print_trend(report, console)
    _print_details(report["overall"], console)
    _print_follow_up(report.get("follow_up") or {}, console)


def _print_follow_up(figures: dict[str, Any], console: Console) -> None:
    """Low-score alerts of the period: followed up (claimed) or not, and how fast; per agent or
    team when the report is by one of them."""
    from rich import box

    if not figures.get("alerts"):
        return
    table = Table(title="Follow-up of low-score alerts", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("group", overflow="fold", ratio=1)
    for name in ("alerts", "claimed", "resolved", "rate", "to claim", "to resolve"):
        table.add_column(name, justify="right", no_wrap=True)
    rows = [("overall", figures), *(figures.get("groups") or {}).items()]
    for name, row in rows:
        rate = row.get("follow_up_rate")
        table.add_row(
            name,
            str(row["alerts"]),
            str(row["claimed"]),
            str(row["resolved"]),
            "-" if rate is None else pct(rate * 100),
            minutes_text(row.get("median_minutes_to_claim")),
            minutes_text(row.get("median_minutes_to_resolve")),
        )
    console.print(table)
    console.print("to claim / to resolve: median time after the rating", style="dim")


SPARKS = "▁▂▃▄▅▆▇█"
TREND_WIDTH = 40  # bar columns: label 23 + bar 40 + figures 16 stay within 80


def print_reasons(report: dict[str, Any], console: Console) -> None:
    """``by reason``: the overall line, then a row per reason of the low ratings."""
    from rich import box

    period = report["period"]
    console.print(f"CSAT {period['label']} ({period['timezone']}): {group_line(report['overall'])}")
    low = int(report.get("low") or 0)
    if low == 0:
        console.print("No low ratings in this period.")
        return
    table = Table(
        title=f"Reasons of {low} low rating{'s' if low != 1 else ''}",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
    )
    table.add_column("reason", overflow="fold", ratio=1)
    table.add_column("low ratings", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    for name, group in report["groups"].items():
        label = group.get("label") or name
        table.add_row(
            label if name in (label, "(none)") else f"{label} ({name})",
            str(group["count"]),
            pct(group["share"] * 100),
        )
    table.add_row("total", str(low), pct(100.0))
    console.print(table)


def print_trend(report: dict[str, Any], console: Console) -> None:
    """CSAT per time bucket: a sparkline of the whole period, then a bar per bucket scaled
    0-100 %: solid up to the 95 % interval's low end, shaded up to the score, light up to the
    interval's high end. Low-sample buckets are marked; empty ones say so instead of a 0."""
    buckets = [(label, group.get("csat") or {}, group) for label, group in report["groups"].items()]
    scores = [csat.get("score") for _, csat, _ in buckets]
    spark = "".join(
        " " if score is None else SPARKS[min(int(score / 100 * len(SPARKS)), len(SPARKS) - 1)]
        for score in scores
    )
    console.print(f"trend  {spark[-64:]}", highlight=False, markup=False)
    for label, csat, group in buckets:
        line = Text(f"{label[-23:]:>23} ")
        score = csat.get("score")
        if score is None:
            line.append("no answers", style="dim")
            console.print(line)
            continue
        low, high = csat.get("ci95") or (score, score)
        filled = round(score / 100 * TREND_WIDTH)
        band_low, band_high = round(low / 100 * TREND_WIDTH), round(high / 100 * TREND_WIDTH)
        for column in range(TREND_WIDTH):
            if column < min(filled, band_low):
                line.append("█", style="cyan")
            elif column < filled:
                line.append("▓", style="cyan")
            elif column < band_high:
                line.append("░", style="cyan")
            else:
                line.append(" ")
        mark = "*" if group.get("low_sample") else ""
        line.append(f" {pct(score):>6} n={group['responses']}{mark}")
        console.print(line)


def _print_details(group: dict[str, Any], console: Console) -> None:
    csat = group.get("csat") or {}
    if csat.get("score") is not None:
        facts = [f"CSAT {pct(csat['score'])} of {csat['responses']} answers"]
        if csat.get("composite") is not None:
            facts.append(f"composite {pct(csat['composite'])}")
        if csat.get("band"):
            facts.append(csat["band"])
        console.print("overall: " + ", ".join(facts), highlight=False, markup=False)
        _print_bars(csat.get("distribution") or {}, console)
    nps = group.get("nps")
    if nps and nps.get("score") is not None:
        console.print(
            f"NPS {_signed(nps['score'])}, 95% CI {_interval(nps.get('ci95'), signed=True)}: "
            f"{nps['promoters']} promoters, {nps['passives']} passives, "
            f"{nps['detractors']} detractors",
            highlight=False,
            markup=False,
        )
    ces = group.get("ces")
    if ces and ces.get("mean") is not None:
        console.print(
            f"CES mean {_num(ces['mean'])}, {pct(ces.get('easy_share'))} found it easy",
            highlight=False,
            markup=False,
        )
        _print_bars(ces.get("distribution") or {}, console)


BAR_WIDTH = 40


def _print_bars(distribution: dict[str, int], console: Console) -> None:
    """One bar per rating, highest first, scaled to the most frequent rating."""
    from rich.text import Text

    if not distribution:
        return
    top = max(distribution.values()) or 1
    total = sum(distribution.values()) or 1
    label_width = max(len(key) for key in distribution)
    for key in sorted(distribution, key=int, reverse=True):
        count = distribution[key]
        line = Text(f"  {key.rjust(label_width)} ")
        line.append("█" * round(count / top * BAR_WIDTH), style="cyan")
        line.append(f" {count} ({count / total * 100:.0f}%)")
        console.print(line)


def _answered(group: dict[str, Any]) -> str:
    sent = group["sent"]
    answered = group.get("answered", group["responses"])
    rate = group.get("response_rate")
    return f"{answered}/{sent}" + (f" {rate:.0f}%" if rate is not None else "")


def _change(group: dict[str, Any]) -> str:
    previous = group.get("previous") or {}
    change = previous.get("change")
    if not group["responses"] or change is None:
        return "-"
    return f"{change:+.1f} pts" + (" significant" if previous.get("significant") else "")


def _interval(ci: list[float] | None, *, signed: bool = False) -> str:
    if not ci:
        return "-"
    if signed:
        return f"{ci[0]:+.0f}..{ci[1]:+.0f}"
    return f"{ci[0]:.0f}-{ci[1]:.0f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f}"
