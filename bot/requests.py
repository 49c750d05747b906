"""Validated inputs of the use cases, shared by the HTTP API, the CLI and embedding code."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bot.surveys import parse_duration

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SurveyRequest(BaseModel):
    """One trigger: who to ask, over which channel, about which interaction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=16)]
    to: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    interaction_id: Name
    survey: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = "support"
    agent: Name | None = None
    team: Name | None = None
    touchpoint: Name | None = None
    locale: Annotated[str, StringConstraints(strip_whitespace=True, max_length=35)] | None = None
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
            if value < 0:
                raise ValueError("delay must not be negative")
            return timedelta(seconds=value)
        return value

    @field_validator("delay")
    @classmethod
    def _delay_range(cls, value: timedelta) -> timedelta:
        if value < timedelta(0) or value > timedelta(days=30):
            raise ValueError("delay must be between 0 and 30 days")
        return value
