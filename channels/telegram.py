"""Telegram through python-telegram-bot: an inline keyboard of stars, ``/score`` for leads.

PTB runs inside our ASGI app. With ``CSAT_PUBLIC_URL`` set, Telegram posts updates to
``POST /telegram/webhook`` (checked against ``TELEGRAM_WEBHOOK_SECRET``) and the route hands each
one to ``Application.process_update``; without it, ``start`` long-polls instead, which only one
process may do. The handlers only translate (:mod:`channels.telegram_updates` for answers,
:mod:`channels.telegram_commands` for commands); sending is :mod:`channels.telegram_send`.

A team with its own PTB bot can skip the adapter and call :func:`add_csat_handlers`.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from contextvars import ContextVar
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from telegram import Bot, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.errors import ConfigError
from bot.hub import Hub
from bot.settings import Settings
from channels.telegram_commands import CommandHandlers
from channels.telegram_render import ALERT_PATTERN, CALLBACK_PATTERN
from channels.telegram_send import (
    CHAT_ID,
    TelegramAlertSink,
    TelegramChannel,
    TelegramDigestSink,
)
from channels.telegram_updates import AnswerHandlers

__all__ = [
    "ALLOWED_UPDATES",
    "WEBHOOK_PATH",
    "TelegramAdapter",
    "TelegramAlertSink",
    "TelegramChannel",
    "add_csat_handlers",
    "build_adapter",
    "set_webhook",
]

log = logging.getLogger("csat.telegram")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TOKEN_IN_URL = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
Context = ContextTypes.DEFAULT_TYPE

_failures: ContextVar[list[BaseException] | None] = ContextVar(
    "csat_telegram_failures", default=None
)


class _RedactToken(logging.Filter):
    """httpx logs every request URL at INFO (PTB its base URL at DEBUG), and Telegram's URLs
    carry the bot token."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "/bot" in text:
            record.msg, record.args = _TOKEN_IN_URL.sub("/bot<token>", text), None
        return True


_URL_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Updater")


def _redact_http_logs() -> None:
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactToken) for f in logger.filters):
            logger.addFilter(_RedactToken())


# -- handlers ------------------------------------------------------------------------------


def add_csat_handlers(
    application: AnyApplication,
    hub: Hub,
    *,
    group: int = -1,
    reply_without_survey: bool = False,
) -> None:
    """Add the survey handlers to a team's own PTB ``Application`` (plug-in mode).

    Star taps (callback data starting ``csat:``), typed replies and comments, and ``/score`` are
    handled in handler ``group`` (default -1, before the team's own handlers). A message that
    answers a survey stops further handling (``ApplicationHandlerStop``); any other message falls
    through to the team's handlers untouched, unless ``reply_without_survey`` is set, in which case
    the bot says that no survey is open. Surveys go out through :class:`TelegramChannel` on the same
    bot; see the README's Telegram section for the whole recipe.
    """
    answers = AnswerHandlers(hub, reply_without_survey=reply_without_survey)
    commands = CommandHandlers(hub, brand=hub.brand)
    application.add_handler(
        CallbackQueryHandler(answers.button, pattern=CALLBACK_PATTERN), group=group
    )
    application.add_handler(
        CallbackQueryHandler(answers.follow_up, pattern=ALERT_PATTERN), group=group
    )
    application.add_handler(CommandHandler("score", commands.score), group=group)
    application.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, answers.text),
        group=group,
    )


def _add_start_stop(application: AnyApplication, hub: Hub) -> None:
    commands = CommandHandlers(hub, brand=hub.brand)
    application.add_handler(CommandHandler(["start", "help"], commands.start), group=-2)
    application.add_handler(CommandHandler("stop", commands.stop), group=-2)


async def _note_failure(update: object, context: Context) -> None:
    """Makes a failed update visible to the webhook route, which answers 500 so Telegram sends
    it again (a repeat is recognised by its update id and never recorded twice)."""
    error = context.error
    bucket = _failures.get()
    if bucket is not None and error is not None:
        bucket.append(error)
    log.error("telegram update not processed", exc_info=error)


# -- the adapter ---------------------------------------------------------------------------


