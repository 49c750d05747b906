"""Wiring: settings → store → surveys → channels → service. The one place that knows all parts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.channel import Channel
from bot.service import Service
from bot.settings import Settings
from bot.surveys import Survey, builtin_surveys, load_surveys
from storage.db import prepare


def surveys_from(settings: Settings) -> dict[str, Survey]:
    if settings.csat_surveys_file:
        return load_surveys(Path(settings.csat_surveys_file))
    return builtin_surveys()


def default_channels(settings: Settings) -> dict[str, Channel]:
    from channels.console import ConsoleChannel

    channels: dict[str, Channel] = {"console": ConsoleChannel()}
    return channels


def build_service(settings: Settings, channels: Mapping[str, Channel] | None = None) -> Service:
    engine = prepare(settings.csat_database_url)
    return Service(
        settings=settings,
        engine=engine,
        surveys=surveys_from(settings),
        channels=dict(channels) if channels is not None else default_channels(settings),
    )
