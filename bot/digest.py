"""Scheduled digests: the period's score posted where the leads are, once per period.

``CSAT_DIGEST`` is ``daily HH:MM`` or ``weekly <mon..sun> HH:MM`` in ``CSAT_TIMEZONE``. At that
local time the digest of the period just ended (yesterday, or the seven days before) goes to
``SLACK_DIGEST_CHANNEL`` and ``TELEGRAM_DIGEST_CHAT``: the score with its interval, the change
against the period before and whether it is significant, the response rate, the three weakest
agents and teams among those with enough answers, the top reasons of low scores (when a survey
asks for them), the latest low-score comments, and the trend.

Every ``csat serve`` and ``csat worker`` looks (in the sender loop's housekeeping), so a digest is
claimed in the database before it is built: exactly one process sends it. A claim is a lease; a
process that dies between claim and send leaves the period to be claimed again when the lease
runs out, so a digest is late rather than lost. After downtime the periods missed in the last
week are sent, oldest first. Local times go through the zone, so DST moves nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from anyio import to_thread

from bot.comments import Comments
from bot.context import ServiceContext
from bot.errors import ConfigError
from bot.followups import figures_text
from bot.periods import REASON, Period, ScoreQuery, calendar_span, local_midnight
from bot.report_text import group_line, top_reasons
from bot.reports import Reports
from bot.settings import DIGEST_SCHEDULE

log = logging.getLogger("csat.digest")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CATCH_UP = timedelta(days=7)
LEASE = timedelta(minutes=10)


class DigestSink(Protocol):
    """Where a digest goes (a Slack channel, a Telegram chat)."""

    async def post_digest(self, text: str, chart: bytes, title: str) -> None: ...


@dataclass(frozen=True)
class Schedule:
    weekly: bool
    weekday: int  # 0 = Monday; ignored when daily
    at: time

    @classmethod
    def parse(cls, text: str) -> Schedule:
        match = DIGEST_SCHEDULE.fullmatch(" ".join(text.lower().split()))
        if match is None:
            raise ConfigError(
                f"CSAT_DIGEST: {text!r} is not 'daily HH:MM' or 'weekly <mon..sun> HH:MM'"
            )
        weekly = match.group(1).startswith("weekly")
        weekday = DAYS.index(match.group(2)) if weekly else 0
        return cls(weekly, weekday, time(int(match.group(3)), int(match.group(4))))

    @property
    def key(self) -> str:
        day = f" {DAYS[self.weekday]}" if self.weekly else ""
        return f"{'weekly' if self.weekly else 'daily'}{day} {self.at:%H:%M}"

    def due(self, now: datetime, timezone: str, since: datetime) -> list[Period]:
        """The periods whose digest time lies in (since, now], oldest first."""
        zone = ZoneInfo(timezone)
        today = now.astimezone(zone).date()
        periods: list[Period] = []
        day = (since.astimezone(zone) - timedelta(days=1)).date()
        while day <= today:
            if not self.weekly or day.weekday() == self.weekday:
                moment = _local_time(day, self.at, zone, timezone)
                if since < moment <= now:
                    periods.append(self.period_before(day, timezone))
            day += timedelta(days=1)
        return periods

    def period_before(self, day: date, timezone: str) -> Period:
        """The period a digest sent on ``day`` covers: the day before, or the seven before."""
        first = day - timedelta(days=7 if self.weekly else 1)
        label = _label(first, day) if self.weekly else first.isoformat()
        return calendar_span(label, first, day, timezone)


def _label(first: date, stop: date) -> str:
    return f"{first.isoformat()}..{(stop - timedelta(days=1)).isoformat()}"


def _local_time(day: date, at: time, zone: ZoneInfo, timezone: str) -> datetime:
    """``at`` on ``day`` in the zone; in a DST gap the first instant after it."""
    start = local_midnight(day, timezone)
    wall = datetime.combine(day, at, tzinfo=zone)
    moment = wall.astimezone(start.tzinfo)
    return max(moment, start)


class Digests:
    def __init__(self, ctx: ServiceContext, sinks: Sequence[DigestSink]) -> None:
        self.ctx = ctx
        self.sinks = list(sinks)
        self.reports = Reports(ctx)
        self.comments = Comments(ctx)
        setting = ctx.settings.csat_digest.strip()
        self.schedule = Schedule.parse(setting) if setting else None
        self._checked: datetime | None = None
        # Periods another process held when this one looked: tried again once that claim's
        # lease may have run out (the holder may have died mid-send).
        self._held_elsewhere: dict[datetime, tuple[Period, datetime]] = {}

    async def run_due(self) -> int:
        """Send the digests that are due and not sent by anyone; returns how many this did."""
        if self.schedule is None or not self.sinks:
            return 0
        now = self.ctx.clock()
        timezone = self.ctx.settings.csat_timezone
        if self._checked is None:
            # Started: catch up from the newest digest on record, or, on a new install, send
            # only the latest period rather than a week of them.
            last = await to_thread.run_sync(self.ctx.store.last_digest, self.schedule.key)
            due = self.schedule.due(now, timezone, now - CATCH_UP)
            due = [p for p in due if p.start >= last] if last is not None else due[-1:]
        else:
            due = self.schedule.due(now, timezone, self._checked)
        self._checked = now
        for start, (period, retry_at) in list(self._held_elsewhere.items()):
            if retry_at <= now:
                del self._held_elsewhere[start]
                due.append(period)
        sent = 0
        for period in due:
            sent += await self._send(period, now)
        return sent

    async def _send(self, period: Period, now: datetime) -> int:
        assert self.schedule is not None
        store, key = self.ctx.store, self.schedule.key
        token = await to_thread.run_sync(
            lambda: store.claim_digest(key, period.start, now, now + LEASE)
        )
        if token is None:
            # Sent, or being sent, by another process: look once more when its lease is over
            # (a claim then is refused again if it was sent, and taken if its holder died).
            self._held_elsewhere.setdefault(period.start, (period, now + LEASE))
            return 0
        text, chart, title = await to_thread.run_sync(self.build, period)
        for sink in self.sinks:
            try:
                await sink.post_digest(text, chart, title)
            except Exception:
                log.exception("digest %s: a sink failed", period.label)
        await to_thread.run_sync(
            lambda: store.finish_digest(key, period.start, token, self.ctx.clock())
        )
        log.info("digest %s sent", period.label)
        return 1

    def build(self, period: Period) -> tuple[str, bytes, str]:
        """The digest's text, its trend chart and a title."""
        from bot.charts import trend_png

        report = self.reports.scores(ScoreQuery(period=period, by=None))
        lines = [f"CSAT digest {period.label} ({period.timezone})", group_line(report["overall"])]
        follow_up = figures_text(report.get("follow_up") or {})
        if follow_up:
            lines.append(follow_up)
        for dimension in ("agent", "team"):
            weakest = self._weakest(period, dimension)
            if weakest:
                lines.append(f"Weakest by {dimension}: " + "; ".join(weakest))
        reasons = top_reasons(self.reports.scores(ScoreQuery(period=period, by=REASON)))
        if reasons:
            lines.append(reasons)
        page = self.comments.latest(self.comments.parse(f"{period.label} low"), limit=3)
        if page["comments"]:
            lines.append("Latest low-score comments:")
            for item in page["comments"]:
                rating = f"{item['rating']}/{item['scale_max']}" if item["rating"] else "-"
                lines.append(f"  {rating} {item.get('agent') or '-'}: {item['comment'][:200]}")
        unit = "day"
        trend = self.reports.scores(ScoreQuery(period=_trend_span(period), by=unit))
        title = f"CSAT {trend['period']['label']} by {unit}"
        return "\n".join(lines), trend_png(trend), title

    def _weakest(self, period: Period, dimension: str) -> list[str]:
        groups: dict[str, Any] = self.reports.scores(ScoreQuery(period=period, by=dimension))[
            "groups"
        ]
        scored = [
            (group["csat"]["score"], name)
            for name, group in groups.items()
            if not group["low_sample"] and (group.get("csat") or {}).get("score") is not None
        ]
        return [f"{name} {score:.1f}%" for score, name in sorted(scored)[:3]]


def _trend_span(period: Period) -> Period:
    """The trend behind a digest: the fourteen days up to the period's end (a local midnight)."""
    stop = period.end.astimezone(ZoneInfo(period.timezone)).date()
    first = stop - timedelta(days=14)
    return calendar_span(_label(first, stop), first, stop, period.timezone)
