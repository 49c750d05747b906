"""Low-score alerts: what a lead sees when a customer is unhappy, the sinks that show it, and the
desk that posts each alert once, edits every copy when it changes and posts the one reminder.

An alert is a row in the database (one per low rating, see :mod:`storage.alerts`); a sink (the
leads' Slack channel, their Telegram chat) shows it as a message with "I'll follow up" and
"Resolved" buttons. The messages a sink posted are remembered, so a claim made in Slack also
shows in Telegram.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from anyio import to_thread

from bot.surveys import Survey
from storage.interface import AlertPost, AlertRecord, Store
from storage.values import CSAT_KINDS, AlertStatus, FollowUpAction

log = logging.getLogger("csat.alerts")

ALERT_KINDS = CSAT_KINDS

CLAIM_LABEL = "I'll follow up"
RESOLVE_LABEL = "Resolved"


@dataclass(frozen=True)
class Alert:
    invitation_id: int
    interaction_id: str
    channel: str
    agent: str | None
    survey: str
    value: int
    scale_max: int
    comment: str | None = None
    id: int | None = None
    team: str | None = None
    reason: str | None = None
    status: AlertStatus = AlertStatus.OPEN
    created_at: datetime | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    reminded_at: datetime | None = None
    created: bool = True  # raised by this reply: post it (else: edit the posts that show it)
    reminder: bool = False  # posted again because nobody claimed it in time

    @classmethod
    def of(cls, stored: AlertRecord, *, created: bool = False, reminder: bool = False) -> Alert:
        return cls(
            invitation_id=stored.invitation_id,
            interaction_id=stored.interaction_id,
            channel=stored.channel,
            agent=stored.agent,
            survey=stored.survey,
            value=stored.value,
            scale_max=stored.scale_max,
            comment=stored.comment,
            id=stored.id,
            team=stored.team,
            reason=stored.reason,
            status=stored.status,
            created_at=stored.created_at,
            claimed_by=stored.claimed_by,
            claimed_at=stored.claimed_at,
            resolved_by=stored.resolved_by,
            resolved_at=stored.resolved_at,
            reminded_at=stored.reminded_at,
            created=created,
            reminder=reminder,
        )

    def actions(self) -> tuple[FollowUpAction, ...]:
        """The buttons the alert still carries: none once resolved."""
        if self.id is None or self.status is AlertStatus.RESOLVED:
            return ()
        if self.status is AlertStatus.CLAIMED:
            return (FollowUpAction.RESOLVE,)
        return (FollowUpAction.CLAIM, FollowUpAction.RESOLVE)


def action_label(action: FollowUpAction) -> str:
    return CLAIM_LABEL if action is FollowUpAction.CLAIM else RESOLVE_LABEL


class AlertSink(Protocol):
    """Where alerts go (a Slack channel, a Telegram chat). ``post_alert`` returns the message it
    posted, so a claim can edit it later; a failure raises and is logged by the desk."""

    name: str  # what its posts are recorded under ("slack", "telegram")

    async def post_alert(self, alert: Alert) -> AlertPost | None: ...

    async def edit_alert(self, alert: Alert, post: AlertPost) -> None: ...


def elapsed(start: datetime | None, end: datetime | None) -> str:
    """ "12 min", "3 h 5 min", "2 days": how long after the rating something happened."""
    if start is None or end is None:
        return ""
    minutes = max(0, int((end - start).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days"


def follow_up_line(alert: Alert) -> str:
    """Where the follow-up stands, in one line ("Claimed by @ann 12 min after the rating")."""
    if alert.status is AlertStatus.RESOLVED:
        line = f"Resolved by {alert.resolved_by} {elapsed(alert.created_at, alert.resolved_at)}"
        line += " after the rating"
        if alert.claimed_by and alert.claimed_by != alert.resolved_by:
            line += f" (claimed by {alert.claimed_by})"
        return line
    if alert.status is AlertStatus.CLAIMED:
        after = elapsed(alert.created_at, alert.claimed_at)
        return f"Claimed by {alert.claimed_by} {after} after the rating"
    return "Nobody is following up yet"


def alert_text(alert: Alert) -> str:
    agent = alert.agent or "no agent"
    text = (
        f"Low score {alert.value}/{alert.scale_max} on {alert.channel} for interaction "
        f"{alert.interaction_id} (agent {agent}, survey {alert.survey})"
    )
    if alert.reminder:
        waited = elapsed(alert.created_at, alert.reminded_at)
        text = f"Reminder: nobody has followed this up in {waited}.\n{text}"
    if alert.reason:
        text += f"\nReason: {alert.reason}"
    if alert.comment:
        text += f'\nComment: "{alert.comment}"'
    if alert.id is not None:
        text += f"\n{follow_up_line(alert)}"
    return text


class AlertDesk:
    """Posts new alerts to every sink and records the messages; edits them when the alert
    changes (a comment arrived, someone claimed it). A sink that fails is logged, never raised:
    the rating is stored already. The store is used off the event loop."""

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        store: Store | None,
        clock: Callable[[], datetime],
        surveys: Mapping[str, Survey] | None = None,
    ) -> None:
        self.sinks = list(sinks)
        self.store = store
        self.clock = clock
        self.surveys = dict(surveys or {})

    def shown(self, alert: Alert) -> Alert:
        """The alert as leads read it: the reason's text (in the survey's fallback language)
        rather than the option id that is stored."""
        survey = self.surveys.get(alert.survey)
        if alert.reason is None or survey is None:
            return alert
        for question in survey.questions:
            option = question.option(alert.reason)
            if option is not None:
                return replace(alert, reason=option.text("", survey.fallback_locale))
        return alert

    async def publish(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            if alert.created or alert.reminder or alert.id is None:
                await self.post(alert)
            else:
                await self.refresh(alert)

    async def post(self, alert: Alert) -> None:
        made: list[AlertPost] = []
        for sink in self.sinks:
            try:
                post = await sink.post_alert(self.shown(alert))
            except Exception:
                log.exception("could not post alert for %s", alert.interaction_id)
                continue
            if post is not None:
                made.append(post)
        if made and alert.id is not None and self.store is not None:
            try:
                await to_thread.run_sync(self.store.add_alert_posts, alert.id, made, self.clock())
            except Exception:
                log.exception("could not record the alert posts for %s", alert.interaction_id)

    async def refresh(self, alert: Alert) -> None:
        """Show the alert as it now stands in every message that shows it."""
        store = self.store
        if alert.id is None or not self.sinks or store is None:
            return
        try:
            stored = await to_thread.run_sync(store.alert, alert.id)
            posts = await to_thread.run_sync(store.alert_posts, alert.id)
        except Exception:
            log.exception("could not read alert %s", alert.id)
            return
        if stored is None:
            return
        shown = self.shown(Alert.of(stored))
        for post in posts:
            for sink in self.sinks:
                if sink.name != post.sink:
                    continue
                try:
                    await sink.edit_alert(shown, post)
                except Exception:
                    log.exception("could not edit alert message %s", post.message_id)


def describe(alert: AlertRecord) -> dict[str, Any]:
    """An alert in the API's JSON shape."""
    return {
        "id": alert.id,
        "status": alert.status.value,
        "invitation_id": alert.invitation_id,
        "interaction_id": alert.interaction_id,
        "channel": alert.channel,
        "agent": alert.agent,
        "team": alert.team,
        "survey": alert.survey,
        "value": alert.value,
        "scale_max": alert.scale_max,
        "reason": alert.reason,
        "comment": alert.comment,
        "created_at": alert.created_at.isoformat(),
        "reminded_at": None if alert.reminded_at is None else alert.reminded_at.isoformat(),
        "claimed_by": alert.claimed_by,
        "claimed_at": None if alert.claimed_at is None else alert.claimed_at.isoformat(),
        "resolved_by": alert.resolved_by,
        "resolved_at": None if alert.resolved_at is None else alert.resolved_at.isoformat(),
    }
