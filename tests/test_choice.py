"""Choice questions in the pure core: the model's rules, survey files (errors naming key and
line), reading typed replies, and every engine step of the built-in ``reasons`` survey."""

from __future__ import annotations

import re
import textwrap
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channel import plain_text
from bot.choices import NotAnOption, Picked, read_choice
from bot.engine import ButtonReply, Context, Record, State, TextReply, question_message, step
from bot.errors import ConfigError
from bot.survey_model import Option, ask_if_target_problem
from bot.surveys import (
    SUPPORTED_LOCALES,
    Condition,
    Question,
    Survey,
    builtin_surveys,
    default_scale,
    load_surveys,
)
from bot.texts import is_gsm7, message
from storage.values import Reason, Status

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
REASONS = builtin_surveys()["reasons"]
CSAT_Q, REASON_Q = REASONS.questions
IDS = ("knowledge", "communication", "professionalism", "speed", "resolution", "other")


def _ctx(locale: str = "en") -> Context:
    return Context(now=NOW, locale=locale, brand="Acme", invitation_id=7)


def _at_reason(reprompts: int = 0, rating: int = 2) -> State:
    return State(Status.SENT, 1, reprompts, NOW + timedelta(days=1), {"csat": rating})


def _choice_records(transition_records: tuple[Record, ...]) -> list[tuple[str | None, str | None]]:
    return [(record.choice, record.comment) for record in transition_records]


# -- the built-in survey ----------------------------------------------------------------------


def test_reasons_survey_shape() -> None:
    assert REASONS.questions[0] == builtin_surveys()["support"].questions[0]
    assert (REASON_Q.kind, REASON_Q.scale, REASON_Q.required) == ("choice", None, False)
    assert REASON_Q.ask_if == Condition("csat", "<=", 3)
    assert tuple(option.id for option in REASON_Q.options) == IDS
    assert builtin_surveys()["support"].version == "fbccf57c864e"  # unchanged by options


@pytest.mark.parametrize("option", REASON_Q.options, ids=lambda option: option.id)
def test_every_reason_has_every_locale_in_gsm7_except_chinese(option: Option) -> None:
    assert set(option.texts) == set(SUPPORTED_LOCALES)
    for locale, text in option.texts.items():
        assert text.strip() and len(text) <= 40
        assert locale == "zh" or is_gsm7(text), (option.id, locale)
    assert set(REASON_Q.texts) == set(SUPPORTED_LOCALES)


def test_option_texts_are_part_of_the_version_and_ids_count() -> None:
    renamed = Option("speed", {**REASON_Q.options[3].texts, "en": "Quickness"})
    options = (*REASON_Q.options[:3], renamed, *REASON_Q.options[4:])
    changed = Survey("reasons", (CSAT_Q, _replace_options(REASON_Q, options)))
    assert changed.version != REASONS.version
    same = Survey("reasons", (CSAT_Q, _replace_options(REASON_Q, REASON_Q.options)))
    assert same.version == REASONS.version


def _replace_options(question: Question, options: tuple[Option, ...]) -> Question:
    return Question(
        question.id,
        question.kind,
        question.texts,
        None,
        question.ask_if,
        question.required,
        options,
    )


# -- model rules --------------------------------------------------------------------------------


