"""The seam between the use cases and the database: what they may ask, in the project's own types.

The use cases (``bot``) see only these protocols and the records below; sessions, prepared
statements, SQLite's write turn and whether a write runs on the event loop or a thread all live
behind them, in :class:`storage.sql_store.SqlStore`. Nothing here imports SQLAlchemy.

A :class:`Transaction` is one unit of work: every call inside ``with store.writing() as tx`` is
committed together when the block ends, or rolled back when it raises. A key the database already
holds (a provider's retry, two writers racing for one interaction) surfaces as
:class:`storage.errors.DuplicateKey`, from the statement or from the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypedDict, TypeVar

from storage.values import (
    AlertStatus,
    Closure,
    Counts,
    PeriodCounts,
    Reason,
    Refreshed,
    Status,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OpenInvitation:
    """What the reply path needs of an invitation; the dimensions are copied onto answers."""

    id: int
    status: Status
    question_index: int
    reprompts: int
    version: int
    expires_at: datetime | None
    responded_at: datetime | None
    survey: str
    survey_version: str
    locale: str
    interaction_id: str
    channel: str
    agent: str | None
    team: str | None
    touchpoint: str | None


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """The respondent an address belongs to, and the survey a reply from it answers (if any)."""

    respondent_id: int
    respondent_locale: str | None
    invitation: OpenInvitation | None


@dataclass(frozen=True)
class OutboxRow:
    """One event for one receiving URL, written with what it tells."""

    event_id: str
    url: str
    type: str
    body: str  # the JSON as it will be posted (and signed)
    created_at: datetime


@dataclass(frozen=True)
class OutboxEvent:
    """A claimed outbox row, to post."""

    id: int
    event_id: str
    url: str
    body: str
    attempts: int
    created_at: datetime
    claim_token: str


@dataclass(frozen=True)
class PageTarget:
    """An invitation as its web survey page shows it, and who answers there (the address is
    None once the respondent was erased)."""

    id: int
    channel: str
    address: str | None
    status: Status
    question_index: int
    survey: str
    survey_version: str
    locale: str
    send_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class StoredReply:
    """What was answered the first time a provider message id came."""

    reply: str | None  # the replies as JSON (bot.results.encode_replies)
    reason: str
    invitation_id: int | None


@dataclass(frozen=True)
class GivenAnswer:
    value: int | None
    kind: str
    scale_max: int | None


@dataclass(frozen=True)
class Step:
    """An invitation moved on by a reply. ``responded_at`` is set only where still empty;
    ``closed_at`` and ``reason`` only when given."""

    status: Status
    question_index: int
    reprompts: int
    responded_at: datetime | None
    closed_at: datetime | None
    reason: Closure | None


@dataclass(frozen=True)
class InboundRow:
    channel: str
    provider_message_id: str | None
    respondent_id: int | None
    invitation_id: int | None
    raw_text: str
    parsed_value: int | None
    reason: Reason
    reply: str
    received_at: datetime


@dataclass(frozen=True)
class AnswerRow:
    """An answer with the invitation's dimensions copied on, so reports read one table."""

    invitation_id: int
    question_id: str
    kind: str
    value: int | None
    comment: str | None
    scale_min: int | None
    scale_max: int | None
    positive: bool
    negative: bool
    answered_at: datetime
    channel: str
    agent: str | None
    team: str | None
    touchpoint: str | None
    survey: str
    locale: str
    choice: str | None = None  # the option id picked on a choice question


@dataclass(frozen=True)
class NewAlert:
    """A low rating to follow up, or what changed on it (a comment, a correction, a reason)."""

    invitation_id: int
    interaction_id: str
    channel: str
    agent: str | None
    team: str | None
    survey: str
    value: int
    scale_max: int
    comment: str | None
    reason: str | None
    created_at: datetime
    remind_at: datetime | None


@dataclass(frozen=True)
class AlertRecord:
    """An alert as stored: the rating, and who followed it up and when."""

    id: int
    invitation_id: int
    interaction_id: str
    channel: str
    agent: str | None
    team: str | None
    survey: str
    value: int
    scale_max: int
    comment: str | None
    reason: str | None
    status: AlertStatus
    created_at: datetime
    remind_at: datetime | None
    reminded_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    version: int


