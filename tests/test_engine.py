"""The pure conversation engine, table by table: every accepted reply form, every reprompt with
its reason code, the reprompt limit, skips, comments, conditional follow-ups, corrections, button
taps, closed and expired states, locales, and properties that hold for any reply at any state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channel import Button, OutboundMessage, plain_text
from bot.engine import (
    CLOSED_STATES,
    MAX_REPROMPTS,
    ButtonReply,
    CommentReply,
    Context,
    Event,
    Record,
    State,
    TextReply,
    Transition,
    question_message,
    step,
)
from bot.parsing import REPROMPT_REASONS
from bot.surveys import (
    SUPPORTED_LOCALES,
    Condition,
    Question,
    Survey,
    builtin_surveys,
    default_scale,
)
from bot.texts import message

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
OPEN_UNTIL = NOW + timedelta(days=1)
BRAND = "Acme"

SURVEYS = builtin_surveys()
SUPPORT = SURVEYS["support"]
NPS = SURVEYS["nps"]
CES = SURVEYS["ces"]
CSAT_Q, COMMENT_Q = SUPPORT.questions
CES_Q, CES_COMMENT_Q = CES.questions

# A custom survey with a conditional, *required* comment: a 1-10 grade, and "why?" below 6.
GRADE_Q = Question(
    "grade",
    "csat10",
    {"en": "Which grade would you give {brand}?", "nl": "Welk cijfer geef je {brand}?"},
    default_scale("csat10"),
)
WHY_Q = Question(
    "why",
    "text",
    {"en": "What should we improve?", "nl": "Wat kunnen we beter doen?"},
    None,
    ask_if=Condition("grade", "<", 6),
)
GRADE = Survey("grade", (GRADE_Q, WHY_Q))

# A custom survey with two scored questions: NPS is asked only of satisfied customers.
NPS_AFTER_CSAT = Survey(
    "csat_then_nps",
    (
        CSAT_Q,
        replace(NPS.questions[0], ask_if=Condition("csat", ">=", 4)),
    ),
)

# The built-in support survey with its comment made conditional through dataclasses.replace.
SUPPORT_LOW_ONLY = replace(
    SUPPORT,
    name="support_low",
    questions=(CSAT_Q, replace(COMMENT_Q, ask_if=Condition("csat", "<=", 3))),
)


def ctx(locale: str = "en", *, now: datetime = NOW, invitation_id: int | None = 7) -> Context:
    return Context(now=now, locale=locale, brand=BRAND, invitation_id=invitation_id)


def state(
    status: str = "sent",
    index: int = 0,
    reprompts: int = 0,
    answers: Mapping[str, int | None] | None = None,
    expires_at: datetime | None = OPEN_UNTIL,
) -> State:
    return State(status, index, reprompts, expires_at, dict(answers or {}))


AT_COMMENT = state(index=1, answers={"csat": 4})
SUPPORT_DONE = state("completed", 1, answers={"csat": 4, "comment": None})


def apply(current: State, transition: Transition) -> State:
    """The state the service would store after ``transition`` (answers updated from records)."""
    answers = dict(current.answers)
    for record in transition.records:
        answers[record.question.id] = record.value
    return State(
        transition.status,
        transition.question_index,
        transition.reprompts,
        current.expires_at,
        answers,
    )


def assert_unchanged(before: State, after: Transition) -> None:
    assert (after.status, after.question_index, after.reprompts) == (
        before.status,
        before.question_index,
        before.reprompts,
    )
    assert after.records == ()
    assert after.parsed_value is None
    assert not after.closed


def texts(transition: Transition) -> list[str]:
    return [reply.text for reply in transition.replies]


# --- the first question: accepted forms -----------------------------------------------------

ACCEPTED_FORMS = [
    ("4", 4),
    ("4/5", 4),
    ("4 stars", 4),
    ("4 out of 5", 4),
    ("4️⃣", 4),
    ("⭐⭐⭐⭐", 4),
    ("★★★★☆", 4),
    ("４", 4),
    ("vier", 4),  # Dutch and German
    ("fire", 4),  # Norwegian: a weak word, but the whole reply
    ("cuatro", 4),
    ("四", 4),
    ("5, great service!", 5),
    ("vijf", 5),
    ("fem", 5),
    ("fünf", 5),
    ("cinco", 5),
    ("五", 5),
    ("  3  ", 3),
    ("1", 1),
]


@pytest.mark.parametrize(("reply", "value"), ACCEPTED_FORMS)
def test_accepted_reply_moves_to_the_comment(reply: str, value: int) -> None:
    result = step(SUPPORT, state(), TextReply(reply), ctx())

    assert result.reason == "rating"
    assert (result.status, result.question_index, result.reprompts) == ("sent", 1, 0)
    assert not result.closed
    assert result.parsed_value == value
    assert result.records == (Record(CSAT_Q, value=value),)
    (follow_up,) = result.replies
    thanks = message("thanks_rating", "en", value=value, max=5)
    assert follow_up.text == f"{thanks} {COMMENT_Q.texts['en']}"
    assert follow_up.question_id == "comment"
    assert follow_up.question_kind == "text"
    assert follow_up.kind == "reply"
    assert follow_up.buttons == ()
    assert follow_up.hint == message("comment_optional_hint", "en")
    assert follow_up.invitation_id == 7


@pytest.mark.parametrize(("reply", "value"), ACCEPTED_FORMS)
def test_accepted_button_and_text_give_the_same_transition(reply: str, value: int) -> None:
    by_text = step(SUPPORT, state(), TextReply(reply), ctx())
    by_button = step(SUPPORT, state(), ButtonReply("csat", value), ctx())
    assert by_text == by_button


# --- reprompts ------------------------------------------------------------------------------

REPROMPTED = [
    ("10/10", "wrong_denominator"),
    ("3-4", "range_given"),
    ("4.5", "decimal"),
    ("45", "out_of_range"),
    ("not bad", "no_number"),
    ("0", "out_of_range"),
    ("6", "out_of_range"),
    ("6/5", "out_of_range"),
    ("4 or 5", "range_given"),
    ("4, 5", "multiple_numbers"),
    ("", "empty"),
    ("   ", "empty"),
]


@pytest.mark.parametrize(("reply", "code"), REPROMPTED)
def test_unclear_reply_is_reprompted_with_its_reason(reply: str, code: str) -> None:
    assert code in REPROMPT_REASONS
    result = step(SUPPORT, state(), TextReply(reply), ctx())

    assert result.reason == f"reprompt:{code}"
    assert (result.status, result.question_index, result.reprompts) == ("sent", 0, 1)
    assert not result.closed
    assert result.records == ()
    assert result.parsed_value is None
    (reprompt,) = result.replies
    assert reprompt.text == message(f"reprompt_{code}", "en", min=1, max=5)
    assert reprompt.buttons == tuple(Button(str(v), v) for v in range(1, 6))
    assert reprompt.question_id == "csat"
    assert reprompt.question_kind == "csat"
    assert reprompt.invitation_id == 7
    # The reprompt already says which numbers to use: no second hint on text-only channels.
    assert plain_text(reprompt, "en") == reprompt.text


@pytest.mark.parametrize(
    ("survey", "reply", "code", "maximum"),
    [
        (NPS, "11", "out_of_range", 10),
        (NPS, "4/5", "wrong_denominator", 10),
        (NPS, "7-8", "range_given", 10),
        (NPS, "-1", "out_of_range", 10),
        (CES, "8", "out_of_range", 7),
        (CES, "0", "out_of_range", 7),
        (CES, "5/5", "wrong_denominator", 7),
        (CES, "6.5", "decimal", 7),
        (GRADE, "11", "out_of_range", 10),
        (GRADE, "0", "out_of_range", 10),
    ],
)
def test_reprompt_names_the_survey_scale(
    survey: Survey, reply: str, code: str, maximum: int
) -> None:
    scale = survey.questions[0].scale
    assert scale is not None and scale.maximum == maximum
    result = step(survey, state(), TextReply(reply), ctx())
    assert result.reason == f"reprompt:{code}"
    (reprompt,) = result.replies
    assert reprompt.text == message(f"reprompt_{code}", "en", min=scale.minimum, max=maximum)
    assert [b.value for b in reprompt.buttons] == list(range(scale.minimum, maximum + 1))


def test_reprompt_is_in_the_respondents_language() -> None:
    result = step(SUPPORT, state(), TextReply("niet slecht"), ctx("nl"))
    assert result.reason == "reprompt:no_number"
    assert texts(result) == [message("reprompt_no_number", "nl", min=1, max=5)]
    assert texts(result) != [message("reprompt_no_number", "en", min=1, max=5)]


def test_third_unclear_reply_closes_as_unparsed() -> None:
    current = state()
    for expected in (1, 2):
        result = step(SUPPORT, current, TextReply("not bad"), ctx())
        assert result.reason == "reprompt:no_number"
        assert result.reprompts == expected
        assert result.status == "sent" and not result.closed
        current = apply(current, result)

    final = step(SUPPORT, current, TextReply("meh"), ctx())
    assert final.reason == "unparsed"
    assert final.status == "unparsed"
    assert final.closed
    assert final.reprompts == MAX_REPROMPTS
    assert final.question_index == 0
    assert final.records == ()
    assert texts(final) == [message("unparsed_final", "en")]

    after = step(SUPPORT, apply(current, final), TextReply("4"), ctx())
    assert after.reason == "closed"
    assert after.records == ()
    assert texts(after) == [message("closed", "en")]


@pytest.mark.parametrize("reprompts", [1, 2])
def test_clear_reply_after_reprompts_resets_the_counter(reprompts: int) -> None:
    result = step(SUPPORT, state(reprompts=reprompts), TextReply("4 stars"), ctx())
    assert result.reason == "rating"
    assert result.reprompts == 0
    assert result.question_index == 1
    assert result.records == (Record(CSAT_Q, value=4),)


# --- the optional comment -------------------------------------------------------------------

SKIPS = [
    "skip",
    "SKIP",
    "Skip.",
    "skip!",
    "  skip  ",
    "no",
    "No.",
    "none",
    "nothing",
    "pass",
    "n/a",
    "-",
    "nee",
    "geen",
    "nei",
    "ingen",
    "nein",
    "nichts",
    "nada",
    "saltar",
    "不用",
    "没有",
]


@pytest.mark.parametrize("reply", SKIPS)
def test_skip_word_completes_without_a_record(reply: str) -> None:
    result = step(SUPPORT, AT_COMMENT, TextReply(reply), ctx())
    assert result.reason == "comment_skipped"
    assert result.status == "completed"
    assert result.closed
    assert result.records == ()
    assert result.parsed_value is None
    assert texts(result) == [message("thanks", "en")]


@pytest.mark.parametrize(
    ("locale", "word"),
    [
        ("en", "SKIP"),
        ("nl", "OVERSLAAN"),
        ("nb", "HOPP OVER"),
        ("de", "WEITER"),
        ("es", "OMITIR"),
        ("zh", "跳过"),
    ],
)
def test_the_skip_word_each_hint_names_skips(locale: str, word: str) -> None:
    assert word in message("comment_optional_hint", locale)
    result = step(SUPPORT, AT_COMMENT, TextReply(word), ctx(locale))
    assert result.reason == "comment_skipped"
    assert result.status == "completed" and result.closed
    assert texts(result) == [message("thanks", locale)]


@pytest.mark.parametrize(
    ("locale", "reply"),
    [
        ("en", "Skip,"),
        ("en", "skip?"),
        ("en", "SKIP ,"),
        ("en", "No!"),
        ("nl", "Overslaan!"),
        ("nl", "nee."),
        ("de", "Weiter."),
        ("es", "Omitir,"),
        ("zh", "跳过。"),
        ("zh", "跳过！"),
        ("zh", "不用，"),
        ("zh", "没有。"),
    ],
)
def test_skip_word_with_punctuation_skips(locale: str, reply: str) -> None:
    result = step(SUPPORT, AT_COMMENT, TextReply(reply), ctx(locale))
    assert result.reason == "comment_skipped"
    assert result.status == "completed" and result.closed
    assert result.records == ()
    assert result.parsed_value is None
    assert texts(result) == [message("thanks", locale)]


@pytest.mark.parametrize(
    "comment",
    [
        "The agent was very helpful",
        "slow",
        "10/10",  # too big for a 1-5 correction, so it is what they wanted to say
        "4 stars because it took two days",  # too long to be a bare correction
        "2 days",  # a number, but not a rating
        "skipping breakfast was worth it",
        "Nee, alles was prima eigenlijk",
    ],
)
def test_comment_is_recorded_and_completes(comment: str) -> None:
    result = step(SUPPORT, AT_COMMENT, TextReply(comment), ctx())
    assert result.reason == "comment"
    assert result.status == "completed"
    assert result.closed
    assert result.question_index == 1
    assert result.records == (Record(COMMENT_Q, comment=comment),)
    assert result.parsed_value is None
    assert texts(result) == [message("thanks", "en")]


def test_comment_is_stripped_and_truncated() -> None:
    padded = step(SUPPORT, AT_COMMENT, TextReply("  quick and friendly \n"), ctx())
    assert padded.records == (Record(COMMENT_Q, comment="quick and friendly"),)

    long = step(SUPPORT, AT_COMMENT, TextReply("x" * 5000), ctx())
    (record,) = long.records
    assert record.comment == "x" * 4000


@pytest.mark.parametrize("reply", ["", "   ", "\n\t"])
def test_empty_comment_changes_nothing(reply: str) -> None:
    result = step(SUPPORT, AT_COMMENT, TextReply(reply), ctx())
    assert result.reason == "empty_comment"
    assert_unchanged(AT_COMMENT, result)
    assert result.replies == ()


@pytest.mark.parametrize("reply", ["skip", "no", "nee", "-", "Skip.", "跳过。"])
def test_required_comment_takes_skip_words_as_the_comment(reply: str) -> None:
    at_why = state(index=1, answers={"grade": 3})
    result = step(GRADE, at_why, TextReply(reply), ctx())
    assert result.reason == "comment"
    assert result.status == "completed" and result.closed
    assert result.records == (Record(WHY_Q, comment=reply),)


def test_required_question_has_no_skip_hint() -> None:
    assert question_message(GRADE, 1, ctx()).hint is None
    assert question_message(SUPPORT, 1, ctx()).hint == message("comment_optional_hint", "en")


# --- conditional second question ------------------------------------------------------------


def _asked_follow_up(survey: Survey, value: int) -> bool:
    result = step(survey, state(), ButtonReply(survey.questions[0].id, value), ctx())
    assert result.reason == "rating"
    assert result.records == (Record(survey.questions[0], value=value),)
    if result.status == "completed":
        assert result.closed and result.question_index == 0
        assert texts(result) == [message("thanks", "en")]
        return False
    assert result.status == "sent" and not result.closed
    assert result.question_index == 1
    (follow_up,) = result.replies
    assert follow_up.question_id == survey.questions[1].id
    return True


@pytest.mark.parametrize(
    ("survey", "asked"),
    [
        (SUPPORT, dict.fromkeys(range(1, 6), True)),
        (NPS, dict.fromkeys(range(11), True)),
        (CES, {v: v <= 4 for v in range(1, 8)}),
        (SUPPORT_LOW_ONLY, {v: v <= 3 for v in range(1, 6)}),
        (GRADE, {v: v < 6 for v in range(1, 11)}),
        (NPS_AFTER_CSAT, {v: v >= 4 for v in range(1, 6)}),
    ],
    ids=["support", "nps", "ces", "support_low", "grade", "csat_then_nps"],
)
def test_follow_up_is_asked_exactly_when_its_condition_holds(
    survey: Survey, asked: dict[int, bool]
) -> None:
    assert {value: _asked_follow_up(survey, value) for value in asked} == asked


def test_builtin_conditions_are_as_documented() -> None:
    assert SUPPORT.questions[1].ask_if is None
    assert NPS.questions[1].ask_if is None
    assert CES.questions[1].ask_if == Condition("ces", "<=", 4)
    assert [q.required for q in CES.questions] == [True, False]


@pytest.mark.parametrize(("reply", "value"), [("7", 7), ("7/7", 7), ("zeven", 7), ("5", 5)])
def test_ces_without_follow_up_completes_at_once(reply: str, value: int) -> None:
    result = step(CES, state(), TextReply(reply), ctx())
    assert result.reason == "rating"
    assert result.status == "completed" and result.closed
    assert result.question_index == 0
    assert result.parsed_value == value
    assert result.records == (Record(CES_Q, value=value),)


def test_low_ces_asks_what_was_hard() -> None:
    result = step(CES, state(), TextReply("3"), ctx())
    (follow_up,) = result.replies
    thanks = message("thanks_rating", "en", value=3, max=7)
    assert follow_up.text == f"{thanks} {CES_COMMENT_Q.texts['en']}"

    done = step(CES, apply(state(), result), TextReply("Too many forms"), ctx())
    assert done.reason == "comment"
    assert done.records == (Record(CES_COMMENT_Q, comment="Too many forms"),)


@pytest.mark.parametrize(("reply", "value"), [("0", 0), ("10", 10), ("10/10", 10), ("🔟", 10)])
def test_nps_accepts_its_whole_scale(reply: str, value: int) -> None:
    result = step(NPS, state(), TextReply(reply), ctx())
    assert result.reason == "rating"
    assert result.parsed_value == value
    assert result.question_index == 1


def test_second_scored_question_takes_a_bare_number_as_its_answer() -> None:
    first = step(NPS_AFTER_CSAT, state(), TextReply("5"), ctx())
    at_nps = apply(state(), first)
    (follow_up,) = first.replies
    assert follow_up.question_id == "nps"
    assert [b.value for b in follow_up.buttons] == list(range(11))

    answered = step(NPS_AFTER_CSAT, at_nps, TextReply("9"), ctx())
    assert answered.reason == "rating"
    assert answered.records == (Record(NPS_AFTER_CSAT.questions[1], value=9),)
    assert answered.status == "completed" and answered.closed

    unclear = step(NPS_AFTER_CSAT, at_nps, TextReply("7-8"), ctx())
    assert unclear.reason == "reprompt:range_given"
    assert unclear.question_index == 1 and unclear.reprompts == 1

    corrected = step(NPS_AFTER_CSAT, at_nps, ButtonReply("csat", 4), ctx())
    assert corrected.reason == "correction"
    assert corrected.records == (Record(CSAT_Q, value=4),)
    assert corrected.question_index == 1


# --- corrections ----------------------------------------------------------------------------

CORRECTIONS = [("2", 2), ("2/5", 2), ("2 stars", 2), ("twee", 2), ("⭐⭐", 2), ("5!", 5), ("1", 1)]


@pytest.mark.parametrize(("reply", "value"), CORRECTIONS)
def test_bare_rating_at_the_comment_corrects_the_rating(reply: str, value: int) -> None:
    result = step(SUPPORT, AT_COMMENT, TextReply(reply), ctx())
    assert result.reason == "correction"
    assert (result.status, result.question_index, result.reprompts) == ("sent", 1, 0)
    assert not result.closed
    assert result.parsed_value == value
    assert result.records == (Record(CSAT_Q, value=value),)
    assert texts(result) == [message("correction", "en", value=value, max=5)]


@pytest.mark.parametrize(("reply", "value"), CORRECTIONS)
def test_bare_rating_after_completion_corrects_the_rating(reply: str, value: int) -> None:
    result = step(SUPPORT, SUPPORT_DONE, TextReply(reply), ctx())
    assert result.reason == "correction"
    assert result.status == "completed"
    assert result.question_index == 1
    assert result.records == (Record(CSAT_Q, value=value),)
    assert texts(result) == [message("correction", "en", value=value, max=5)]


def test_correction_without_expiry_is_always_accepted() -> None:
    done = replace(SUPPORT_DONE, expires_at=None)
    result = step(SUPPORT, done, TextReply("3"), ctx(now=NOW + timedelta(days=365)))
    assert result.reason == "correction"
    assert result.records == (Record(CSAT_Q, value=3),)


def test_correction_uses_the_question_scale_and_language() -> None:
    done = state("completed", 0, answers={"ces": 6})
    result = step(CES, done, TextReply("7"), ctx("de"))
    assert result.reason == "correction"
    assert result.records == (Record(CES_Q, value=7),)
    assert texts(result) == [message("correction", "de", value=7, max=7)]

    at_comment = state(index=1, answers={"ces": 2})
    result = step(CES, at_comment, TextReply("6"), ctx())
    assert result.reason == "correction"
    assert result.records == (Record(CES_Q, value=6),)


@pytest.mark.parametrize("event", [TextReply("7"), ButtonReply("ces", 7)])
def test_ces_correction_that_removes_the_comment_completes(event: Event) -> None:
    at_comment = state(index=1, answers={"ces": 2})
    result = step(CES, at_comment, event, ctx())
    assert result.reason == "correction"
    assert result.status == "completed" and result.closed
    assert result.question_index == 1
    assert result.records == (Record(CES_Q, value=7),)
    assert result.parsed_value == 7
    assert texts(result) == [message("correction", "en", value=7, max=7)]

    done = apply(at_comment, result)
    assert done.answers == {"ces": 7}
    late_comment = step(CES, done, TextReply("Too many forms"), ctx())
    assert late_comment.reason == "after_completion"
    assert late_comment.records == ()


@pytest.mark.parametrize(("value", "still_asked"), [(v, v <= 4) for v in range(1, 8)])
def test_ces_correction_at_the_comment_follows_the_condition(value: int, still_asked: bool) -> None:
    result = step(CES, state(index=1, answers={"ces": 2}), TextReply(str(value)), ctx())
    assert result.reason == "correction"
    assert result.records == (Record(CES_Q, value=value),)
    assert result.question_index == 1
    assert texts(result) == [message("correction", "en", value=value, max=7)]
    if still_asked:
        assert result.status == "sent" and not result.closed
    else:
        assert result.status == "completed" and result.closed


@pytest.mark.parametrize(
    ("survey", "before", "event", "record"),
    [
        (GRADE, state(index=1, answers={"grade": 3}), TextReply("8"), Record(GRADE_Q, value=8)),
        (
            GRADE,
            state(index=1, answers={"grade": 3}),
            ButtonReply("grade", 6),
            Record(GRADE_Q, value=6),
        ),
        (
            NPS_AFTER_CSAT,
            state(index=1, answers={"csat": 5}),
            ButtonReply("csat", 2),
            Record(CSAT_Q, value=2),
        ),
        (
            NPS_AFTER_CSAT,
            state(index=1, answers={"csat": 4}),
            ButtonReply("csat", 3),
            Record(CSAT_Q, value=3),
        ),
    ],
    ids=["grade_text", "grade_button", "csat_then_nps_2", "csat_then_nps_3"],
)
def test_required_follow_up_disappears_after_a_correction(
    survey: Survey, before: State, event: Event, record: Record
) -> None:
    assert survey.questions[1].required
    result = step(survey, before, event, ctx())
    assert result.reason == "correction"
    assert result.status == "completed" and result.closed
    assert result.records == (record,)
    assert result.parsed_value == record.value
    scale = record.question.scale
    assert scale is not None
    assert texts(result) == [message("correction", "en", value=record.value, max=scale.maximum)]

    done = apply(before, result)
    after = step(survey, done, TextReply("It was fine in the end"), ctx())
    assert after.reason == "after_completion"
    assert after.records == ()


@pytest.mark.parametrize(
    ("survey", "done", "event", "value"),
    [
        (CES, state("completed", 0, answers={"ces": 7}), TextReply("2"), 2),
        (CES, state("completed", 0, answers={"ces": 7}), ButtonReply("ces", 1), 1),
        (GRADE, state("completed", 0, answers={"grade": 9}), TextReply("3"), 3),
        (NPS_AFTER_CSAT, state("completed", 0, answers={"csat": 2}), ButtonReply("csat", 5), 5),
    ],
    ids=["ces_text", "ces_button", "grade", "csat_then_nps"],
)
def test_correction_after_completion_never_reopens(
    survey: Survey, done: State, event: Event, value: int
) -> None:
    # The new rating would ask the follow-up, but a finished survey stays finished.
    assert survey.next_question(0, {survey.questions[0].id: value}) == 1
    result = step(survey, done, event, ctx())
    assert result.reason == "correction"
    assert result.status == "completed"
    assert result.question_index == 0
    assert result.records == (Record(survey.questions[0], value=value),)
    scale = survey.questions[0].scale
    assert scale is not None
    assert texts(result) == [message("correction", "en", value=value, max=scale.maximum)]


@pytest.mark.parametrize("reply", ["thanks again!", "9", "0", "10/10", "3-4", "", "skip"])
def test_other_replies_after_completion_are_acknowledged_only(reply: str) -> None:
    result = step(SUPPORT, SUPPORT_DONE, TextReply(reply), ctx())
    assert result.reason == "after_completion"
    assert_unchanged(SUPPORT_DONE, result)
    assert texts(result) == [message("already_answered", "en")]


def test_long_reply_with_a_number_after_completion_is_not_a_correction() -> None:
    result = step(SUPPORT, SUPPORT_DONE, TextReply("Actually it was 2, the fix broke"), ctx())
    assert result.reason == "after_completion"
    assert result.records == ()


def test_completed_after_expiry_is_late_not_a_correction() -> None:
    expired = replace(SUPPORT_DONE, expires_at=NOW)
    result = step(SUPPORT, expired, TextReply("2"), ctx())
    assert result.reason == "late"
    assert_unchanged(expired, result)
    assert texts(result) == [message("closed", "en")]


# --- buttons --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5])
def test_button_for_the_current_question_records_it(value: int) -> None:
    result = step(SUPPORT, state(reprompts=2), ButtonReply("csat", value), ctx())
    assert result.reason == "rating"
    assert (result.status, result.question_index, result.reprompts) == ("sent", 1, 0)
    assert result.records == (Record(CSAT_Q, value=value),)
    assert result.parsed_value == value


@pytest.mark.parametrize("value", [0, 6, -1, 10, 10**12])
def test_out_of_range_button_is_ignored(value: int) -> None:
    before = state()
    result = step(SUPPORT, before, ButtonReply("csat", value), ctx())
    assert result.reason == "invalid_button"
    assert_unchanged(before, result)
    assert result.replies == ()


@pytest.mark.parametrize(
    ("before", "button"),
    [
        (state(), ButtonReply("comment", 3)),
        (state(), ButtonReply("nps", 3)),
        (state(), ButtonReply("", 3)),
        (AT_COMMENT, ButtonReply("comment", 3)),
        (AT_COMMENT, ButtonReply("csat", 9)),  # an old button, but not a valid rating
        (AT_COMMENT, ButtonReply("csat", 0)),
    ],
)
def test_stale_button_is_acknowledged_without_a_record(before: State, button: Event) -> None:
    result = step(SUPPORT, before, button, ctx())
    assert result.reason == "stale_button"
    assert_unchanged(before, result)
    assert texts(result) == [message("already_answered", "en")]


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5])
def test_button_of_the_answered_question_corrects_it(value: int) -> None:
    result = step(SUPPORT, AT_COMMENT, ButtonReply("csat", value), ctx())
    assert result.reason == "correction"
    assert (result.status, result.question_index) == ("sent", 1)
    assert result.records == (Record(CSAT_Q, value=value),)
    assert texts(result) == [message("correction", "en", value=value, max=5)]

    after = step(SUPPORT, SUPPORT_DONE, ButtonReply("csat", value), ctx())
    assert after.reason == "correction"
    assert after.status == "completed"
    assert after.records == (Record(CSAT_Q, value=value),)


@pytest.mark.parametrize("button", [ButtonReply("csat", 7), ButtonReply("comment", 2)])
def test_unusable_button_after_completion_is_acknowledged(button: Event) -> None:
    result = step(SUPPORT, SUPPORT_DONE, button, ctx())
    assert result.reason == "after_completion"
    assert_unchanged(SUPPORT_DONE, result)


# --- closed, expired and cancelled ------------------------------------------------------------


@pytest.mark.parametrize("event", [TextReply("4"), ButtonReply("csat", 4), TextReply("skip")])
@pytest.mark.parametrize(
    "before",
    [
        state("expired"),
        state("expired", 1, answers={"csat": 4}),
        state("sent", expires_at=NOW),  # the deadline itself is already too late
        state("sent", expires_at=NOW - timedelta(seconds=1)),
        state("sent", 1, answers={"csat": 4}, expires_at=NOW - timedelta(days=3)),
    ],
)
def test_reply_after_expiry_is_late(before: State, event: Event) -> None:
    result = step(SUPPORT, before, event, ctx())
    assert result.reason == "late"
    assert_unchanged(before, result)
    assert texts(result) == [message("closed", "en")]


@pytest.mark.parametrize("event", [TextReply("4"), ButtonReply("csat", 4)])
def test_cancelled_survey_is_closed(event: Event) -> None:
    before = state("cancelled")
    result = step(SUPPORT, before, event, ctx("nb"))
    assert result.reason == "late"
    assert_unchanged(before, result)
    assert texts(result) == [message("closed", "nb")]


@pytest.mark.parametrize("status", ["skipped", "failed", "unparsed"])
def test_other_closed_states_answer_closed(status: str) -> None:
    assert status in CLOSED_STATES
    before = state(status)
    result = step(SUPPORT, before, TextReply("4"), ctx())
    assert result.reason == "closed"
    assert_unchanged(before, result)
    assert texts(result) == [message("closed", "en")]


# --- locales, question_message and plain_text -----------------------------------------------


def test_question_text_follows_the_locale() -> None:
    english = question_message(SUPPORT, 0, ctx("en"))
    dutch = question_message(SUPPORT, 0, ctx("nl"))
    assert english.text == "How would you rate the support you received from Acme?"
    assert dutch.text == "Hoe beoordeel je de hulp die je van Acme hebt gekregen?"
    assert dutch.hint == message("reply_hint", "nl", min=1, max=5)
    assert dutch.hint != english.hint
    regional = question_message(SUPPORT, 0, ctx("nl-NL"))
    assert (regional.text, regional.hint) == (dutch.text, dutch.hint)
    assert (english.locale, dutch.locale) == ("en", "nl")


@pytest.mark.parametrize("locale", ["xx", "sv-SE", "", "123"])
def test_unknown_locale_falls_back_to_english(locale: str) -> None:
    english = question_message(SUPPORT, 0, ctx("en"))
    assert question_message(SUPPORT, 0, ctx(locale)) == english
    result = step(SUPPORT, state(), TextReply("4"), ctx(locale))
    assert result == step(SUPPORT, state(), TextReply("4"), ctx("en"))


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("survey", [SUPPORT, NPS, CES], ids=lambda s: s.name)
def test_every_builtin_question_is_translated(survey: Survey, locale: str) -> None:
    for index, question in enumerate(survey.questions):
        outbound = question_message(survey, index, ctx(locale))
        assert outbound.text == question.texts[locale].replace("{brand}", BRAND)
        assert "{" not in outbound.text
        if locale != "en":
            assert outbound.text != question_message(survey, index, ctx("en")).text


def test_survey_fallback_locale_is_used_when_the_respondents_is_missing() -> None:
    dutch_only = Survey(
        "dutch",
        (
            Question(
                "cijfer", "csat10", {"nl": "Welk cijfer geef je {brand}?"}, default_scale("csat10")
            ),
        ),
        fallback_locale="nl",
    )
    outbound = question_message(dutch_only, 0, ctx("de"))
    assert outbound.text == "Welk cijfer geef je Acme?"
    assert outbound.hint == message("reply_hint", "de", min=1, max=10)


def test_follow_up_and_thanks_are_in_the_respondents_language() -> None:
    result = step(SUPPORT, state(), TextReply("vier"), ctx("nl"))
    (follow_up,) = result.replies
    thanks = message("thanks_rating", "nl", value=4, max=5)
    assert follow_up.text == f"{thanks} {COMMENT_Q.texts['nl']}"
    assert follow_up.hint == message("comment_optional_hint", "nl")
    done = step(SUPPORT, apply(state(), result), TextReply("Snel geholpen"), ctx("nl"))
    assert texts(done) == ["Bedankt voor je feedback!"]


@pytest.mark.parametrize(
    ("survey", "low", "high"),
    [(SUPPORT, 1, 5), (NPS, 0, 10), (CES, 1, 7), (GRADE, 1, 10)],
    ids=lambda value: value.name if isinstance(value, Survey) else str(value),
)
def test_question_message_has_buttons_and_hint(survey: Survey, low: int, high: int) -> None:
    outbound = question_message(survey, 0, ctx(), prefix="Reminder: ", kind="reminder")
    question = survey.questions[0]
    assert outbound.buttons == tuple(Button(str(v), v) for v in range(low, high + 1))
    assert outbound.hint == f"Reply with a number from {low} to {high}."
    assert outbound.text == "Reminder: " + question.texts["en"].replace("{brand}", BRAND)
    assert outbound.question_id == question.id
    assert outbound.question_kind == question.kind
    assert outbound.kind == "reminder"
    assert outbound.invitation_id == 7
    assert question_message(survey, 0, ctx()).kind == "survey"
    assert question_message(survey, 0, ctx(invitation_id=None)).invitation_id is None


def test_plain_text_renders_the_hint_for_text_only_channels() -> None:
    outbound = question_message(SUPPORT, 0, ctx())
    assert plain_text(outbound) == (
        "How would you rate the support you received from Acme?\nReply with a number from 1 to 5."
    )
    comment = question_message(SUPPORT, 1, ctx("de"))
    assert plain_text(comment, "de") == (
        f"{COMMENT_Q.texts['de']}\n{message('comment_optional_hint', 'de')}"
    )
    required = question_message(GRADE, 1, ctx())
    assert plain_text(required) == "What should we improve?"


def test_plain_text_builds_a_hint_from_buttons_when_none_is_given() -> None:
    buttons = tuple(Button(str(v), v) for v in range(11))
    outbound = OutboundMessage(text="Rate us", buttons=buttons)
    assert plain_text(outbound, "nl") == f"Rate us\n{message('reply_hint', 'nl', min=0, max=10)}"
    assert plain_text(outbound) == "Rate us\nReply with a number from 0 to 10."
    assert plain_text(OutboundMessage(text="Hi", buttons=buttons, hint="")) == "Hi"
    assert plain_text(OutboundMessage(text="Hi")) == "Hi"


# --- whole conversations --------------------------------------------------------------------


def test_conversation_with_reprompt_rating_comment_and_correction() -> None:
    current = state()
    reasons = []
    for reply in ("great?", "4 out of 5", "Fast and friendly", "3"):
        result = step(SUPPORT, current, TextReply(reply), ctx())
        reasons.append(result.reason)
        current = apply(current, result)
    assert reasons == ["reprompt:no_number", "rating", "comment", "correction"]
    assert current.status == "completed"
    assert current.answers == {"csat": 3, "comment": None}


# --- properties -----------------------------------------------------------------------------

BUILTIN_NAMES = ["support", "nps", "ces"]
STATUSES = ["sent", "completed", "expired"]
EXPIRIES = [None, NOW - timedelta(minutes=1), NOW, NOW + timedelta(minutes=1), OPEN_UNTIL]


@st.composite
def reachable(draw: st.DrawFn) -> tuple[Survey, State]:
    survey = SURVEYS[draw(st.sampled_from(BUILTIN_NAMES))]
    first = survey.questions[0]
    assert first.scale is not None
    status = draw(st.sampled_from(STATUSES))
    index = draw(st.integers(0, 1))
    answers: dict[str, int | None] = {}
    if index == 1 or status == "completed":
        value = draw(st.integers(first.scale.minimum, first.scale.maximum))
        follow_up = survey.next_question(0, {first.id: value})
        if index == 1 and follow_up is None:
            index = 0  # the second question is not reachable with this answer
        answers[first.id] = value
        if status == "completed" and index == 1:
            answers[survey.questions[1].id] = None
    reprompts = draw(st.integers(0, MAX_REPROMPTS))
    expires_at = draw(st.sampled_from(EXPIRIES))
    return survey, State(status, index, reprompts, expires_at, answers)


def check_transition(survey: Survey, before: State, result: Transition) -> None:
    assert isinstance(result, Transition)
    assert 0 <= result.question_index < len(survey.questions)
    assert 0 <= result.reprompts <= MAX_REPROMPTS
    assert result.reprompts in (0, before.reprompts, before.reprompts + 1)
    if result.closed:
        assert result.status in CLOSED_STATES
    for record in result.records:
        assert record.question in survey.questions
        if record.value is not None:
            assert record.question.scale is not None
            assert record.question.scale.contains(record.value)
            assert record.comment is None
        else:
            assert record.question.scale is None
            assert record.comment is not None
    if result.parsed_value is not None:
        assert result.parsed_value in [r.value for r in result.records]
    assert all(isinstance(reply, OutboundMessage) for reply in result.replies)
    if result.reason == "late":
        assert result.records == ()


locales = st.sampled_from([*SUPPORTED_LOCALES, "xx", "nl-NL"])


@settings(max_examples=600, deadline=None, database=None)
@given(case=reachable(), text=st.text(), locale=locales)
def test_any_text_at_any_state_gives_a_valid_transition(
    case: tuple[Survey, State], text: str, locale: str
) -> None:
    survey, before = case
    check_transition(survey, before, step(survey, before, TextReply(text), ctx(locale)))


@settings(max_examples=600, deadline=None, database=None)
@given(
    case=reachable(),
    question_id=st.one_of(st.sampled_from(["csat", "nps", "ces", "comment"]), st.text()),
    value=st.one_of(st.integers(-2, 12), st.integers()),
)
def test_any_button_at_any_state_gives_a_valid_transition(
    case: tuple[Survey, State], question_id: str, value: int
) -> None:
    survey, before = case
    check_transition(survey, before, step(survey, before, ButtonReply(question_id, value), ctx()))


events = st.one_of(
    st.builds(TextReply, st.one_of(st.text(max_size=30), st.sampled_from(["4", "2", "skip"]))),
    st.builds(
        ButtonReply,
        st.sampled_from(["csat", "nps", "ces", "comment", "grade", "why"]),
        st.integers(-1, 11),
    ),
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    survey=st.sampled_from([SUPPORT, NPS, CES, GRADE, NPS_AFTER_CSAT, SUPPORT_LOW_ONLY]),
    replies=st.lists(events, max_size=8),
)
def test_conversations_stay_valid_reply_after_reply(survey: Survey, replies: list[Event]) -> None:
    current = state()
    for event in replies:
        result = step(survey, current, event, ctx())
        check_transition(survey, current, result)
        current = apply(current, result)
        if current.status == "sent" and current.question_index == 1:
            assert survey.questions[0].id in current.answers
            condition = survey.questions[1].ask_if
            if condition is not None:
                assert condition.holds(current.answers.get(condition.question_id))


@pytest.mark.parametrize("typed", ["5", "no", "skip", "STOP", "4/5", " 1 "])
def test_a_comment_box_text_is_the_comment_as_typed(typed: str) -> None:
    done = step(SUPPORT, AT_COMMENT, CommentReply("comment", typed), ctx())
    assert done.reason == "comment" and done.status == "completed"
    assert done.records == (Record(COMMENT_Q, comment=typed.strip()),)


def test_a_comment_box_text_for_another_question_changes_nothing() -> None:
    for current, question in ((AT_COMMENT, "csat"), (state(), "comment"), (state(), "csat")):
        assert_unchanged(current, step(SUPPORT, current, CommentReply(question, "5"), ctx()))
    done = step(SUPPORT, SUPPORT_DONE, CommentReply("comment", "later"), ctx())
    assert_unchanged(SUPPORT_DONE, done)
    assert done.reason == "after_completion"
    blank = step(SUPPORT, AT_COMMENT, CommentReply("comment", "  \n "), ctx())
    assert_unchanged(AT_COMMENT, blank)
