"""Telegram through python-telegram-bot: an inline keyboard of stars, ``/score`` for leads.

PTB runs inside our ASGI app. With ``CSAT_PUBLIC_URL`` set, Telegram posts updates to
``POST /telegram/webhook`` (checked against ``TELEGRAM_WEBHOOK_SECRET``) and the route hands each
one to ``Application.process_update``; without it, ``start`` long-polls instead, which only one
process may do. The handlers only translate: a tap or a typed reply goes to the
:class:`bot.hub.Hub`, the core's replies come back as Telegram messages. No conversation state is
kept in PTB's ``user_data``/``chat_data``; the database has it all, so any number of web workers
can serve the webhook.

A team with its own PTB bot can skip the adapter and call :func:`add_csat_handlers`.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from telegram import Bot, CallbackQuery, Message, Update, User
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channel import OutboundMessage
from bot.errors import ConfigError, InvalidInput, NotAllowed
from bot.hub import Hub
from bot.locales import brand_for, normalise_locale
from bot.report_text import short_summary
from bot.service_base import Outcome
from bot.settings import Settings
from channels.telegram_render import CALLBACK_PATTERN, MAX_TEXT, parse_callback
from channels.telegram_send import (
    CHANNEL,
    CHAT_ID,
    TelegramAlertSink,
    TelegramChannel,
    deliver,
)

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
# A message that answers no open survey (none sent, or the newest one is answered, expired or
# closed): in plug-in mode it belongs to the host bot.
_NOT_OURS = (Outcome.NOT_AN_ANSWER, Outcome.CLOSED)
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TOKEN_IN_URL = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")

START_TEXTS = {
    "en": (
        "Hi! This is the feedback bot of {brand}. After you have been in touch with {brand} it "
        "may send you a short survey here: one tap on the stars answers it, and you can add a "
        "comment if you like.\nSend /stop to get no more surveys; /start turns them on again."
    ),
    "nl": (
        "Hallo! Dit is de feedbackbot van {brand}. Na een contact met {brand} kan hij je hier een "
        "korte enquête sturen: één tik op de sterren is genoeg, en je kunt een opmerking "
        "toevoegen als je wilt.\nStuur /stop voor geen enquêtes meer; /start zet ze weer aan."
    ),
    "nb": (
        "Hei! Dette er tilbakemeldingsboten til {brand}. Etter at du har vært i kontakt med "
        "{brand}, kan den sende deg en kort undersøkelse her: ett trykk på stjernene holder, og "
        "du kan legge til en kommentar om du vil.\nSend /stop for å slippe flere undersøkelser; "
        "/start slår dem på igjen."
    ),
    "de": (
        "Hallo! Über diesen Feedback-Bot bittet {brand} Sie um Ihre Meinung. Nach einem Kontakt "
        "kann er Ihnen hier eine kurze Umfrage schicken: ein Tipp auf die Sterne genügt, und Sie "
        "können gern einen Kommentar hinzufügen.\nSenden Sie /stop, um keine Umfragen mehr zu "
        "erhalten; /start schaltet sie wieder ein."
    ),
    "es": (
        "¡Hola! Este es el bot de opiniones de {brand}. Después de contactar con {brand} puede "
        "enviarle aquí una breve encuesta: basta un toque en las estrellas, y puede añadir un "
        "comentario si lo desea.\nEnvíe /stop para no recibir más encuestas; /start las "
        "vuelve a activar."
    ),
    "zh": (
        "您好！这是{brand}的反馈机器人。在您联系{brand}之后，它可能会在这里给您发送一份简短的调查："
        "点一下星星即可作答，您也可以添加评论。\n发送 /stop 不再接收调查；发送 /start 重新开启。"
    ),
    "fr": (
        "Bonjour ! Voici le bot d'avis de {brand}. Après un échange avec {brand}, il peut vous "
        "envoyer ici une courte enquête : un seul geste sur les étoiles suffit, et vous pouvez "
        "ajouter un commentaire si vous le souhaitez.\nEnvoyez /stop pour ne plus recevoir "
        "d'enquêtes ; /start les réactive."
    ),
    "pt": (
        "Olá! Este é o bot de opiniões de {brand}. Depois de falar com {brand}, ele pode enviar "
        "aqui uma pesquisa curta: basta um toque nas estrelas, e você pode adicionar um "
        "comentário se quiser.\nEnvie /stop para não receber mais pesquisas; /start volta a "
        "ativá-las."
    ),
}
STOP_TEXTS = {
    "en": "Done: {brand} will send you no more surveys here. Send /start if you change your mind.",
    "nl": "Klaar: {brand} stuurt je hier geen enquêtes meer. Stuur /start als je van gedachten "
    "verandert.",
    "nb": "Ferdig: {brand} sender deg ikke flere undersøkelser her. Send /start hvis du "
    "ombestemmer deg.",
    "de": "Erledigt: {brand} schickt Ihnen hier keine Umfragen mehr. Senden Sie /start, wenn Sie "
    "es sich anders überlegen.",
    "es": "Hecho: {brand} no le enviará más encuestas aquí. Envíe /start si cambia de opinión.",
    "zh": "已完成：{brand}不会再在这里给您发送调查。如果您改变主意，请发送 /start。",
    "fr": "C'est fait : {brand} ne vous enverra plus d'enquêtes ici. Envoyez /start si vous "
    "changez d'avis.",
    "pt": "Pronto: {brand} não lhe enviará mais pesquisas aqui. Envie /start se mudar de ideia.",
}


def _in_language(texts: Mapping[str, str], user: User | None, brand: str) -> str:
    """The text in the language the person's Telegram app is set to, English otherwise, with
    the brand (or, when CSAT_BRAND is unset, that language's "our team")."""
    language = normalise_locale(user.language_code if user is not None else None) or "en"
    if language not in texts:
        language = "en"
    return texts[language].format(brand=brand_for(brand, language))


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


# -- inbound -------------------------------------------------------------------------------


async def _reply(bot: Bot, chat_id: int, replies: Sequence[OutboundMessage]) -> None:
    for outbound in replies:
        try:
            await deliver(bot, chat_id, outbound)
        except TelegramError as exc:
            log.warning("reply to chat %s not delivered: %s", chat_id, exc)
            return


def _tapped_label(query: CallbackQuery) -> str | None:
    message = query.message
    markup = message.reply_markup if isinstance(message, Message) else None
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return None


class _Handlers:
    """The PTB callbacks; each one is a translation into one hub call and back."""

    def __init__(self, hub: Hub, *, reply_without_survey: bool, brand: str) -> None:
        self.hub = hub
        self.reply_without_survey = reply_without_survey
        self.brand = brand

    async def button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()
        except TelegramError as exc:
            log.info("callback query %s not answered: %s", query.id, exc)
        parsed = parse_callback(query.data if isinstance(query.data, str) else None)
        if parsed is None:
            return
        invitation_id, question_id, value = parsed
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        result = await self.hub.button(
            CHANNEL,
            str(chat_id),
            invitation_id,
            question_id,
            value,
            provider_message_id=f"cb:{query.id}",
        )
        if result.duplicate:
            raise ApplicationHandlerStop
        if isinstance(message, Message):
            await self._settle(query, message, result.outcome)
        await _reply(context.bot, chat_id, result.replies)
        raise ApplicationHandlerStop

    @staticmethod
    async def _settle(query: CallbackQuery, message: Message, outcome: Outcome) -> None:
        """The survey message keeps the chosen rating and loses its buttons."""
        label = _tapped_label(query)
        try:
            if outcome is Outcome.RECORDED and message.text and label:
                await query.edit_message_text(f"{message.text}\n\n✅ {label}"[:MAX_TEXT])
            else:
                await query.edit_message_reply_markup(reply_markup=None)
        except TelegramError as exc:
            log.info("survey message %s not edited: %s", message.message_id, exc)

    async def text(self, update: Update, context: Context) -> None:
        message, chat = update.message, update.effective_chat
        if message is None or chat is None or message.text is None:
            return
        if chat.type != chat.PRIVATE:
            replied = message.reply_to_message
            author = replied.from_user if replied is not None else None
            if author is None or author.id != context.bot.id:
                return
        result = await self.hub.text(
            CHANNEL, str(chat.id), message.text, provider_message_id=f"u:{update.update_id}"
        )
        if result.duplicate:
            raise ApplicationHandlerStop
        if result.outcome in _NOT_OURS and not self.reply_without_survey:
            return  # not ours: the host application's handlers get the message untouched
        await _reply(context.bot, chat.id, result.replies)
        raise ApplicationHandlerStop

    async def score(self, update: Update, context: Context) -> None:
        chat, user = update.effective_chat, update.effective_user
        if chat is None:
            return
        asker = str(user.id if user is not None else chat.id)
        try:
            report = await self.hub.scores_for(CHANNEL, asker, " ".join(context.args or ()))
            text = short_summary(report, limit=12)
        except (NotAllowed, InvalidInput) as exc:
            text = str(exc)
        await context.bot.send_message(chat_id=chat.id, text=text[:MAX_TEXT])

    async def start(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        await self.hub.opt_in(CHANNEL, str(chat.id))
        text = _in_language(START_TEXTS, update.effective_user, self.brand)
        await context.bot.send_message(chat_id=chat.id, text=text)

    async def stop(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        await self.hub.opt_out(CHANNEL, str(chat.id), "telegram /stop")
        text = _in_language(STOP_TEXTS, update.effective_user, self.brand)
        await context.bot.send_message(chat_id=chat.id, text=text)


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
    handlers = _Handlers(hub, reply_without_survey=reply_without_survey, brand=hub.brand)
    application.add_handler(
        CallbackQueryHandler(handlers.button, pattern=CALLBACK_PATTERN), group=group
    )
    application.add_handler(CommandHandler("score", handlers.score), group=group)
    application.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, handlers.text),
        group=group,
    )


def _add_start_stop(application: AnyApplication, hub: Hub) -> None:
    handlers = _Handlers(hub, reply_without_survey=True, brand=hub.brand)
    application.add_handler(CommandHandler(["start", "help"], handlers.start), group=-2)
    application.add_handler(CommandHandler("stop", handlers.stop), group=-2)


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


def _alert_chat(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    chat = raw.strip()
    if not (CHAT_ID.fullmatch(chat) or re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", chat)):
        raise ConfigError(f"TELEGRAM_ALERT_CHAT: {raw!r} is not a chat id or @channelname")
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
