"""Signed outbound webhooks: ``response.created``/``.updated``, ``alert.created``/``.claimed``/
``.resolved``.

Each event is JSON ``{"id", "type", "created_at", "data"}``, queued in the outbox by the same
transaction that records what it tells (so a crash loses none and tells nothing that was rolled
back), and posted later by the sender loop to every URL of ``CSAT_WEBHOOK_URLS``: a slow or failing
receiver never slows a reply. Delivery is at least once: a receiver may see an id again after a
crash or a lost answer, and should keep the ids it has seen. A non-2xx answer, a timeout or no
connection is tried again after 10 s, 20 s, 40 s... up to an hour apart, for three days.

Every post carries ``Csat-Webhook-Id``, ``Csat-Webhook-Timestamp`` (Unix seconds) and
``Csat-Webhook-Signature: v1=<hex>``, the HMAC-SHA256 under ``CSAT_WEBHOOK_SECRET`` of
``"<timestamp>.<body>"``; see the README for checking it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from anyio import to_thread

from bot.alerts import Alert, describe
from bot.context import ServiceContext
from bot.engine import Record
from storage.interface import AlertRecord, OpenInvitation, OutboxEvent, OutboxRow
from storage.values import AlertStatus, Reason

log = logging.getLogger("csat.webhooks")

LEASE = timedelta(minutes=2)
BATCH = 50
TIMEOUT = 10.0
FIRST_RETRY = 10.0  # seconds; doubled each time
LONGEST_RETRY = 3600.0
GIVE_UP_AFTER = timedelta(days=3)


@dataclass
class Delivered:
    delivered: int = 0
    retried: int = 0
    failed: int = 0


def signature(secret: str, timestamp: int, body: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"v1={mac.hexdigest()}"


class Webhooks:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.urls = ctx.settings.webhook_urls()
        secret = ctx.settings.csat_webhook_secret
        self._secret = secret.get_secret_value().strip() if secret is not None else ""

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    def _rows(self, type_: str, data: dict[str, Any], now: datetime) -> list[OutboxRow]:
        event_id = f"evt_{uuid.uuid4().hex}"
        body = json.dumps(
            {"id": event_id, "type": type_, "created_at": now.isoformat(), "data": data},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return [OutboxRow(event_id, url, type_, body, now) for url in self.urls]

    def for_reply(
        self,
        invitation: OpenInvitation,
        reason: Reason,
        records: Sequence[Record],
        alerts: Sequence[Alert],
        now: datetime,
    ) -> list[OutboxRow]:
        """The events of one recorded reply: the response created (a first rating) or updated
        (a comment, a correction), and any alert it raised."""
        rows: list[OutboxRow] = []
        kind = {
            Reason.RATING: "response.created",
            Reason.CORRECTION: "response.updated",
            Reason.COMMENT: "response.updated",
            Reason.CHOICE: "response.updated",
        }.get(reason)
        if kind is not None and records:
            data = {
                "invitation_id": invitation.id,
                "interaction_id": invitation.interaction_id,
                "survey": invitation.survey,
                "channel": invitation.channel,
                "agent": invitation.agent,
                "team": invitation.team,
                "locale": invitation.locale,
                "answers": [
                    {
                        "question": record.question.id,
                        "kind": record.question.kind,
                        "value": record.value,
                        "scale_max": record.question.scale.maximum
                        if record.question.scale is not None
                        else None,
                        "comment": record.comment,
                        "choice": record.choice,
                    }
                    for record in records
                ],
            }
            rows += self._rows(kind, data, now)
        # One alert per low rating: what follows it (a comment, a reason) is the response's update.
        for alert in (alert for alert in alerts if alert.created):
            rows += self._rows(
                "alert.created",
                {
                    "alert_id": alert.id,
                    "invitation_id": alert.invitation_id,
                    "interaction_id": alert.interaction_id,
                    "channel": alert.channel,
                    "agent": alert.agent,
                    "team": alert.team,
                    "survey": alert.survey,
                    "value": alert.value,
                    "scale_max": alert.scale_max,
                },
                now,
            )
        return rows

    def for_follow_up(self, alert: AlertRecord, now: datetime) -> list[OutboxRow]:
        """``alert.claimed`` or ``alert.resolved``, told by the transaction that records it."""
        if not self.enabled or alert.status is AlertStatus.OPEN:
            return []
        kind = "alert.resolved" if alert.status is AlertStatus.RESOLVED else "alert.claimed"
        return self._rows(kind, describe(alert), now)

    async def deliver_due(self, client: httpx.AsyncClient | None = None) -> Delivered:
        """Post the due events (a batch, side by side) and record each outcome."""
        done = Delivered()
        if not self.enabled:
            return done
        store, now = self.ctx.store, self.ctx.clock()
        events = await to_thread.run_sync(store.claim_events, now, now + LEASE, BATCH)
        if not events:
            return done
        own = client is None
        http = client or httpx.AsyncClient(timeout=TIMEOUT)
        try:
            outcomes = await asyncio.gather(*(self._post(http, event) for event in events))
        finally:
            if own:
                await http.aclose()
        for event, error in zip(events, outcomes, strict=True):
            changes = self._outcome(event, error)
            await to_thread.run_sync(store.finish_event, event, changes)
            if error is None:
                done.delivered += 1
            elif "failed_at" in changes:
                done.failed += 1
            else:
                done.retried += 1
        if done.retried or done.failed:
            log.info("webhooks: %s", done)
        return done

    async def _post(self, http: httpx.AsyncClient, event: OutboxEvent) -> str | None:
        """None when the receiver took it (2xx), else what went wrong."""
        timestamp = int(self.ctx.clock().timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": "csat-bot webhooks",
            "csat-webhook-id": event.event_id,
            "csat-webhook-timestamp": str(timestamp),
            "csat-webhook-signature": signature(self._secret, timestamp, event.body),
        }
        try:
            answer = await http.post(event.url, content=event.body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code}"

    def _outcome(self, event: OutboxEvent, error: str | None) -> dict[str, Any]:
        now = self.ctx.clock()
        if error is None:
            return {"delivered_at": now, "last_error": None}
        if now - event.created_at >= GIVE_UP_AFTER:
            return {"failed_at": now, "last_error": error, "attempts": event.attempts + 1}
        wait = min(FIRST_RETRY * 2**event.attempts, LONGEST_RETRY)
        return {
            "next_at": now + timedelta(seconds=wait),
            "attempts": event.attempts + 1,
            "last_error": error,
        }
