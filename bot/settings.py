"""Settings from the environment or a ``.env`` file (PRODUCT §6).

Secrets are ``SecretStr`` so they never reach a log or a repr. A channel is on when its settings are
present; a half-configured channel is a start-up error naming the missing key, because a silently
disabled channel would lose surveys without anyone noticing.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.durations import parse_duration
from bot.errors import ConfigError

CHANNEL_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # channel: (keys that all must be set, keys of which one is enough, keys that only go along)
    "sms": (
        ("twilio_account_sid", "twilio_auth_token"),
        ("twilio_messaging_service_sid", "twilio_from_number"),
        (),
    ),
    "slack": (
        ("slack_signing_secret",),
        ("slack_bot_token", "slack_client_id"),
        ("slack_app_token", "slack_client_secret"),
    ),
    "telegram": (("telegram_bot_token",), (), ("telegram_webhook_secret",)),
    "email": (("csat_smtp_url", "csat_email_from"), (), ()),
}
PAIRS = (("slack_client_id", "slack_client_secret"),)
MIN_TOKEN_LENGTH = 16


DIGEST_SCHEDULE = re.compile(
    r"(daily|weekly (mon|tue|wed|thu|fri|sat|sun)) ([01]\d|2[0-3]):([0-5]\d)"
)


@dataclass(frozen=True)
class Lead:
    channel: str
    address: str


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    csat_database_url: str = "sqlite:///csat.db"
    csat_timezone: str = "UTC"
    csat_default_region: str = "US"
    csat_public_url: str | None = None
    csat_api_token: SecretStr | None = None
    csat_leads: str = ""
    # Blank means "not set": each text then names "our team" in its own language
    # (bot.surveys.DEFAULT_BRANDS). A brand that is set is used as written in every language.
    csat_brand: str = ""
    csat_contact: str = ""
    csat_surveys_file: str | None = None
    csat_hash_key: SecretStr | None = None
    csat_retention_days: int = Field(default=90, ge=1)
    csat_max_body_bytes: int = Field(default=1_000_000, ge=1024)
    csat_sender_interval: float = Field(default=2.0, gt=0)
    # How long a send that keeps failing for now (429, 5xx, network) is retried before the
    # survey is given up, counted from its first failure; and a sender's claim on due rows.
    csat_send_retry_for: str = "24h"
    csat_claim_lease: float = Field(default=120.0, ge=5)
    # The most sends of one channel in flight at once per sender (1: one after the other).
    csat_send_in_flight: int = Field(default=8, ge=1, le=64)
    csat_quiet_start: str = "09:00"
    csat_quiet_end: str = "20:00"

    csat_alert_below: int = 2
    # Who may claim and resolve alerts besides the leads (channel:address, comma-separated), and
    # after how long an alert nobody claimed is posted again, once ("off": never).
    csat_agents: str = ""
    csat_follow_up_after: str = "4h"
    slack_alert_channel: str | None = None
    telegram_alert_chat: str | None = None
    # Scheduled digests: "daily 09:00" or "weekly mon 09:00" in CSAT_TIMEZONE; blank is off.
    csat_digest: str = ""
    slack_digest_channel: str | None = None
    telegram_digest_chat: str | None = None

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_from_number: str | None = None
    twilio_api_url: str = "https://api.twilio.com"

    # E-mail: smtp://user:password@host:587 (STARTTLS when offered) or smtps://...:465
    csat_smtp_url: SecretStr | None = None
    csat_email_from: str | None = None  # "Acme Support <support@acme.example>" or an address

    # Signed outbound webhooks: one or more URLs (comma-separated) and the signing secret.
    csat_webhook_urls: str = ""
    csat_webhook_secret: SecretStr | None = None

    @field_validator("csat_webhook_urls")
    @classmethod
    def _webhook_urls(cls, value: str) -> str:
        for url in _split(value):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    def webhook_urls(self) -> list[str]:
        """The receivers; a ConfigError when they are set without a usable secret."""
        urls = _split(self.csat_webhook_urls)
        if not urls:
            return []
        secret = self.csat_webhook_secret
        if secret is None or len(secret.get_secret_value().strip()) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                f"CSAT_WEBHOOK_SECRET is required when CSAT_WEBHOOK_URLS is set "
                f"(at least {MIN_TOKEN_LENGTH} characters)"
            )
        return urls

    @field_validator("csat_smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("write smtp://user:password@host:587 or smtps://user:password@host")
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError as exc:
            raise ValueError("the port is not a number") from exc
        return value

    @field_validator("csat_email_from")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from email.utils import parseaddr

        from email_validator import EmailNotValidError, validate_email

        _, address = parseaddr(value)
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not a sender address: {exc}") from None
        return value.strip()

    @field_validator("csat_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("csat_digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        """Checked at start-up, so a typo fails there and not at nine the next morning."""
        value = " ".join(value.lower().split())
        if value and not DIGEST_SCHEDULE.fullmatch(value):
            raise ValueError(f"{value!r} is not 'daily HH:MM' or 'weekly <mon..sun> HH:MM'")
        return value

    @field_validator("csat_brand")
    @classmethod
    def _brand(cls, value: str) -> str:
        """Surrounding spaces dropped, so a blank or space-only value counts as not set."""
        return value.strip()

    @field_validator("csat_database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:")):
            raise ValueError("expected sqlite:///path or postgresql://user@host/db")
        return value

    @field_validator("csat_api_token", mode="before")
    @classmethod
    def _token(cls, value: object) -> object:
        """Blank means "not set" (the API stays closed); a short token is refused, so a typo or
        a placeholder can never open the API."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise ValueError("must be a string")
        token = raw.strip()
        if not token:
            return None
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"must be at least {MIN_TOKEN_LENGTH} characters (make one with: python -c "
                '"import secrets; print(secrets.token_urlsafe(32))")'
            )
        return token

    @field_validator("csat_send_retry_for")
    @classmethod
    def _duration(cls, value: str) -> str:
        if parse_duration(value) <= timedelta(0):
            raise ValueError("must be longer than 0")
        return value

    @field_validator("csat_follow_up_after")
    @classmethod
    def _follow_up_after(cls, value: str) -> str:
        if value.strip().lower() == "off":
            return "off"
        if parse_duration(value) <= timedelta(0):
            raise ValueError('must be longer than 0, or "off"')
        return value

    def follow_up_after(self) -> timedelta | None:
        """When an unclaimed alert is posted again; None when reminders are off."""
        if self.csat_follow_up_after == "off":
            return None
        return parse_duration(self.csat_follow_up_after)

    def send_retry_for(self) -> timedelta:
        return parse_duration(self.csat_send_retry_for)

    @field_validator("csat_quiet_start", "csat_quiet_end")
    @classmethod
    def _clock(cls, value: str) -> str:
        parts = value.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError("expected HH:MM")
        if not (0 <= int(parts[0]) <= 24 and 0 <= int(parts[1]) < 60):
            raise ValueError("expected HH:MM")
        return value

    def leads(self) -> frozenset[Lead]:
        return _people(self.csat_leads, "CSAT_LEADS")

    def agents(self) -> frozenset[Lead]:
        """Who may claim and resolve alerts without being a lead."""
        return _people(self.csat_agents, "CSAT_AGENTS")

    def enabled_channels(self) -> list[str]:
        """Channels whose settings are present; raises ConfigError for a half-set one."""
        enabled = ["console"]
        for first, second in PAIRS:
            if bool(getattr(self, first)) != bool(getattr(self, second)):
                have, lacking = (first, second) if getattr(self, first) else (second, first)
                raise ConfigError(f"{lacking.upper()} is required when {have.upper()} is set")
        for channel, (required, one_of, extra) in CHANNEL_KEYS.items():
            present = [k for k in (*required, *one_of, *extra) if getattr(self, k)]
            if not present:
                continue
            missing = [k for k in required if not getattr(self, k)]
            if missing:
                raise ConfigError(
                    f"{missing[0].upper()} is required when {present[0].upper()} is set "
                    f"({channel} channel half-configured)"
                )
            if one_of and not any(getattr(self, k) for k in one_of):
                names = " or ".join(k.upper() for k in one_of)
                raise ConfigError(f"{names} is required for the {channel} channel")
            enabled.append(channel)
        return enabled


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning pydantic's report into one ConfigError naming the key."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]).upper() if first["loc"] else "settings"
        detail = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{key}: {detail}") from exc
    settings.enabled_channels()
    settings.leads()
    return settings


def _people(value: str, setting: str) -> frozenset[Lead]:
    found: set[Lead] = set()
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        channel, sep, address = item.partition(":")
        if not sep or not address.strip():
            raise ConfigError(f"{setting}: {item!r} is not channel:address")
        found.add(Lead(channel.strip().lower(), address.strip()))
    return frozenset(found)
