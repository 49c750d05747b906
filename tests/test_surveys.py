from __future__ import annotations

import dataclasses
import operator
import os
import re
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.surveys import (
    DEFAULT_BRANDS,
    DEFAULT_SCALES,
    QUESTION_KINDS,
    SUPPORTED_LOCALES,
    Condition,
    Question,
    Scale,
    Survey,
    brand_for,
    builtin_surveys,
    default_scale,
    load_surveys,
    normalise_locale,
    parse_duration,
)
from bot.texts import is_gsm7
from channels.sms_text import ucs2_warnings
from tests.helpers import DEFAULT_BRAND_PHRASES

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "surveys.toml"


# --- built-in surveys ---------------------------------------------------------------------------


def test_builtins_include_support_nps_and_ces() -> None:
    surveys = builtin_surveys()
    assert {"support", "nps", "ces"} <= surveys.keys()
    for name, survey in surveys.items():
        assert survey.name == name


def test_support_survey_shape() -> None:
    support = builtin_surveys()["support"]
    csat, comment = support.questions
    assert (csat.id, csat.kind, csat.scale) == ("csat", "csat", Scale(1, 5, 4))
    assert csat.required
    assert csat.texts["en"] == "How would you rate the support you received from {brand}?"
    assert (comment.id, comment.kind, comment.scale, comment.ask_if) == (
        "comment",
        "text",
        None,
        None,
    )
    assert not comment.required
    assert comment.texts["en"] == "What is the main reason for your score?"


def test_nps_and_ces_builtins() -> None:
    nps = builtin_surveys()["nps"]
    assert nps.questions[0].scale == Scale(0, 10, 9, negative_below=7)
    assert nps.questions[1].ask_if is None
    ces = builtin_surveys()["ces"]
    assert ces.questions[0].scale == Scale(1, 7, 5)
    assert ces.questions[1].ask_if == Condition("ces", "<=", 4)
    assert not ces.questions[1].required


@pytest.mark.parametrize("name", sorted(builtin_surveys()))
def test_every_builtin_question_has_every_locale(name: str) -> None:
    for question in builtin_surveys()[name].questions:
        assert set(question.texts) == set(SUPPORTED_LOCALES), question.id
        for text in question.texts.values():
            assert text.strip()
            assert set(re.findall(r"\{([^{}]*)\}", text)) <= {"brand"}


@pytest.mark.parametrize("name", sorted(builtin_surveys()))
def test_builtin_texts_fit_gsm7_except_chinese(name: str) -> None:
    # Portuguese too: its message catalogue may be UCS-2 (see bot.texts), its survey questions not.
    for question in builtin_surveys()[name].questions:
        assert {"fr", "pt"} <= set(question.texts), question.id
        for locale, text in question.texts.items():
            if locale != "zh":
                for brand in ("Acme", ""):
                    assert is_gsm7(question.text(locale, "en", brand)), (question.id, locale, text)


def test_builtin_texts_cause_no_ucs2_warning_at_sms_start() -> None:
    assert list(ucs2_warnings(builtin_surveys().values(), "")) == []
    assert list(ucs2_warnings(builtin_surveys().values(), "Acme")) == []


def test_default_brands_cover_every_locale() -> None:
    assert dict(DEFAULT_BRANDS) == DEFAULT_BRAND_PHRASES
    assert set(DEFAULT_BRANDS) == set(SUPPORTED_LOCALES)


@pytest.mark.parametrize(
    ("brand", "locale", "expected"),
    [
        ("Acme", "nl", "Acme"),
        ("Acme", None, "Acme"),
        ("", "nl-BE", "ons team"),
        ("  ", "pt_BR", "nossa equipe"),
        ("", "de", "unser Team"),
        ("", "sv", "our team"),
        ("", None, "our team"),
    ],
)
def test_brand_for(brand: str, locale: str | None, expected: str) -> None:
    assert brand_for(brand, locale) == expected


@pytest.mark.parametrize("name", sorted(builtin_surveys()))
@pytest.mark.parametrize("locale", sorted(set(SUPPORTED_LOCALES) - {"en"}))
def test_builtin_questions_name_the_default_brand_in_their_language(name: str, locale: str) -> None:
    first = builtin_surveys()[name].questions[0]
    text = first.text(locale, "en", "")
    assert "our team" not in text
    assert DEFAULT_BRAND_PHRASES[locale] in text, text