def _options(*ids: str) -> tuple[Option, ...]:
    return tuple(Option(option_id, {"en": option_id.title()}) for option_id in ids)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ((), "2 to 9 options, not 0"),
        (_options("a"), "2 to 9 options, not 1"),
        (_options(*"abcdefghij"), "2 to 9 options, not 10"),
        (_options("a", "b", "a"), 'duplicate option id "a" (also options[0])'),
    ],
)
def test_choice_question_rules(options: tuple[Option, ...], fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        Question("why", "choice", {"en": "Why?"}, None, options=options)


def test_choice_kind_rules() -> None:
    with pytest.raises(ValueError, match="only text and choice questions have no scale"):
        Question("why", "choice", {"en": "Why?"}, default_scale("csat"), options=_options("a", "b"))
    with pytest.raises(ValueError, match="only choice questions have options"):
        Question("why", "text", {"en": "Why?"}, None, options=_options("a", "b"))
    with pytest.raises(ValueError, match="option id"):
        Option("9lives", {"en": "x"})
    with pytest.raises(ValueError, match="has no text"):
        Option("a", {})
    choice = Question("why", "choice", {"en": "Why?"}, None, options=_options("a", "b"))
    with pytest.raises(ValueError, match="first question must be scored"):
        Survey("x", (choice,))
    problem = ask_if_target_problem(Condition("why", "==", 1), [CSAT_Q, choice])
    assert problem == 'refers to "why", a choice question; it must be a scored one'
    with pytest.raises(ValueError, match='option "b" has no "en" text'):
        odd = (Option("a", {"en": "A"}), Option("b", {"nl": "B"}))
        Survey("x", (CSAT_Q, Question("why", "choice", {"en": "Why?"}, None, options=odd)))


def test_nine_options_is_the_most() -> None:
    question = Question("why", "choice", {"en": "Why?"}, None, options=_options(*"abcdefghi"))
    assert question.option_at(9) == question.options[8]
    assert question.option_at(0) is None and question.option_at(10) is None


# -- survey files ----------------------------------------------------------------------------------

_FILE = """
[surveys.x]
fallback_locale = "en"

[[surveys.x.questions]]
id = "q"
kind = "csat"
text = "Rate us?"

[[surveys.x.questions]]
id = "why"
kind = "choice"
ask_if = "q <= 3"
text = { en = "Why?", nl = "Waarom?" }
"""


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "surveys.toml"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def _marked_line(source: str) -> int:
    lines = textwrap.dedent(source).splitlines()
    return next(number for number, line in enumerate(lines, 1) if "# <-" in line)


def test_file_defines_choices_inline_and_as_tables(tmp_path: Path) -> None:
    inline = _FILE + 'options = [{ id = "a", text = "Apples" }, { id = "other", text = "Else" }]\n'
    surveys = load_surveys(_write(tmp_path, inline))
    why = surveys["x"].questions[1]
    assert [(o.id, dict(o.texts)) for o in why.options] == [
        ("a", {"en": "Apples"}),
        ("other", {"en": "Else"}),
    ]
    tables = (
        _FILE
        + '\n[[surveys.x.questions.options]]\nid = "a"\ntext = { en = "Apples", nl = "Appels" }\n'
        + '\n[[surveys.x.questions.options]]\nid = "b"\ntext.en = "Pears"\n'
    )
    again = load_surveys(_write(tmp_path, tables))["x"].questions[1]
    assert [o.id for o in again.options] == ["a", "b"]
    assert again.options[0].text("nl", "en") == "Appels"
    assert again.options[1].text("nl", "en") == "Pears"  # the fallback locale's


def test_the_example_file_has_a_choice_question() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "surveys.toml"
    surveys = load_surveys(example)
    own = tomllib.loads(example.read_text(encoding="utf-8"))["surveys"]
    kinds = {question.kind for name in own for question in surveys[name].questions}
    assert "choice" in kinds


_INVALID: dict[str, tuple[str, str, str]] = {
    "no options": (
        _FILE.replace(
            '[[surveys.x.questions]]\nid = "why"', '[[surveys.x.questions]]  # <-\nid = "why"'
        ),
        "surveys.x.questions[1].options",
        "required key is missing",
    ),
    "options not an array": (
        _FILE + 'options = "a, b"  # <-\n',
        "surveys.x.questions[1].options",
        "expected an array of tables",
    ),
    "one option": (
        _FILE + 'options = [\n  { id = "a", text = "A" },  # <-\n]\n',
        "surveys.x.questions[1].options[0]",
        "a choice question has 2 to 9 options, not 1",
    ),
    "empty options": (
        _FILE + "options = []  # <-\n",
        "surveys.x.questions[1].options",
        "2 to 9 options, not 0",
    ),
    "too many options": (
        _FILE
        + "options = [\n"
        + "".join(f'  {{ id = "o{n}", text = "O{n}" }},\n' for n in range(9))
        + '  { id = "o9", text = "O9" },  # <-\n]\n',
        "surveys.x.questions[1].options[9]",
        "2 to 9 options, not 10",
    ),
    "duplicate option ids": (
        _FILE + 'options = [\n  { id = "a", text = "A" },\n  { id = "a", text = "B" },  # <-\n]\n',
        "surveys.x.questions[1].options[1].id",
        'duplicate option id "a" (also options[0])',
    ),
    "option id invalid": (
        _FILE
        + 'options = [\n  { id = "a b", text = "A" },  # <-\n  { id = "c", text = "C" },\n]\n',
        "surveys.x.questions[1].options[0].id",
        'invalid id "a b"',
    ),
    "option without text": (
        _FILE + 'options = [\n  { id = "a", text = "A" },\n  { id = "b" },  # <-\n]\n',
        "surveys.x.questions[1].options[1].text",
        "required key is missing",
    ),
    "option missing fallback text": (
        _FILE
        + 'options = [\n  { id = "a", text = "A" },\n'
        + '  { id = "b", text = { nl = "B" } },  # <-\n]\n',
        "surveys.x.questions[1].options[1].text",
        'missing a text for the fallback locale "en"',
    ),
    "option unknown key": (
        _FILE
        + 'options = [\n  { id = "a", text = "A", value = 3 },  # <-\n'
        + '  { id = "b", text = "B" },\n]\n',
        "surveys.x.questions[1].options[0].value",
        'unknown key "value"',
    ),
    "option empty text": (
        _FILE + 'options = [\n  { id = "a", text = " " },  # <-\n  { id = "b", text = "B" },\n]\n',
        "surveys.x.questions[1].options[0].text.en",
        "must not be empty",
    ),
    "options on a text question": (
        _FILE.replace('kind = "choice"', 'kind = "text"') + 'options = ["a", "b"]  # <-\n',
        "surveys.x.questions[1].options",
        "only choice questions have options",
    ),
    "option not a table": (
        _FILE + 'options = [\n  "a",  # <-\n  "b",\n]\n',
        "surveys.x.questions[1].options[0]",
        "expected a table, got a string",
    ),
    "choice with a scale": (
        _FILE + "scale = { min = 1, max = 3 }  # <-\n",
        "surveys.x.questions[1].scale",
        "choice questions have no scale",
    ),
    "choice first": (
        '[surveys.x]\n[[surveys.x.questions]]\nid = "why"\nkind = "choice"  # <-\ntext = "Why?"\n'
        + 'options = [{ id = "a", text = "A" }, { id = "b", text = "B" }]\n',
        "surveys.x.questions[0].kind",
        "the first question must be scored",
    ),
}


@pytest.mark.parametrize("case", sorted(_INVALID))
def test_invalid_choice_names_key_and_line(tmp_path: Path, case: str) -> None:
    source, key, fragment = _INVALID[case]
    path = _write(tmp_path, source)
    with pytest.raises(ConfigError) as info:
        load_surveys(path)
    text = str(info.value)
    assert text.startswith(f"{path} line {_marked_line(source)}: {key}: "), text
    assert fragment in text, text


# -- reading replies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "option", "comment"),
    [
        ("2", "communication", None),
        (" 2. ", "communication", None),
        ("#4", "speed", None),
        ("６", "other", None),
        ("1️⃣", "knowledge", None),
        ("two", "communication", None),
        ("vier", "speed", None),
        ("三", "professionalism", None),
        ("speed", "speed", None),
        ("SPEED!", "speed", None),
        ("Speed of resolution", "speed", "Speed of resolution"),
        ("responsiveness", "communication", None),
        ("Communication and responsiveness", "communication", None),
        ("rapidite", "speed", None),
        ("Snelheid", "speed", None),
        ("lösung", "resolution", None),
        ("Professionalität", "professionalism", None),
        ("the agent lacked knowledge", "knowledge", "the agent lacked knowledge"),
        ("knowledge and speed", "knowledge", "knowledge and speed"),
        ("Other", "other", None),
        ("Iets anders", "other", None),
        ("专业知识", "knowledge", None),
        ("速度", "speed", None),
        ("they never called back", "other", "they never called back"),
        ("and", "other", "and"),
        ("2 days late", "other", "2 days late"),
    ],
)
def test_read_choice(reply: str, option: str, comment: str | None) -> None:
    read = read_choice(reply, REASON_Q, "en")
    assert isinstance(read, Picked), read
    assert (REASON_Q.options[read.position - 1].id, read.comment) == (option, comment)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("7", "out_of_range"),
        ("0", "out_of_range"),
        ("12", "out_of_range"),
    ],
)
def test_read_choice_refuses(reply: str, reason: str) -> None:
    assert read_choice(reply, REASON_Q, "en") == NotAnOption(reason)


