"""Reading a reply typed by a stranger on a phone: a rating, an SMS keyword, a lead's score request.

A misread rating silently corrupts a team's CSAT, while a reprompt only costs the customer one
more message. So :func:`parse_rating` accepts what is unambiguous and otherwise says *why* it
could not (a :class:`Reprompt` reason that the conversation turns into a targeted hint). None of
these functions ever raises: their input comes straight from the channels.

How ambiguity is settled (the tests pin each rule down):

* Exactly one number may appear. Digits count anywhere in the reply, however long it is.
* Number words are known in English, Dutch, Norwegian, German, Spanish, French and Portuguese.
  Those that are also everyday words somewhere ("een", "en", "ett", "ein", "eine", "einen",
  "uno", "una", "one", "to", "ni", "ti", "fire", "once", "elf", "mil", "un", "une", "neuf" (new),
  "sept" (Sept.), "seize", "onze" (Dutch "our"), "cent", "um", "uma", "doze") are *weak*: they
  count only when they are the whole reply, are followed by a unit ("een ster", "to stjerner",
  "one point") or start an "x out of y". Anywhere else they are read as the ordinary word.
  "um" is a number only on a Portuguese survey, since alone it is more often an English "um".
* Other number words count in replies of at most twelve words, and anywhere when followed by a
  unit or inside "x out of y". In a longer reply a bare one still counts as a number, so it can
  block a digit ("multiple_numbers") but never becomes the rating itself.
* Chinese numerals are weak too: "五" alone, "五星", "五颗星", "五分" and "我给五分" count, "一般"
  does not, and "十分" followed by more text is the adverb "very", not ten points.
* A number glued to letters ("3pm", "5th", "mp3"), or followed by a unit of time or quantity
  ("20 minutes", "3 times", "50%", "3点") or by something it counts ("two thumbs up", "3 people",
  "5 euro", "三人"), or glued to a currency sign is a number that is not a rating: alone it gives
  "no_number", next to another number "multiple_numbers".
* A negated number is not a rating ("would not give 5", "not a 5", "niet 5", "geen 5",
  "ikke 5", "keine 5", "no es un 5", "ce n'est pas un 5", "não 5", "不是5", "不会给五星"). The
  negation ("not", "n't", "no", "never", "niet", "geen", "ikke", "nicht", "kein", "pas", "não",
  不/没/未/别, ...) may stand up to four words before the number, but only within its clause:
  punctuation, another number or a joining word ("but", "and", "so", "maar", "aber", "pero",
  "mais", ...) ends it, so "not bad, 4", "not bad but 4" and "No, 5" are read. Between a Chinese
  negation and the number only auxiliaries such as 是会给打值 may stand, so "不错5分" is 5. German,
  Dutch and Norwegian also negate after the number ("eine 5 gebe ich nicht": "nicht", "nie",
  "niet", "nooit", "ikke", "aldri" up to three words on). The price is that "no complaints 5"
  is reprompted too.
* A compared number is not a rating either: one right after a comparison ("less than 3",
  "more than a 4", "at least", "under", "above", "better than", "almost", "up to", "meer dan",
  "minder dan", "mer enn", "weniger als", "más de", "plus de", "moins de", "mais de", "少于",
  "超过", "至少", "<", "≥"; German "fast" only on a German survey) or followed by one ("4 or
  more", "3 of minder", "4 und höher", "4 at least", "4+", "5分以上").
* Negated and compared numbers are "qualified": the reply names a number but says it is not
  the rating ("not a 5", "less than 3"), so the reprompt asks for the number the person would
  give.
* A number right after "Note", "Schulnote", "Gesamtnote" or "Zensur" (a colon may sit between)
  is a German school grade, where 1 is the best, so it is "wrong_denominator"; except "note" on
  a French survey, where it is the ordinary word for a score ("note 4"), and except when the
  reply names its scale ("Note 4/5", "Note 4 von 5").
* A denominator must equal the scale's maximum, and it is checked before the numerator, so
  "10/10" on a 1-5 scale is "wrong_denominator", while "6/5" is "out_of_range".
* "x of y" means "x out of y", except when a Dutch number word takes part ("vier of vijf") or
  the survey is Dutch (``locale="nl"``, so "4 of 5" is "4 or 5"), where "of" means "or" and the
  reply is a range. Elsewhere plain digits follow the English reading. "4 sur 5" is French for
  "4 out of 5", and "van de", "uit", "av", "von", "de", "sobre" are read the same way.
* Two numbers joined by a dash or by to/or/tot/til/bis/oder/eller/a/o/u/hasta/ou/até/到/至/或
  are a range; joined by anything else ("4 and 5", "4, 5") they are "multiple_numbers". Two
  Chinese numerals written together ("三四分") are also a range, while "twenty-five", "forty
  two" and "dix-sept" are one number ("out_of_range"), never the "five" at their end.
* "4.5", "4,5", "½" and a half-word ("half", "halv", "halb", "medio", "demi", "meia", "半")
  within three words of a number are "decimal". A minus directly before digits ("-3") is
  "out_of_range".
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

from bot.locales import normalise_locale

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
    "qualified",
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


def _exact_words(text: str) -> frozenset[str]:
    """Words matched as the reply spells them (lowercased), accents included."""
    return frozenset(unicodedata.normalize("NFC", word).casefold() for word in text.split())


# --- vocabulary ---------------------------------------------------------------------------

_ZERO_TO_TEN: Final = {
    "en": "zero one two three four five six seven eight nine ten",
    "nl": "nul een/één twee drie vier vijf zes zeven acht negen tien",
    "nb": "null en/ett/én to tre fire fem seks sju/syv åtte ni ti",
    "de": "null eins/ein/eine/einen zwei drei vier fünf/fuenf sechs sieben acht neun zehn",
    "es": "cero uno/una dos tres cuatro cinco seis siete ocho nueve diez",
    "fr": "zéro un/une deux trois quatre cinq six sept huit neuf dix",
    "pt": "zero um/uma dois/duas três quatro cinco seis sete oito nove dez",
}
# "-" marks a number that has no one-word spelling in that language (French "dix-sept" is read
# as a compound, see _Reader._compound_at).
_ELEVEN_TO_NINETEEN: Final = {
    "en": "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen",
    "nl": "elf twaalf dertien veertien vijftien zestien zeventien achttien negentien",
    "nb": "elleve tolv tretten fjorten femten seksten sytten atten nitten",
    "de": "elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn",
    "es": "once doce trece catorce quince dieciséis diecisiete dieciocho diecinueve",
    "fr": "onze douze treize quatorze quinze seize - - -",
    "pt": "onze doze treze catorze/quatorze quinze dezesseis/dezasseis dezessete/dezassete"
    " dezoito dezenove/dezanove",
}
_TWENTY_TO_NINETY: Final = {
    "en": "twenty thirty forty fifty sixty seventy eighty ninety",
    "nl": "twintig dertig veertig vijftig zestig zeventig tachtig negentig",
    "nb": "tjue tretti førti femti seksti sytti åtti nitti",
    "de": "zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig",
    "es": "veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa",
    "fr": "vingt trente quarante cinquante soixante septante huitante/octante nonante",
    "pt": "vinte trinta quarenta cinquenta sessenta setenta oitenta noventa",
}
_HUNDRED_THOUSAND: Final = {
    "en": "hundred thousand",
    "nl": "honderd duizend",
    "nb": "hundre tusen",
    "de": "hundert tausend",
    "es": "cien/ciento mil",
    "fr": "cent mille",
    "pt": "cem/cento mil",
}
_WEAK_WORDS: Final = _words(
    "one een en ett ein eine einen uno una to ni ti fire once elf mil"
    " un une neuf sept seize onze cent um uma doze"
)
_TENS_JOINING_TEENS: Final = _words("dix")
# Number words read as numbers only on a survey in their language: Portuguese "um" is also the
# English "um" of someone hesitating, which must never become a 1.
_LOCAL_NUMBER_WORDS: Final = {"um": "pt"}


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
                if spelling == "-":
                    continue
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
    " étoile étoiles estrela estrelas"
)
_POINT_UNITS: Final = _words(
    "point points pt pts punt punten poeng poenger punkt punkte punkten punto puntos ponto pontos"
)
_MEASURES: Final = _words(
    "am pm h hr hrs hour hours min mins minute minutes sec secs second seconds day days"
    " week weeks month months year years yr yrs time times x percent o"
    " uur u minuut minuten seconde seconden dag dagen weken maand maanden jaar jaren keer"
    " procent timer minutt minutter sekund sekunder dager døgn uke uker måned måneder år"
    " gang ganger prosent uhr stunde stunden sekunde sekunden tag tage tagen woche wochen"
    " monat monate jahr jahre mal prozent hora horas minuto minutos segundo segundos día"
    " días semana semanas mes meses año años vez veces"
    " heure heures jour jours semaine semaines mois ans année années fois pourcent"
    " dia dias mês meses ano anos vezes"
)
# Things a number can count that are not the rating: "two thumbs up", "3 people", "5 euro".
_COUNTED: Final = _words(
    "thumb thumbs people person persons guys agents calls emails mails messages tries attempts"
    " items things questions issues problems tickets orders packages euro euros eur dollar"
    " dollars usd bucks kids children"
    " duim duimen mensen personen pogingen berichten vragen bestellingen pakketten"
    " tommel tomler tommeler personer folk forsøk meldinger spørsmål kroner kr"
    " daumen leute menschen versuche nachrichten fragen bestellungen pakete"
    " pulgar pulgares personas gente intentos mensajes preguntas pedidos"
    " pouce pouces personnes gens essais tentatives questions commandes"
    " polegar polegares pessoas tentativas mensagens perguntas pedidos reais"
)
_CJK_MEASURES: Final = frozenset("点次天年月日号岁周秒时小名人位遍元块件张条")
_HALF_WORDS: Final = _words("half halve halv halb halbe halben medio media demi demie meio meia 半")
_RANGE_WORDS: Final = _words("to or tot til till bis oder eller a o u hasta ou até")
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
    ("sur",),
)
_GLUE_OK: Final = (
    _STAR_UNITS | _POINT_UNITS | _RANGE_WORDS | {w for p in _OUT_OF_PHRASES for w in p}
)

# Words that stop a number from being the rating it names (see "Negation and comparison" in the
# module docstring). Every entry is folded like the reply (lowercase, accents dropped).
_NEGATIONS: Final = _words(
    "not no never nor dont doesnt didnt wont wouldnt cant couldnt isnt wasnt arent shouldnt aint"
    " niet geen nooit ikke ingen aldri nicht kein keine keinen keiner keinem nie niemals"
    " nunca jamás tampoco pas jamais non não nao nem"
)
# Verb-second languages put the negation after the number: "eine 5 gebe ich nicht".
_TRAILING_NEGATIONS: Final = _words("nicht nie niemals niet nooit ikke aldri")
# Words that end the clause a negation governs: "not bad but 4", "pas mal mais 4". Matched with
# their accents, since Portuguese "e" ("and") must not swallow "é" ("is") in "não é um 5".
_SCOPE_BREAKS: Final = _exact_words(
    "but so and though although however because maar dus men og fordi aber und weil sondern"
    " pero y sino porque mais et donc mas e porém porem então entao"
)
_NEGATION_REACH: Final = 4
_APOSTROPHES: Final = frozenset("'’‘´`")
_ARTICLES: Final = _words("a an een ein eine einen en ett un una une um uma")
_COMPARE_SIGNS: Final = frozenset("<>≤≥⩽⩾≦≧")


def _phrases(text: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(_fold(word) for word in phrase.split()) for phrase in text.split("|"))


_COMPARE_BEFORE: Final = _phrases(
    "less than|fewer than|more than|greater than|higher than|lower than|better than|worse than"
    "|bigger than|smaller than|above|below|under|over|beyond|almost|nearly|barely|at least"
    "|at most|up to|max|maximum|minimum"
    "|minder dan|meer dan|beter dan|slechter dan|hoger dan|lager dan|groter dan|kleiner dan"
    "|boven|onder|bijna|ruim|hooguit|hoogstens|minstens|ten minste|zijn minst|maximaal|tot"
    "|mindre enn|færre enn|mer enn|flere enn|bedre enn|verre enn|dårligere enn|høyere enn"
    "|lavere enn|større enn|nesten|knapt|minst|høyst|maks|opptil"
    "|weniger als|mehr als|besser als|schlechter als|höher als|niedriger als|größer als"
    "|kleiner als|über|unter|knapp|beinahe|höchstens|mindestens|wenigstens|maximal|bis|bis zu"
    "|menos de|menos que|más de|más que|mejor que|peor que|mayor que|menor que|encima de"
    "|debajo de|casi|al menos|lo menos|como mínimo|como máximo|máximo|mínimo|hasta"
    "|moins de|moins que|moins qu|plus de|plus que|plus qu|mieux que|mieux qu|pire que|pire qu"
    "|supérieur à|inférieur à|dessus de|dessous de|au moins|au plus|presque|jusqu à"
    "|mais de|mais que|melhor que|pior que|maior que|menor que|superior a|inferior a|acima de"
    "|abaixo de|quase|pelo menos|no mínimo|no máximo|até"
)
# Only after "or"/"and": "4 or more", "3 of minder", "4 und höher", "4 o más", "4 ou mais".
_COMPARATIVES: Final = _words(
    "less more fewer higher lower better worse above below up over under"
    " minder meer hoger lager beter slechter mindre mer flere høyere lavere bedre verre dårligere"
    " weniger mehr höher niedriger besser schlechter darüber darunter drüber drunter"
    " menos más mejor peor moins plus mieux pire mais melhor pior acima abaixo"
)
_COMPARE_JOINS: Final = _words("or of oder eller o u ou and und og y et e en")
_COMPARE_AFTER: Final = _phrases(
    "at least|at most|max|maximum|minimum|tops|plus|minstens|hoogstens|maximaal|ten minste"
    "|minst|høyst|maks|pluss|mindestens|höchstens|wenigstens|maximal|al menos|por lo menos"
    "|como mínimo|como máximo|como mucho|máximo|mínimo|au moins|au plus|pelo menos|no mínimo"
    "|no máximo"
)
# German school grades run from 1 (best) to 6, the wrong way round for any rating scale.
_SCHOOL_GRADES: Final = _words("note noten schulnote gesamtnote zensur")
# Chinese: characters that may sit between a negation or comparison and the number it governs.
_CJK_FILLERS: Final = frozenset("是会能给打值得算可以要想应该有评你们他她它这那个就也都还再配")
_CJK_NEGATIONS: Final = frozenset("不没未别")
_CJK_COMPARE_BEFORE: Final = (
    "少于", "低于", "小于", "不到", "不足", "超过", "大于", "多于", "高于", "至少", "最多",
    "最少", "起码", "将近", "接近", "几乎", "差不多",
)  # fmt: skip
_CJK_COMPARE_AFTER: Final = ("以上", "以下", "以内", "之上", "之下")
_CJK_COMPARE_JOINS: Final = frozenset("或及和")
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

    def __init__(self, tokens: list[_Token], locale: str | None) -> None:
        self.tokens = tokens
        self.locale = locale
        self.values = [
            None if _LOCAL_NUMBER_WORDS.get(_fold(t.text), locale) != locale else _value_of(t)
            for t in tokens
        ]
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
        if tens is None or not tens.is_word or tens.value % 10:
            return False
        teens = tens.value == 10 and _fold(self._text(index)) in _TENS_JOINING_TEENS
        if tens.value < 20 and not teens:
            return False
        unit_index = index + 1
        if self._kind(unit_index) == "other" and self._text(unit_index) in _DASHES:
            unit_index += 1
        unit = self.values[unit_index] if self._is_value(unit_index) else None
        lowest = 7 if teens else 1
        return unit is not None and unit.is_word and lowest <= unit.value <= 9

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
            dutch = bool(left and left.dutch) or bool(right and right.dutch)
            return dutch or self.locale == "nl"
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
            if problem is None and usable:
                problem = self._qualifier(index, after, scale_given=True)
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
        problem = value.problem
        if problem is None and usable:
            problem = self._qualifier(index, after)
        return _Expr(value.value, form, None, usable, negative, problem), after

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
            word = _fold(text)
            if word == "o" and _fold(self._text(following + 1)) in _COMPARATIVES:
                return False  # Spanish "4 o más" is "4 or more", not "4 o'clock"
            return word in _MEASURES or word in _COUNTED
        if kind == "other":
            return text in ("%", "‰")
        if kind == "cjk":
            if text in _CJK_MEASURES:
                return True
            if text == "分":
                return self._text(following + 1) == "钟"
            return text == "个"
        return False

    # qualifiers: a number on the scale that the reply itself says is not the rating

    def _qualifier(self, index: int, end: int, *, scale_given: bool = False) -> str | None:
        """The reason the number at ``index`` (its expression ending before ``end``) cannot be
        recorded although it may be on the scale: a school grade (unless the reply names its
        scale, as in "Note 4/5"), or negated or compared."""
        if not scale_given and self._school_grade_before(index):
            return "wrong_denominator"
        if self.qualified_before(index) or self._negated_after(end) or self._compared_after(end):
            return "qualified"
        return None

    def qualified_before(self, index: int) -> bool:
        if self._kind(index - 1) == "cjk":
            return self._cjk_qualified_before(index)
        return self._negated_before(index) or self._compared_before(index)

    def _contracted_not(self, index: int) -> bool:
        """The "t" of "don't", "wouldn't", "isn't": tokenised as "don", "'", "t"."""
        return (
            _fold(self._text(index)) == "t"
            and self._text(index - 1) in _APOSTROPHES
            and self._kind(index - 2) == "word"
            and self._text(index - 2).endswith("n")
        )

    def _clause_words(self, index: int, step: int, limit: int) -> list[int]:
        """Indexes of at most ``limit`` words from ``index`` onward (``step`` -1 reads backwards),
        stopping at the first token that is neither a word nor an apostrophe."""
        found: list[int] = []
        while len(found) < limit and (
            self._kind(index) == "word" or self._text(index) in _APOSTROPHES
        ):
            if self._kind(index) == "word":
                found.append(index)
            index += step
        return found

    def _negated_before(self, index: int) -> bool:
        for between, at in enumerate(self._clause_words(index - 1, -1, _NEGATION_REACH + 1)):
            word = _fold(self._text(at))
            if word in _NEGATIONS or self._contracted_not(at):
                return True
            if self._text(at) in _SCOPE_BREAKS or between == _NEGATION_REACH:
                return False
        return False

    def _negated_after(self, end: int) -> bool:
        for between, at in enumerate(self._clause_words(end, 1, _NEGATION_REACH)):
            word = _fold(self._text(at))
            if word in _TRAILING_NEGATIONS:
                return True
            if self._text(at) in _SCOPE_BREAKS or between == _NEGATION_REACH - 1:
                return False
        return False

    def _compared_before(self, index: int) -> bool:
        at = index - 1
        if self._text(at) == "=" and self._text(at - 1) in _COMPARE_SIGNS:
            return True
        if self._kind(at) == "other":
            return self._text(at) in _COMPARE_SIGNS
        if self._kind(at) == "word" and _fold(self._text(at)) in _ARTICLES:
            at -= 1
        words = tuple(_fold(self._text(i)) for i in reversed(self._clause_words(at, -1, 3)))
        if self.locale == "de" and words[-1:] == ("fast",):
            return True
        return any(words[-size:] in _COMPARE_BEFORE for size in range(1, len(words) + 1))

    def _compared_after(self, end: int) -> bool:
        kind, text = self._kind(end), self._text(end)
        if kind == "other":
            return text == "+" and not self._is_value(end + 1)
        if kind == "cjk":
            if text in _CJK_COMPARE_JOINS:
                end += 1
            following = self._text(end) + self._text(end + 1)
            return following in _CJK_COMPARE_AFTER
        words = tuple(_fold(self._text(i)) for i in self._clause_words(end, 1, 3))
        if len(words) >= 2 and words[0] in _COMPARE_JOINS and words[1] in _COMPARATIVES:
            return True
        return any(words[:size] in _COMPARE_AFTER for size in range(1, len(words) + 1))

    def _school_grade_before(self, index: int) -> bool:
        at = index - 1
        if self._text(at) == ":":
            at -= 1
        if self._kind(at) != "word":
            return False
        word = _fold(self._text(at))
        return word in _SCHOOL_GRADES and not (word == "note" and self.locale == "fr")

    def _cjk_qualified_before(self, index: int) -> bool:
        at = index - 1
        while self._kind(at) == "cjk" and self._text(at) in _CJK_FILLERS:
            at -= 1
        if self._kind(at) == "cjk" and self._text(at) in _CJK_NEGATIONS:
            return True
        preceding = "".join(
            self._text(i) for i in range(max(at - 2, 0), at + 1) if self._kind(i) == "cjk"
        )
        return preceding.endswith(_CJK_COMPARE_BEFORE)

    def loose_stars(self) -> tuple[int, bool, bool]:
        """The filled stars not taken as a number's unit, whether any star is there at all, and
        whether the first of them is negated or compared ("not ⭐⭐⭐⭐⭐")."""
        filled = 0
        first: int | None = None
        for index, token in enumerate(self.tokens):
            if token.kind == "other" and token.text in _STAR_SYMBOLS and index not in self.consumed:
                first = index if first is None else first
                filled += token.text in _FILLED_STARS
        qualified = first is not None and self.qualified_before(first)
        return filled, first is not None, qualified


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


def parse_rating(
    text: str, minimum: int, maximum: int, *, locale: str | None = None
) -> Rating | Reprompt:
    """Read one whole number on the scale [minimum, maximum] from a free-text reply.

    ``locale`` is the language the survey was sent in ("nl", "de-AT", ...); it only settles words
    whose meaning differs between languages, such as Dutch "of" ("or"). Returns a
    :class:`Reprompt` instead of guessing whenever the reply is not exactly one clear number; the
    module docstring lists how each ambiguity is settled. Never raises.
    """
    tokens = _tokenise(text)
    if not tokens:
        return Reprompt("empty")
    reader = _Reader(tokens, normalise_locale(locale))
    early = reader.early_reason()
    if early is not None:
        return Reprompt(early)
    found = reader.expressions()
    filled, stars_present, stars_qualified = reader.loose_stars()
    if stars_present:
        if not found:
            if filled == 0:
                return Reprompt("no_number")
            if stars_qualified:
                return Reprompt("qualified")
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
