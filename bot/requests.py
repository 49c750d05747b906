"""Validated inputs of the use cases, shared by the HTTP API, the CLI and embedding code."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from bot.durations import parse_duration

LONGEST_DELAY = timedelta(days=30)


def _printable(value: str) -> str:
    """Refuse control characters (NUL above all: PostgreSQL cannot store it in text)."""
    if any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_printable),
]


class SurveyRequest(BaseModel):
    """One trigger: who to ask, over which channel, about which interaction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Annotated[
        str,
        StringConstraints(strip_whitespace=True, to_lower=True, max_length=16),
        AfterValidator(_printable),
    ]
    to: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
        AfterValidator(_printable),
    ]
    interaction_id: Name
    survey: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(_printable)
    ] = "support"
    agent: Name | None = None
    team: Name | None = None
    touchpoint: Name | None = None
    locale: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, max_length=35), AfterValidator(_printable)
        ]
        | None
    ) = None
    delay: timedelta = Field(default=timedelta(0))
    customer_id: Name | None = Field(
        default=None,
        description="Your id for the person; links throttling across channels when given.",
    )

    @field_validator("delay", mode="before")
    @classmethod
    def _delay(cls, value: object) -> object:
        if value is None:
            return timedelta(0)
        if isinstance(value, str):
            return parse_duration(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            # Checked before timedelta sees it: 1e20 seconds overflows it, 1e309 is infinity.
            if not math.isfinite(value) or not 0 <= value <= LONGEST_DELAY.total_seconds():
                raise ValueError('delay must be between 0 and 30 days (in seconds, or e.g. "10m")')
            return timedelta(seconds=value)
        return value

    @field_validator("delay")
    @classmethod
    def _delay_range(cls, value: timedelta) -> timedelta:
        if value < timedelta(0) or value > LONGEST_DELAY:
            raise ValueError("delay must be between 0 and 30 days")
        return value