@dataclass(frozen=True)
class AlertPost:
    """A chat message that shows an alert: which sink, where, and the message's id there."""

    sink: str
    target: str
    message_id: str


@dataclass(frozen=True)
class SavedAlert:
    id: int
    created: bool  # the first time this rating raised an alert
    changed: bool = False  # an alert raised before now reads differently (value, comment, reason)


@dataclass(frozen=True)
class FollowUpTimes:
    """One alert of a span, for the follow-up figures."""

    agent: str | None
    team: str | None
    created_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class NewInvitation:
    interaction_id: str
    survey: str
    survey_version: str
    channel: str
    respondent_id: int
    throttle_key: str
    agent: str | None
    team: str | None
    touchpoint: str | None
    locale: str
    status: Status
    reason: Closure | None
    created_at: datetime
    send_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class Triggered:
    """An invitation already made for an (interaction, survey) pair."""

    id: int
    interaction_id: str
    survey: str
    status: Status
    reason: Closure | None
    send_at: datetime


@dataclass(frozen=True)
class Respondent:
    id: int
    locale: str | None


@dataclass(frozen=True)
class Receipted:
    """The invitation a delivery receipt is about."""

    id: int
    status: Status
    delivery_status: str | None
    responded_at: datetime | None
    address: str | None  # the respondent's, unless erased


class Changes(TypedDict, total=False):
    """Columns of an invitation a sender or a receipt may set (the version moves on by itself)."""

    status: Status
    reason: Closure | None
    closed_at: datetime | None
    send_at: datetime
    remind_at: datetime | None
    sent_at: datetime
    expires_at: datetime
    provider_message_id: str | None
    attempts: int
    last_error: str | None
    retry_until: datetime | None
    survey_version: str
    delivery_status: str


@dataclass(frozen=True)
class Claim:
    invitation_id: int
    token: str
    reminder: bool


@dataclass(frozen=True)
class DueSend:
    """A claimed invitation with what sending it needs."""

    claim: Claim
    id: int
    channel: str
    survey: str
    survey_version: str
    locale: str
    question_index: int
    attempts: int
    retry_until: datetime | None
    address: str | None  # None once the respondent was erased


@dataclass(frozen=True)
class CommentRow:
    """A customer's comment with the rating of the same survey (None when they gave none)."""

    answer_id: int
    answered_at: datetime
    comment: str
    invitation_id: int
    interaction_id: str
    channel: str
    agent: str | None
    team: str | None
    survey: str
    rating: int | None
    scale_max: int | None
    low: bool  # the rating is on the survey's unhappy side


class ReplyTransaction(Protocol):
    """The statements of one customer reply: the hottest write path, kept to a few lookups."""

    def reply_target(
        self, channel: str, address_hash: str, now: datetime, invitation_id: int | None
    ) -> ReplyTarget | None:
        """Respondent and the invitation a reply answers (``invitation_id``'s, or the newest
        open one); None when the address is unknown."""

    def stored_reply(self, channel: str, provider_message_id: str) -> StoredReply | None: ...

    def answers_so_far(self, invitation_id: int) -> dict[str, GivenAnswer]:
        """question id -> the answer given so far."""

    def add_inbound(self, row: InboundRow) -> None:
        """Raises DuplicateKey when the provider's message id was recorded before (a retry)."""

    def step_invitation(self, invitation_id: int, version: int, step: Step) -> bool:
        """Move the invitation on if nobody else did since it was read at ``version``."""

    def save_answer(self, row: AnswerRow, *, exists: bool) -> None:
        """Insert the answer, or overwrite the one already there (the latest counts); the scale
        columns of an existing answer stay unless this one was rated on a scale."""

    def save_alert(self, alert: NewAlert) -> SavedAlert:
        """Raise the invitation's alert, or bring its rating, comment and reason up to date
        (one alert per invitation, whatever follows)."""
        ...

    def add_events(self, rows: Sequence[OutboxRow]) -> None:
        """Queue webhook events in this transaction (the outbox)."""


