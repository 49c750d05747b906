"""Low-score alerts: what a lead sees when a customer is unhappy, and the sinks that post it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.values import CSAT_KINDS

log = logging.getLogger("csat.alerts")

ALERT_KINDS = CSAT_KINDS


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


class AlertSink(Protocol):
    """Where alerts go (a Slack channel, a Telegram chat); failures are logged, never raised."""

    async def post_alert(self, alert: Alert) -> None: ...


def alert_text(alert: Alert) -> str:
    agent = alert.agent or "no agent"
    text = (
        f"Low score {alert.value}/{alert.scale_max} on {alert.channel} for interaction "
        f"{alert.interaction_id} (agent {agent}, survey {alert.survey})"
    )
    if alert.comment:
        text += f'\nComment: "{alert.comment}"'
    return text


async def dispatch(sinks: Sequence[AlertSink], alerts: Sequence[Alert]) -> None:
    for alert in alerts:
        for sink in sinks:
            try:
                await sink.post_alert(alert)
            except Exception:
                log.exception("could not post alert for %s", alert.interaction_id)