def test_without_other_unknown_text_names_nothing() -> None:
    question = Question("why", "choice", {"en": "Why?"}, None, options=_options("price", "taste"))
    assert read_choice("too far away", question) == NotAnOption("no_choice")
    assert read_choice("the price", question) == Picked(1, "the price")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_read_choice_never_raises_and_stays_on_the_list(text: str) -> None:
    read = read_choice(text, REASON_Q, "nl")
    if isinstance(read, Picked):
        assert 1 <= read.position <= len(REASON_Q.options)
        assert read.comment is None or read.comment == text.strip()
    else:
        assert read.reason in ("empty", "out_of_range")


# -- the message -------------------------------------------------------------------------------


def test_reason_question_message_numbers_the_options() -> None:
    outbound = question_message(REASONS, 1, _ctx(), kind="reply")
    assert [(b.label, b.value) for b in outbound.buttons] == [
        ("Knowledge", 1),
        ("Communication and responsiveness", 2),
        ("Professionalism", 3),
        ("Speed", 4),
        ("Effective resolution", 5),
        ("Something else", 6),
    ]
    assert outbound.question_kind == "choice" and outbound.skippable
    assert plain_text(outbound) == (
        "What was the main problem?\n1 Knowledge\n2 Communication and responsiveness\n"
        "3 Professionalism\n4 Speed\n5 Effective resolution\n6 Something else\n"
        "Reply with a number from 1 to 6. (Optional: reply SKIP to skip this question.)"
    )
    dutch = question_message(REASONS, 1, _ctx("nl"))
    assert dutch.buttons[3].label == "Snelheid"