@pytest.mark.parametrize("name", sorted(builtin_surveys()))
@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_builtin_questions_use_a_set_brand_as_written(name: str, locale: str) -> None:
    text = builtin_surveys()[name].questions[0].text(locale, "en", "Acme")
    assert "Acme" in text
    assert DEFAULT_BRAND_PHRASES[locale] not in text


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "Wie bewerten Sie die Unterstützung durch unser Team?"),
        ("nl", "Hoe beoordeel je de hulp die je van ons team hebt gekregen?"),
        ("fr", "Comment évaluez-vous l'aide apportée par notre équipe ?"),
        ("pt-BR", "Como foi seu atendimento com nossa equipe?"),
        ("es", "¿Qué le ha parecido la ayuda que ha recibido de nuestro equipo?"),
        ("nb", "Hvordan vil du vurdere hjelpen du fikk fra teamet vårt?"),
        ("zh", "您如何评价我们团队为您提供的支持服务？"),
        ("sv", "How would you rate the support you received from our team?"),
    ],
)
def test_default_brand_support_question_samples(locale: str, expected: str) -> None:
    assert builtin_surveys()["support"].questions[0].text(locale, "en", "") == expected


def test_default_brand_follows_the_text_used_not_the_one_asked_for() -> None:
    only_dutch = Question("q", "csat", {"nl": "Cijfer voor {brand}?"}, Scale(1, 5, 4))
    assert only_dutch.text("fr", "nl", "") == "Cijfer voor ons team?"
    english_fallback = Question(
        "q", "csat", {"en": "Rate {brand}", "xx": "{brand}?"}, Scale(1, 5, 4)
    )
    assert english_fallback.text("fr", "en", "") == "Rate our team"
    assert english_fallback.text("xx", "en", "") == "our team?"


def test_builtin_surveys_returns_a_fresh_dict() -> None:
    first = builtin_surveys()
    first.pop("support")
    assert "support" in builtin_surveys()


def test_surveys_are_hashable_and_texts_immutable() -> None:
    survey = builtin_surveys()["support"]
    assert hash(survey) == hash(builtin_surveys()["support"])
    with pytest.raises(TypeError):
        survey.questions[0].texts["en"] = "changed"  # type: ignore[index]


# --- version --------------------------------------------------------------------------------------


def test_version_is_short_hex_and_stable_within_process() -> None:
    version = builtin_surveys()["support"].version
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    rebuilt = dataclasses.replace(builtin_surveys()["support"])
    assert rebuilt.version == version


def test_version_is_stable_across_processes() -> None:
    code = "from bot.surveys import builtin_surveys as b; print(b()['support'].version)"
    versions = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        versions.add(result.stdout.strip())
    assert versions == {builtin_surveys()["support"].version}


def _edit_question(survey: Survey, index: int, **changes: object) -> Survey:
    questions = list(survey.questions)
    questions[index] = dataclasses.replace(questions[index], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(survey, questions=tuple(questions))


def test_version_changes_with_the_definition() -> None:
    ces = builtin_surveys()["ces"]
    texts = dict(ces.questions[0].texts)
    texts["nl"] += " "
    edits = [
        _edit_question(ces, 0, texts=texts),
        _edit_question(ces, 0, scale=Scale(1, 7, 6)),
        _edit_question(ces, 1, ask_if=Condition("ces", "<", 4)),
        _edit_question(ces, 1, required=True),
        _edit_question(ces, 1, id="why"),
        _edit_question(ces, 0, kind="csat", scale=Scale(1, 7, 5)),
        dataclasses.replace(ces, questions=ces.questions[:1]),
        dataclasses.replace(ces, fallback_locale="nl"),
    ]
    versions = {survey.version for survey in edits}
    assert len(versions) == len(edits)
    assert ces.version not in versions


def test_version_ignores_operational_settings() -> None:
    ces = builtin_surveys()["ces"]
    tuned = dataclasses.replace(
        ces,
        name="renamed",
        sample_rate=0.1,
        expires_after=timedelta(hours=2),
        reminder_after=timedelta(hours=1),
        throttle=timedelta(0),
    )
    assert tuned.version == ces.version


# --- flow -----------------------------------------------------------------------------------------


def test_next_question_always_asks_unconditional_follow_up() -> None:
    support = builtin_surveys()["support"]
    assert support.next_question(-1, {}) == 0
    assert support.next_question(0, {"csat": 5}) == 1
    assert support.next_question(0, {"csat": None}) == 1
    assert support.next_question(1, {"csat": 5, "comment": None}) is None


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"ces": 1}, 1),
        ({"ces": 4}, 1),
        ({"ces": 5}, None),
        ({"ces": 7}, None),
        ({"ces": None}, None),
        ({}, None),
    ],
)
def test_next_question_skips_when_condition_fails(
    answers: dict[str, int | None], expected: int | None
) -> None:
    assert builtin_surveys()["ces"].next_question(0, answers) == expected