class Transaction(ReplyTransaction, Protocol):
    # -- respondents and suppression ----------------------------------------------------------

    def respondent(
        self, channel: str, address_hash: str, address: str, now: datetime
    ) -> Respondent:
        """The respondent of an address, created when new; an erased one gets its address back."""

    def find_respondent(self, channel: str, address_hash: str) -> Respondent | None: ...

    def is_suppressed(self, channel: str, address_hash: str) -> bool: ...

    def suppress(self, channel: str, address_hash: str, reason: str, now: datetime) -> bool:
        """Put the address on the suppression list; False when it already was."""

    def unsuppress(self, channel: str, address_hash: str) -> None: ...

    def close_open(self, respondent_id: int, reason: Closure, now: datetime) -> int:
        """Cancel the respondent's scheduled and sent surveys."""

    # -- triggering --------------------------------------------------------------------------

    def existing_invitations(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], Triggered]: ...

    def respondent_ids(
        self, digests: Mapping[tuple[str, str], str], now: datetime
    ) -> dict[tuple[str, str], int]:
        """The respondent id of every (channel, address) (``digests`` maps each to its
        pseudonym), creating those not seen before."""

    def suppressed(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (channel, pseudonym) pairs are on the suppression list."""

    def latest_live(self, throttle_keys: Collection[str], since: datetime) -> dict[str, datetime]:
        """For each throttle key, when its newest live invitation made after ``since`` was."""

    def insert_invitations(self, rows: Sequence[NewInvitation]) -> list[int]:
        """Their ids, in the order given."""

    def cancel_unanswered(
        self, interaction_id: str, survey: str | None, now: datetime
    ) -> int | None:
        """Cancel the interaction's open, unanswered surveys; None when it has none at all."""

    def expire(self, now: datetime) -> int:
        """Close the sent surveys whose time to answer is over."""

    # -- receipts ----------------------------------------------------------------------------

    def receipted(self, channel: str, provider_message_id: str) -> Receipted | None: ...

    def change(self, invitation_id: int, changes: Changes) -> None: ...

    # -- privacy and settings ----------------------------------------------------------------

    def erase(self, respondent_id: int, now: datetime, scrub: Callable[[str], str]) -> int:
        """Unlink and erase a respondent (address, comments, raw messages; ``scrub`` cleans the
        provider errors recorded on their invitations); returns how many invitations it had."""

    def purge_raw(self, before: datetime) -> int: ...

    def setting(self, key: str, default: str) -> str:
        """The stored value, or ``default`` stored as the value if there was none."""


class Store(Protocol):
    def writing(self) -> AbstractContextManager[Transaction]:
        """A transaction that writes (on SQLite, holding the write turn)."""

    def replying(self) -> AbstractContextManager[ReplyTransaction]:
        """A reply's transaction on the fast path (prepared statements on the driver's cursor)."""

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a short write use case from the event loop without blocking it."""

    def close(self) -> None:
        """Finish the writes already queued by :meth:`write`."""

    def dispose(self) -> None:
        """Close the database connections (a later use opens new ones)."""

    def describe(self) -> str:
        """Which database this is, for an operator (no password)."""

    # -- reads (no write turn: a long report holds up no reply) --------------------------------

    def is_suppressed(self, channel: str, address_hash: str) -> bool: ...

    def period_counts(
        self,
        previous_start: datetime,
        start: datetime,
        end: datetime,
        by: str | None,
        *,
        timezone: str | None = None,
    ) -> tuple[PeriodCounts, PeriodCounts]:
        """(current, previous) counts; the previous period is [previous_start, start). With the
        ``timezone`` whose local midnights the moments are, whole closed days may come from the
        day rollups."""

    def bucket_counts(
        self, bounds: Sequence[datetime], *, timezone: str | None = None
    ) -> list[Counts]:
        """Counts of each bucket ``[bounds[i], bounds[i + 1])`` in one pass (empty ones too)."""

    def refresh_rollups(self, timezone: str, now: datetime, *, chunks: int = 1) -> Refreshed:
        """Count changed and not yet counted closed days of ``timezone`` into the day rollups,
        at most ``chunks`` short transactions' worth."""

    def page_target(self, invitation_id: int) -> PageTarget | None:
        """The invitation a web survey page shows, or None when there is none."""

    def corrections(self, invitation_id: int, since: datetime) -> int:
        """How many replies since ``since`` (the invitation's sending) changed its rating."""

    def claim_events(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboxEvent]:
        """Due webhook events, held for this process until ``lease_until``."""

    def finish_event(self, event: OutboxEvent, changes: Mapping[str, Any]) -> bool:
        """Record a delivery's outcome (delivered_at, or next_at/attempts/last_error, or
        failed_at) if the claim still holds."""

    # -- alerts and their follow-up --------------------------------------------------------------

    def alert(self, alert_id: int) -> AlertRecord | None: ...

    def alerts(
        self, status: AlertStatus | None, limit: int, before_id: int | None = None
    ) -> list[AlertRecord]:
        """Newest first; ``before_id`` pages on."""
        ...

    def alert_posts(self, alert_id: int) -> list[AlertPost]: ...

    def add_alert_posts(self, alert_id: int, posts: Sequence[AlertPost], now: datetime) -> None: ...

    def follow_up(
        self,
        alert_id: int,
        version: int,
        changes: Mapping[str, Any],
        events: Callable[[AlertRecord], Sequence[OutboxRow]],
    ) -> AlertRecord | None:
        """Apply ``changes`` if the alert is still at ``version``, with the events made from the
        changed alert, in one transaction; the changed alert, or None if someone was first."""
        ...

    def due_reminders(self, now: datetime, limit: int) -> list[AlertRecord]:
        """Take the open alerts whose reminder is due: each is returned to one caller only,
        ever (``reminded_at`` is set as they are taken)."""
        ...

    def follow_up_times(self, start: datetime, end: datetime) -> list[FollowUpTimes]:
        """The alerts raised in ``[start, end)``, with when they were claimed and resolved."""
        ...

    def latest_comments(
        self,
        start: datetime,
        end: datetime,
        *,
        low_only: bool,
        limit: int,
        before: tuple[datetime, int] | None = None,
    ) -> list[CommentRow]:
        """Comments answered in [start, end), newest first; ``before`` is the last row's
        (answered_at, answer_id) of the previous page."""

    def reason_counts(self, start: datetime, end: datetime, window: timedelta) -> dict[str, int]:
        """Low ratings given in [start, end) per option id chosen in the same survey (the
        reasons report); ``window`` is the longest a survey stays open."""

    def responses(
        self, since: datetime | None, until: datetime | None, limit: int | None
    ) -> Iterator[tuple[Any, ...]]:
        """The export's rows (storage.export.COLUMNS), oldest invitation first."""

    def ping(self) -> None: ...

    # -- sending -----------------------------------------------------------------------------

    def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, skip_channels: Collection[str]
    ) -> list[DueSend]:
        """Take up to ``limit`` due sends and reminders for this worker, atomically."""

    def suppressed_sends(self, invitation_ids: Collection[int]) -> set[int]:
        """Which of these invitations go to an address on the suppression list."""

    def finish(self, claim: Claim, changes: Changes) -> bool:
        """Write a send's outcome and release the claim, if this worker still holds it."""

    def renew(self, claim: Claim, lease_until: datetime) -> frozenset[int]:
        """Extend the lease on every row of the claim's batch this worker still holds; their
        ids (a row missing from them was taken by another worker and must not be sent)."""

    # -- digests -----------------------------------------------------------------------------

    def claim_digest(
        self, schedule: str, period_start: datetime, now: datetime, lease_until: datetime
    ) -> str | None:
        """A token when this process may send the digest; None when it was sent, or another
        process holds an unexpired claim on it."""

    def finish_digest(
        self, schedule: str, period_start: datetime, token: str, now: datetime
    ) -> bool:
        """Mark the digest sent, if ``token`` still holds its claim."""

    def last_digest(self, schedule: str) -> datetime | None:
        """The start of the newest period this schedule has a digest row for (sent or not)."""

    # -- dashboard sign-in -------------------------------------------------------------------

    def add_login_link(self, token_hash: str, lead: str, expires_at: datetime) -> None: ...

    def use_login_link(self, token_hash: str, now: datetime) -> str | None:
        """The lead of an unused, unexpired link, which is used up by this call; else None."""

    # -- housekeeping ------------------------------------------------------------------------

    def truncate_log(self) -> bool:
        """SQLite: empty the write-ahead log (which still holds erased pages); False when a
        reader kept it busy. True where there is nothing to do."""
