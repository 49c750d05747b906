"""Reading a reply typed by a stranger on a phone: a rating, an SMS keyword, a lead's score request.

A misread rating silently corrupts a team's CSAT, while a reprompt only costs the customer one
more message. So :func:`parse_rating` accepts what is unambiguous and otherwise says *why* it
could not (a :class:`Reprompt` reason that the conversation turns into a targeted hint). None of
these functions ever raises: their input comes straight from the channels.

How ambiguity is settled (the tests pin each rule down):

* Exactly one number may appear. Digits count anywhere in the reply, however long it is.
* Number words that are also everyday words somewhere ("een", "en", "ett", "ein", "eine",
  "einen", "uno", "una", "one", "to", "ni", "ti", "fire", "once", "elf", "mil") are *weak*: they
  count only when they are the whole reply, are followed by a unit ("een ster", "to stjerner",
  "one point") or start an "x out of y". Anywhere else they are read as the ordinary word.
* Other number words count in replies of at most twelve words, and anywhere when followed by a
  unit or inside "x out of y". In a longer reply a bare one still counts as a number, so it can
  block a digit ("multiple_numbers") but never becomes the rating itself.
* Chinese numerals are weak too: "五" alone, "五星", "五颗星", "五分" and "我给五分" count, "一般"
  does not, and "十分" followed by more text is the adverb "very", not ten points.
* A number glued to letters ("3pm", "5th", "mp3"), or followed by a unit of time or quantity
  ("20 minutes", "3 times", "50%", "3点"), or glued to a currency sign is a number that is not a
  rating: alone it gives "no_number", next to another number "multiple_numbers".
* A denominator must equal the scale's maximum, and it is checked before the numerator, so
  "10/10" on a 1-5 scale is "wrong_denominator", while "6/5" is "out_of_range".
* "x of y" means "x out of y", except when a Dutch number word takes part ("vier of vijf"),
  where "of" means "or" and the reply is a range. Plain digits follow the English reading.
* Two numbers joined by a dash or by to/or/tot/til/bis/oder/eller/a/o/u/hasta/到/至/或 are a
  range; joined by anything else ("4 and 5", "4, 5") they are "multiple_numbers". Two Chinese
  numerals written together ("三四分") are also a range, while "twenty-five" and "forty two" are
  one number ("out_of_range"), never the "five" at their end.
* "4.5", "4,5", "½" and a half-word ("half", "halv", "halb", "medio", "半") within three words of
  a number are "decimal". A minus directly before digits ("-3") is "out_of_range".
* Filled stars (★ ⭐ 🌟; ☆ is empty) count when they are the only number; next to a number they
  are accepted only if they agree with it ("4 ⭐⭐⭐⭐"), and a single star right after a number
  is its unit ("4⭐"). No filled star is "no_number", too many is "out_of_range".
* ``Rating.form`` names the construction when there is one (fraction, out_of, stars_word), else
  how the numeral was written (digits, fullwidth, keycap, number_word, star_symbols).
  "fullwidth" covers every non-ASCII digit that stands for an ASCII one (４, ④, ٤, ⁴).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "RATING_FORMS",
    "REPROMPT_REASONS",
    "Keyword",
    "Rating",
    "Reprompt",
    "parse_keyword",
    "parse_rating",
    "parse_score_request",
]

RATING_FORMS: Final = (
    "digits",
    "fraction",
    "stars_word",
    "out_of",
    "keycap",
    "star_symbols",
    "fullwidth",
    "number_word",
)
REPROMPT_REASONS: Final = (
    "empty",
    "out_of_range",
    "range_given",
    "decimal",
    "multiple_numbers",
    "wrong_denominator",
    "no_number",
)


@dataclass(frozen=True)
class Rating:
    """A reply read unambiguously as one score; ``form`` keeps how it was written for analytics."""

    value: int
    form: str


@dataclass(frozen=True)
class Reprompt:
    """A reply that cannot be scored; ``reason`` selects the hint sent back to the customer."""

    reason: str


Keyword = Literal["stop", "start", "help"]

# --- normalisation ------------------------------------------------------------------------

_PLAIN, _WIDE, _KEYCAP = "p", "w", "k"
_FRACTION_MARK: Final = "\ue000"
_KEYCAP_RE: Final = re.compile("([0-9#*])\ufe0f?\u20e3|\U0001f51f")
_DROPPED_CATEGORIES: Final = frozenset({"Mn", "Me", "Cf", "Cc", "Co"})
_CJK_CLASS: Final = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_NUMERALS: Final = "零〇一二两三四五六七八九十"
_TOKEN_RE: Final = re.compile(
    rf"(?P<num>[0-9]+)"
    rf"|(?P<cjknum>[{_CJK_NUMERALS}]+)"
    rf"|(?P<cjk>[{_CJK_CLASS}])"
    rf"|(?P<word>(?:(?![{_CJK_CLASS}])[^\W\d_])+)"
    rf"|(?P<space>\s+)"
    rf"|(?P<other>.)",
    re.DOTALL,
)
_ASCII_RUN_RE: Final = re.compile(r"([\x00-\x7f]+)")
_ASCII_CLEANUP: Final = str.maketrans(
    {c: (" " if c.isspace() else None) for c in map(chr, range(0x80)) if not c.isprintable()}
)
_FOLD_EXTRA: Final = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d"})


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    spaced: bool
    tags: str


def _append_plain(segment: str, out: list[str], tags: list[str]) -> None:
    for run in _ASCII_RUN_RE.split(segment):
        if run.isascii():
            plain = run.translate(_ASCII_CLEANUP).lower()
            out.append(plain)
            tags.append(_PLAIN * len(plain))
        else:
            _append_unicode(run, out, tags)


def _append_unicode(segment: str, out: list[str], tags: list[str]) -> None:
    for ch in segment:
        if ch.isspace():
            out.append(" ")
            tags.append(_PLAIN)
            continue
        category = unicodedata.category(ch)
        if category in _DROPPED_CATEGORIES:
            continue
        if category == "Nd":
            piece = str(unicodedata.decimal(ch, 0))
            out.append(piece)
            tags.append(_PLAIN if ch.isascii() else _WIDE)
            continue
        if category in ("No", "Nl") and ch != "〇":
            number = unicodedata.numeric(ch, -1.0)
            if number >= 0 and number.is_integer():
                piece = str(int(number))
                out.append(piece)
                tags.append(_WIDE * len(piece))
            else:
                out.append(_FRACTION_MARK)
                tags.append(_PLAIN)
            continue
        piece = unicodedata.normalize("NFKC", ch).casefold()
        out.append(piece)
        tags.append("".join(_WIDE if c.isdigit() and not ch.isascii() else _PLAIN for c in piece))


def _normalise(text: str) -> tuple[str, str]:
    """Fold every way of writing a digit onto ASCII while remembering, per character, whether it
    came from a keycap or another script, so the form can still be reported after matching."""
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    tags: list[str] = []
    position = 0
    for match in _KEYCAP_RE.finditer(text):
        _append_plain(text[position : match.start()], out, tags)
        key = match.group(1)
        piece = "10" if key is None else key
        out.append(piece)
        tags.append((_KEYCAP if piece[0].isdigit() else _PLAIN) * len(piece))
        position = match.end()
    _append_plain(text[position:], out, tags)
    return "".join(out), "".join(tags)


def _tokenise(text: str) -> list[_Token]:
    norm, tags = _normalise(text)
    tokens: list[_Token] = []
    spaced = False
    for match in _TOKEN_RE.finditer(norm):
        kind = match.lastgroup or "other"
        if kind == "space":
            spaced = True
            continue
        tokens.append(_Token(kind, match.group(), spaced, tags[match.start() : match.end()]))
        spaced = False
    return tokens


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.translate(_FOLD_EXTRA)


def _words(text: str) -> frozenset[str]:
    return frozenset(_fold(word) for word in text.split())


# --- vocabulary ---------------------------------------------------------------------------

_ZERO_TO_TEN: Final = {
    "en": "zero one two three four five six seven eight nine ten",
    "nl": "nul een/één twee drie vier vijf zes zeven acht negen tien",
    "nb": "null en/ett/én to tre fire fem seks sju/syv åtte ni ti",
    "de": "null eins/ein/eine/einen zwei drei vier fünf/fuenf sechs sieben acht neun zehn",
    "es": "cero uno/una dos tres cuatro cinco seis siete ocho nueve diez",
}
_ELEVEN_TO_NINETEEN: Final = {
    "en": "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen",
    "nl": "elf twaalf dertien veertien vijftien zestien zeventien achttien negentien",
    "nb": "elleve tolv tretten fjorten femten seksten sytten atten nitten",
    "de": "elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn",
    "es": "once doce trece catorce quince dieciséis diecisiete dieciocho diecinueve",
}
_TWENTY_TO_NINETY: Final = {
    "en": "twenty thirty forty fifty sixty seventy eighty ninety",
    "nl": "twintig dertig veertig vijftig zestig zeventig tachtig negentig",
    "nb": "tjue tretti førti femti seksti sytti åtti nitti",
    "de": "zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig",
    "es": "veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa",
}
_HUNDRED_THOUSAND: Final = {
    "en": "hundred thousand",
    "nl": "honderd duizend",
    "nb": "hundre tusen",
    "de": "hundert tausend",
    "es": "cien/ciento mil",
}
_WEAK_WORDS: Final = _words("one een en ett ein eine einen uno una to ni ti fire once elf mil")


@dataclass(frozen=True)
class _NumberWord:
    value: int
    weak: bool
    dutch: bool


def _build_number_words() -> tuple[dict[str, _NumberWord], dict[str, _NumberWord]]:
    languages: dict[str, tuple[int, set[str]]] = {}

    def add(row: str, values: list[int], lang: str) -> None:
        for cell, value in zip(row.split(), values, strict=True):
            for spelling in cell.split("/"):
                key = unicodedata.normalize("NFC", spelling).casefold()
                if key not in languages:
                    languages[key] = (value, set())
                if languages[key][0] == value:
                    languages[key][1].add(lang)

    for lang, row in _ZERO_TO_TEN.items():
        add(row, list(range(11)), lang)
    for lang, row in _ELEVEN_TO_NINETEEN.items():
        add(row, list(range(11, 20)), lang)
    for lang, row in _TWENTY_TO_NINETY.items():
        add(row, list(range(20, 100, 10)), lang)
    for lang, row in _HUNDRED_THOUSAND.items():
        add(row, [100, 1000], lang)
    exact = {
        key: _NumberWord(value, key in _WEAK_WORDS, "nl" in langs)
        for key, (value, langs) in languages.items()
    }
    folded: dict[str, _NumberWord] = {}
    for key, entry in exact.items():
        bare = _fold(key)
        if bare not in exact and bare not in folded:
            folded[bare] = entry
    return exact, folded


_NUMBER_WORDS, _FOLDED_NUMBER_WORDS = _build_number_words()
_CJK_DIGITS: Final = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_STAR_UNITS: Final = _words(
    "star stars ster sterren stjerne stjerner stjernar stern sterne sternen estrella estrellas"
)
_POINT_UNITS: Final = _words(
    "point points pt pts punt punten poeng poenger punkt punkte punkten punto puntos"
)
_MEASURES: Final = _words(
    "am pm h hr hrs hour hours min mins minute minutes sec secs second seconds day days"
    " week weeks month months year years yr yrs time times x percent o"
    " uur u minuut minuten seconde seconden dag dagen weken maand maanden jaar jaren keer"
    " procent timer minutt minutter sekund sekunder dager døgn uke uker måned måneder år"
    " gang ganger prosent uhr stunde stunden sekunde sekunden tag tage tagen woche wochen"
    " monat monate jahr jahre mal prozent hora horas minuto minutos segundo segundos día"
    " días semana semanas mes meses año años vez veces"
)
_CJK_MEASURES: Final = frozenset("点次天年月日号岁周秒时小名")
_HALF_WORDS: Final = _words("half halve halv halb halbe halben medio media 半")
_RANGE_WORDS: Final = _words("to or tot til till bis oder eller a o u hasta")
_CJK_RANGE: Final = frozenset("到至或")
_OUT_OF_PHRASES: Final = (
    ("out", "of"),
    ("van", "de"),
    ("ut", "av"),
    ("of",),
    ("van",),
    ("uit",),
    ("op",),
    ("av",),
    ("von",),
    ("de",),
    ("sobre",),
)
_GLUE_OK: Final = (
    _STAR_UNITS | _POINT_UNITS | _RANGE_WORDS | {w for p in _OUT_OF_PHRASES for w in p}
)
_DASHES: Final = frozenset("-‐‑‒–—―−~〜")
_MINUSES: Final = frozenset("-‐‑−")
_SLASHES: Final = frozenset("/⁄∕")
_DECIMAL_SEPARATORS: Final = frozenset(".,٫")
_FILLED_STARS: Final = frozenset("★⭐🌟")
_STAR_SYMBOLS: Final = _FILLED_STARS | {"☆"}
_SHORT_REPLY_WORDS: Final = 12
_HUGE: Final = 10**9
_CONTENT_KINDS: Final = frozenset({"num", "word", "cjk", "cjknum"})


# --- reading numbers ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    value: int
    notation: str
    weak: bool = False
    dutch: bool = False
    is_word: bool = False
    problem: str | None = None


@dataclass(frozen=True)
class _Expr:
    value: int
    form: str
    denominator: int | None = None
    usable: bool = True
    negative: bool = False
    problem: str | None = None


def _cjk_value(run: str) -> int | None:
    if "十" not in run:
        return _CJK_DIGITS[run] if len(run) == 1 else None
    tens, _, ones = run.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    ten_count = _CJK_DIGITS.get(tens, 0) if tens else 1
    unit_count = _CJK_DIGITS.get(ones, 0) if ones else 0
    if ten_count == 0 or (ones and unit_count == 0):
        return None
    return ten_count * 10 + unit_count


def _value_of(token: _Token) -> _Value | None:
    if token.kind == "num":
        digits = token.text.lstrip("0") or "0"
        value = int(digits) if len(digits) <= 9 else _HUGE
        if _KEYCAP in token.tags:
            return _Value(value, "keycap")
        return _Value(value, "fullwidth" if _WIDE in token.tags else "digits")
    if token.kind == "word":
        entry = _NUMBER_WORDS.get(token.text) or _FOLDED_NUMBER_WORDS.get(_fold(token.text))
        if entry is None:
            return None
        return _Value(entry.value, "number_word", entry.weak, entry.dutch, is_word=True)
    if token.kind == "cjknum":
        run_value = _cjk_value(token.text)
        if run_value is not None:
            return _Value(run_value, "number_word", weak=True, is_word=True)
        problem = "range_given" if len(token.text) == 2 else "multiple_numbers"
        return _Value(0, "number_word", weak=True, is_word=True, problem=problem)
    return None


class _Reader:
    """One pass over a tokenised reply; kept as a class only to share the token lists."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.values = [_value_of(t) for t in tokens]
        self.content = sum(t.kind in _CONTENT_KINDS for t in tokens)
        self.consumed: set[int] = set()

    def _text(self, index: int) -> str:
        return self.tokens[index].text if 0 <= index < len(self.tokens) else ""

    def _kind(self, index: int) -> str:
        return self.tokens[index].kind if 0 <= index < len(self.tokens) else ""

    def _is_value(self, index: int) -> bool:
        return 0 <= index < len(self.values) and self.values[index] is not None

    # early verdicts: shapes that are never one clean number

    def early_reason(self) -> str | None:
        for index, token in enumerate(self.tokens):
            if token.text == _FRACTION_MARK or self._decimal_at(index):
                return "decimal"
            if self._compound_at(index):
                return "out_of_range"
            if self._is_value(index) and self._range_after(index):
                return "range_given"
            if (token.kind in ("word", "cjk") and _fold(token.text) in _HALF_WORDS) and any(
                self._is_value(near) for near in range(index - 3, index + 4)
            ):
                return "decimal"
        return None

    def _compound_at(self, index: int) -> bool:
        """ "twenty-five" and "forty two" are one number above every scale, not a range or two
        numbers, and certainly not the "five" at their end."""
        tens = self.values[index]
        if tens is None or not tens.is_word or tens.value < 20 or tens.value % 10:
            return False
        unit_index = index + 1
        if self._kind(unit_index) == "other" and self._text(unit_index) in _DASHES:
            unit_index += 1
        unit = self.values[unit_index] if self._is_value(unit_index) else None
        return unit is not None and unit.is_word and 1 <= unit.value <= 9

    def _decimal_at(self, index: int) -> bool:
        token = self.tokens[index]
        if token.kind != "other" or token.text not in _DECIMAL_SEPARATORS:
            return False
        if self._kind(index + 1) != "num" or self.tokens[index + 1].spaced:
            return False
        glued_left = not token.spaced and index > 0
        return self._kind(index - 1) == "num" if glued_left else True

    def _range_after(self, index: int) -> bool:
        joint = index + 1
        kind, text = self._kind(joint), self._text(joint)
        after = joint + 1
        if kind == "cjk" and text == "或" and self._text(after) == "者":
            after += 1
        if not self._is_value(after):
            return False
        if kind == "word" and text == "of":
            left, right = self.values[index], self.values[after]
            return bool(left and left.dutch) or bool(right and right.dutch)
        return (
            (kind == "other" and text in _DASHES)
            or (kind == "word" and _fold(text) in _RANGE_WORDS)
            or (kind == "cjk" and text in _CJK_RANGE)
        )

    # expressions: a number with its unit, or "x/y", "x out of y"

    def expressions(self) -> list[_Expr]:
        found: list[_Expr] = []
        index = 0
        while index < len(self.tokens):
            value = self.values[index]
            if value is None:
                index += 1
                continue
            expr, index = self._expression_at(index, value)
            if expr is not None:
                found.append(expr)
        return found

    def _expression_at(self, index: int, value: _Value) -> tuple[_Expr | None, int]:
        negative = self._negative_before(index)
        unit, after = self._unit_after(index, index + 1)
        denominator = self._denominator_at(after)
        usable = not self._glued(index)
        if denominator is not None:
            den_index, form = denominator
            den_value = self.values[den_index]
            assert den_value is not None
            _, after = self._unit_after(den_index, den_index + 1)
            problem = value.problem or den_value.problem
            expr = _Expr(value.value, form, den_value.value, usable, negative, problem)
            return expr, after
        if unit is None:
            licensed = not value.weak or self.content == 1
            if not licensed:
                return None, after
            if value.is_word and self.content > _SHORT_REPLY_WORDS:
                usable = False
            if self._measured(index):
                usable = False
        form = "stars_word" if unit == "star" else value.notation
        return _Expr(value.value, form, None, usable, negative, value.problem), after

    def _negative_before(self, index: int) -> bool:
        sign = index - 1
        if self._kind(index) != "num" or self.tokens[index].spaced:
            return False
        if self._kind(sign) != "other" or self._text(sign) not in _MINUSES:
            return False
        return sign == 0 or self.tokens[sign].spaced or self._kind(sign - 1) == "other"

    def _unit_after(self, value_index: int, at: int) -> tuple[str | None, int]:
        kind, text = self._kind(at), self._text(at)
        if kind == "word":
            bare = _fold(text)
            if bare in _STAR_UNITS:
                return "star", at + 1
            if bare in _POINT_UNITS:
                return "point", at + 1
        elif kind == "cjk":
            if text == "星":
                return "star", at + 1
            if text in "颗个" and self._text(at + 1) == "星":
                return "star", at + 2
            if text == "分" and not self._not_points(value_index, at):
                return "point", at + 1
        elif kind == "other" and text in _FILLED_STARS and self._text(at + 1) not in _STAR_SYMBOLS:
            self.consumed.add(at)
            return "star", at + 1
        return None, at

    def _not_points(self, value_index: int, at: int) -> bool:
        """分 after a numeral is "points", except in 分钟 (minutes), 分之 (a fraction) and 十分
        before more text, where 十分 is the adverb "very"."""
        following = at + 1
        if self._text(following) in ("钟", "之"):
            return True
        return (
            self._text(value_index) == "十"
            and self._kind(following) in ("cjk", "cjknum")
            and not self.tokens[following].spaced
        )

    def _denominator_at(self, at: int) -> tuple[int, str] | None:
        if self._kind(at) == "other" and self._text(at) in _SLASHES and self._is_value(at + 1):
            return at + 1, "fraction"
        if self._kind(at) != "word":
            return None
        for phrase in _OUT_OF_PHRASES:
            end = at + len(phrase)
            words = tuple(
                self._text(at + offset) if self._kind(at + offset) == "word" else ""
                for offset in range(len(phrase))
            )
            if words == phrase and self._is_value(end):
                return end, "out_of"
        return None

    def _glued(self, index: int) -> bool:
        token = self.tokens[index]
        if token.kind != "num":
            return False
        if self._kind(index - 1) == "word" and not token.spaced:
            return True
        if not token.spaced and self._is_currency(index - 1):
            return True
        following = index + 1
        if following < len(self.tokens) and not self.tokens[following].spaced:
            next_kind, next_text = self._kind(following), self._text(following)
            if next_kind == "word" and _fold(next_text) not in _GLUE_OK:
                return True
            if self._is_currency(following):
                return True
        return False

    def _is_currency(self, index: int) -> bool:
        text = self._text(index)
        return self._kind(index) == "other" and unicodedata.category(text) == "Sc"

    def _measured(self, index: int) -> bool:
        following = index + 1
        kind, text = self._kind(following), self._text(following)
        if kind == "word":
            return _fold(text) in _MEASURES
        if kind == "other":
            return text in ("%", "‰")
        if kind == "cjk":
            if text in _CJK_MEASURES:
                return True
            if text == "分":
                return self._text(following + 1) == "钟"
            return text == "个"
        return False

    def loose_stars(self) -> tuple[int, bool]:
        filled = 0
        present = False
        for index, token in enumerate(self.tokens):
            if token.kind == "other" and token.text in _STAR_SYMBOLS and index not in self.consumed:
                present = True
                filled += token.text in _FILLED_STARS
        return filled, present


