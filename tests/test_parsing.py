"""Tables for the reply parsers: every accepted way of writing a rating, every reprompt with its
exact reason, the SMS keywords, the lead's SCORE command, and properties that hold for any text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.parsing import (
    RATING_FORMS,
    REPROMPT_REASONS,
    Rating,
    Reprompt,
    parse_keyword,
    parse_rating,
    parse_score_request,
)

SCALES = [(1, 5), (1, 10), (0, 10), (1, 7), (0, 5)]

# --- accepted ratings on a 1-5 scale --------------------------------------------------------

ACCEPTED_1_5 = [
    # digits, alone and inside short sentences
    ("4", 4, "digits"),
    (" 4 ", 4, "digits"),
    ("\t4\n", 4, "digits"),
    ("4!", 4, "digits"),
    ("4.", 4, "digits"),
    ("(4)", 4, "digits"),
    ("5, great service!", 5, "digits"),
    ("I'd say 4 because the agent was quick", 4, "digits"),
    ("a 3 I guess", 3, "digits"),
    ("1", 1, "digits"),
    ("5", 5, "digits"),
    ("05", 5, "digits"),
    ("great - 5", 5, "digits"),
    ("5 😊", 5, "digits"),
    ("I give 5 to the agent", 5, "digits"),
    ("one of the best, 4", 4, "digits"),
    ("een 4 want het ging snel", 4, "digits"),
    ("4 ⭐⭐⭐⭐", 4, "digits"),
    ("5*", 5, "digits"),
    ("#5", 5, "digits"),
    # fractions
    ("4/5", 4, "fraction"),
    ("4 / 5", 4, "fraction"),
    ("1/5", 1, "fraction"),
    ("5/5!", 5, "fraction"),
    ("I'd give it 3/5", 3, "fraction"),
    ("4/5 ⭐⭐⭐⭐", 4, "fraction"),
    ("４／５", 4, "fraction"),
    ("4⁄5", 4, "fraction"),
    ("4/5 stars", 4, "fraction"),
    # star words
    ("4 stars", 4, "stars_word"),
    ("4 star", 4, "stars_word"),
    ("4stars", 4, "stars_word"),
    ("4 Stars!", 4, "stars_word"),
    ("4 sterren", 4, "stars_word"),
    ("4 stjerner", 4, "stars_word"),
    ("4 Sterne", 4, "stars_word"),
    ("4 estrellas", 4, "stars_word"),
    ("1 estrella", 1, "stars_word"),
    ("4星", 4, "stars_word"),
    ("4⭐", 4, "stars_word"),
    ("4 ★", 4, "stars_word"),
    ("4️⃣ stars", 4, "stars_word"),
    ("five stars", 5, "stars_word"),
    ("one star", 1, "stars_word"),
    ("een ster", 1, "stars_word"),
    ("en stjerne", 1, "stars_word"),
    ("to stjerner", 2, "stars_word"),
    ("fire stjerner", 4, "stars_word"),
    ("ein Stern", 1, "stars_word"),
    ("einen Stern", 1, "stars_word"),
    ("una estrella", 1, "stars_word"),
    ("cinco estrellas", 5, "stars_word"),
    ("五星", 5, "stars_word"),
    ("五颗星", 5, "stars_word"),
    ("两星", 2, "stars_word"),
    # out of
    ("4 out of 5", 4, "out_of"),
    ("4 of 5", 4, "out_of"),
    ("4 van de 5", 4, "out_of"),
    ("4 van 5", 4, "out_of"),
    ("4 uit 5", 4, "out_of"),
    ("4 av 5", 4, "out_of"),
    ("4 von 5", 4, "out_of"),
    ("4 de 5", 4, "out_of"),
    ("le doy 4 de 5 estrellas", 4, "out_of"),
    ("4 Out Of 5", 4, "out_of"),
    ("4 stars out of 5", 4, "out_of"),
    ("four out of five", 4, "out_of"),
    ("four of five", 4, "out_of"),
    ("een van de vijf", 1, "out_of"),
    ("to av fem", 2, "out_of"),
    # keycaps
    ("4️⃣", 4, "keycap"),
    ("4⃣", 4, "keycap"),
    ("1️⃣", 1, "keycap"),
    ("5️⃣!", 5, "keycap"),
    # repeated star symbols
    ("⭐⭐⭐⭐", 4, "star_symbols"),
    ("⭐", 1, "star_symbols"),
    ("⭐️⭐️⭐️", 3, "star_symbols"),
    ("★★★☆☆", 3, "star_symbols"),
    ("★★★★★", 5, "star_symbols"),
    ("🌟🌟", 2, "star_symbols"),
    ("⭐ ⭐ ⭐", 3, "star_symbols"),
    ("⭐⭐⭐⭐ great", 4, "star_symbols"),
    # non-ASCII digits
    ("４", 4, "fullwidth"),
    ("４！", 4, "fullwidth"),
    ("④", 4, "fullwidth"),
    ("٤", 4, "fullwidth"),
    ("我给４分", 4, "fullwidth"),
    # number words: English, Dutch, Norwegian, German, Spanish, Chinese
    ("four", 4, "number_word"),
    ("Four", 4, "number_word"),
    ("FIVE!", 5, "number_word"),
    ("I'd give it a five", 5, "number_word"),
    ("one", 1, "number_word"),
    ("vier", 4, "number_word"),
    ("vijf", 5, "number_word"),
    ("drie", 3, "number_word"),
    ("twee", 2, "number_word"),
    ("een", 1, "number_word"),
    ("Een.", 1, "number_word"),
    ("één", 1, "number_word"),
    ("ÉÉN", 1, "number_word"),
    ("één want het duurde lang", 1, "number_word"),
    ("en", 1, "number_word"),
    ("ett", 1, "number_word"),
    ("én", 1, "number_word"),
    ("to", 2, "number_word"),
    ("To!", 2, "number_word"),
    ("tre", 3, "number_word"),
    ("fire", 4, "number_word"),
    ("fem", 5, "number_word"),
    ("eins", 1, "number_word"),
    ("ein", 1, "number_word"),
    ("zwei", 2, "number_word"),
    ("drei", 3, "number_word"),
    ("fünf", 5, "number_word"),
    ("FÜNF", 5, "number_word"),
    ("fuenf", 5, "number_word"),
    ("funf", 5, "number_word"),
    ("uno", 1, "number_word"),
    ("una", 1, "number_word"),
    ("dos", 2, "number_word"),
    ("tres", 3, "number_word"),
    ("cuatro", 4, "number_word"),
    ("cinco", 5, "number_word"),
    ("一", 1, "number_word"),
    ("二", 2, "number_word"),
    ("两", 2, "number_word"),
    ("三", 3, "number_word"),
    ("四", 4, "number_word"),
    ("五", 5, "number_word"),
    ("五！", 5, "number_word"),
    ("五分", 5, "number_word"),
    ("我给五分", 5, "number_word"),
    ("我给五分吧", 5, "number_word"),
    # digits before Chinese points
    ("我给4分", 4, "digits"),
    ("4分", 4, "digits"),
]


@pytest.mark.parametrize(("text", "value", "form"), ACCEPTED_1_5)
def test_accepted_on_one_to_five(text: str, value: int, form: str) -> None:
    assert parse_rating(text, 1, 5) == Rating(value, form)


ACCEPTED_OTHER_SCALES = [
    ("10", 0, 10, 10, "digits"),
    ("0", 0, 10, 0, "digits"),
    ("0", 0, 5, 0, "digits"),
    ("7", 1, 7, 7, "digits"),
    ("10/10", 1, 10, 10, "fraction"),
    ("0/10", 0, 10, 0, "fraction"),
    ("9/10", 0, 10, 9, "fraction"),
    ("6/7", 1, 7, 6, "fraction"),
    ("0/5", 0, 5, 0, "fraction"),
    ("8 out of 10", 1, 10, 8, "out_of"),
    ("8 uit 10", 0, 10, 8, "out_of"),
    ("nine out of ten", 1, 10, 9, "out_of"),
    ("10 stars", 1, 10, 10, "stars_word"),
    ("zero stars", 0, 5, 0, "stars_word"),
    ("7 estrellas", 1, 7, 7, "stars_word"),
    ("🔟", 1, 10, 10, "keycap"),
    ("🔟", 0, 10, 10, "keycap"),
    ("1️⃣0️⃣", 1, 10, 10, "keycap"),
    ("0️⃣", 0, 10, 0, "keycap"),
    ("7️⃣", 1, 7, 7, "keycap"),
    ("⭐⭐⭐⭐⭐⭐⭐", 1, 7, 7, "star_symbols"),
    ("★★★★★★☆☆☆☆", 1, 10, 6, "star_symbols"),
    ("⭐⭐", 0, 5, 2, "star_symbols"),
    ("１０", 1, 10, 10, "fullwidth"),
    ("０", 0, 10, 0, "fullwidth"),
    ("ten", 1, 10, 10, "number_word"),
    ("zero", 0, 10, 0, "number_word"),
    ("nul", 0, 10, 0, "number_word"),
    ("null", 0, 10, 0, "number_word"),
    ("cero", 0, 5, 0, "number_word"),
    ("零", 0, 10, 0, "number_word"),
    ("〇", 0, 10, 0, "number_word"),
    ("six", 1, 7, 6, "number_word"),
    ("seven", 1, 7, 7, "number_word"),
    ("eight", 1, 10, 8, "number_word"),
    ("nine", 1, 10, 9, "number_word"),
    ("zes", 1, 7, 6, "number_word"),
    ("zeven", 1, 7, 7, "number_word"),
    ("acht", 1, 10, 8, "number_word"),
    ("negen", 1, 10, 9, "number_word"),
    ("tien", 1, 10, 10, "number_word"),
    ("seks", 1, 7, 6, "number_word"),
    ("sju", 1, 7, 7, "number_word"),
    ("syv", 1, 7, 7, "number_word"),
    ("åtte", 1, 10, 8, "number_word"),
    ("atte", 1, 10, 8, "number_word"),
    ("ni", 1, 10, 9, "number_word"),
    ("ti", 1, 10, 10, "number_word"),
    ("sechs", 1, 7, 6, "number_word"),
    ("sieben", 1, 7, 7, "number_word"),
    ("neun", 1, 10, 9, "number_word"),
    ("zehn", 0, 10, 10, "number_word"),
    ("seis", 1, 7, 6, "number_word"),
    ("siete", 1, 7, 7, "number_word"),
    ("ocho", 1, 10, 8, "number_word"),
    ("nueve", 1, 10, 9, "number_word"),
    ("diez", 1, 10, 10, "number_word"),
    ("六", 1, 7, 6, "number_word"),
    ("七", 1, 7, 7, "number_word"),
    ("八", 1, 10, 8, "number_word"),
    ("九", 1, 10, 9, "number_word"),
    ("十", 1, 10, 10, "number_word"),
    ("十分", 0, 10, 10, "number_word"),
    ("我给十分", 1, 10, 10, "number_word"),
    ("十星", 1, 10, 10, "stars_word"),
    ("I'd give it a 9, the agent was great", 0, 10, 9, "digits"),
]


@pytest.mark.parametrize(("text", "minimum", "maximum", "value", "form"), ACCEPTED_OTHER_SCALES)
def test_accepted_on_other_scales(
    text: str, minimum: int, maximum: int, value: int, form: str
) -> None:
    assert parse_rating(text, minimum, maximum) == Rating(value, form)


# --- reprompts --------------------------------------------------------------------------------

REPROMPTS_1_5 = [
    # a number the reply says is not the rating
    ("not a 5", "qualified"),
    # nothing there
    ("", "empty"),
    ("   ", "empty"),
    ("\n\t ", "empty"),
    ("\u200b", "empty"),
    ("\u3000", "empty"),
    # out of range, including negatives and phone numbers
    ("0", "out_of_range"),
    ("6", "out_of_range"),
    ("45", "out_of_range"),
    ("-3", "out_of_range"),
    ("−3", "out_of_range"),
    ("great -5", "out_of_range"),
    ("(-2)", "out_of_range"),
    ("100", "out_of_range"),
    ("call 0612345678", "out_of_range"),
    ("9" * 5000, "out_of_range"),
    ("6/5", "out_of_range"),
    ("0 out of 5", "out_of_range"),
    ("6 stars", "out_of_range"),
    ("six", "out_of_range"),
    ("ten", "out_of_range"),
    ("zero", "out_of_range"),
    ("eleven", "out_of_range"),
    ("twenty", "out_of_range"),
    ("twenty-five", "out_of_range"),
    ("forty two", "out_of_range"),
    ("hundred", "out_of_range"),
    ("十", "out_of_range"),
    ("十五", "out_of_range"),
    ("五十分", "out_of_range"),
    ("７", "out_of_range"),
    ("6️⃣", "out_of_range"),
    ("🔟", "out_of_range"),
    ("⭐⭐⭐⭐⭐⭐", "out_of_range"),
    ("ni", "out_of_range"),
    # ranges
    ("3-4", "range_given"),
    ("3 - 4", "range_given"),
    ("3–4", "range_given"),
    ("3 to 4", "range_given"),
    ("3 or 4", "range_given"),
    ("4 or 5 stars", "range_given"),
    ("three or four", "range_given"),
    ("one or two", "range_given"),
    ("3 tot 4", "range_given"),
    ("3 tot en met 4", "range_given"),
    ("vier of vijf", "range_given"),
    ("drie of 4", "range_given"),
    ("3 til 4", "range_given"),
    ("3 eller 4", "range_given"),
    ("3 bis 4", "range_given"),
    ("3 oder 4", "range_given"),
    ("3 a 4", "range_given"),
    ("3 o 4", "range_given"),
    ("3~4", "range_given"),
    ("三到四分", "range_given"),
    ("三或者四", "range_given"),
    ("三四分", "range_given"),
    ("3到4", "range_given"),
    # decimals
    ("4.5", "decimal"),
    ("4,5", "decimal"),
    (".5", "decimal"),
    ("4.0", "decimal"),
    ("4.5/5", "decimal"),
    ("½", "decimal"),
    ("4½", "decimal"),
    ("4 and a half", "decimal"),
    ("four and a half stars", "decimal"),
    ("3 en een half", "decimal"),
    ("三星半", "decimal"),
    ("４．５", "decimal"),
    # several numbers
    ("4 and 5", "multiple_numbers"),
    ("4, 5", "multiple_numbers"),
    ("4 en 5", "multiple_numbers"),
    ("4 y 5", "multiple_numbers"),
    ("4 5", "multiple_numbers"),
    ("3 4 5", "multiple_numbers"),
    ("3:30", "multiple_numbers"),
    ("at 3pm, 4", "multiple_numbers"),
    ("waited 20 minutes, 4 stars", "multiple_numbers"),
    ("called three times, 4", "multiple_numbers"),
    ("four 4", "multiple_numbers"),
    ("4 ⭐⭐⭐", "multiple_numbers"),
    ("⭐ 5", "multiple_numbers"),
    ("4/5 and 3/5", "multiple_numbers"),
    ("5, great service! 10/10 would recommend", "multiple_numbers"),
    ("twenty 5", "multiple_numbers"),
    ("一二三", "multiple_numbers"),
    # a fraction or "out of" on a different scale
    ("10/10", "wrong_denominator"),
    ("4/10", "wrong_denominator"),
    ("3/4", "wrong_denominator"),
    ("4 out of 10", "wrong_denominator"),
    ("8 van de 10", "wrong_denominator"),
    ("nine out of ten", "wrong_denominator"),
    ("24/7", "wrong_denominator"),
    # no number at all, or only numbers that are not ratings
    ("not bad", "no_number"),
    ("great service, thanks", "no_number"),
    ("thanks to you", "no_number"),
    ("een goede service", "no_number"),
    ("en god opplevelse", "no_number"),
    ("uno de los mejores", "no_number"),
    ("ein guter Service", "no_number"),
    ("the agent was on fire", "no_number"),
    ("no one answered", "no_number"),
    ("ni bien ni mal", "no_number"),
    ("?", "no_number"),
    ("...", "no_number"),
    ("👍", "no_number"),
    ("☆☆☆☆☆", "no_number"),
    ("at 3pm", "no_number"),
    ("at 3 pm", "no_number"),
    ("5th", "no_number"),
    ("mp3", "no_number"),
    ("covid19", "no_number"),
    ("waited 20 minutes", "no_number"),
    ("3 times", "no_number"),
    ("50%", "no_number"),
    ("5%", "no_number"),
    ("$5", "no_number"),
    ("5€", "no_number"),
    ("5 dagen", "no_number"),
    ("3点", "no_number"),
    ("一般", "no_number"),
    ("一般般", "no_number"),
    ("十分满意", "no_number"),
    ("五分钟", "no_number"),
    ("三分之一", "no_number"),
    ("统一", "no_number"),
    ("#️⃣", "no_number"),
    (
        "I had to call three times before anybody picked up and then they put me on hold again",
        "no_number",
    ),
]


@pytest.mark.parametrize(("text", "reason"), REPROMPTS_1_5)
def test_reprompts_on_one_to_five(text: str, reason: str) -> None:
    assert parse_rating(text, 1, 5) == Reprompt(reason)


REPROMPTS_OTHER_SCALES = [
    ("0", 1, 10, "out_of_range"),
    ("11", 0, 10, "out_of_range"),
    ("8", 1, 7, "out_of_range"),
    ("6", 0, 5, "out_of_range"),
    ("-0", 0, 10, "out_of_range"),
    ("10/5", 0, 10, "wrong_denominator"),
    ("5/5", 1, 10, "wrong_denominator"),
    ("7/10", 1, 7, "wrong_denominator"),
    ("11/10", 1, 10, "out_of_range"),
    ("eight", 1, 7, "out_of_range"),
    ("eleven", 1, 10, "out_of_range"),
    ("⭐⭐⭐⭐⭐⭐⭐⭐", 1, 7, "out_of_range"),
    ("☆☆☆☆☆", 0, 5, "no_number"),
    ("7.5", 0, 10, "decimal"),
    ("9-10", 0, 10, "range_given"),
    ("8 or 9", 1, 10, "range_given"),
    ("十分满意", 0, 10, "no_number"),
]


@pytest.mark.parametrize(("text", "minimum", "maximum", "reason"), REPROMPTS_OTHER_SCALES)
def test_reprompts_on_other_scales(text: str, minimum: int, maximum: int, reason: str) -> None:
    assert parse_rating(text, minimum, maximum) == Reprompt(reason)


def test_ten_out_of_ten_on_a_five_point_scale_is_consistently_wrong_denominator() -> None:
    for text in ("10/10", "10 / 10", "10 out of 10", "10 van de 10", "ten out of ten"):
        assert parse_rating(text, 1, 5) == Reprompt("wrong_denominator"), text


def test_a_long_reply_with_exactly_one_digit_is_read() -> None:
    text = "The agent was patient and explained everything twice, which I appreciated. " * 3
    assert len(text) > 160
    assert parse_rating(text + "I'd say 4.", 1, 5) == Rating(4, "digits")
    assert parse_rating(text + "I'd say 4, maybe 5", 1, 5) == Reprompt("multiple_numbers")


def test_a_long_reply_does_not_take_a_bare_number_word_as_the_rating() -> None:
    text = "The agent was patient and explained everything to me, which I appreciated a lot, "
    assert parse_rating(text + "four", 1, 5) == Reprompt("no_number")
    assert parse_rating(text + "four stars", 1, 5) == Rating(4, "stars_word")
    assert parse_rating(text + "four out of five", 1, 5) == Rating(4, "out_of")
    assert parse_rating(text + "four times, 4", 1, 5) == Reprompt("multiple_numbers")


def test_weak_words_alone_are_numbers_but_in_sentences_are_words() -> None:
    for word, value in (("een", 1), ("en", 1), ("to", 2), ("ni", 9), ("ti", 10), ("fire", 4)):
        assert parse_rating(word, 1, 10) == Rating(value, "number_word")
        assert parse_rating(f"thanks {word} you", 1, 10) == Reprompt("no_number")


def test_every_reason_and_form_in_the_tables_is_a_documented_one() -> None:
    reasons = {r for _, r in REPROMPTS_1_5} | {r for *_, r in REPROMPTS_OTHER_SCALES}
    forms = {f for *_, f in ACCEPTED_1_5} | {f for *_, f in ACCEPTED_OTHER_SCALES}
    assert reasons == set(REPROMPT_REASONS)
    assert forms == set(RATING_FORMS)


# --- numbers the reply itself says are not the rating ------------------------------------------

# (reply, survey locale, reason) on a 1-5 scale. Each is checked with the survey's locale and,
# unless the rule depends on the locale, without one.
NOT_THE_RATING = [
    # negated
    ("would not give 5", "en", "qualified"),
    ("not a 5", "en", "qualified"),
    ("definitely not 1", "en", "qualified"),
    ("I wouldn't give it a 5", "en", "qualified"),
    ("I don’t think it's a 5", "en", "qualified"),
    ("never a 5", "en", "qualified"),
    ("no 5", "en", "qualified"),
    ("not five stars", "en", "qualified"),
    ("not 4 out of 5", "en", "qualified"),
    ("not ⭐⭐⭐⭐⭐", "en", "qualified"),
    ("niet 5", "nl", "qualified"),
    ("geen 5", "nl", "qualified"),
    ("ik zou geen 5 geven", "nl", "qualified"),
    ("een 5 geef ik niet", "nl", "qualified"),
    ("ikke 5", "nb", "qualified"),
    ("ikke en 5", "nb", "qualified"),
    ("fem vil jeg ikke gi", "nb", "qualified"),
    ("nicht 5", "de", "qualified"),
    ("keine 5", "de", "qualified"),
    ("eine 5 gebe ich nicht", "de", "qualified"),
    ("no 5", "es", "qualified"),
    ("no es un 5", "es", "qualified"),
    ("no le daría un 5", "es", "qualified"),
    ("pas 5", "fr", "qualified"),
    ("ce n'est pas un 5", "fr", "qualified"),
    ("je ne mets pas 5", "fr", "qualified"),
    ("não 5", "pt", "qualified"),
    ("não é um 5", "pt", "qualified"),
    ("não dou 5", "pt", "qualified"),
    ("不是5", "zh", "qualified"),
    ("不给5", "zh", "qualified"),
    ("不会给五星", "zh", "qualified"),
    ("没有5分", "zh", "qualified"),
    # compared
    ("less than 3", "en", "qualified"),
    ("more than 4", "en", "qualified"),
    ("at least 4", "en", "qualified"),
    ("under 3", "en", "qualified"),
    ("above 2", "en", "qualified"),
    ("better than 3", "en", "qualified"),
    ("more than a 3", "en", "qualified"),
    ("almost 5", "en", "qualified"),
    ("4 or more", "en", "qualified"),
    ("3 or less", "en", "qualified"),
    ("4 stars at least", "en", "qualified"),
    ("4+", "en", "qualified"),
    ("<3", "en", "qualified"),
    (">= 4", "en", "qualified"),
    ("minder dan 3", "nl", "qualified"),
    ("meer dan 4", "nl", "qualified"),
    ("minstens 4", "nl", "qualified"),
    ("4 of meer", "nl", "qualified"),
    ("mindre enn 3", "nb", "qualified"),
    ("mer enn 4", "nb", "qualified"),
    ("weniger als 3", "de", "qualified"),
    ("mehr als 4", "de", "qualified"),
    ("mindestens 4", "de", "qualified"),
    ("4 oder mehr", "de", "qualified"),
    ("menos de 3", "es", "qualified"),
    ("más de 4", "es", "qualified"),
    ("al menos 4", "es", "qualified"),
    ("4 o más", "es", "qualified"),
    ("moins de 3", "fr", "qualified"),
    ("plus de 4", "fr", "qualified"),
    ("au moins 4", "fr", "qualified"),
    ("menos de 3", "pt", "qualified"),
    ("mais de 4", "pt", "qualified"),
    ("pelo menos 4", "pt", "qualified"),
    ("4 ou mais", "pt", "qualified"),
    ("少于3", "zh", "qualified"),
    ("低于3", "zh", "qualified"),
    ("超过4", "zh", "qualified"),
    ("大于4", "zh", "qualified"),
    ("至少给4分", "zh", "qualified"),
    ("5分以上", "zh", "qualified"),
    # counting something else
    ("two thumbs up", "en", "no_number"),
    ("3 people", "en", "no_number"),
    ("5 euro", "en", "no_number"),
    ("helped 3 people, 4", "en", "multiple_numbers"),
    ("twee duimen omhoog", "nl", "no_number"),
    ("zwei Daumen hoch", "de", "no_number"),
    ("dos pulgares arriba", "es", "no_number"),
    ("deux pouces", "fr", "no_number"),
    ("dois polegares", "pt", "no_number"),
    ("3人", "zh", "no_number"),
    # a German school grade, where 1 is the best
    ("Note 1", "de", "wrong_denominator"),
    ("Schulnote 2", "de", "wrong_denominator"),
    ("Note: 1", "de", "wrong_denominator"),
    ("ich gebe die Note 1", "de", "wrong_denominator"),
]


@pytest.mark.parametrize(("text", "locale", "reason"), NOT_THE_RATING)
def test_a_number_the_reply_says_is_not_the_rating(text: str, locale: str, reason: str) -> None:
    assert parse_rating(text, 1, 5, locale=locale) == Reprompt(reason)
    assert parse_rating(text, 1, 5) == Reprompt(reason)


# (reply, survey locale, scale, expected): rules that hold only on a survey in one language.
BY_LOCALE = [
    ("4 of 5", "nl", (1, 5), Reprompt("range_given")),
    ("4 of 5", "nl-BE", (1, 5), Reprompt("range_given")),
    ("8 of 10", "nl", (1, 10), Reprompt("range_given")),
    ("4 of 5", "en", (1, 5), Rating(4, "out_of")),
    ("4 of 5", None, (1, 5), Rating(4, "out_of")),
    ("4 van de 5", "nl", (1, 5), Rating(4, "out_of")),
    ("4 van 5", "nl", (1, 5), Rating(4, "out_of")),
    ("4 out of 5", "nl", (1, 5), Rating(4, "out_of")),
    ("fast 5", "de", (1, 5), Reprompt("qualified")),
    ("fast 5", "en", (1, 5), Rating(5, "digits")),
    ("note 4", "fr", (1, 5), Rating(4, "digits")),
    ("um", "pt", (1, 5), Rating(1, "number_word")),
    ("um", "en", (1, 5), Reprompt("no_number")),
    ("um", None, (1, 5), Reprompt("no_number")),
]


@pytest.mark.parametrize(("text", "locale", "scale", "expected"), BY_LOCALE)
def test_rules_that_depend_on_the_survey_language(
    text: str, locale: str | None, scale: tuple[int, int], expected: Rating | Reprompt
) -> None:
    assert parse_rating(text, *scale, locale=locale) == expected


# Replies near a negation, comparison or count that still give their number.
STILL_READ = [
    ("4 out of 5", "en", 4, "out_of"),
    ("fire av fem", "nb", 4, "out_of"),
    ("I'd say 4", "en", 4, "digits"),
    ("not bad, 4", "en", 4, "digits"),
    ("not bad but 4", "en", 4, "digits"),
    ("not so bad 4", "en", 4, "digits"),
    ("No, 5", "en", 5, "digits"),
    ("no problems at all, 5 stars", "en", 5, "stars_word"),
    ("um, 4", "en", 4, "digits"),
    ("niet slecht, 4", "nl", 4, "digits"),
    ("onze service was goed, 4", "nl", 4, "digits"),
    ("nicht schlecht, 4", "de", 4, "digits"),
    ("pas mal, 4", "fr", 4, "digits"),
    ("tout neuf, 5", "fr", 5, "digits"),
    ("Note 4/5", "de", 4, "fraction"),
    ("Note: 4 von 5", "de", 4, "out_of"),
    ("不错，5分", "zh", 5, "digits"),
    ("不错5分", "zh", 5, "digits"),
    ("还不错给5分", "zh", 5, "digits"),
]


@pytest.mark.parametrize(("text", "locale", "value", "form"), STILL_READ)
def test_still_read_next_to_a_negation_or_comparison(
    text: str, locale: str, value: int, form: str
) -> None:
    assert parse_rating(text, 1, 5, locale=locale) == Rating(value, form)


def test_a_measured_number_is_never_recorded_next_to_the_rating() -> None:
    assert parse_rating("waited 20 minutes, 2", 1, 5) == Reprompt("multiple_numbers")
    assert parse_rating("waited 20 minutes, 2", 1, 100) == Reprompt("multiple_numbers")


# French and Portuguese numbers: (reply, scale, value or reprompt reason, form)
FRENCH_AND_PORTUGUESE = [
    ("quatre", (1, 5), 4, "number_word"),
    ("cinq", (1, 5), 5, "number_word"),
    ("deux", (1, 5), 2, "number_word"),
    ("trois étoiles", (1, 5), 3, "stars_word"),
    ("une étoile", (1, 5), 1, "stars_word"),
    ("4 sur 5", (1, 5), 4, "out_of"),
    ("quatre sur cinq", (1, 5), 4, "out_of"),
    ("huit", (1, 10), 8, "number_word"),
    ("neuf", (1, 10), 9, "number_word"),
    ("dix", (1, 10), 10, "number_word"),
    ("sept", (1, 7), 7, "number_word"),
    ("dois", (1, 5), 2, "number_word"),
    ("duas estrelas", (1, 5), 2, "stars_word"),
    ("uma estrela", (1, 5), 1, "stars_word"),
    ("três", (1, 5), 3, "number_word"),
    ("quatro", (1, 5), 4, "number_word"),
    ("quatro de cinco", (1, 5), 4, "out_of"),
    ("sete", (1, 7), 7, "number_word"),
    ("oito", (1, 10), 8, "number_word"),
    ("nove", (1, 10), 9, "number_word"),
    ("dez", (1, 10), 10, "number_word"),
    ("dix-sept", (1, 10), "out_of_range", None),
    ("4 et demi", (1, 5), "decimal", None),
    ("quatro e meia", (1, 5), "decimal", None),
    ("3 ou 4", (1, 5), "range_given", None),
    ("un bon service", (1, 5), "no_number", None),
    ("uma boa experiência", (1, 5), "no_number", None),
    ("c'est tout neuf", (1, 10), "no_number", None),
    ("onze service was goed", (1, 5), "no_number", None),
]


@pytest.mark.parametrize(("text", "scale", "outcome", "form"), FRENCH_AND_PORTUGUESE)
def test_french_and_portuguese(
    text: str, scale: tuple[int, int], outcome: int | str, form: str | None
) -> None:
    if isinstance(outcome, str):
        assert parse_rating(text, *scale) == Reprompt(outcome)
    else:
        assert form is not None
        assert parse_rating(text, *scale) == Rating(outcome, form)


# --- properties -------------------------------------------------------------------------------

scales = st.sampled_from(SCALES)
fragments = st.sampled_from(
    [
        "4", "5", "10", "0", "-", "/", ".", ",", " ", "  ", "!", "?", "%", "$", "½",
        "4️⃣", "5⃣", "🔟", "#️⃣", "\ufe0f", "\u20e3", "⭐", "★", "☆", "🌟",
        "four", "een", "één", "en", "to", "ni", "fire", "fünf", "cinco", "zehn", "twenty",
        "half", "stars", "ster", "out of", "of", "van de", "av", "de", "or", "and", "pm",
        "minutes", "五", "十", "分", "星", "颗", "一般", "到", "或者", "钟",
        "４", "④", "٤", "²", "Ⅳ",
    ]
)  # fmt: skip
mixed_text = st.lists(fragments | st.text(max_size=3), max_size=12).map("".join)


@settings(max_examples=400)
@given(text=st.text(), scale=scales)
def test_never_raises_and_stays_in_range_for_any_text(text: str, scale: tuple[int, int]) -> None:
    result = parse_rating(text, *scale)
    _check(result, *scale)


@settings(max_examples=400)
@given(text=mixed_text, scale=scales)
def test_never_raises_and_stays_in_range_for_rating_like_text(
    text: str, scale: tuple[int, int]
) -> None:
    result = parse_rating(text, *scale)
    _check(result, *scale)


def _check(result: Rating | Reprompt, minimum: int, maximum: int) -> None:
    if isinstance(result, Rating):
        assert minimum <= result.value <= maximum
        assert result.form in RATING_FORMS
    else:
        assert isinstance(result, Reprompt)
        assert result.reason in REPROMPT_REASONS


@given(data=st.data(), scale=scales)
def test_every_number_on_the_scale_reads_back(data: st.DataObject, scale: tuple[int, int]) -> None:
    minimum, maximum = scale
    n = data.draw(st.integers(minimum, maximum))
    assert parse_rating(str(n), minimum, maximum) == Rating(n, "digits")
    assert parse_rating(f"{n}/{maximum}", minimum, maximum) == Rating(n, "fraction")
    assert parse_rating(f"{n} out of {maximum}", minimum, maximum) == Rating(n, "out_of")


@given(n=st.integers(-1000, 1000), scale=scales)
def test_any_integer_is_either_its_rating_or_out_of_range(n: int, scale: tuple[int, int]) -> None:
    minimum, maximum = scale
    expected = Rating(n, "digits") if minimum <= n <= maximum else Reprompt("out_of_range")
    assert parse_rating(str(n), minimum, maximum) == expected


QUALIFIERS = [
    "not", "not a", "would not give it a", "don't give", "niet", "geen", "nicht", "keine",
    "ikke", "no es un", "pas", "não", "less than", "more than", "at least", "meer dan",
    "mindre enn", "weniger als", "más de", "plus de", "mais de", "不是", "不给", "少于", "超过",
]  # fmt: skip


@given(
    data=st.data(),
    scale=scales,
    qualifier=st.sampled_from(QUALIFIERS),
    tail=st.sampled_from(["", "!", " stars", " please", "/{max}", " out of {max}"]),
)
def test_a_negated_or_compared_number_is_never_recorded(
    data: st.DataObject, scale: tuple[int, int], qualifier: str, tail: str
) -> None:
    minimum, maximum = scale
    n = data.draw(st.integers(minimum, maximum))
    space = "" if qualifier[-1] > "\u2e80" else " "
    text = f"{qualifier}{space}{n}{tail.format(max=maximum)}"
    assert not isinstance(parse_rating(text, minimum, maximum), Rating), text


# --- keywords -----------------------------------------------------------------------------------

KEYWORDS = [
    ("STOP", "stop"),
    ("stop", "stop"),
    ("Stop.", "stop"),
    ("  stop!  ", "stop"),
    ("STOPALL", "stop"),
    ("UNSUBSCRIBE", "stop"),
    ("cancel", "stop"),
    ("END", "stop"),
    ("Quit", "stop"),
    ("REVOKE", "stop"),
    ("OPTOUT", "stop"),
    ("opt out", "stop"),
    ("OPT  OUT", "stop"),
    ("opt-out", "stop"),
    ("Opt-Out!", "stop"),
    ("ＳＴＯＰ", "stop"),
    ("START", "start"),
    ("start", "start"),
    ("UNSTOP", "start"),
    ("yes", "start"),
    ("Yes!", "start"),
    ("HELP", "help"),
    ("help?", "help"),
    ("INFO", "help"),
    ("info.", "help"),
]


@pytest.mark.parametrize(("text", "keyword"), KEYWORDS)
def test_keywords(text: str, keyword: str) -> None:
    assert parse_keyword(text) == keyword


NOT_KEYWORDS = [
    "",
    "   ",
    "!",
    "stop it please",
    "please stop",
    "don't stop",
    "stopp",
    "stops",
    "st op",
    "yes please",
    "yess",
    "help me",
    "information",
    "the end",
    "4",
    "score",
    "opt",
    "out",
    "optout now",
]


@pytest.mark.parametrize("text", NOT_KEYWORDS)
def test_not_keywords(text: str) -> None:
    assert parse_keyword(text) is None


# --- lead score requests --------------------------------------------------------------------------

SCORE_REQUESTS = [
    ("SCORE", ""),
    ("score", ""),
    ("Score.", ""),
    ("  SCORE  ", ""),
    ("score week", "week"),
    ("SCORE WEEK", "week"),
    ("Score 7d by agent", "7d by agent"),
    ("score   7d   BY   Agent", "7d by agent"),
    ("score: month", "month"),
    ("ＳＣＯＲＥ week", "week"),
]


@pytest.mark.parametrize(("text", "query"), SCORE_REQUESTS)
def test_score_requests(text: str, query: str) -> None:
    assert parse_score_request(text) == query


@pytest.mark.parametrize(
    "text", ["", " ", "scores", "scored 7d", "my score", "what is the score", "4", "STOP"]
)
def test_not_score_requests(text: str) -> None:
    assert parse_score_request(text) is None


@given(text=st.text())
def test_keyword_and_score_parsers_never_raise(text: str) -> None:
    assert parse_keyword(text) in (None, "stop", "start", "help")
    query = parse_score_request(text)
    assert query is None or query == query.lower()
