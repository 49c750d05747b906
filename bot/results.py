"""What the use cases answer: a trigger's result, an inbound message's result and its outcome."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.alerts import Alert
from bot.channel import Button, OutboundMessage
from storage.values import Status


@dataclass(frozen=True)
class TriggerResult:
    interaction_id: str
    survey: str
    invitation_id: int
    status: Status
    reason: str | None
    send_at: datetime
    duplicate: bool

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["send_at"] = self.send_at.isoformat()
        return data


class Outcome(StrEnum):
    """What an inbound message came to, for an adapter to act on (edit the survey message, let
    a host bot have the message...) without reading the core's reason codes."""

    RECORDED = "recorded"  # a rating was stored, or replaced by a correction
    COMMENT = "comment"  # the comment was stored
    CLOSED = "closed"  # it answers a survey that is over (expired, closed, redefined)
    NOT_AN_ANSWER = "not_an_answer"  # no open survey: none sent, or the newest is done
    OTHER = "other"  # a re-prompt, a keyword, a lead's command, a skipped comment...


_OUTCOMES = {
    "rating": Outcome.RECORDED,
    "correction": Outcome.RECORDED,
    "comment": Outcome.COMMENT,
    "late": Outcome.CLOSED,
    "closed": Outcome.CLOSED,
    "survey_changed": Outcome.CLOSED,
    "no_open_survey": Outcome.NOT_AN_ANSWER,
    "after_completion": Outcome.NOT_AN_ANSWER,
}


@dataclass(frozen=True)
class InboundResult:
    replies: tuple[OutboundMessage, ...]
    reason: str  # the core's own code, for logs and tests; adapters read ``outcome``
    duplicate: bool = False
    invitation_id: int | None = None
    alerts: tuple[Alert, ...] = ()
    closed: bool = False

    @property
    def outcome(self) -> Outcome:
        return _OUTCOMES.get(self.reason, Outcome.OTHER)


_MESSAGE_FIELDS = tuple(f.name for f in fields(OutboundMessage))


def encode_replies(replies: Sequence[OutboundMessage]) -> str:
    """The replies as stored for a provider retry: what ``asdict`` gives, built without its deep
    copy, which cost more than the INSERT that stores it."""
    return json.dumps(
        [
            {f: getattr(r, f) for f in _MESSAGE_FIELDS}
            | {"buttons": [{"label": b.label, "value": b.value} for b in r.buttons]}
            for r in replies
        ]
    )


def decode_replies(raw: str | None) -> tuple[OutboundMessage, ...]:
    items = json.loads(raw) if raw else []
    return tuple(
        OutboundMessage(**{**item, "buttons": tuple(Button(**b) for b in item["buttons"])})
        for item in items
    )