# -- engine steps ------------------------------------------------------------------------------


def test_low_rating_asks_the_reason_high_rating_finishes() -> None:
    start = State(Status.SENT, 0, 0, NOW + timedelta(days=1), {})
    low = step(REASONS, start, TextReply("2"), _ctx())
    assert (low.status, low.question_index, low.closed) == (Status.SENT, 1, False)
    assert low.replies[0].question_kind == "choice"
    assert low.replies[0].text.startswith("Thanks! You rated us 2 out of 5. What was the main")
    high = step(REASONS, start, TextReply("4"), _ctx())
    assert (high.status, high.closed) == (Status.COMPLETED, True)


@pytest.mark.parametrize(
    ("event", "choice", "comment"),
    [
        (TextReply("2"), "communication", None),
        (TextReply("speed"), "speed", None),
        (TextReply("They kept me waiting for days"), "other", "They kept me waiting for days"),
        (ButtonReply("reason", 5), "resolution", None),
        (ButtonReply("reason", 6), "other", None),
    ],
)
def test_a_reason_is_recorded_by_id(
    event: TextReply | ButtonReply, choice: str, comment: str | None
) -> None:
    done = step(REASONS, _at_reason(), event, _ctx())
    assert (done.status, done.closed, done.reason) == (Status.COMPLETED, True, Reason.CHOICE)
    assert _choice_records(done.records) == [(choice, comment)]
    assert done.records[0].question is REASON_Q and done.records[0].value is None
    assert done.replies[0].text == message("thanks", "en")


@pytest.mark.parametrize("word", ["skip", "SKIP.", "overslaan", "nee"])
def test_skip_finishes_without_an_answer(word: str) -> None:
    done = step(REASONS, _at_reason(), TextReply(word), _ctx("nl"))
    assert (done.status, done.reason, done.records) == (
        Status.COMPLETED,
        Reason.COMMENT_SKIPPED,
        (),
    )


def test_a_required_choice_does_not_take_skip_or_unknown_text() -> None:
    options = _options("price", "taste")
    why = Question("why", "choice", {"en": "Why?"}, None, Condition("q", "<=", 3), True, options)
    survey = Survey("food", (Question("q", "csat", {"en": "Rate?"}, default_scale("csat")), why))
    state = State(Status.SENT, 1, 0, NOW + timedelta(days=1), {"q": 1})
    skipped = step(survey, state, TextReply("skip"), _ctx())
    assert (skipped.reason, skipped.records, skipped.reprompts) == (
        Reason.REPROMPT_NO_CHOICE,
        (),
        1,
    )
    assert "1 Price\n2 Taste" in plain_text(skipped.replies[0])
    assert not skipped.replies[0].skippable
    third = step(survey, State(Status.SENT, 1, 2, None, {"q": 1}), TextReply("far"), _ctx())
    assert (third.status, third.reason, third.closed) == (Status.UNPARSED, Reason.UNPARSED, True)


