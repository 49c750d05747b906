"""Replies: keywords, survey answers, corrections, provider retries; and alerts they raise."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from bot import engine as conv
from bot.alerts import ALERT_KINDS, Alert
from bot.channel import OutboundMessage
from bot.context import ServiceContext
from bot.errors import InvalidInput
from bot.optouts import OptOuts
from bot.parsing import Keyword, parse_keyword, parse_score_request
from bot.reports import Reports
from bot.results import InboundResult, decode_replies, encode_replies
from bot.texts import message
from bot.webhooks import Webhooks
from storage.errors import DuplicateKey
from storage.interface import (
    AnswerRow,
    GivenAnswer,
    InboundRow,
    NewAlert,
    OpenInvitation,
    ReplyTransaction,
    Step,
)
from storage.values import Closure, Reason, Status

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


class _Conflict(Exception):
    """Another writer changed the invitation first; the step is replayed on fresh state."""


class Conversations:
    def __init__(self, ctx: ServiceContext, reports: Reports, optouts: OptOuts) -> None:
        self.ctx = ctx
        self.reports = reports
        self.optouts = optouts
        self.webhooks = Webhooks(ctx)

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
            return self.reports.lead_score_reply(routed.query)
        result = self._converse(
            channel, address, conv.TextReply(text), text, provider_message_id, invitation_id
        )
        if routed.route is TextRoute.SCORE_OR_ANSWER and result.reason is Reason.NO_OPEN_SURVEY:
            # "SCORE ..." from someone who is not a lead and has no survey to answer
            refusal = OutboundMessage(text=message("not_a_lead", None))
            return InboundResult(replies=(refusal,), reason=Reason.NOT_A_LEAD)
        return result

    def route_text(
        self, channel: str, address: str, text: str, invitation_id: int | None = None
    ) -> RoutedText:
        """What :meth:`handle_text` will do with a text: one decision, which the hub also reads
        to run a lead's report (a read that may take a while) off the write turn."""
        if invitation_id is not None or not self.ctx.channel(channel).traits.keywords:
            return RoutedText(TextRoute.ANSWER)
        keyword = parse_keyword(text)
        if keyword is not None:
            return RoutedText(TextRoute.KEYWORD, keyword=keyword)
        query = parse_score_request(text)
        if query is None:
            return RoutedText(TextRoute.ANSWER)
        if self.ctx.is_lead(channel, address):
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

    def handle_comment(
        self,
        channel: str,
        address: str,
        invitation_id: int,
        question_id: str,
        text: str,
        provider_message_id: str | None = None,
    ) -> InboundResult:
        """A comment from a form's comment box, stored as written (see ``CommentReply``)."""
        event = conv.CommentReply(question_id=question_id, text=text)
        return self._converse(
            channel, address, event, text, provider_message_id, invitation_id=invitation_id
        )

    def _duplicate(
        self, tx: ReplyTransaction | None, channel: str, provider_message_id: str | None
    ) -> InboundResult | None:
        """What was answered the first time this provider message id came (a provider retry)."""
        if provider_message_id is None:
            return None
        if tx is None:
            with self.ctx.store.replying() as own:
                seen = own.stored_reply(channel, provider_message_id)
        else:
            seen = tx.stored_reply(channel, provider_message_id)
        if seen is None:
            return None
        return InboundResult(
            replies=decode_replies(seen.reply),
            reason=Reason(seen.reason),
            duplicate=True,
            invitation_id=seen.invitation_id,
        )

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
                with self.ctx.store.replying() as tx:
                    return self._converse_once(
                        tx, channel, address, event, raw, provider_message_id, invitation_id
                    )
            except _Conflict:
                continue
            except DuplicateKey:
                dup = self._duplicate(None, channel, provider_message_id)
                if dup is not None:
                    return dup
                raise
        raise InvalidInput("the survey changed while the reply was recorded; please retry")

    def _converse_once(
        self,
        tx: ReplyTransaction,
        channel: str,
        address: str,
        event: conv.Event,
        raw: str,
        provider_message_id: str | None,
        invitation_id: int | None,
    ) -> InboundResult:
        """One reply on prepared statements (the hot path of a busy campaign).

        A provider retry is caught by the UNIQUE (channel, provider_message_id) of the inbound
        row, written before anything else: the DuplicateKey makes :meth:`_converse` roll back
        and answer what was stored the first time.
        """
        ctx = self.ctx
        target = tx.reply_target(
            channel, ctx.pseudonym(channel, address), ctx.clock(), invitation_id
        )
        invitation = target.invitation if target is not None else None
        if target is None or invitation is None:
            dup = self._duplicate(tx, channel, provider_message_id)
            if dup is not None:
                return dup
            locale = target.respondent_locale if target is not None else None
            reply = OutboundMessage(text=message("no_open_survey", locale))
            return InboundResult(replies=(reply,), reason=Reason.NO_OPEN_SURVEY)
        survey = ctx.surveys.get(invitation.survey)
        context = conv.Context(
            now=ctx.clock(),
            locale=invitation.locale,
            brand=ctx.settings.csat_brand,
            invitation_id=invitation.id,
        )
        answers: dict[str, GivenAnswer] = {}
        if survey is None or survey.version != invitation.survey_version:
            transition = conv.Transition(
                status=invitation.status,
                question_index=invitation.question_index,
                reprompts=invitation.reprompts,
                reason=Reason.SURVEY_CHANGED,
                replies=(OutboundMessage(text=message("closed", invitation.locale)),),
            )
            survey = None
        else:
            # Answers are written only together with responded_at, so none exist without it.
            if invitation.responded_at is not None:
                answers = tx.answers_so_far(invitation.id)
            state = conv.State(
                status=invitation.status,
                question_index=invitation.question_index,
                reprompts=invitation.reprompts,
                expires_at=invitation.expires_at,
                answers={question: given.value for question, given in answers.items()},
            )
            transition = conv.step(survey, state, event, context)
        tx.add_inbound(
            InboundRow(
                channel=channel,
                provider_message_id=provider_message_id,
                respondent_id=target.respondent_id,
                invitation_id=invitation.id,
                raw_text=raw[:4000],
                parsed_value=transition.parsed_value,
                reason=transition.reason,
                reply=encode_replies(transition.replies),
                received_at=ctx.clock(),
            )
        )
        alerts = self._apply(tx, invitation, answers, transition, context.now)
        if self.webhooks.enabled:
            events = self.webhooks.for_reply(
                invitation, transition.reason, transition.records, alerts, context.now
            )
            if events:
                tx.add_events(events)
        return InboundResult(
            replies=transition.replies,
            reason=transition.reason,
            invitation_id=invitation.id,
            alerts=alerts,
            closed=transition.closed,
        )

    def _apply(
        self,
        tx: ReplyTransaction,
        invitation: OpenInvitation,
        answers: Mapping[str, GivenAnswer],
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
        stepped = tx.step_invitation(
            invitation.id,
            invitation.version,
            Step(
                status=Status(transition.status),
                question_index=transition.question_index,
                reprompts=transition.reprompts,
                responded_at=now if transition.records else None,
                closed_at=now if transition.closed else None,
                reason=Closure.UNPARSED if transition.status == Status.UNPARSED else None,
            ),
        )
        if not stepped:
            raise _Conflict
        for record in transition.records:
            self._upsert_answer(tx, invitation, record, now, record.question.id in answers)
        return self._alerts(tx, invitation, answers, transition.records, now)

    def _alerts(
        self,
        tx: ReplyTransaction,
        invitation: OpenInvitation,
        answers: Mapping[str, GivenAnswer],
        records: Sequence[conv.Record],
        now: datetime,
    ) -> tuple[Alert, ...]:
        """One alert per low rating, kept in the database: raised by the rating, brought up to
        date by what follows (the comment, the reason, a correction). A correction that lifts the
        rating above ``CSAT_ALERT_BELOW`` leaves a raised alert as it was: somebody may already
        be on it."""
        rating = next(
            (
                (given.value, given.scale_max)
                for given in answers.values()
                if given.kind in ALERT_KINDS
            ),
            None,
        )
        comment = reason = None
        touched = False
        for record in records:
            if record.question.kind in ALERT_KINDS and record.question.scale is not None:
                rating = (record.value, record.question.scale.maximum)
                touched = True
            elif record.choice is not None:
                reason = record.choice
                comment = record.comment if record.comment is not None else comment
                touched = True
            elif record.comment is not None:
                comment = record.comment
                touched = True
        if not touched or rating is None:
            return ()
        value, scale_max = rating
        if value is None or scale_max is None or value > self.ctx.settings.csat_alert_below:
            return ()
        follow_up_after = self.ctx.settings.follow_up_after()
        saved = tx.save_alert(
            NewAlert(
                invitation_id=invitation.id,
                interaction_id=invitation.interaction_id,
                channel=invitation.channel,
                agent=invitation.agent,
                team=invitation.team,
                survey=invitation.survey,
                value=value,
                scale_max=scale_max,
                comment=comment,
                reason=reason,
                created_at=now,
                remind_at=None if follow_up_after is None else now + follow_up_after,
            )
        )
        if not saved.created and not saved.changed:
            return ()
        if saved.created:
            log.warning(
                "low score %s/%s for %s (agent %s)",
                value,
                scale_max,
                invitation.interaction_id,
                invitation.agent,
            )
        alert = Alert(
            invitation_id=invitation.id,
            interaction_id=invitation.interaction_id,
            channel=invitation.channel,
            agent=invitation.agent,
            survey=invitation.survey,
            value=value,
            scale_max=scale_max,
            comment=comment,
            id=saved.id,
            team=invitation.team,
            reason=reason,
            created_at=now,
            created=saved.created,
        )
        return (alert,)

    def _upsert_answer(
        self,
        tx: ReplyTransaction,
        invitation: OpenInvitation,
        record: conv.Record,
        now: datetime,
        exists: bool,
    ) -> None:
        question = record.question
        scale = question.scale
        scored = scale is not None and record.value is not None
        tx.save_answer(
            AnswerRow(
                invitation_id=invitation.id,
                question_id=question.id,
                kind=question.kind,
                value=record.value,
                comment=record.comment,
                choice=record.choice,
                scale_min=scale.minimum if scale is not None and scored else None,
                scale_max=scale.maximum if scale is not None and scored else None,
                positive=scale.is_positive(record.value)
                if scale is not None and record.value is not None
                else False,
                negative=scale.is_negative(record.value)
                if scale is not None and record.value is not None
                else False,
                answered_at=now,
                channel=invitation.channel,
                agent=invitation.agent,
                team=invitation.team,
                touchpoint=invitation.touchpoint,
                survey=invitation.survey,
                locale=invitation.locale,
            ),
            exists=exists,
        )

    # -- keywords -------------------------------------------------------------------------

    def _keyword(
        self, channel: str, address: str, keyword: str, raw: str, provider_message_id: str | None
    ) -> InboundResult:
        ctx = self.ctx
        with ctx.store.writing() as tx:
            dup = self._duplicate(tx, channel, provider_message_id)
            if dup is not None:
                return dup
            respondent = tx.respondent(
                channel, ctx.pseudonym(channel, address), address, ctx.clock()
            )
            replies: tuple[OutboundMessage, ...]
            if keyword == "stop":
                replies = self.optouts.opt_out_in(tx, channel, address, "keyword")
            elif keyword == "start":
                tx.unsuppress(channel, ctx.pseudonym(channel, address))
                replies = (ctx.text("opted_in", respondent.locale),)
            else:
                replies = (ctx.text("help", respondent.locale),)
            tx.add_inbound(
                InboundRow(
                    channel=channel,
                    provider_message_id=provider_message_id,
                    respondent_id=respondent.id,
                    invitation_id=None,
                    raw_text=raw[:4000],
                    parsed_value=None,
                    reason=Reason.keyword(keyword),
                    reply=encode_replies(replies),
                    received_at=ctx.clock(),
                )
            )
            return InboundResult(replies=replies, reason=Reason.keyword(keyword))
