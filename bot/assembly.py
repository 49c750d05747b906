"""Wiring: settings -> adapters -> store -> service. The one place that knows every part."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.channel import Channel
from bot.hub import ChannelAdapter
from bot.service import Service
from bot.settings import Settings
from bot.surveys import Survey, builtin_surveys, load_surveys
from storage.db import prepare


def surveys_from(settings: Settings) -> dict[str, Survey]:
    if settings.csat_surveys_file:
        return load_surveys(Path(settings.csat_surveys_file))
    return builtin_surveys()


def build_adapters(settings: Settings) -> list[ChannelAdapter]:
    """One adapter per enabled channel (imports stay lazy so an unused SDK is never loaded)."""
    from channels.console import ConsoleAdapter

    adapters: list[ChannelAdapter] = [ConsoleAdapter()]
    enabled = settings.enabled_channels()
    if "sms" in enabled:
        from channels.sms import build_adapter as build_sms

        adapters.append(build_sms(settings))
    if "slack" in enabled:
        from channels.slack import build_adapter as build_slack

        adapters.append(build_slack(settings))
    if "telegram" in enabled:
        from channels.telegram import build_adapter as build_telegram

        adapters.append(build_telegram(settings))
    return adapters


def build_service(
    settings: Settings,
    channels: Mapping[str, Channel] | None = None,
    adapters: Sequence[ChannelAdapter] | None = None,
) -> Service:
    engine = prepare(settings.csat_database_url)
    if channels is None:
        found = adapters if adapters is not None else build_adapters(settings)
        channels = {adapter.channel.name: adapter.channel for adapter in found}
    return Service(
        settings=settings,
        engine=engine,
        surveys=surveys_from(settings),
        channels=dict(channels),
    )
