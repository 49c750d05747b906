"""Surveys, in one import: the model (:mod:`bot.survey_model`), the built-in surveys
(:mod:`bot.builtin_surveys`), survey files (:mod:`bot.survey_files`, whose docstring describes
the format), languages (:mod:`bot.locales`) and durations (:mod:`bot.durations`).

A survey is one scored question, optionally followed by a second question (usually a free-text
"why?") that may be conditional on the first answer. Keeping surveys this short is deliberate:
every extra message over SMS costs money and response rate.
"""

from __future__ import annotations

from bot.builtin_surveys import builtin_surveys
from bot.durations import parse_duration
from bot.locales import DEFAULT_BRANDS, SUPPORTED_LOCALES, brand_for, normalise_locale
from bot.survey_files import load_surveys
from bot.survey_model import (
    DEFAULT_SCALES,
    Condition,
    Question,
    Scale,
    Survey,
    default_scale,
)
from storage.values import QUESTION_KINDS, SCORED_KINDS

__all__ = [
    "DEFAULT_BRANDS",
    "DEFAULT_SCALES",
    "QUESTION_KINDS",
    "SCORED_KINDS",
    "SUPPORTED_LOCALES",
    "Condition",
    "Question",
    "Scale",
    "Survey",
    "brand_for",
    "builtin_surveys",
    "default_scale",
    "load_surveys",
    "normalise_locale",
    "parse_duration",
]