def test_single_question_survey_ends_after_it() -> None:
    survey = Survey("one", builtin_surveys()["support"].questions[:1])
    assert survey.next_question(-1, {}) == 0
    assert survey.next_question(0, {"csat": 3}) is None


@pytest.mark.parametrize("index", [-2, 2, 5])
def test_next_question_rejects_bad_index(index: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        builtin_surveys()["support"].next_question(index, {})


# --- model --------------------------------------------------------------------------------------


def test_scale_classification() -> None:
    nps = default_scale("nps")
    assert nps is not None
    assert [v for v in range(-1, 12) if nps.is_negative(v)] == list(range(7))
    assert [v for v in range(-1, 12) if nps.is_positive(v)] == [9, 10]
    assert not nps.is_positive(7) and not nps.is_negative(7)
    csat = Scale(1, 5, 4)
    assert [v for v in range(7) if csat.is_negative(v)] == [1, 2, 3]
    assert [v for v in range(7) if csat.is_positive(v)] == [4, 5]
    assert not csat.contains(0) and csat.contains(1) and csat.contains(5) and not csat.contains(6)


@pytest.mark.parametrize(
    "args",
    [(5, 1, 3), (1, 1, 1), (1, 5, 1), (1, 5, 6), (-1, 5, 4), (0, 101, 50), (0, 10, 9, 10)],
)
def test_scale_rejects_inconsistent_bounds(args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        Scale(*args)


def test_default_scales_match_table() -> None:
    for kind, (low, high, positive) in DEFAULT_SCALES.items():
        scale = default_scale(kind)
        assert scale is not None
        assert (scale.minimum, scale.maximum, scale.positive_at) == (low, high, positive)
    assert default_scale("text") is None
    with pytest.raises(ValueError):
        default_scale("stars")


def test_condition_parse_and_str() -> None:
    assert Condition.parse("csat <= 3") == Condition("csat", "<=", 3)
    assert Condition.parse("  ease>4 ") == Condition("ease", ">", 4)
    assert str(Condition.parse("nps!=10")) == "nps != 10"


@pytest.mark.parametrize("text", ["", "csat", "csat =< 3", "csat = 3", "3 <= csat", "csat <= x"])
def test_condition_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="cannot parse condition"):
        Condition.parse(text)


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt}
_OPS |= {">=": operator.ge, "==": operator.eq, "!=": operator.ne}


@given(st.sampled_from(sorted(_OPS)), st.integers(0, 10), st.integers(0, 10) | st.none())
def test_condition_holds_like_the_operator(op: str, value: int, answer: int | None) -> None:
    condition = Condition("q", op, value)
    assert condition.holds(answer) == (answer is not None and _OPS[op](answer, value))


def test_condition_rejects_unknown_operator() -> None:
    with pytest.raises(ValueError, match="unknown operator"):
        Condition("q", "=<", 3)