def _judge(expr: _Expr, minimum: int, maximum: int) -> Rating | Reprompt:
    if expr.problem is not None:
        return Reprompt(expr.problem)
    if not expr.usable:
        return Reprompt("no_number")
    if expr.negative:
        return Reprompt("out_of_range")
    if expr.denominator is not None and expr.denominator != maximum:
        return Reprompt("wrong_denominator")
    if not minimum <= expr.value <= maximum:
        return Reprompt("out_of_range")
    return Rating(expr.value, expr.form)


def parse_rating(text: str, minimum: int, maximum: int) -> Rating | Reprompt:
    """Read one whole number on the scale [minimum, maximum] from a free-text reply.

    Returns a :class:`Reprompt` instead of guessing whenever the reply is not exactly one clear
    number; the module docstring lists how each ambiguity is settled. Never raises.
    """
    tokens = _tokenise(text)
    if not tokens:
        return Reprompt("empty")
    reader = _Reader(tokens)
    early = reader.early_reason()
    if early is not None:
        return Reprompt(early)
    found = reader.expressions()
    filled, stars_present = reader.loose_stars()
    if stars_present:
        if not found:
            if filled == 0:
                return Reprompt("no_number")
            if not max(minimum, 1) <= filled <= maximum:
                return Reprompt("out_of_range")
            return Rating(filled, "star_symbols")
        if len(found) > 1 or found[0].value != filled or not found[0].usable:
            return Reprompt("multiple_numbers")
    if not found:
        return Reprompt("no_number")
    if len(found) > 1:
        return Reprompt("multiple_numbers")
    return _judge(found[0], minimum, maximum)


