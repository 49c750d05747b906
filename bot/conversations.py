"""Replies: keywords, survey answers, corrections, provider retries; and alerts they raise."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot import engine as conv
from bot.alerts import ALERT_KINDS, Alert
from bot.channel import OutboundMessage
from bot.errors import InvalidInput
from bot.parsing import Keyword, parse_keyword, parse_score_request
from bot.reports import Reports
from bot.service_base import InboundResult, _Conflict, _decode, _encode
from bot.texts import message
from storage.models import InboundMessage, Invitation, Suppression
from storage.prepared import RawTransaction, raw_in, raw_transaction
from storage.queries import changed
from storage.replies import OpenInvitation
from storage.values import OPEN_STATUSES, Status

log = logging.getLogger("csat.service")


class TextRoute(Enum):
    """Where a typed text goes (:meth:`Conversations.route_text`)."""

    KEYWORD = "keyword"  # STOP, START, HELP...
    LEAD_SCORE = "lead_score"  # a lead's SCORE: a report, which only reads
    SCORE_OR_ANSWER = "score_or_answer"  # "SCORE" from a non-lead: an answer, else refused
    ANSWER = "answer"  # to the open survey (or the one the channel names)


@dataclass(frozen=True)
class RoutedText:
    """A text's route with what was parsed to decide it, so nothing is parsed twice."""

    route: TextRoute
    keyword: Keyword | None = None
    query: str | None = None