@pytest.mark.parametrize("reply", ["7", "0", "99"])
def test_out_of_range_number_is_asked_again(reply: str) -> None:
    again = step(REASONS, _at_reason(), TextReply(reply), _ctx())
    assert (again.status, again.question_index, again.reprompts) == (Status.SENT, 1, 1)
    assert (again.reason, again.records) == (Reason.REPROMPT_OUT_OF_RANGE, ())
    text = plain_text(again.replies[0])
    assert text.startswith("Sorry, I didn't catch that. Please reply with the number of one")
    assert "\n6 Something else" in text


def test_empty_reply_is_asked_again_and_the_third_miss_closes() -> None:
    again = step(REASONS, _at_reason(), TextReply("   "), _ctx())
    assert (again.reason, again.reprompts) == (Reason.REPROMPT_EMPTY, 1)
    last = step(REASONS, _at_reason(reprompts=2), TextReply("8"), _ctx())
    assert (last.status, last.closed, last.records) == (Status.UNPARSED, True, ())


@pytest.mark.parametrize("position", [0, 7, -1, 1000])
def test_a_tampered_button_records_nothing_and_shows_the_list(position: int) -> None:
    tampered = step(REASONS, _at_reason(), ButtonReply("reason", position), _ctx())
    assert (tampered.reason, tampered.records, tampered.status) == (
        Reason.INVALID_BUTTON,
        (),
        Status.SENT,
    )
    assert (tampered.question_index, tampered.reprompts) == (1, 0)
    assert len(tampered.replies[0].buttons) == 6


def test_a_button_of_another_question_is_stale() -> None:
    stale = step(REASONS, _at_reason(), ButtonReply("comment", 1), _ctx())
    assert (stale.reason, stale.records) == (Reason.STALE_BUTTON, ())


def test_a_star_tap_at_the_reason_question_corrects_the_rating() -> None:
    lifted = step(REASONS, _at_reason(), ButtonReply("csat", 5), _ctx())
    assert (lifted.reason, lifted.status, lifted.closed) == (
        Reason.CORRECTION,
        Status.COMPLETED,
        True,
    )
    assert [(r.question.id, r.value) for r in lifted.records] == [("csat", 5)]
    still_low = step(REASONS, _at_reason(), ButtonReply("csat", 3), _ctx())
    assert (still_low.status, still_low.question_index) == (Status.SENT, 1)
    assert len(still_low.replies) == 1  # the reason question is still the open one


def test_a_typed_number_at_the_reason_question_is_an_option_not_a_correction() -> None:
    picked = step(REASONS, _at_reason(rating=1), TextReply("4"), _ctx())
    assert picked.reason is Reason.CHOICE
    assert _choice_records(picked.records) == [("speed", None)]


def test_after_the_reason_a_new_rating_corrects_without_breaking() -> None:
    done = State(Status.COMPLETED, 1, 0, NOW + timedelta(days=1), {"csat": 2, "reason": None})
    corrected = step(REASONS, done, TextReply("5"), _ctx())
    assert (corrected.reason, corrected.status) == (Reason.CORRECTION, Status.COMPLETED)
    assert [(r.question.id, r.value) for r in corrected.records] == [("csat", 5)]
    tap = step(REASONS, done, ButtonReply("reason", 2), _ctx())
    assert (tap.reason, tap.records) == (Reason.AFTER_COMPLETION, ())


def test_a_long_other_text_is_kept_as_the_comment_up_to_4000() -> None:
    long = "slow " * 1000
    done = step(REASONS, _at_reason(), TextReply(long), _ctx())
    assert done.records[0].choice == "other"
    assert done.records[0].comment == long.strip()[:4000]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.integers(0, 2))
def test_any_reply_at_the_reason_question_keeps_the_survey_consistent(
    text: str, reprompts: int
) -> None:
    result = step(REASONS, _at_reason(reprompts), TextReply(text), _ctx("de"))
    for record in result.records:
        assert record.question is REASON_Q
        assert record.choice in IDS and record.value is None
    assert result.status in (Status.SENT, Status.COMPLETED, Status.UNPARSED)
    assert bool(result.records) == (result.reason is Reason.CHOICE)
