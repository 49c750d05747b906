"""Settings: every key documented, errors that name the key, channels on/off/half-set."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from bot.context import ServiceContext
from bot.engine import Context, question_message
from bot.errors import ConfigError
from bot.settings import Lead, Settings, load_settings
from bot.surveys import SUPPORTED_LOCALES, builtin_surveys
from storage.sql_store import SqlStore
from tests.helpers import DEFAULT_BRAND_PHRASES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    import os

    for key in list(os.environ):
        if key.startswith(("CSAT_", "SLACK_", "TWILIO_", "TELEGRAM_")):
            monkeypatch.delenv(key)


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    expected = {name.upper() for name in Settings.model_fields}
    assert expected - documented == set()
    assert documented - expected == set()


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.csat_database_url == "sqlite:///csat.db"
    assert settings.enabled_channels() == ["console"]
    assert settings.csat_api_token is None


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"CSAT_TIMEZONE": "Mars/Base"}, "CSAT_TIMEZONE"),
        ({"CSAT_DATABASE_URL": "mysql://x"}, "CSAT_DATABASE_URL"),
        ({"CSAT_QUIET_START": "9am"}, "CSAT_QUIET_START"),
        ({"CSAT_RETENTION_DAYS": "0"}, "CSAT_RETENTION_DAYS"),
        ({"CSAT_LEADS": "slack"}, "CSAT_LEADS"),
        (
            {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "x"},
            "TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER",
        ),
        ({"TWILIO_AUTH_TOKEN": "x", "TWILIO_FROM_NUMBER": "+15005550006"}, "TWILIO_ACCOUNT_SID"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"TELEGRAM_WEBHOOK_SECRET": "s"}, "TELEGRAM_BOT_TOKEN"),
        ({"SLACK_CLIENT_ID": "1.2", "SLACK_SIGNING_SECRET": "s"}, "SLACK_CLIENT_SECRET"),
        (
            {"SLACK_APP_TOKEN": "xapp-1", "SLACK_SIGNING_SECRET": "s"},
            "SLACK_BOT_TOKEN or SLACK_CLIENT_ID",
        ),
    ],
)
def test_errors_name_the_key(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], key: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert key in str(raised.value)


def test_complete_channels_are_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC1")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tw-s3cr3t-value")
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+15005550006")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:abc")
    settings = load_settings()
    assert settings.enabled_channels() == ["console", "sms", "slack", "telegram"]
    assert "tw-s3cr3t-value" not in repr(settings)


def test_leads_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSAT_LEADS", " slack:U123 , telegram:4242,sms:+31612345678,")
    assert load_settings().leads() == {
        Lead("slack", "U123"),
        Lead("telegram", "4242"),
        Lead("sms", "+31612345678"),
    }


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CSAT_BRAND=Acme\nCSAT_TIMEZONE=Europe/Oslo\n")
    settings = load_settings()
    assert (settings.csat_brand, settings.csat_timezone) == ("Acme", "Europe/Oslo")


def _rendered(settings: Settings, locale: str) -> dict[str, str]:
    """The default survey's question and the opt-out, opt-in and HELP replies, as sent."""
    ctx = Context(now=datetime(2025, 6, 10, tzinfo=UTC), locale=locale, brand=settings.csat_brand)
    service = ServiceContext(
        settings=settings, store=SqlStore(create_engine("sqlite://")), surveys={}, channels={}
    )
    texts = {"question": question_message(builtin_surveys()["support"], 0, ctx).text}
    for key in ("opted_out", "opted_in", "help"):
        texts[key] = service.text(key, locale).text
    return texts


def test_brand_is_unset_by_default() -> None:
    assert load_settings().csat_brand == ""


@pytest.mark.parametrize("value", ["", "   "])
def test_blank_brand_counts_as_unset(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CSAT_BRAND", value)
    assert load_settings().csat_brand == ""


@pytest.mark.parametrize("locale", sorted(set(SUPPORTED_LOCALES) - {"en"}))
def test_default_brand_reads_in_each_language(locale: str) -> None:
    for key, text in _rendered(load_settings(), locale).items():
        assert "our team" not in text, (key, text)
        assert DEFAULT_BRAND_PHRASES[locale] in text, (key, text)


def test_default_brand_in_english() -> None:
    texts = _rendered(load_settings(), "en")
    assert texts["question"] == "How would you rate the support you received from our team?"
    assert texts["help"].endswith("Contact: our team")


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_set_brand_is_shown_as_written_in_every_language(
    monkeypatch: pytest.MonkeyPatch, locale: str
) -> None:
    monkeypatch.setenv("CSAT_BRAND", " Acme ")
    settings = load_settings()
    assert settings.csat_brand == "Acme"
    for key, text in _rendered(settings, locale).items():
        assert "Acme" in text, (key, text)
        assert DEFAULT_BRAND_PHRASES[locale] not in text, (key, text)


@pytest.mark.parametrize(
    ("env", "locale", "ending"),
    [
        ({}, "de", "Kontakt: unser Team"),
        ({}, "pt-BR", "Contato: nossa equipe"),
        ({"CSAT_BRAND": "Acme"}, "fr", "Contact : Acme"),
        ({"CSAT_BRAND": "Acme", "CSAT_CONTACT": "help@acme.example"}, "nl", "help@acme.example"),
        ({"CSAT_CONTACT": "0800 123"}, "es", "Contacto: 0800 123"),
    ],
)
def test_help_contact_falls_back_to_the_brand(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], locale: str, ending: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _rendered(load_settings(), locale)["help"].endswith(ending)