class Conversations(Reports):
    # -- replies --------------------------------------------------------------------------

    def handle_text(
        self,
        channel: str,
        address: str,
        text: str,
        provider_message_id: str | None = None,
        invitation_id: int | None = None,
        *,
        routed: RoutedText | None = None,
    ) -> InboundResult:
        """A typed reply: keywords and lead commands first (where the channel has them), then the
        respondent's open survey (or ``invitation_id``'s, when the channel knows which one).
        ``routed`` is :meth:`route_text`'s answer when the caller already asked it."""
        routed = routed or self.route_text(channel, address, text, invitation_id)
        if routed.keyword is not None:
            return self._keyword(channel, address, routed.keyword, text, provider_message_id)
        if routed.route is TextRoute.LEAD_SCORE and routed.query is not None:
            return self._lead_score_reply(channel, address, routed.query)
        result = self._converse(
            channel, address, conv.TextReply(text), text, provider_message_id, invitation_id
        )
        if routed.route is TextRoute.SCORE_OR_ANSWER and result.reason == "no_open_survey":
            # "SCORE ..." from someone who is not a lead and has no survey to answer
            refusal = OutboundMessage(text=message("not_a_lead", None))
            return InboundResult(replies=(refusal,), reason="not_a_lead")
        return result

    def route_text(
        self, channel: str, address: str, text: str, invitation_id: int | None = None
    ) -> RoutedText:
        """What :meth:`handle_text` will do with a text: one decision, which the hub also reads
        to run a lead's report (a read that may take a while) off the write turn."""
        if invitation_id is not None or not self.channel(channel).traits.keywords:
            return RoutedText(TextRoute.ANSWER)
        keyword = parse_keyword(text)
        if keyword is not None:
            return RoutedText(TextRoute.KEYWORD, keyword=keyword)
        query = parse_score_request(text)
        if query is None:
            return RoutedText(TextRoute.ANSWER)
        if self.is_lead(channel, address):
            return RoutedText(TextRoute.LEAD_SCORE, query=query)
        return RoutedText(TextRoute.SCORE_OR_ANSWER, query=query)

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
        self, tx: RawTransaction | None, channel: str, provider_message_id: str | None
    ) -> InboundResult | None:
        """What was answered the first time this provider message id came (a provider retry)."""
        if provider_message_id is None:
            return None
        if tx is None:
            with raw_transaction(self.engine) as own:
                seen = self.replies.stored_reply(own, channel, provider_message_id)
        else:
            seen = self.replies.stored_reply(tx, channel, provider_message_id)
        if seen is None:
            return None
        reply, reason, invitation_id = seen
        return InboundResult(
            replies=_decode(reply), reason=reason, duplicate=True, invitation_id=invitation_id
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
                with self.write_turn(), raw_transaction(self.engine) as tx:
                    return self._converse_once(
                        tx, channel, address, event, raw, provider_message_id, invitation_id
                    )
            except _Conflict:
                continue
            except IntegrityError:
                dup = self._duplicate(None, channel, provider_message_id)
                if dup is not None:
                    return dup
                raise
        raise InvalidInput("the survey changed while the reply was recorded; please retry")

    def _converse_once(
        self,
        tx: RawTransaction,
        channel: str,
        address: str,
        event: conv.Event,
        raw: str,
        provider_message_id: str | None,
        invitation_id: int | None,
    ) -> InboundResult:
        """One reply on prepared statements (the hot path of a busy campaign).

        A provider retry is caught by the UNIQUE (channel, provider_message_id) of the inbound
        row, written before anything else: the IntegrityError makes :meth:`_converse` roll back
        and answer what was stored the first time.
        """
        target = self.replies.reply_target(
            tx, channel, self.pseudonym(channel, address), self.clock(), invitation_id
        )
        invitation = target.invitation if target is not None else None
        if target is None or invitation is None:
            dup = self._duplicate(tx, channel, provider_message_id)
            if dup is not None:
                return dup
            locale = target.respondent_locale if target is not None else None
            reply = OutboundMessage(text=message("no_open_survey", locale))
            return InboundResult(replies=(reply,), reason="no_open_survey")
        survey = self.surveys.get(invitation.survey)
        ctx = conv.Context(
            now=self.clock(),
            locale=invitation.locale,
            brand=self.settings.csat_brand,
            invitation_id=invitation.id,
        )
        answers: dict[str, tuple[int | None, str, int | None]] = {}
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
            # Answers are written only together with responded_at, so none exist without it.
            if invitation.responded_at is not None:
                answers = self.replies.answers_so_far(tx, invitation.id)
            state = conv.State(
                status=invitation.status,
                question_index=invitation.question_index,
                reprompts=invitation.reprompts,
                expires_at=invitation.expires_at,
                answers={question: given[0] for question, given in answers.items()},
            )
            transition = conv.step(survey, state, event, ctx)
        self.replies.insert_inbound_message(
            tx,
            {
                "channel": channel,
                "provider_message_id": provider_message_id,
                "respondent_id": target.respondent_id,
                "invitation_id": invitation.id,
                "raw_text": raw[:4000],
                "parsed_value": transition.parsed_value,
                "reason": transition.reason,
                "reply": _encode(transition.replies),
                "received_at": self.clock(),
            },
        )
        alerts = self._apply(tx, invitation, answers, transition, ctx.now)
        return InboundResult(
            replies=transition.replies,
            reason=transition.reason,
            invitation_id=invitation.id,
            alerts=alerts,
            closed=transition.closed,
        )

    def _apply(
        self,
        tx: RawTransaction,
        invitation: OpenInvitation,
        answers: Mapping[str, tuple[int | None, str, int | None]],
        transition: conv.Transition,
        now: datetime,
    ) -> tuple[Alert, ...]:
        moved = (
            transition.status != invitation.status
            or transition.question_index != invitation.question_index
            or transition.reprompts != invitation.reprompts
            or transition.records
        )
        if not moved:
            return ()
        stepped = self.replies.step_invitation(
            tx,
            invitation.id,
            invitation.version,
            status=transition.status,
            question_index=transition.question_index,
            reprompts=transition.reprompts,
            responded_at=now if transition.records else None,
            closed_at=now if transition.closed else None,
            reason="unparsed reply" if transition.status == Status.UNPARSED else None,
        )
        if not stepped:
            raise _Conflict
        for record in transition.records:
            self._upsert_answer(tx, invitation, record, now, record.question.id in answers)
        return self._alerts(invitation, answers, transition.records)

    def _alerts(
        self,
        invitation: OpenInvitation,
        answers: Mapping[str, tuple[int | None, str, int | None]],
        records: Sequence[conv.Record],
    ) -> tuple[Alert, ...]:
        """An alert when a low rating arrives, and again when its comment follows."""
        ratings = {
            q: (value, top) for q, (value, kind, top) in answers.items() if kind in ALERT_KINDS
        }
        alerts: list[Alert] = []
        for record in records:
            rating: tuple[int | None, int | None] | None = None
            comment = None
            if record.question.kind in ALERT_KINDS and record.question.scale is not None:
                rating = (record.value, record.question.scale.maximum)
                ratings[record.question.id] = rating
            elif record.comment is not None:
                comment = record.comment
                rating = next(iter(ratings.values()), None)
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
        self,
        tx: RawTransaction,
        invitation: OpenInvitation,
        record: conv.Record,
        now: datetime,
        exists: bool,
    ) -> None:
        question = record.question
        scale = question.scale
        scored = scale is not None and record.value is not None
        self.replies.save_answer(
            tx,
            {
                "invitation_id": invitation.id,
                "question_id": question.id,
                "kind": question.kind,
                "value": record.value,
                "comment": record.comment,
                "scale_min": scale.minimum if scale is not None and scored else None,
                "scale_max": scale.maximum if scale is not None and scored else None,
                "positive": scale.is_positive(record.value)
                if scale is not None and record.value is not None
                else False,
                "negative": scale.is_negative(record.value)
                if scale is not None and record.value is not None
                else False,
                "answered_at": now,
                "channel": invitation.channel,
                "agent": invitation.agent,
                "team": invitation.team,
                "touchpoint": invitation.touchpoint,
                "survey": invitation.survey,
                "locale": invitation.locale,
            },
            exists=exists,
        )

    # -- keywords -------------------------------------------------------------------------

    def _keyword(
        self, channel: str, address: str, keyword: str, raw: str, provider_message_id: str | None
    ) -> InboundResult:
        with self.session() as session:
            with raw_in(session.connection()) as tx:
                dup = self._duplicate(tx, channel, provider_message_id)
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
                col(Invitation.status).in_(OPEN_STATUSES),
            )
            .values(
                status=Status.CANCELLED,
                reason=reason,
                closed_at=self.clock(),
                version=col(Invitation.version) + 1,
            ),
        )
