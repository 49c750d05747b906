"""Scores for leads (PRODUCT §5): the current period against the one before, from SQL counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.channel import OutboundMessage
from bot.context import ServiceContext
from bot.errors import InvalidInput, NotAllowed
from bot.followups import follow_up_report
from bot.periods import Period, ScoreQuery, buckets, parse_query, resolve_period
from bot.results import InboundResult
from bot.scoring import group_report, report
from bot.surveys import Survey
from bot.texts import message
from storage.values import Reason, group_keys

NO_REASON = "(none)"  # low ratings given without a reason; no option id has parentheses


def option_labels(surveys: Iterable[Survey]) -> Mapping[str, str]:
    """Each option id's text in its survey's fallback language (the first survey naming it)."""
    labels: dict[str, str] = {}
    for survey in surveys:
        for question in survey.questions:
            for option in question.options:
                labels.setdefault(option.id, option.text(survey.fallback_locale, "en"))
    return labels


class Reports:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def is_lead(self, channel: str, address: str) -> bool:
        return self.ctx.is_lead(channel, address)

    def parse_query(self, text: str) -> ScoreQuery:
        return parse_query(text, now=self.ctx.clock(), timezone=self.ctx.settings.csat_timezone)

    def scores(self, query: ScoreQuery) -> dict[str, Any]:
        """The report in the contract's JSON shape (PRODUCT §5)."""
        period, previous = query.period, query.period.previous()
        assert previous.end == period.start, "a previous period ends where its period starts"
        store = self.ctx.store
        by = None if query.over_time or query.by_reason else query.by
        now, before = store.period_counts(
            previous.start, period.start, period.end, by, timezone=period.timezone
        )
        overall = group_report(now.overall(), before.overall())
        if query.by_reason:
            low = sum(bucket.count for bucket in now.overall().buckets if bucket.negative)
            result = report(
                period=period, overall=overall, groups=self.reasons(period, low), by=query.by
            )
            result["low"] = low
            return result
        if query.over_time:
            assert query.by is not None
            groups = self.buckets(period, query.by)
        else:
            groups = {
                key: group_report(now.get(key), before.get(key)) for key in group_keys(now.groups)
            }
        result = report(period=period, overall=overall, groups=groups, by=query.by)
        if not query.over_time:
            # Alerts raised in the period: how many were followed up, and how fast.
            times = store.follow_up_times(period.start, period.end)
            result["follow_up"] = follow_up_report(times, query.by)
        return result

    def reasons(self, period: Period, low: int) -> dict[str, dict[str, Any]]:
        """``by reason``: the period's low ratings (``low`` of them) by the option chosen with
        them, most frequent first, each with its count and its share of ``low``; the low
        ratings given no reason last, as ``(none)``, so the shares add up to 1."""
        if low <= 0:
            return {}
        counts = self.ctx.store.reason_counts(period.start, period.end, self.open_window())
        labels = option_labels(self.ctx.surveys.values())
        groups: dict[str, dict[str, Any]] = {}
        for option, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            groups[option] = {
                "count": count,
                "share": count / low,
                "label": labels.get(option, option),
            }
        rest = low - sum(counts.values())
        if rest > 0:
            groups[NO_REASON] = {"count": rest, "share": rest / low, "label": "no reason given"}
        return groups

    def open_window(self) -> timedelta:
        """The longest a survey stays open (so the longest between a rating and its reason),
        with a day to spare for a survey whose expiry was shortened since."""
        spans = [survey.expires_after for survey in self.ctx.surveys.values()]
        spans += [channel.traits.default_expiry for channel in self.ctx.channels.values()]
        return max((span for span in spans if span is not None), default=timedelta(days=7)) + (
            timedelta(days=1)
        )

    def buckets(self, period: Period, unit: str) -> dict[str, dict[str, Any]]:
        """The period's calendar buckets (``unit`` in TIME_UNITS), each with the group fields
        and its bounds, in order, empty ones included: counted in one pass."""
        spans = buckets(period, unit)
        counts = self.ctx.store.bucket_counts(
            [span.start for span in spans] + [period.end], timezone=period.timezone
        )
        return {
            span.label: {
                "start": span.start.isoformat(),
                "end": span.end.isoformat(),
                **group_report(count),
            }
            for span, count in zip(spans, counts, strict=True)
        }

    def scores_for(self, channel: str, address: str, text: str) -> dict[str, Any]:
        """Leads-only access, the rule every channel reuses; refuses without disclosing anything."""
        if not self.is_lead(channel, address):
            raise NotAllowed(message("not_a_lead", None))
        return self.scores(self.parse_query(text))

    def trend(self, text: str) -> tuple[dict[str, Any], bytes]:
        """``trend [period] [by day|week|month]``: the report over time and its chart (PNG).
        Without a unit, up to two months go by day and longer periods by week."""
        from bot.charts import trend_png

        words = text.split()
        if words and words[0].lower() == "trend":
            words = words[1:]
        query = self.parse_query(" ".join(words))
        if query.by is None:
            days = (query.period.end - query.period.start).days
            query = replace(query, by="day" if days <= 62 else "week")
        if not query.over_time:
            raise InvalidInput("A trend goes by day, week or month, e.g. 'trend 30d by week'.")
        report = self.scores(query)
        return report, trend_png(report)

    def trend_for(self, channel: str, address: str, text: str) -> tuple[dict[str, Any], bytes]:
        if not self.is_lead(channel, address):
            raise NotAllowed(message("not_a_lead", None))
        return self.trend(text)

    def lead_score_reply(self, text: str) -> InboundResult:
        """A lead's typed SCORE query answered as a short chat message."""
        from bot.report_text import short_summary

        try:
            reply = short_summary(self.scores(self.parse_query(text)))
        except InvalidInput as exc:
            reply = str(exc)
        return InboundResult(replies=(OutboundMessage(text=reply),), reason=Reason.SCORE)

    def query_scores(self, period: str = "today", by: str | None = None) -> dict[str, Any]:
        text = period if by is None else f"{period} by {by}"
        now = self.ctx.clock()
        timezone = self.ctx.settings.csat_timezone
        resolve_period(period, now=now, timezone=timezone)
        return self.scores(parse_query(text, now=now, timezone=timezone))
