"""Wiring: settings -> adapters -> store -> service. The one place that knows every part."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.settings import Settings
from bot.surveys import Survey, builtin_surveys, load_surveys
from storage.errors import DatabaseSettingError
from storage.sql_store import SqlStore

if TYPE_CHECKING:  # the CLI's read-only commands must not pay for the service's imports
    from bot.channel import Channel
    from bot.comments import Comments
    from bot.hub import ChannelAdapter
    from bot.reports import Reports
    from bot.service import Service


def open_store(settings: Settings) -> SqlStore:
    """The database, migrated (SQLite) or checked (PostgreSQL); a bad URL is a ConfigError."""
    try:
        return SqlStore.open(settings.csat_database_url)
    except DatabaseSettingError as exc:
        raise ConfigError(str(exc)) from None


def surveys_from(settings: Settings) -> dict[str, Survey]:
    if settings.csat_surveys_file:
        return load_surveys(Path(settings.csat_surveys_file))
    return builtin_surveys()


def build_adapters(settings: Settings, store: SqlStore | None = None) -> list[ChannelAdapter]:
    """One adapter per enabled channel (imports stay lazy so an unused SDK is never loaded)."""
    from channels.console import ConsoleAdapter
    from channels.link import LinkAdapter

    adapters: list[ChannelAdapter] = [ConsoleAdapter(), LinkAdapter()]
    enabled = settings.enabled_channels()
    if "sms" in enabled:
        from channels.sms import build_adapter as build_sms

        adapters.append(build_sms(settings))
    if "slack" in enabled:
        from channels.slack import build_adapter as build_slack

        adapters.append(build_slack(settings, store))
    if "telegram" in enabled:
        from channels.telegram import build_adapter as build_telegram

        adapters.append(build_telegram(settings))
    if "email" in enabled:
        from channels.email import build_adapter as build_email

        adapters.append(build_email(settings))
    return adapters


def build_service(
    settings: Settings,
    channels: Mapping[str, Channel] | None = None,
    adapters: Sequence[ChannelAdapter] | None = None,
    store: SqlStore | None = None,
) -> Service:
    from bot.service import Service

    own = store is None
    store = store or open_store(settings)
    if channels is None:
        try:
            found = adapters if adapters is not None else build_adapters(settings, store)
        except ConfigError:
            if own:
                store.dispose()
            raise
        channels = {adapter.channel.name: adapter.channel for adapter in found}
    return Service(
        settings=settings,
        store=store,
        surveys=surveys_from(settings),
        channels=dict(channels),
    )


def build_all(settings: Settings) -> tuple[Service, list[ChannelAdapter]]:
    """The store, the adapters on it, and the service over both: what ``csat serve`` runs."""
    store = open_store(settings)
    try:
        adapters = build_adapters(settings, store)
    except ConfigError:
        store.dispose()  # the command stops here: no connection is left behind
        raise
    return build_service(settings, adapters=adapters, store=store), adapters


def build_comments(settings: Settings) -> Comments:
    """The comments feed alone, for ``csat comments``."""
    from bot.comments import Comments
    from bot.context import ServiceContext

    store = open_store(settings)
    return Comments(
        ServiceContext(settings=settings, store=store, surveys=surveys_from(settings), channels={})
    )


def build_reports(settings: Settings) -> Reports:
    """Scores only, for ``csat score``: no channel, no SDK, none of the conversation code."""
    from bot.context import ServiceContext
    from bot.reports import Reports

    store = open_store(settings)
    return Reports(
        ServiceContext(settings=settings, store=store, surveys=surveys_from(settings), channels={})
    )
