"""Use cases: trigger, reply, score, export, forget. Channels and the web app call only these.

The service is synchronous (SQLAlchemy sessions); the async edges run it in a worker thread so the
event loop never blocks. Every use case is one transaction: it either completes or leaves the
store unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot import engine as conv
from bot.alerts import ALERT_KINDS, Alert
from bot.channel import Button, Channel, OutboundMessage
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.parsing import parse_keyword, parse_score_request
from bot.periods import ScoreQuery, parse_query, resolve_period
from bot.requests import SurveyRequest
from bot.scoring import Counts, group_report
from bot.settings import Lead, Settings
from bot.surveys import Survey, normalise_locale
from bot.texts import message
from storage import queries
from storage.models import Answer, InboundMessage, Invitation, Respondent, Setting, Suppression
from storage.queries import UNDELIVERED, changed

log = logging.getLogger("csat.service")

LIVE = ("scheduled", "sent", "completed", "unparsed", "expired")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TriggerResult:
    interaction_id: str
    survey: str
    invitation_id: int
    status: str
    reason: str | None
    send_at: datetime
    duplicate: bool

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["send_at"] = self.send_at.isoformat()
        return data


@dataclass(frozen=True)
class InboundResult:
    replies: tuple[OutboundMessage, ...]
    reason: str
    duplicate: bool = False
    invitation_id: int | None = None
    alerts: tuple[Alert, ...] = ()
    closed: bool = False


def _encode(replies: Sequence[OutboundMessage]) -> str:
    return json.dumps([asdict(r) for r in replies])


def _decode(raw: str | None) -> tuple[OutboundMessage, ...]:
    items = json.loads(raw) if raw else []
    return tuple(
        OutboundMessage(**{**item, "buttons": tuple(Button(**b) for b in item["buttons"])})
        for item in items
    )


DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}


class Service:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        surveys: Mapping[str, Survey],
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.surveys = dict(surveys)
        self.channels = dict(channels)
        self.clock = clock
        self.rng = rng or random.Random()
        self.leads = settings.leads()
        self._hash_key: bytes | None = None

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[name]
        except KeyError:
            known = ", ".join(sorted(self.channels))
            raise InvalidInput(f"'channel': {name!r} is not enabled (enabled: {known})") from None

    def survey(self, name: str) -> Survey:
        try:
            return self.surveys[name]
        except KeyError:
            known = ", ".join(sorted(self.surveys))
            raise InvalidInput(f"'survey': unknown survey {name!r} (known: {known})") from None

    def hash_key(self) -> bytes:
        if self._hash_key is None:
            if self.settings.csat_hash_key is not None:
                self._hash_key = self.settings.csat_hash_key.get_secret_value().encode()
            else:
                self._hash_key = self._stored_hash_key()
        return self._hash_key

    def _stored_hash_key(self) -> bytes:
        with self.session() as session:
            row = session.get(Setting, "hash_key")
            if row is None:
                session.add(Setting(key="hash_key", value=secrets.token_hex(32)))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                row = session.get(Setting, "hash_key")
            assert row is not None
            return row.value.encode()

    def pseudonym(self, channel: str, address: str) -> str:
        return hmac.new(
            self.hash_key(), f"{channel}:{address}".encode(), hashlib.sha256
        ).hexdigest()

    def _respondent(self, session: Session, channel: str, address: str) -> Respondent:
        found = self._find_respondent(session, channel, address)
        if found is not None:
            if found.address is None:
                found.address = address
                found.erased_at = None
            return found
        digest = self.pseudonym(channel, address)
        row = Respondent(
            channel=channel, address_hash=digest, address=address, created_at=self.clock()
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            return self._respondent(session, channel, address)
        return row

    def _find_respondent(self, session: Session, channel: str, address: str) -> Respondent | None:
        digest = self.pseudonym(channel, address)
        return session.scalars(
            select(Respondent).where(
                col(Respondent.channel) == channel,
                col(Respondent.address_hash) == digest,
            )
        ).first()

    def is_suppressed(self, session: Session, channel: str, address: str) -> bool:
        key = (channel, self.pseudonym(channel, address))
        return session.get(Suppression, key) is not None

    # -- triggering -----------------------------------------------------------------------

    def start_survey(self, request: SurveyRequest) -> TriggerResult:
        return self.start_surveys([request])[0]

    def start_surveys(self, requests: Sequence[SurveyRequest]) -> list[TriggerResult]:
        """Schedule surveys, all or none of a batch; a repeated interaction+survey is a no-op."""
        prepared = [
            self._prepare(r, i if len(requests) > 1 else None) for i, r in enumerate(requests)
        ]
        seen: set[tuple[str, str]] = set()
        for request, _, _ in prepared:
            key = (request.interaction_id, request.survey)
            if key in seen:
                raise InvalidInput(
                    f"interaction {request.interaction_id!r} appears twice for survey "
                    f"{request.survey!r} in one batch"
                )
            seen.add(key)
        for attempt in range(3):
            try:
                with self.session() as session:
                    return [self._schedule(session, *item) for item in prepared]
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _prepare(
        self, request: SurveyRequest, position: int | None
    ) -> tuple[SurveyRequest, Survey, str]:
        where = f"item {position}: " if position is not None else ""
        try:
            channel = self.channel(request.channel)
            survey = self.survey(request.survey)
            address = channel.normalise_address(request.to)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}{exc}") from None
        locale = normalise_locale(request.locale) or survey.fallback_locale
        return request.model_copy(update={"to": address, "locale": locale}), survey, address

    def _schedule(
        self, session: Session, request: SurveyRequest, survey: Survey, address: str
    ) -> TriggerResult:
        existing = session.scalars(
            select(Invitation).where(
                col(Invitation.interaction_id) == request.interaction_id,
                col(Invitation.survey) == request.survey,
            )
        ).first()
        if existing is not None:
            return self._result(existing, duplicate=True)
        now = self.clock()
        respondent = self._respondent(session, request.channel, address)
        throttle_key = self.pseudonym(
            "customer" if request.customer_id else request.channel,
            request.customer_id or address,
        )
        status, reason = "scheduled", None
        if self.is_suppressed(session, request.channel, address):
            status, reason = "skipped", "opted out"
        elif self._throttled(session, survey, throttle_key, now):
            status, reason = "skipped", "throttled"
        elif self.rng.random() >= survey.sample_rate:
            status, reason = "skipped", "not sampled"
        invitation = Invitation(
            interaction_id=request.interaction_id,
            survey=request.survey,
            survey_version=survey.version,
            channel=request.channel,
            respondent_id=respondent.id,
            throttle_key=throttle_key,
            agent=request.agent,
            team=request.team,
            touchpoint=request.touchpoint,
            locale=request.locale or survey.fallback_locale,
            status=status,
            reason=reason,
            created_at=now,
            send_at=now + request.delay,
            closed_at=now if status == "skipped" else None,
        )
        session.add(invitation)
        session.flush()
        log.info("survey %s for %s: %s", request.survey, request.interaction_id, reason or status)
        return self._result(invitation, duplicate=False)

    def _throttled(self, session: Session, survey: Survey, key: str, now: datetime) -> bool:
        if survey.throttle <= timedelta(0):
            return False
        recent = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(
                col(Invitation.throttle_key) == key,
                col(Invitation.status).in_(LIVE),
                col(Invitation.created_at) > now - survey.throttle,
            )
        )
        return bool(recent)

    @staticmethod
    def _result(invitation: Invitation, *, duplicate: bool) -> TriggerResult:
        assert invitation.id is not None
        return TriggerResult(
            interaction_id=invitation.interaction_id,
            survey=invitation.survey,
            invitation_id=invitation.id,
            status=invitation.status,
            reason=invitation.reason,
            send_at=invitation.send_at,
            duplicate=duplicate,
        )

    def cancel(self, interaction_id: str, survey: str | None = None) -> int:
        """Cancel unanswered surveys of an interaction (the ticket was reopened)."""
        with self.session() as session:
            statement = select(Invitation).where(col(Invitation.interaction_id) == interaction_id)
            if survey is not None:
                statement = statement.where(col(Invitation.survey) == survey)
            rows = list(session.scalars(statement))
            if not rows:
                raise NotFound(f"no survey for interaction {interaction_id!r}")
            cancelled = 0
            for row in rows:
                if row.status in ("scheduled", "sent") and row.responded_at is None:
                    row.status, row.reason, row.closed_at = "cancelled", "cancelled", self.clock()
                    row.version += 1
                    cancelled += 1
            return cancelled

    # -- replies --------------------------------------------------------------------------

    def handle_text(
        self, channel: str, address: str, text: str, provider_message_id: str | None = None
    ) -> InboundResult:
        """A typed reply: keywords and lead commands first (where the channel has them), then the
        respondent's open survey."""
        traits = self.channel(channel).traits
        if traits.keywords:
            keyword = parse_keyword(text)
            if keyword is not None:
                return self._keyword(channel, address, keyword, text, provider_message_id)
            query = parse_score_request(text)
            if query is not None and self.is_lead(channel, address):
                return self._lead_score_reply(channel, address, query)
            if query is not None:
                result = self._converse(
                    channel, address, conv.TextReply(text), text, provider_message_id
                )
                if result.reason == "no_open_survey":
                    refusal = OutboundMessage(text=message("not_a_lead", None))
                    return InboundResult(replies=(refusal,), reason="not_a_lead")
                return result
        return self._converse(channel, address, conv.TextReply(text), text, provider_message_id)

    def handle_button(
        self,
        channel: str,
        address: str,
        invitation_id: int,
        question_id: str,
        value: int,
        provider_message_id: str | None = None,
    ) -> InboundResult:
        event = conv.ButtonReply(question_id=question_id, value=value)
        return self._converse(
            channel,
            address,
            event,
            f"[button {question_id}={value}]",
            provider_message_id,
            invitation_id=invitation_id,
        )

    def _duplicate(
        self, session: Session, channel: str, provider_message_id: str | None
    ) -> InboundResult | None:
        if provider_message_id is None:
            return None
        seen = session.scalars(
            select(InboundMessage).where(
                col(InboundMessage.channel) == channel,
                col(InboundMessage.provider_message_id) == provider_message_id,
            )
        ).first()
        if seen is None:
            return None
        return InboundResult(
            replies=_decode(seen.reply),
            reason=seen.reason,
            duplicate=True,
            invitation_id=seen.invitation_id,
        )

    def _log_inbound(
        self,
        session: Session,
        channel: str,
        provider_message_id: str | None,
        respondent_id: int | None,
        invitation_id: int | None,
        raw: str,
        reason: str,
        parsed: int | None,
        replies: Sequence[OutboundMessage],
    ) -> None:
        session.add(
            InboundMessage(
                channel=channel,
                provider_message_id=provider_message_id,
                respondent_id=respondent_id,
                invitation_id=invitation_id,
                raw_text=raw[:4000],
                parsed_value=parsed,
                reason=reason,
                reply=_encode(replies),
                received_at=self.clock(),
            )
        )
        session.flush()

    def _open_invitation(
        self, session: Session, respondent: Respondent, invitation_id: int | None
    ) -> Invitation | None:
        statement = select(Invitation).where(
            col(Invitation.respondent_id) == respondent.id,
            col(Invitation.sent_at).is_not(None),
        )
        if invitation_id is not None:
            return session.scalars(statement.where(col(Invitation.id) == invitation_id)).first()
        now = self.clock()
        open_row = session.scalars(
            statement.where(
                col(Invitation.status) == "sent",
                or_(col(Invitation.expires_at).is_(None), col(Invitation.expires_at) > now),
            ).order_by(col(Invitation.sent_at).desc())
        ).first()
        if open_row is not None:
            return open_row
        return session.scalars(statement.order_by(col(Invitation.sent_at).desc())).first()

    def _answers(self, session: Session, invitation_id: int) -> dict[str, int | None]:
        rows = session.scalars(select(Answer).where(col(Answer.invitation_id) == invitation_id))
        return {row.question_id: row.value for row in rows}

    def _converse(
        self,
        channel: str,
        address: str,
        event: conv.Event,
        raw: str,
        provider_message_id: str | None,
        invitation_id: int | None = None,
    ) -> InboundResult:
        for _ in range(5):
            try:
                with self.session() as session:
                    return self._converse_once(
                        session, channel, address, event, raw, provider_message_id, invitation_id
                    )
            except _Conflict:
                continue
            except IntegrityError:
                with self.session() as session:
                    dup = self._duplicate(session, channel, provider_message_id)
                if dup is not None:
                    return dup
                raise
        raise InvalidInput("the survey changed while the reply was recorded; please retry")

    def _converse_once(
        self,
        session: Session,
        channel: str,
        address: str,
        event: conv.Event,
        raw: str,
        provider_message_id: str | None,
        invitation_id: int | None,
    ) -> InboundResult:
        dup = self._duplicate(session, channel, provider_message_id)
        if dup is not None:
            return dup
        respondent = self._find_respondent(session, channel, address)
        invitation = (
            self._open_invitation(session, respondent, invitation_id) if respondent else None
        )
        if respondent is None or invitation is None or invitation.id is None:
            locale = respondent.locale if respondent else None
            reply = OutboundMessage(text=message("no_open_survey", locale))
            return InboundResult(replies=(reply,), reason="no_open_survey")
        survey = self.surveys.get(invitation.survey)
        ctx = conv.Context(
            now=self.clock(),
            locale=invitation.locale,
            brand=self.settings.csat_brand,
            invitation_id=invitation.id,
        )
        if survey is None or survey.version != invitation.survey_version:
            transition = conv.Transition(
                status=invitation.status,
                question_index=invitation.question_index,
                reprompts=invitation.reprompts,
                reason="survey_changed",
                replies=(OutboundMessage(text=message("closed", invitation.locale)),),
            )
            survey = None
        else:
            state = conv.State(
                status=invitation.status,
                question_index=invitation.question_index,
                reprompts=invitation.reprompts,
                expires_at=invitation.expires_at,
                answers=self._answers(session, invitation.id),
            )
            transition = conv.step(survey, state, event, ctx)
        self._log_inbound(
            session,
            channel,
            provider_message_id,
            respondent.id,
            invitation.id,
            raw,
            transition.reason,
            transition.parsed_value,
            transition.replies,
        )
        alerts = self._apply(session, invitation, transition, ctx.now)
        return InboundResult(
            replies=transition.replies,
            reason=transition.reason,
            invitation_id=invitation.id,
            alerts=alerts,
            closed=transition.closed,
        )

    def _apply(
        self, session: Session, invitation: Invitation, transition: conv.Transition, now: datetime
    ) -> tuple[Alert, ...]:
        assert invitation.id is not None
        moved = (
            transition.status != invitation.status
            or transition.question_index != invitation.question_index
            or transition.reprompts != invitation.reprompts
            or transition.records
        )
        if not moved:
            return ()
        values: dict[str, Any] = {
            "status": transition.status,
            "question_index": transition.question_index,
            "reprompts": transition.reprompts,
            "version": invitation.version + 1,
        }
        if transition.records and invitation.responded_at is None:
            values["responded_at"] = now
        if transition.closed:
            values["closed_at"] = now
        if transition.status == "unparsed":
            values["reason"] = "unparsed reply"
        result = changed(
            session,
            update(Invitation)
            .where(
                col(Invitation.id) == invitation.id, col(Invitation.version) == invitation.version
            )
            .values(**values),
        )
        if result != 1:
            raise _Conflict
        for record in transition.records:
            self._upsert_answer(session, invitation, record, now)
        return self._alerts(session, invitation, transition.records)

    def _alerts(
        self, session: Session, invitation: Invitation, records: Sequence[conv.Record]
    ) -> tuple[Alert, ...]:
        """An alert when a low rating arrives, and again when its comment follows."""
        assert invitation.id is not None
        alerts: list[Alert] = []
        for record in records:
            rating: tuple[int | None, int | None] | None = None
            comment = None
            if record.question.kind in ALERT_KINDS and record.question.scale is not None:
                rating = (record.value, record.question.scale.maximum)
            elif record.comment is not None:
                comment = record.comment
                row = session.execute(
                    select(col(Answer.value), col(Answer.scale_max)).where(
                        col(Answer.invitation_id) == invitation.id,
                        col(Answer.kind).in_(ALERT_KINDS),
                    )
                ).first()
                rating = (row[0], row[1]) if row is not None else None
            if rating is None:
                continue
            value, scale_max = rating
            if value is None or scale_max is None or value > self.settings.csat_alert_below:
                continue
            alert = Alert(
                invitation_id=invitation.id,
                interaction_id=invitation.interaction_id,
                channel=invitation.channel,
                agent=invitation.agent,
                survey=invitation.survey,
                value=value,
                scale_max=scale_max,
                comment=comment,
            )
            log.warning(
                "low score %s/%s for %s (agent %s)",
                alert.value,
                alert.scale_max,
                alert.interaction_id,
                alert.agent,
            )
            alerts.append(alert)
        return tuple(alerts)

    def _upsert_answer(
        self, session: Session, invitation: Invitation, record: conv.Record, now: datetime
    ) -> None:
        assert invitation.id is not None
        question = record.question
        scale = question.scale
        existing = session.scalars(
            select(Answer).where(
                col(Answer.invitation_id) == invitation.id,
                col(Answer.question_id) == question.id,
            )
        ).first()
        row = existing or Answer(
            invitation_id=invitation.id,
            question_id=question.id,
            kind=question.kind,
            answered_at=now,
            channel=invitation.channel,
            agent=invitation.agent,
            team=invitation.team,
            touchpoint=invitation.touchpoint,
            survey=invitation.survey,
            locale=invitation.locale,
        )
        row.value = record.value
        row.comment = record.comment
        row.answered_at = now
        if scale is not None and record.value is not None:
            row.scale_min, row.scale_max = scale.minimum, scale.maximum
            row.positive = scale.is_positive(record.value)
            row.negative = scale.is_negative(record.value)
        session.add(row)
        session.flush()

    # -- keywords -------------------------------------------------------------------------

    def _keyword(
        self, channel: str, address: str, keyword: str, raw: str, provider_message_id: str | None
    ) -> InboundResult:
        with self.session() as session:
            dup = self._duplicate(session, channel, provider_message_id)
            if dup is not None:
                return dup
            respondent = self._respondent(session, channel, address)
            replies: tuple[OutboundMessage, ...]
            if keyword == "stop":
                replies = self._opt_out(session, channel, address, "keyword")
            elif keyword == "start":
                self.opt_in(channel, address, session=session)
                replies = (self._text("opted_in", respondent.locale),)
            else:
                replies = (self._text("help", respondent.locale),)
            self._log_inbound(
                session,
                channel,
                provider_message_id,
                respondent.id,
                None,
                raw,
                f"keyword:{keyword}",
                None,
                replies,
            )
            return InboundResult(replies=replies, reason=f"keyword:{keyword}")

    def _text(self, key: str, locale: str | None) -> OutboundMessage:
        return OutboundMessage(
            text=message(
                key,
                locale,
                brand=self.settings.csat_brand,
                contact=self.settings.csat_contact or self.settings.csat_brand,
            )
        )

    def _opt_out(
        self, session: Session, channel: str, address: str, reason: str
    ) -> tuple[OutboundMessage, ...]:
        """Suppress the address; the confirmation goes out only the first time."""
        key = (channel, self.pseudonym(channel, address))
        if session.get(Suppression, key) is not None:
            return ()
        session.add(
            Suppression(
                channel=channel, address_hash=key[1], reason=reason, created_at=self.clock()
            )
        )
        self._close_open(session, channel, address, "opted out")
        respondent = self._find_respondent(session, channel, address)
        return (self._text("opted_out", respondent.locale if respondent else None),)

    def opt_out(self, channel: str, address: str, reason: str = "provider") -> bool:
        """Suppress from outside a conversation (e.g. a provider's opt-out error); True if new."""
        with self.session() as session:
            return bool(self._opt_out(session, channel, address, reason))

    def opt_in(self, channel: str, address: str, *, session: Session | None = None) -> None:
        if session is None:
            with self.session() as own:
                self.opt_in(channel, address, session=own)
            return
        changed(
            session,
            delete(Suppression).where(
                col(Suppression.channel) == channel,
                col(Suppression.address_hash) == self.pseudonym(channel, address),
            ),
        )

    def _close_open(self, session: Session, channel: str, address: str, reason: str) -> None:
        respondent = self._find_respondent(session, channel, address)
        if respondent is None:
            return
        changed(
            session,
            update(Invitation)
            .where(
                col(Invitation.respondent_id) == respondent.id,
                col(Invitation.status).in_(("scheduled", "sent")),
            )
            .values(
                status="cancelled",
                reason=reason,
                closed_at=self.clock(),
                version=col(Invitation.version) + 1,
            ),
        )

    # -- delivery receipts ------------------------------------------------------------------

    def record_delivery(
        self,
        channel: str,
        provider_message_id: str,
        status: str,
        error: str | None = None,
        *,
        opted_out: bool = False,
    ) -> bool:
        """Apply a provider's delivery receipt to the survey message it is about.

        Receipts arrive out of order, so the status only moves forward (queued -> sent ->
        delivered/undelivered/failed -> read). An undelivered survey is closed as failed and no
        longer counts as sent. Returns whether anything changed.
        """
        status = status.strip().lower()
        if status not in DELIVERY_RANK:
            raise InvalidInput(f"unknown delivery status {status!r}")
        with self.session() as session:
            invitation = session.scalars(
                select(Invitation).where(
                    col(Invitation.channel) == channel,
                    col(Invitation.provider_message_id) == provider_message_id,
                )
            ).first()
            if invitation is None:
                return False
            current = DELIVERY_RANK.get(invitation.delivery_status or "", -1)
            if DELIVERY_RANK[status] <= current:
                return False
            invitation.delivery_status = status
            if error:
                invitation.last_error = error[:500]
            if (
                status in UNDELIVERED
                and invitation.status == "sent"
                and invitation.responded_at is None
            ):
                invitation.status, invitation.reason = "failed", "undelivered"
                invitation.closed_at = self.clock()
            invitation.version += 1
            respondent = (
                session.get(Respondent, invitation.respondent_id)
                if invitation.respondent_id is not None
                else None
            )
            if opted_out and respondent is not None and respondent.address is not None:
                self._opt_out(session, channel, respondent.address, "provider")
            return True

    # -- scores ---------------------------------------------------------------------------

    def is_lead(self, channel: str, address: str) -> bool:
        return Lead(channel, address) in self.leads

    def parse_query(self, text: str) -> ScoreQuery:
        return parse_query(text, now=self.clock(), timezone=self.settings.csat_timezone)

    def scores(self, query: ScoreQuery) -> dict[str, Any]:
        """The report in the contract's JSON shape (PRODUCT §5)."""
        period, previous = query.period, query.period.previous()
        with self.session() as session:
            now_buckets = queries.answer_buckets(session, period.start, period.end, query.by)
            now_sent = queries.sent_counts(session, period.start, period.end, query.by)
            prev_buckets = queries.answer_buckets(session, previous.start, previous.end, query.by)
            prev_sent = queries.sent_counts(session, previous.start, previous.end, query.by)
            if query.by is not None:
                overall_buckets = queries.answer_buckets(session, period.start, period.end, None)
                overall_sent = queries.sent_counts(session, period.start, period.end, None)
                prev_overall_b = queries.answer_buckets(session, previous.start, previous.end, None)
                prev_overall_s = queries.sent_counts(session, previous.start, previous.end, None)
            else:
                overall_buckets, overall_sent = now_buckets, now_sent
                prev_overall_b, prev_overall_s = prev_buckets, prev_sent

        def counts(
            buckets: Mapping[str | None, Sequence[Any]],
            sent: Mapping[str | None, tuple[int, int]],
            key: str | None,
        ) -> Counts:
            s, r = sent.get(key, (0, 0))
            return Counts(sent=s, responded=r, buckets=tuple(buckets.get(key, ())))

        overall = group_report(
            counts(overall_buckets, overall_sent, None),
            counts(prev_overall_b, prev_overall_s, None),
        )
        groups: dict[str, Any] = {}
        if query.by is not None:
            keys = sorted({k for k in (*now_buckets, *now_sent) if k is not None})
            for key in keys:
                groups[key] = group_report(
                    counts(now_buckets, now_sent, key), counts(prev_buckets, prev_sent, key)
                )
        return {
            "period": {
                "label": period.label,
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "timezone": period.timezone,
            },
            "by": query.by,
            "overall": overall,
            "groups": groups,
        }

    def scores_for(self, channel: str, address: str, text: str) -> dict[str, Any]:
        """Leads-only access, the rule every channel reuses; refuses without disclosing anything."""
        if not self.is_lead(channel, address):
            raise NotAllowed(message("not_a_lead", None))
        return self.scores(self.parse_query(text))

    def _lead_score_reply(self, channel: str, address: str, text: str) -> InboundResult:
        from bot.report_text import short_summary

        try:
            report = self.scores(self.parse_query(text))
            reply = short_summary(report)
        except InvalidInput as exc:
            reply = str(exc)
        return InboundResult(replies=(OutboundMessage(text=reply),), reason="score")

    def query_scores(self, period: str = "today", by: str | None = None) -> dict[str, Any]:
        text = period if by is None else f"{period} by {by}"
        now = self.clock()
        resolve_period(period, now=now, timezone=self.settings.csat_timezone)
        return self.scores(parse_query(text, now=now, timezone=self.settings.csat_timezone))

    # -- export and privacy ---------------------------------------------------------------

    def responses(
        self, since: datetime | None = None, until: datetime | None = None, limit: int = 10_000
    ) -> list[dict[str, Any]]:
        """One row per sent invitation with its answers, for export."""
        with self.session() as session:
            statement = select(Invitation).where(col(Invitation.status) != "skipped")
            if since is not None:
                statement = statement.where(col(Invitation.created_at) >= since)
            if until is not None:
                statement = statement.where(col(Invitation.created_at) < until)
            invitations = list(session.scalars(statement.order_by(col(Invitation.id)).limit(limit)))
            ids = [i.id for i in invitations]
            answers: dict[int, list[Answer]] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for answer in session.scalars(
                    select(Answer).where(col(Answer.invitation_id).in_(chunk))
                ):
                    answers.setdefault(answer.invitation_id, []).append(answer)
        rows: list[dict[str, Any]] = []
        for inv in invitations:
            assert inv.id is not None
            by_question = {a.question_id: a for a in answers.get(inv.id, [])}
            rating = next((a for a in by_question.values() if a.value is not None), None)
            comment = next((a.comment for a in by_question.values() if a.comment), None)
            rows.append(
                {
                    "invitation_id": inv.id,
                    "interaction_id": inv.interaction_id,
                    "survey": inv.survey,
                    "survey_version": inv.survey_version,
                    "channel": inv.channel,
                    "agent": inv.agent,
                    "team": inv.team,
                    "touchpoint": inv.touchpoint,
                    "locale": inv.locale,
                    "status": inv.status,
                    "reason": inv.reason,
                    "delivery_status": inv.delivery_status,
                    "last_error": inv.last_error,
                    "created_at": inv.created_at.isoformat(),
                    "sent_at": inv.sent_at.isoformat() if inv.sent_at else None,
                    "responded_at": inv.responded_at.isoformat() if inv.responded_at else None,
                    "question": rating.question_id if rating else None,
                    "kind": rating.kind if rating else None,
                    "rating": rating.value if rating else None,
                    "scale_max": rating.scale_max if rating else None,
                    "comment": comment,
                }
            )
        return rows

    def forget(self, channel: str, address: str) -> int:
        """Erase a respondent's address, comments and raw messages; ratings stay, unlinked.

        Returns how many invitations were unlinked. The suppression list keeps its HMAC.
        """
        chan = self.channels.get(channel)
        if chan is not None:
            address = chan.normalise_address(address)
        with self.session() as session:
            respondent = self._find_respondent(session, channel, address)
            if respondent is None:
                raise NotFound(f"no respondent {channel}:{address}")
            invitations = list(
                session.scalars(
                    select(col(Invitation.id)).where(col(Invitation.respondent_id) == respondent.id)
                )
            )
            changed(
                session,
                update(Answer)
                .where(col(Answer.invitation_id).in_(invitations))
                .values(comment=None),
            )
            changed(
                session,
                update(Invitation)
                .where(
                    col(Invitation.id).in_(invitations),
                    col(Invitation.status).in_(("scheduled", "sent")),
                )
                .values(status="cancelled", reason="erased", closed_at=self.clock()),
            )
            changed(
                session,
                update(Invitation)
                .where(col(Invitation.id).in_(invitations))
                .values(respondent_id=None, throttle_key=None),
            )
            changed(
                session,
                update(InboundMessage)
                .where(col(InboundMessage.respondent_id) == respondent.id)
                .values(raw_text=None, reply=None, respondent_id=None),
            )
            session.delete(respondent)
            return len(invitations)

    def purge_raw(self) -> int:
        """Drop raw inbound text past the retention period."""
        cutoff = self.clock() - timedelta(days=self.settings.csat_retention_days)
        with self.session() as session:
            result = changed(
                session,
                update(InboundMessage)
                .where(
                    col(InboundMessage.received_at) < cutoff,
                    col(InboundMessage.raw_text).is_not(None),
                )
                .values(raw_text=None, reply=None),
            )
            return result

    def expire_due(self) -> int:
        now = self.clock()
        with self.session() as session:
            result = changed(
                session,
                update(Invitation)
                .where(
                    col(Invitation.status) == "sent",
                    col(Invitation.expires_at) <= now,
                )
                .values(status="expired", closed_at=now, version=col(Invitation.version) + 1),
            )
            return result


class _Conflict(Exception):
    """Another writer changed the invitation first; the step is replayed on fresh state."""
