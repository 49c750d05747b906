"""Telegram commands: ``/score`` for leads, ``/start`` (or ``/help``) and ``/stop`` for respondents.

Only the adapter's own bot registers ``/start`` and ``/stop``; a team's bot in plug-in mode keeps
its own, which is why these live apart from the answer handlers that both kinds of bot share.
"""

from __future__ import annotations

from collections.abc import Mapping

from telegram import Update, User
from telegram.ext import ContextTypes

from bot.comments import comments_text
from bot.errors import InvalidInput, NotAllowed
from bot.hub import Hub
from bot.locales import brand_for, normalise_locale
from bot.report_text import short_summary
from channels.telegram_render import MAX_TEXT
from channels.telegram_send import CHANNEL

Context = ContextTypes.DEFAULT_TYPE

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


MAX_CAPTION = 1024  # Bot API limit of a photo caption


class CommandHandlers:
    """The PTB callbacks for commands; ``brand`` fills the start and stop texts."""

    def __init__(self, hub: Hub, *, brand: str) -> None:
        self.hub = hub
        self.brand = brand

    async def score(self, update: Update, context: Context) -> None:
        chat, user = update.effective_chat, update.effective_user
        if chat is None:
            return
        asker = str(user.id if user is not None else chat.id)
        query = " ".join(context.args or ())
        try:
            first = query.lower().split()[:1]
            if query.lower().split() == ["dashboard"]:
                link = await self.hub.dashboard_link(CHANNEL, asker)
                text = f"Your dashboard (the link works once, for ten minutes): {link}"
                await context.bot.send_message(chat_id=chat.id, text=text)
                return
            if first == ["trend"]:
                report, chart = await self.hub.trend_for(CHANNEL, asker, query)
                caption = short_summary(report, limit=4)[:MAX_CAPTION]
                await context.bot.send_photo(chat_id=chat.id, photo=chart, caption=caption)
                return
            if first == ["comments"]:
                text = comments_text(await self.hub.comments_for(CHANNEL, asker, query))
            else:
                report = await self.hub.scores_for(CHANNEL, asker, query)
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