class TelegramAdapter:
    """Webhook when ``public_url`` is given, long polling otherwise."""

    def __init__(
        self,
        *,
        token: str,
        api_url: str,
        public_url: str | None = None,
        webhook_secret: str | None = None,
        alert_chat: str | None = None,
        digest_chat: str | None = None,
    ) -> None:
        if public_url and not webhook_secret:
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET is required when CSAT_PUBLIC_URL is set (Telegram "
                "webhook mode), or anyone could post forged updates"
            )
        self.mode = "webhook" if public_url else "polling"
        self._secret = (webhook_secret or "").encode()
        base = api_url.rstrip("/")
        builder = (
            Application.builder()
            .token(token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .rate_limiter(AIORateLimiter(max_retries=0))
        )
        if self.mode == "webhook":
            builder = builder.updater(None)
        self.application: AnyApplication = builder.build()
        self._channel = TelegramChannel(self.application.bot)
        self._sink = TelegramAlertSink(self.application.bot, alert_chat) if alert_chat else None
        self.digest_sink = (
            TelegramDigestSink(self.application.bot, digest_chat) if digest_chat else None
        )
        self._wired = False
        _redact_http_logs()

    @property
    def channel(self) -> TelegramChannel:
        return self._channel

    @property
    def alert_sink(self) -> TelegramAlertSink | None:
        return self._sink

    def _wire(self, hub: Hub) -> None:
        if self._wired:
            return
        _add_start_stop(self.application, hub)
        add_csat_handlers(self.application, hub, reply_without_survey=True)
        self.application.add_error_handler(_note_failure)
        self._wired = True

    def routes(self, hub: Hub) -> APIRouter | None:
        if self.mode != "webhook":
            return None
        self._wire(hub)
        router = APIRouter()
        router.add_api_route(WEBHOOK_PATH, self._webhook, methods=["POST"], include_in_schema=False)
        return router

    async def _webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not secrets.compare_digest(given, self._secret):
            return JSONResponse({"error": f"missing or wrong {SECRET_HEADER}"}, status_code=403)
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        except RecursionError:  # JSON nested deeper than any update; the parser gave up
            return JSONResponse({"error": "body is nested too deeply"}, status_code=400)
        update: Update | None = None
        try:
            problem = _malformed(data)
            update = None if problem else Update.de_json(data, self.application.bot)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            problem = f"{type(exc).__name__}: {exc}"[:200]
        if problem is not None or update is None:
            return JSONResponse({"error": f"malformed Telegram update: {problem}"}, 400)
        failures: list[BaseException] = []
        token = _failures.set(failures)
        try:
            await self.application.process_update(update)
        finally:
            _failures.reset(token)
        if failures:
            return JSONResponse({"error": "update not processed; retry"}, status_code=500)
        return Response(status_code=200)

    async def start(self, hub: Hub) -> None:
        self._wire(hub)
        try:
            await self.application.initialize()
        except InvalidToken:
            raise ConfigError("TELEGRAM_BOT_TOKEN was rejected by Telegram (getMe)") from None
        updater = self.application.updater
        if self.mode == "polling" and updater is not None:
            log.warning(
                "Telegram: no CSAT_PUBLIC_URL, so long polling. Run only ONE process this way "
                "(Telegram serves updates to one poller); set CSAT_PUBLIC_URL for webhooks."
            )
            await updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))
        await self.application.start()

    async def stop(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        await self.application.bot.shutdown()


_REQUIRED_PARTS = {
    "message": ("message_id", "date", "chat"),
    "callback_query": ("id", "from", "chat_instance"),
}


def _malformed(data: Any) -> str | None:
    """PTB parses leniently; an update we act on must have the fields Telegram always sends."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return "no update_id"
    for kind, fields in _REQUIRED_PARTS.items():
        part = data.get(kind)
        if part is None:
            continue
        if not isinstance(part, dict):
            return f"{kind} is not an object"
        missing = [name for name in fields if name not in part]
        if missing:
            return f"{kind} lacks {', '.join(missing)}"
    return None


def _alert_chat(raw: str | None, setting: str = "TELEGRAM_ALERT_CHAT") -> str | None:
    if raw is None or not raw.strip():
        return None
    chat = raw.strip()
    if not (CHAT_ID.fullmatch(chat) or re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", chat)):
        raise ConfigError(f"{setting}: {raw!r} is not a chat id or @channelname")
    return chat


def _webhook_secret(settings: Settings) -> str | None:
    if settings.telegram_webhook_secret is None:
        return None
    secret = settings.telegram_webhook_secret.get_secret_value()
    if not _SECRET.fullmatch(secret):
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
        )
    return secret


def build_adapter(settings: Settings) -> TelegramAdapter:
    """The adapter for ``csat serve``; ConfigError names the setting that is wrong."""
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is required for the telegram channel")
    return TelegramAdapter(
        token=settings.telegram_bot_token.get_secret_value(),
        api_url=settings.telegram_api_url,
        public_url=settings.csat_public_url,
        webhook_secret=_webhook_secret(settings),
        alert_chat=_alert_chat(settings.telegram_alert_chat),
        digest_chat=_alert_chat(settings.telegram_digest_chat, "TELEGRAM_DIGEST_CHAT"),
    )


def webhook_url(public_url: str) -> str:
    return public_url.rstrip("/") + WEBHOOK_PATH


async def set_webhook(settings: Settings) -> str:
    """Register ``CSAT_PUBLIC_URL/telegram/webhook`` with the secret and our update types.

    Returns the URL registered (``csat telegram set-webhook`` prints it).
    """
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is required to register the Telegram webhook")
    if not settings.csat_public_url:
        raise ConfigError(
            "CSAT_PUBLIC_URL is required to register the Telegram webhook (e.g. https://csat.example.com)"
        )
    secret = _webhook_secret(settings)
    if secret is None:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET is required to register the Telegram webhook")
    url = webhook_url(settings.csat_public_url)
    base = settings.telegram_api_url.rstrip("/")
    _redact_http_logs()
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{base}/bot",
        base_file_url=f"{base}/file/bot",
    )
    try:
        async with bot:
            await bot.set_webhook(url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES))
    except InvalidToken:
        raise ConfigError("TELEGRAM_BOT_TOKEN was rejected by Telegram (getMe)") from None
    except TelegramError as exc:
        raise ConfigError(f"CSAT_PUBLIC_URL: Telegram refused the webhook {url}: {exc}") from None
    return url