def test_question_text_falls_back_and_fills_brand() -> None:
    question = builtin_surveys()["support"].questions[0]
    assert question.text("nl-BE", "en", "Acme").startswith("Hoe beoordeel je de hulp")
    assert "Acme" in question.text("nl", "en", "Acme")
    assert question.text("fr", "en", "Acme") == "Comment évaluez-vous l'aide apportée par Acme ?"
    assert question.text("sv", "en", "Acme") == (
        "How would you rate the support you received from Acme?"
    )
    only_dutch = Question("q", "csat", {"nl": "Cijfer voor {brand}? {x}"}, Scale(1, 5, 4))
    assert only_dutch.text("en", "de", "Acme") == "Cijfer voor Acme? {x}"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"questions": ()}, "one or two"),
        ({"questions": (1, 2, 3)}, "one or two"),
        ({"fallback_locale": "sv"}, 'no "sv" text'),
        ({"sample_rate": 0.0}, "sample_rate"),
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"expires_after": timedelta(hours=1), "reminder_after": timedelta(hours=1)}, "reminder"),
        ({"expires_after": timedelta(0)}, "expires_after"),
        ({"throttle": timedelta(seconds=-1)}, "throttle"),
    ],
)
def test_survey_constructor_validates(changes: dict[str, object], problem: str) -> None:
    support = builtin_surveys()["support"]
    if changes.get("questions") == (1, 2, 3):
        changes["questions"] = support.questions + support.questions[:1]
    with pytest.raises(ValueError, match=re.escape(problem)):
        dataclasses.replace(support, **changes)  # type: ignore[arg-type]


def test_survey_constructor_rejects_forward_and_text_first() -> None:
    csat, comment = builtin_surveys()["support"].questions
    with pytest.raises(ValueError, match="first question must be scored"):
        Survey("x", (comment, csat))
    forward = dataclasses.replace(csat, ask_if=Condition("comment", "<", 3))
    with pytest.raises(ValueError, match="earlier scored question"):
        Survey("x", (forward, comment))
    with pytest.raises(ValueError, match="duplicate"):
        Survey("x", (csat, csat))


# --- durations and locales ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d 12h", timedelta(days=1, hours=12)),
        (" 90M ", timedelta(minutes=90)),
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("10", "needs a unit"),
        ("3 days", "invalid duration"),
        ("1.5h", "invalid duration"),
        ("-1d", "invalid duration"),
        ("h", "invalid duration"),
        ("30m1h", "largest first"),
        ("1h1h", "largest first"),
        ("1h30", "invalid duration"),
        ("99999999999999d", "too long"),
    ],
)
def test_parse_duration_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_duration(text)


@given(
    st.integers(0, 52),
    st.integers(0, 6),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
)
def test_parse_duration_round_trip(w: int, d: int, h: int, m: int, s: int) -> None:
    parts = [f"{n}{unit}" for n, unit in zip((w, d, h, m, s), "wdhms", strict=True) if n]
    expected = timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)
    assert parse_duration("".join(parts) or "0") == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en", "en"),
        ("EN_us", "en"),
        ("en-GB", "en"),
        ("en_US.UTF-8", "en"),
        ("nl-NL", "nl"),
        ("nl_BE", "nl"),
        ("no", "nb"),
        ("nn", "nb"),
        ("nb-NO", "nb"),
        ("nn_NO", "nb"),
        ("de-AT", "de"),
        ("es-419", "es"),
        ("zh-Hans-CN", "zh"),
        ("zh_TW", "zh"),
        ("zh-Hant", "zh"),
        ("pt-BR", "pt"),
        ("FR", "fr"),
        ("deu", "de"),
        (" sv-SE ", "sv"),
        (None, None),
        ("", None),
        ("1", None),
        ("-", None),
        ("e", None),
    ],
)
def test_normalise_locale(tag: str | None, expected: str | None) -> None:
    assert normalise_locale(tag) == expected


@given(st.text(max_size=20))
def test_normalise_locale_is_idempotent(tag: str) -> None:
    once = normalise_locale(tag)
    assert normalise_locale(once) == once
    assert once is None or (once.isascii() and once.islower())


# --- survey files -------------------------------------------------------------------------------


def test_example_file_loads() -> None:
    surveys = load_surveys(EXAMPLE)
    assert set(builtin_surveys()) <= surveys.keys()
    onboarding = surveys["onboarding"]
    assert onboarding.sample_rate == 0.5
    assert onboarding.expires_after == timedelta(days=3)
    assert onboarding.reminder_after == timedelta(days=1)
    assert onboarding.throttle == timedelta(days=14)
    ease, why = onboarding.questions
    assert (ease.kind, ease.scale) == ("ces", Scale(1, 7, 5))
    assert why.ask_if == Condition("ease", "<=", 4) and not why.required
    assert onboarding.next_question(0, {"ease": 3}) == 1
    delivery = surveys["delivery"]
    assert delivery.questions[0].scale == Scale(1, 10, 8)
    assert delivery.questions[1].texts == {"en": "Anything we could do better next time?"}
    assert delivery.throttle == timedelta(days=30)


