"""The conversation as a pure function: ``step(survey, state, event, context) -> Transition``.

No I/O and no clock of its own, so every path of a survey conversation is tested directly and the
service only loads state, calls ``step`` and stores the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.channel import Button, OutboundMessage
from bot.choices import NotAnOption, Picked, read_choice
from bot.parsing import Rating, Reprompt, parse_rating
from bot.surveys import Question, Survey
from bot.texts import is_skip, message
from storage.values import CLOSED_STATUSES, Kind, Reason, Status

MAX_REPROMPTS = 2
OPEN = Status.SENT
COMPLETED = Status.COMPLETED
CLOSED_STATES = CLOSED_STATUSES
_CORRECTION_MAX_LEN = 16
MAX_RATING_REPLY = 500  # a rating is short; longer text is re-prompted without parsing it all


@dataclass(frozen=True)
class State:
    status: Status
    question_index: int
    reprompts: int
    expires_at: datetime | None
    answers: Mapping[str, int | None]


@dataclass(frozen=True)
class TextReply:
    text: str


@dataclass(frozen=True)
class ButtonReply:
    question_id: str
    value: int


@dataclass(frozen=True)
class CommentReply:
    """What was typed into a form's comment box for ``question_id``: the comment as written,
    never read as a rating, a skip or a keyword (a page's "5" or "no" is a comment)."""

    question_id: str
    text: str


Event = TextReply | ButtonReply | CommentReply


@dataclass(frozen=True)
class Context:
    now: datetime
    locale: str
    brand: str
    invitation_id: int | None = None


@dataclass(frozen=True)
class Record:
    """One answer to upsert: a rating (``value``), an option (``choice``, its id) or a comment
    (``comment``)."""

    question: Question
    value: int | None = None
    comment: str | None = None
    choice: str | None = None


@dataclass(frozen=True)
class Transition:
    status: Status
    question_index: int
    reprompts: int
    reason: Reason
    records: tuple[Record, ...] = ()
    replies: tuple[OutboundMessage, ...] = ()
    parsed_value: int | None = None
    closed: bool = field(default=False)


def question_message(
    survey: Survey, index: int, ctx: Context, *, prefix: str = "", kind: str = "survey"
) -> OutboundMessage:
    """The message that asks question ``index``: text, buttons for scored questions, a hint."""
    question = survey.questions[index]
    text = question.text(ctx.locale, survey.fallback_locale, ctx.brand)
    if prefix:
        text = f"{prefix}{text}"
    if question.kind == Kind.CHOICE:
        return _choice_message(survey, question, ctx, text, kind=kind)
    if question.scale is None:
        hint = None if question.required else message("comment_optional_hint", ctx.locale)
        return OutboundMessage(
            text=text,
            hint=hint,
            invitation_id=ctx.invitation_id,
            question_id=question.id,
            question_kind=question.kind,
            kind=kind,
            locale=ctx.locale,
        )
    scale = question.scale
    buttons = tuple(Button(label=str(v), value=v) for v in range(scale.minimum, scale.maximum + 1))
    return OutboundMessage(
        text=text,
        buttons=buttons,
        hint=message("reply_hint", ctx.locale, min=scale.minimum, max=scale.maximum),
        invitation_id=ctx.invitation_id,
        question_id=question.id,
        question_kind=question.kind,
        kind=kind,
        locale=ctx.locale,
    )


def _choice_message(
    survey: Survey,
    question: Question,
    ctx: Context,
    text: str,
    *,
    kind: str = "reply",
    hint: str | None = None,
) -> OutboundMessage:
    """A choice question: a button per option whose value is its position, which is also the
    number a text-only channel lists it under and the customer replies with."""
    buttons = tuple(
        Button(label=option.text(ctx.locale, survey.fallback_locale, ctx.brand), value=position)
        for position, option in enumerate(question.options, start=1)
    )
    if hint is None:
        hint = message("reply_hint", ctx.locale, min=1, max=len(buttons))
        if not question.required:
            optional = message("comment_optional_hint", ctx.locale)
            hint += optional if optional.startswith("（") else f" {optional}"
    return OutboundMessage(
        text=text,
        buttons=buttons,
        hint=hint,
        invitation_id=ctx.invitation_id,
        question_id=question.id,
        question_kind=question.kind,
        kind=kind,
        locale=ctx.locale,
        skippable=not question.required,
    )


def _say(ctx: Context, key: str, **values: object) -> OutboundMessage:
    return OutboundMessage(
        text=message(key, ctx.locale, **values), invitation_id=ctx.invitation_id, locale=ctx.locale
    )


def _is_open(state: State, now: datetime) -> bool:
    return state.expires_at is None or now < state.expires_at


def _last_scored(survey: Survey, before: int) -> int | None:
    for index in range(min(before, len(survey.questions) - 1), -1, -1):
        if survey.questions[index].scale is not None:
            return index
    return None


def _same(state: State, reason: Reason, replies: tuple[OutboundMessage, ...] = ()) -> Transition:
    return Transition(
        status=state.status,
        question_index=state.question_index,
        reprompts=state.reprompts,
        reason=reason,
        replies=replies,
    )


def _after_answer(
    survey: Survey,
    state: State,
    index: int,
    answers: Mapping[str, int | None],
    ctx: Context,
    record: Record,
    reason: Reason,
) -> Transition:
    nxt = survey.next_question(index, answers)
    question = survey.questions[index]
    if nxt is None:
        return Transition(
            status=COMPLETED,
            question_index=index,
            reprompts=0,
            reason=reason,
            records=(record,),
            replies=(_say(ctx, "thanks"),),
            parsed_value=record.value,
            closed=True,
        )
    prefix = ""
    if question.scale is not None and record.value is not None:
        prefix = message(
            "thanks_rating", ctx.locale, value=record.value, max=question.scale.maximum
        )
        prefix += " "
    follow_up = question_message(survey, nxt, ctx, prefix=prefix, kind="reply")
    return Transition(
        status=OPEN,
        question_index=nxt,
        reprompts=0,
        reason=reason,
        records=(record,),
        replies=(follow_up,),
        parsed_value=record.value,
    )


def _correction(survey: Survey, state: State, event: Event, ctx: Context) -> Transition | None:
    """A bare rating after the rating question was answered replaces it (latest counts)."""
    if isinstance(event, CommentReply):
        return None
    if isinstance(event, ButtonReply):
        index = next((i for i, q in enumerate(survey.questions) if q.id == event.question_id), None)
        if index is None:
            return None
        question = survey.questions[index]
        if question.scale is None or not question.scale.contains(event.value):
            return None
        value = event.value
    else:
        text = event.text.strip()
        if len(text) > _CORRECTION_MAX_LEN:
            return None
        index = _last_scored(survey, state.question_index if state.status == OPEN else 99)
        if index is None or survey.questions[index].id not in state.answers:
            return None
        question = survey.questions[index]
        assert question.scale is not None
        parsed = parse_rating(
            text, question.scale.minimum, question.scale.maximum, locale=ctx.locale
        )
        if not isinstance(parsed, Rating):
            return None
        value = parsed.value
    if survey.questions[index].id not in state.answers:
        return None
    status, question_index, closed = state.status, state.question_index, False
    replies = [_say(ctx, "correction", value=value, max=question.scale.maximum)]
    if state.status == OPEN:
        # The new rating may change whether the pending follow-up applies at all.
        answers = {**state.answers, question.id: value}
        pending = survey.next_question(index, answers)
        if pending is None:
            status, closed = COMPLETED, True
        elif pending != state.question_index:
            question_index = pending
            replies.append(question_message(survey, pending, ctx, kind="reply"))
    return Transition(
        status=status,
        question_index=question_index,
        reprompts=state.reprompts,
        reason=Reason.CORRECTION,
        records=(Record(question, value=value),),
        replies=tuple(replies),
        parsed_value=value,
        closed=closed,
    )


def _comment(survey: Survey, state: State, index: int, text: str, ctx: Context) -> Transition:
    if not text:
        return _same(state, Reason.EMPTY_COMMENT)
    question = survey.questions[index]
    answers = {**state.answers, question.id: None}
    record = Record(question, comment=text[:4000])
    return _after_answer(survey, state, index, answers, ctx, record, Reason.COMMENT)


def step(survey: Survey, state: State, event: Event, ctx: Context) -> Transition:
    """Advance one reply. Never raises for any text."""
    if not _is_open(state, ctx.now) or state.status in (Status.EXPIRED, Status.CANCELLED):
        return _same(state, Reason.LATE, (_say(ctx, "closed"),))
    if state.status not in (OPEN, COMPLETED):
        return _same(state, Reason.CLOSED, (_say(ctx, "closed"),))

    correction = _correction(survey, state, event, ctx)
    if correction is not None and (
        state.status == COMPLETED
        or survey.questions[state.question_index].kind == Kind.TEXT
        or (
            isinstance(event, ButtonReply)
            and event.question_id != survey.questions[state.question_index].id
        )
    ):
        return correction
    if state.status == COMPLETED:
        return _same(state, Reason.AFTER_COMPLETION, (_say(ctx, "already_answered"),))

    index = state.question_index
    question = survey.questions[index]
    if question.kind == Kind.CHOICE:
        return _choose(survey, state, event, ctx)
    if isinstance(event, ButtonReply):
        if event.question_id != question.id or question.scale is None:
            return _same(state, Reason.STALE_BUTTON, (_say(ctx, "already_answered"),))
        if not question.scale.contains(event.value):
            return _same(state, Reason.INVALID_BUTTON)
        answers = {**state.answers, question.id: event.value}
        return _after_answer(
            survey, state, index, answers, ctx, Record(question, value=event.value), Reason.RATING
        )

    if isinstance(event, CommentReply):
        if event.question_id != question.id or question.scale is not None:
            return _same(state, Reason.STALE_BUTTON, (_say(ctx, "already_answered"),))
        return _comment(survey, state, index, event.text.strip(), ctx)

    text = event.text.strip()
    if question.scale is None:
        if not question.required and is_skip(text):
            return _skipped(survey, state, ctx)
        return _comment(survey, state, index, text, ctx)

    scale = question.scale
    parsed = (
        parse_rating(text, scale.minimum, scale.maximum, locale=ctx.locale)
        if len(text) <= MAX_RATING_REPLY
        else Reprompt("no_number")
    )
    if isinstance(parsed, Rating):
        answers = {**state.answers, question.id: parsed.value}
        return _after_answer(
            survey, state, index, answers, ctx, Record(question, value=parsed.value), Reason.RATING
        )
    assert isinstance(parsed, Reprompt)
    if state.reprompts >= MAX_REPROMPTS:
        return _given_up(state, ctx)
    hint = message(f"reprompt_{parsed.reason}", ctx.locale, min=scale.minimum, max=scale.maximum)
    return Transition(
        status=OPEN,
        question_index=index,
        reprompts=state.reprompts + 1,
        reason=Reason.reprompt(parsed.reason),
        replies=(
            OutboundMessage(
                text=hint,
                buttons=tuple(Button(str(v), v) for v in range(scale.minimum, scale.maximum + 1)),
                invitation_id=ctx.invitation_id,
                question_id=question.id,
                question_kind=question.kind,
                hint="",
                locale=ctx.locale,
            ),
        ),
    )


def _skipped(survey: Survey, state: State, ctx: Context) -> Transition:
    """An optional question declined: the survey is done (a skipped question has no answer, so
    no later question's condition can hold on it)."""
    return Transition(
        status=COMPLETED,
        question_index=state.question_index,
        reprompts=0,
        reason=Reason.COMMENT_SKIPPED,
        replies=(_say(ctx, "thanks"),),
        closed=True,
    )


def _given_up(state: State, ctx: Context) -> Transition:
    """The third reply that answers nothing closes the survey rather than nagging further."""
    return Transition(
        status=Status.UNPARSED,
        question_index=state.question_index,
        reprompts=state.reprompts,
        reason=Reason.UNPARSED,
        replies=(_say(ctx, "unparsed_final"),),
        closed=True,
    )


def _choose(survey: Survey, state: State, event: Event, ctx: Context) -> Transition:
    """A reply to the open choice question: a tap carries the option's position, a text is read
    by :func:`bot.choices.read_choice` (number, words, else ``other`` with the text)."""
    index = state.question_index
    question = survey.questions[index]
    answered = {**state.answers, question.id: None}
    count = len(question.options)
    if isinstance(event, CommentReply):  # the page's comment box, posted at a choice question
        return _same(state, Reason.STALE_BUTTON, (_say(ctx, "already_answered"),))
    if isinstance(event, ButtonReply):
        if event.question_id != question.id:
            return _same(state, Reason.STALE_BUTTON, (_say(ctx, "already_answered"),))
        option = question.option_at(event.value)
        if option is None:  # a forged or stale position: nothing recorded, the list again
            again = _choice_message(
                survey,
                question,
                ctx,
                message("reprompt_no_choice", ctx.locale, min=1, max=count),
                hint="",
            )
            return _same(state, Reason.INVALID_BUTTON, (again,))
        record = Record(question, choice=option.id)
        return _after_answer(survey, state, index, answered, ctx, record, Reason.CHOICE)
    text = event.text.strip()
    if is_skip(text):
        if not question.required:
            return _skipped(survey, state, ctx)
        read: Picked | NotAnOption = NotAnOption("no_choice")
    else:
        read = read_choice(text, question, ctx.locale)
    if isinstance(read, Picked):
        option = question.options[read.position - 1]
        comment = None if read.comment is None else read.comment[:4000]
        record = Record(question, choice=option.id, comment=comment)
        return _after_answer(survey, state, index, answered, ctx, record, Reason.CHOICE)
    if state.reprompts >= MAX_REPROMPTS:
        return _given_up(state, ctx)
    again = _choice_message(
        survey,
        question,
        ctx,
        message("reprompt_no_choice", ctx.locale, min=1, max=count),
        hint="",
    )
    return Transition(
        status=OPEN,
        question_index=index,
        reprompts=state.reprompts + 1,
        reason=Reason.reprompt(read.reason),
        replies=(again,),
    )
