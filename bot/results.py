"""What the use cases answer: a trigger's result, an inbound message's result and its outcome."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.alerts import Alert
from bot.channel import Button, OutboundMessage
from storage.values import Closure, Reason, Status


@dataclass(frozen=True)
class TriggerResult:
    interaction_id: str
    survey: str
    invitation_id: int
    status: Status
    reason: Closure | None
    send_at: datetime
    duplicate: bool
    url: str | None = None  # the survey page, for a channel answered there (link)

    def as_json(self) -> dict[str, Any]:
        # Field by field: asdict() deep-copies every value, a tenth of a 1000-item trigger.
        found = {
            "interaction_id": self.interaction_id,
            "survey": self.survey,
            "invitation_id": self.invitation_id,
            "status": self.status,
            "reason": self.reason,
            "send_at": self.send_at.isoformat(),
            "duplicate": self.duplicate,
        }
        if self.url is not None:
            found["url"] = self.url
        return found


@dataclass(frozen=True)
class Tap:
    """A tapped rating button, as the channel's button data named it: the core decides whether
    it still counts."""

    invitation_id: int
    question_id: str
    value: int


@dataclass(frozen=True)
class Comment:
    """Text typed into a form's comment box (the web survey page): a comment as written, where
    a typed reply would be read as a rating, a skip or a keyword first."""

    invitation_id: int
    question_id: str
    text: str


@dataclass(frozen=True)
class Incoming:
    """One message from a customer or a lead: what every adapter hands the hub
    (:meth:`bot.hub.Hub.receive`), whatever the provider sent.

    ``text`` is what was typed (keywords, answers, a lead's SCORE); ``tap`` a rating button
    instead, ``comment`` a comment box's text. ``provider_message_id`` makes a provider's retry
    a no-op that gets the first answer back; ``invitation_id`` names the survey when the
    channel knows it (a Slack modal).
    """

    channel: str
    address: str
    text: str = ""
    _: KW_ONLY
    tap: Tap | None = None
    comment: Comment | None = None
    provider_message_id: str | None = None
    invitation_id: int | None = None


class Outcome(StrEnum):
    """What an inbound message came to, for an adapter to act on (edit the survey message, let
    a host bot have the message...) without reading the core's reason codes."""

    RECORDED = "recorded"  # a rating or an option was stored, or a rating corrected
    COMMENT = "comment"  # the comment was stored
    CLOSED = "closed"  # it answers a survey that is over (expired, closed, redefined)
    NOT_AN_ANSWER = "not_an_answer"  # no open survey: none sent, or the newest is done
    OTHER = "other"  # a re-prompt, a keyword, a lead's command, a skipped comment...


_OUTCOMES = {
    Reason.RATING: Outcome.RECORDED,
    Reason.CHOICE: Outcome.RECORDED,
    Reason.CORRECTION: Outcome.RECORDED,
    Reason.COMMENT: Outcome.COMMENT,
    Reason.LATE: Outcome.CLOSED,
    Reason.CLOSED: Outcome.CLOSED,
    Reason.SURVEY_CHANGED: Outcome.CLOSED,
    Reason.NO_OPEN_SURVEY: Outcome.NOT_AN_ANSWER,
    Reason.AFTER_COMPLETION: Outcome.NOT_AN_ANSWER,
}


@dataclass(frozen=True)
class InboundResult:
    replies: tuple[OutboundMessage, ...]
    reason: Reason  # the core's own code, for logs and tests; adapters read ``outcome``
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