def test_example_file_texts_fit_gsm7() -> None:
    for survey in load_surveys(EXAMPLE).values():
        for question in survey.questions:
            for locale in question.texts:
                if locale != "zh":
                    assert is_gsm7(question.text(locale, survey.fallback_locale, "Acme"))


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "surveys.toml"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_file_overrides_builtin_and_accepts_toml_variants(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [surveys.support]
        fallback_locale = "nl-NL"
        throttle = "0"
        questions = [
            { id = "s", kind = "ces", scale = { min = 0, max = 5 }, text = "Makkelijk?" },
            { id = "w", kind = "text", ask_if = "s<3", text.nl = "Waarom?", text."EN-gb" = "Why?" },
        ]

        [surveys."x-1"]
        [[surveys.x-1.questions]]
        id = "q"
        kind = "csat"
        scale.min = 1
        scale.max = 3
        scale.positive_at = 3
        [surveys.x-1.questions.text]
        en = '''Rate {brand}:
        1 = bad'''
        """,
    )
    surveys = load_surveys(path)
    support = surveys["support"]
    assert support.fallback_locale == "nl"
    assert support.throttle == timedelta(0)
    assert support.questions[0].scale == Scale(0, 5, 4)
    assert support.questions[0].texts == {"nl": "Makkelijk?"}
    assert support.questions[1].texts == {"nl": "Waarom?", "en": "Why?"}
    assert surveys["x-1"].questions[0].scale == Scale(1, 3, 3)
    assert surveys["nps"] == builtin_surveys()["nps"]


def test_empty_file_gives_builtins(tmp_path: Path) -> None:
    assert load_surveys(_write(tmp_path, "# nothing yet\n")) == builtin_surveys()


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "surveys.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{path}: survey file not found")):
        load_surveys(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path}: cannot read survey file")):
        load_surveys(tmp_path)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "surveys.toml"
    path.write_bytes(b"[surveys.x]\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path} line 2: the file is not valid UTF-8")):
        load_surveys(path)


@pytest.mark.parametrize(
    "source",
    [
        """
        [surveys.x]
        sample_rate =   # <-
        """,
        """
        [surveys.x]
        [[surveys.x.questions]]
        id = "q"
        id = "r"  # <-
        """,
        """
        [surveys.x]
        text = { en = "unterminated }  # <-
        """,
    ],
)
def test_toml_syntax_error_keeps_line(tmp_path: Path, source: str) -> None:
    path = _write(tmp_path, source)
    with pytest.raises(ConfigError) as info:
        load_surveys(path)
    message = str(info.value)
    assert message.startswith(f"{path} line {_marked_line(source)}: invalid TOML: ")
    assert re.search(r"\(at line \d+, column \d+\)$", message)


def _marked_line(source: str) -> int:
    lines = textwrap.dedent(source).splitlines()
    return next(number for number, line in enumerate(lines, 1) if "# <-" in line)


_BASE = """
[surveys.x]
[[surveys.x.questions]]
id = "q"
kind = "csat"
text = { en = "Rate us?" }
"""

# Each case: the file (the offending line marked "# <-"), the key path the message must name,
# and a fragment of the explanation.
_INVALID: dict[str, tuple[str, str, str]] = {
    "unknown top-level key": (
        'survey = "x"  # <-\n' + _BASE,
        "survey",
        'unknown top-level key "survey"',
    ),
    "surveys not a table": ("surveys = 3  # <-", "surveys", "expected a table, got an integer"),
    "survey not a table": (
        "[surveys]\nx = [1]  # <-",
        "surveys.x",
        "expected a table, got an array",
    ),
    "bad survey name": (
        '[surveys."on boarding"]  # <-\n[[surveys."on boarding".questions]]\nid = "q"\n'
        'kind = "csat"\ntext = "Rate?"',
        'surveys."on boarding"',
        "survey name",
    ),
    "unknown survey key": (
        _BASE.replace("[surveys.x]", "[surveys.x]\nsampel_rate = 0.5  # <-"),
        "surveys.x.sampel_rate",
        'unknown key "sampel_rate" (did you mean "sample_rate"?',
    ),
    "unknown question key": (
        _BASE + "requierd = false  # <-\n",
        "surveys.x.questions[0].requierd",
        'did you mean "required"?',
    ),
    "unknown kind": (
        _BASE.replace('kind = "csat"', 'kind = "stars"  # <-'),
        "surveys.x.questions[0].kind",
        'unknown kind "stars" (expected one of csat, csat10, nps, ces, text, choice)',
    ),
    "kind not a string": (
        _BASE.replace('kind = "csat"', "kind = 5  # <-"),
        "surveys.x.questions[0].kind",
        "expected a string, got an integer",
    ),
    "missing kind": (
        _BASE.replace("[[surveys.x.questions]]", "[[surveys.x.questions]]  # <-").replace(
            'kind = "csat"\n', ""
        ),
        "surveys.x.questions[0].kind",
        "required key is missing",
    ),
    "missing id": (
        _BASE.replace("[[surveys.x.questions]]", "[[surveys.x.questions]]  # <-").replace(
            'id = "q"\n', ""
        ),
        "surveys.x.questions[0].id",
        "required key is missing",
    ),
    "missing text": (
        _BASE.replace("[[surveys.x.questions]]", "[[surveys.x.questions]]  # <-").replace(
            'text = { en = "Rate us?" }\n', ""
        ),
        "surveys.x.questions[0].text",
        "required key is missing",
    ),
    "missing questions": (
        "[surveys.x]  # <-\nsample_rate = 0.5\n",
        "surveys.x.questions",
        "required key is missing",
    ),
    "no questions": (
        "[surveys.x]\nquestions = []  # <-\n",
        "surveys.x.questions",
        "one or two questions, not 0",
    ),
    "three questions": (
        _BASE
        + '[[surveys.x.questions]]\nid = "r"\nkind = "text"\ntext = "Why?"\n'
        + '[[surveys.x.questions]]  # <-\nid = "s"\nkind = "text"\ntext = "Else?"\n',
        "surveys.x.questions[2]",
        "one or two questions, not 3",
    ),
    "questions not an array": (
        "[surveys.x]\nquestions = 1  # <-\n",
        "surveys.x.questions",
        "expected an array of tables",
    ),
    "question not a table": (
        "[surveys.x]\nquestions = [\n  1,  # <-\n]\n",
        "surveys.x.questions[0]",
        "expected a table, got an integer",
    ),
    "invalid id": (
        _BASE.replace('id = "q"', 'id = "2nd q"  # <-'),
        "surveys.x.questions[0].id",
        'invalid id "2nd q"',
    ),
    "duplicate id": (
        _BASE + '[[surveys.x.questions]]\nid = "q"  # <-\nkind = "text"\ntext = "Why?"\n',
        "surveys.x.questions[1].id",
        'duplicate question id "q" (also questions[0])',
    ),
    "text question first": (
        _BASE.replace('kind = "csat"', 'kind = "text"  # <-'),
        "surveys.x.questions[0].kind",
        "the first question must be scored",
    ),
    "scale on text question": (
        _BASE
        + '[[surveys.x.questions]]\nid = "r"\nkind = "text"\ntext = "Why?"\n'
        + "scale = { min = 1, max = 5 }  # <-\n",
        "surveys.x.questions[1].scale",
        "text questions have no scale",
    ),
    "scale not a table": (
        _BASE + "scale = 5  # <-\n",
        "surveys.x.questions[0].scale",
        "expected a table",
    ),
    "unknown scale key": (
        _BASE + "scale = { min = 1, maximum = 5 }  # <-\n",
        "surveys.x.questions[0].scale.maximum",
        'did you mean "max"?',
    ),
    "scale min not below max": (
        _BASE + "scale = { min = 5, max = 5, positive_at = 5 }  # <-\n",
        "surveys.x.questions[0].scale.max",
        "must be greater than min (5), not 5",
    ),
    "scale min negative": (
        _BASE + "\n[surveys.x.questions.scale]\nmin = -2  # <-\nmax = 2\npositive_at = 1\n",
        "surveys.x.questions[0].scale.min",
        "must be 0 or more",
    ),
    "scale max too big": (
        _BASE + "scale = { min = 1, max = 1000, positive_at = 800 }  # <-\n",
        "surveys.x.questions[0].scale.max",
        "must be at most 100",
    ),
    "scale bound not an integer": (
        _BASE + "scale = { min = 1, max = 5.0 }  # <-\n",
        "surveys.x.questions[0].scale.max",
        "expected an integer, got a float",
    ),
    "positive_at outside scale": (
        _BASE + "scale = { min = 1, max = 5, positive_at = 6 }  # <-\n",
        "surveys.x.questions[0].scale.positive_at",
        "must lie on the scale above min (2 to 5), not 6",
    ),
    "positive_at at minimum": (
        _BASE + "scale = { positive_at = 1 }  # <-\n",
        "surveys.x.questions[0].scale.positive_at",
        "not 1",
    ),
    "positive_at needed for custom range": (
        _BASE + "scale = { min = 0, max = 4 }  # <-\n",
        "surveys.x.questions[0].scale.positive_at",
        "required for a 0-4 csat scale",
    ),
    "nps scale changed": (
        _BASE.replace('kind = "csat"', 'kind = "nps"') + "scale = { min = 1 }  # <-\n",
        "surveys.x.questions[0].scale",
        "nps always uses the 0-10 scale",
    ),
    "text missing fallback locale": (
        _BASE.replace('text = { en = "Rate us?" }', 'text = { nl = "Cijfer?" }  # <-'),
        "surveys.x.questions[0].text",
        'missing a text for the fallback locale "en"',
    ),
    "text wrong type": (
        _BASE.replace('text = { en = "Rate us?" }', "text = [1]  # <-"),
        "surveys.x.questions[0].text",
        "expected a string or a table",
    ),
    "text bad locale": (
        _BASE.replace('text = { en = "Rate us?" }', 'text = { en = "Rate?", 42 = "?" }  # <-'),
        "surveys.x.questions[0].text.42",
        '"42" is not a language tag',
    ),
    "text duplicate locale": (
        _BASE.replace(
            'text = { en = "Rate us?" }', 'text = { en = "Rate?", en-US = "Rate!" }  # <-'
        ),
        "surveys.x.questions[0].text.en-US",
        'a second text for locale "en"',
    ),
    "text empty": (
        _BASE.replace('text = { en = "Rate us?" }', 'text = { en = "  " }  # <-'),
        "surveys.x.questions[0].text.en",
        "must not be empty",
    ),
    "text unknown placeholder": (
        _BASE.replace(
            'text = { en = "Rate us?" }', 'text = { en = "Hi {name}, rate {brand}?" }  # <-'
        ),
        "surveys.x.questions[0].text.en",
        'unknown placeholder "{name}"',
    ),
    "required not a boolean": (
        _BASE + 'required = "no"  # <-\n',
        "surveys.x.questions[0].required",
        "expected true or false, got a string",
    ),
    "ask_if syntax": (
        _BASE
        + '[[surveys.x.questions]]\nid = "r"\nkind = "text"\ntext = "Why?"\n'
        + 'ask_if = "q is low"  # <-\n',
        "surveys.x.questions[1].ask_if",
        'cannot parse condition "q is low"',
    ),
    "ask_if on first question": (
        _BASE + 'ask_if = "q < 3"  # <-\n',
        "surveys.x.questions[0].ask_if",
        'refers to "q", which is not an earlier question (earlier: none)',
    ),
    "ask_if unknown question": (
        _BASE
        + '[[surveys.x.questions]]\nid = "r"\nkind = "text"\ntext = "Why?"\n'
        + 'ask_if = "csat <= 3"  # <-\n',
        "surveys.x.questions[1].ask_if",
        'refers to "csat", which is not an earlier question (earlier: "q")',
    ),
    "ask_if value off scale": (
        _BASE
        + '[[surveys.x.questions]]\nid = "r"\nkind = "text"\ntext = "Why?"\n'
        + 'ask_if = "q <= 9"  # <-\n',
        "surveys.x.questions[1].ask_if",
        '9 is outside the 1-5 scale of "q"',
    ),
    "fallback locale invalid": (
        _BASE.replace("[surveys.x]", '[surveys.x]\nfallback_locale = "??"  # <-'),
        "surveys.x.fallback_locale",
        '"??" is not a language tag',
    ),
    "sample_rate zero": (
        _BASE.replace("[surveys.x]", "[surveys.x]\nsample_rate = 0  # <-"),
        "surveys.x.sample_rate",
        "must be greater than 0 and at most 1, not 0",
    ),
    "sample_rate above one": (
        _BASE.replace("[surveys.x]", "[surveys.x]\nsample_rate = 1.5  # <-"),
        "surveys.x.sample_rate",
        "not 1.5",
    ),
    "sample_rate nan": (
        _BASE.replace("[surveys.x]", "[surveys.x]\nsample_rate = nan  # <-"),
        "surveys.x.sample_rate",
        "must be greater than 0",
    ),
    "sample_rate not a number": (
        _BASE.replace("[surveys.x]", '[surveys.x]\nsample_rate = "50%"  # <-'),
        "surveys.x.sample_rate",
        "expected a number, got a string",
    ),
    "duration unparsable": (
        _BASE.replace("[surveys.x]", '[surveys.x]\nexpires_after = "3 days"  # <-'),
        "surveys.x.expires_after",
        'invalid duration "3 days"',
    ),
    "duration not a string": (
        _BASE.replace("[surveys.x]", "[surveys.x]\nthrottle = 30  # <-"),
        "surveys.x.throttle",
        'expected a duration string such as "24h", got an integer',
    ),
    "expiry zero": (
        _BASE.replace("[surveys.x]", '[surveys.x]\nexpires_after = "0"  # <-'),
        "surveys.x.expires_after",
        "must be longer than 0",
    ),
    "reminder not before expiry": (
        _BASE.replace(
            "[surveys.x]", '[surveys.x]\nexpires_after = "1d"\nreminder_after = "24h"  # <-'
        ),
        "surveys.x.reminder_after",
        'must be shorter than expires_after ("1d")',
    ),
}


@pytest.mark.parametrize("case", sorted(_INVALID))
def test_invalid_file_names_key_and_line(tmp_path: Path, case: str) -> None:
    source, key, fragment = _INVALID[case]
    path = _write(tmp_path, source)
    with pytest.raises(ConfigError) as info:
        load_surveys(path)
    message = str(info.value)
    assert message.startswith(f"{path} line {_marked_line(source)}: {key}: "), message
    assert fragment in message


def test_unknown_kind_message_in_full(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        # comment
        [surveys.onboarding]
        sample_rate = 0.5

        [[surveys.onboarding.questions]]
        id = "ease"
        kind = "stars"
        text = { en = "How easy was it?" }
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_surveys(path)
    assert str(info.value) == (
        f"{path} line 7: surveys.onboarding.questions[0].kind: "
        'unknown kind "stars" (expected one of csat, csat10, nps, ces, text, choice)'
    )


def test_lines_survive_tricky_strings(tmp_path: Path) -> None:
    source = '''
    [surveys.x]
    [[surveys.x.questions]]
    id = "q"  # a comment with [brackets] and kind = "x"
    kind = "csat"
    text = { en = "Rate [us] # not a comment = {brand}?", nl = 'Cijfer "hier"?' }
    [[surveys.x.questions]]
    id = "r"
    kind = "text"
    text.en = """
    Tell us more about
    what happened \\""" ok
    """
    text.de = \'\'\'Was ist
    passiert?\'\'\'
    "ask_if" = "q <= 42"  # <-
    '''
    path = _write(tmp_path, source)
    with pytest.raises(ConfigError) as info:
        load_surveys(path)
    assert str(info.value).startswith(
        f"{path} line {_marked_line(source)}: surveys.x.questions[1].ask_if: 42 is outside"
    )


def test_lines_are_right_for_crlf_files(tmp_path: Path) -> None:
    path = tmp_path / "surveys.toml"
    source = _BASE.replace('kind = "csat"', 'kind = "stars"')
    path.write_bytes(source.replace("\n", "\r\n").encode())
    with pytest.raises(ConfigError, match=re.escape(f"{path} line 5: surveys.x.questions[0].kind")):
        load_surveys(path)


def test_questions_kinds_constant() -> None:
    assert QUESTION_KINDS == ("csat", "csat10", "nps", "ces", "text", "choice")
    assert set(DEFAULT_SCALES) == set(QUESTION_KINDS) - {"text", "choice"}