# --- keywords and lead commands -----------------------------------------------------------

_KEYWORDS: Final[dict[str, Keyword]] = {
    **dict.fromkeys(
        (
            "stop",
            "stopall",
            "unsubscribe",
            "cancel",
            "end",
            "quit",
            "revoke",
            "optout",
            "opt out",
            "opt-out",
        ),
        "stop",
    ),
    **dict.fromkeys(("start", "unstop", "yes"), "start"),
    **dict.fromkeys(("help", "info"), "help"),
}


def _command_text(text: str) -> str:
    """Carriers match keywords on the whole message, forgiving case, spacing and a trailing "."
    or "!", so this is normalised the same way before any comparison."""
    text = unicodedata.normalize("NFKC", text)
    end = len(text)
    while end and (text[end - 1].isspace() or unicodedata.category(text[end - 1])[0] == "P"):
        end -= 1
    return " ".join(text[:end].split())


def parse_keyword(text: str) -> Keyword | None:
    """The SMS compliance keyword the whole message is, if any ("stop it please" is not one)."""
    return _KEYWORDS.get(_command_text(text).casefold())


def parse_score_request(text: str) -> str | None:
    """The lowercased arguments of a lead's "SCORE ..." message ("" for a bare SCORE), or None
    when the message is not such a request and should be treated as an ordinary reply."""
    words = _command_text(text).split(" ")
    if words[0].rstrip(":,").casefold() != "score":
        return None
    return " ".join(words[1:]).lower()
