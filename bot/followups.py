"""Following up low ratings: claim and resolve an alert from chat, remind once, and the figures.

A tap on "I'll follow up" or "Resolved" in the leads' Slack channel or Telegram chat comes here
with who tapped. Only leads (``CSAT_LEADS``) and ``CSAT_AGENTS`` may act; anyone else is told so
and nothing changes. Each change is a compare-and-set on the alert's version, so two people
tapping at once get one claim and one "already claimed by ...".
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.alerts import Alert
from bot.context import ServiceContext
from storage.interface import AlertRecord, FollowUpTimes, OutboxRow
from storage.values import AlertStatus, FollowUpAction

if TYPE_CHECKING:  # reports use the figures below and should not load the HTTP client
    from bot.webhooks import Webhooks

NOT_ALLOWED = "Only leads and the agents in CSAT_AGENTS can follow up alerts."
UNKNOWN = "That alert is no longer here."
REMINDER_BATCH = 20
_ATTEMPTS = 3
FOLLOW_UP_DIMENSIONS = ("agent", "team")


@dataclass(frozen=True)
class FollowUpResult:
    alert: Alert | None  # the alert as it now is (to show in every message), when it changed
    notice: str  # what the person who tapped is told ("" when the changed message says it all)


class FollowUps:
    def __init__(self, ctx: ServiceContext, webhooks: Webhooks | None = None) -> None:
        from bot.webhooks import Webhooks

        self.ctx = ctx
        self.webhooks = webhooks or Webhooks(ctx)

    def act(
        self, channel: str, address: str, who: str, alert_id: int, action: FollowUpAction
    ) -> FollowUpResult:
        """Claim or resolve ``alert_id`` as ``who`` (a display name: "@ann")."""
        if not self.ctx.may_follow_up(channel, address):
            return FollowUpResult(None, NOT_ALLOWED)
        store = self.ctx.store
        for _ in range(_ATTEMPTS):
            alert = store.alert(alert_id)
            if alert is None:
                return FollowUpResult(None, UNKNOWN)
            now = self.ctx.clock()
            changes, notice = _decide(alert, action, who, now)
            if not changes:
                return FollowUpResult(None, notice)
            changed = store.follow_up(
                alert_id, alert.version, changes, functools.partial(self._events, now=now)
            )
            if changed is not None:
                return FollowUpResult(Alert.of(changed), notice)
        return FollowUpResult(None, "Someone else changed that alert just now; try again.")

    def _events(self, alert: AlertRecord, *, now: datetime) -> list[OutboxRow]:
        return self.webhooks.for_follow_up(alert, now)

    def due_reminders(self) -> list[Alert]:
        """The open alerts whose reminder is due, each handed to one process only, ever."""
        if self.ctx.settings.follow_up_after() is None:
            return []
        found = self.ctx.store.due_reminders(self.ctx.clock(), REMINDER_BATCH)
        return [Alert.of(alert, reminder=True) for alert in found]

    def listed(
        self, status: AlertStatus | None, limit: int, before_id: int | None = None
    ) -> list[AlertRecord]:
        return self.ctx.store.alerts(status, limit, before_id)


def _decide(
    alert: AlertRecord, action: FollowUpAction, who: str, now: datetime
) -> tuple[dict[str, Any], str]:
    """What a tap changes, and what the person who tapped is told."""
    if alert.status is AlertStatus.RESOLVED:
        return {}, f"Already resolved by {alert.resolved_by}."
    if action is FollowUpAction.CLAIM:
        if alert.status is AlertStatus.CLAIMED:
            if alert.claimed_by == who:
                return {}, "You are already following this up."
            return {}, f"Already claimed by {alert.claimed_by}."
        return {"status": AlertStatus.CLAIMED.value, "claimed_by": who, "claimed_at": now}, ""
    changes: dict[str, Any] = {
        "status": AlertStatus.RESOLVED.value,
        "resolved_by": who,
        "resolved_at": now,
    }
    if alert.claimed_at is None:
        # Resolved straight away: whoever resolved it took it up at that moment.
        changes.update(claimed_by=who, claimed_at=now)
    return changes, ""


def follow_up_figures(times: Iterable[FollowUpTimes]) -> dict[str, Any]:
    """How many alerts, how many were followed up, and how fast (medians, in minutes)."""
    rows = list(times)
    claimed = [row for row in rows if row.claimed_at is not None]
    resolved = [row for row in rows if row.resolved_at is not None]
    return {
        "alerts": len(rows),
        "claimed": len(claimed),
        "resolved": len(resolved),
        "follow_up_rate": round(len(claimed) / len(rows), 4) if rows else None,
        "median_minutes_to_claim": _median_minutes(
            (row.claimed_at - row.created_at).total_seconds() for row in claimed if row.claimed_at
        ),
        "median_minutes_to_resolve": _median_minutes(
            (row.resolved_at - row.created_at).total_seconds()
            for row in resolved
            if row.resolved_at
        ),
    }


def _median_minutes(seconds: Iterable[float]) -> float | None:
    values = list(seconds)
    if not values:
        return None
    return round(statistics.median(values) / 60, 1)


def follow_up_report(times: Iterable[FollowUpTimes], by: str | None) -> dict[str, Any]:
    """The figures overall and, by agent or team, per group (``None`` for no agent / team)."""
    rows = list(times)
    report = follow_up_figures(rows)
    if by in FOLLOW_UP_DIMENSIONS:
        groups: dict[str, list[FollowUpTimes]] = {}
        for row in rows:
            key = getattr(row, by) or "(none)"
            groups.setdefault(key, []).append(row)
        report["groups"] = {key: follow_up_figures(found) for key, found in sorted(groups.items())}
    return report


def figures_text(figures: Mapping[str, Any]) -> str:
    """One line for chat: "Follow-up: 8/10 alerts claimed, median 12 min to claim, 3 h to
    resolve"; empty when there were no alerts."""
    alerts = figures.get("alerts") or 0
    if not alerts:
        return ""
    text = f"Follow-up: {figures['claimed']}/{alerts} alerts claimed"
    claim = figures.get("median_minutes_to_claim")
    resolve = figures.get("median_minutes_to_resolve")
    if claim is not None:
        text += f", median {minutes_text(claim)} to claim"
    if resolve is not None:
        text += f", {minutes_text(resolve)} to resolve"
    return text


def minutes_text(value: float | None) -> str:
    """ "12 min", "3.5 h", or "-" for none."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:g} min"
    return f"{value / 60:.1f} h"
