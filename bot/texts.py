"""The bot's own messages (hints, re-prompts, thanks, opt-out confirmations) in every locale.

Everything except Chinese and Portuguese is written in the GSM-7 alphabet: a single character
outside it (a curly quote, an em dash, an emoji, a Spanish "ó") switches the whole SMS to UCS-2,
which cuts a segment from 160 to 70 characters and so can double or triple the cost of a message.
That is why the Spanish texts are phrased to avoid á, í, ó and ú rather than misspelled, why the
French ones avoid ç, ê, â, î, ô and û the same way (é, è, à and ù are GSM-7: "questionnaire"
rather than "enquête", "malgré tout" rather than "quand même"), and why keywords (STOP, START,
SKIP) stay ASCII. Chinese goes out as UCS-2 regardless.

Portuguese keeps its correct spelling and accepts UCS-2 where it needs ã, õ, ç, á, ê, ó and the
like: they are in almost every sentence ("não", "você", "já"), and dropping them reads as
misspelled while phrasing around them all reads contrived. The texts every survey SMS carries
(the reply and skip hints, the reminder prefix, the STOP line, and the built-in questions in
:mod:`bot.surveys`) are worded to need none of them ("nota" rather than "número"), so
invitations still go out as GSM-7; only some replies (re-prompts, thanks, opt-out) are UCS-2.

Dutch uses the informal "je", German the formal "Sie", Spanish "usted" (Spain's "ha recibido"
perfect) and French "vous", which is what customers of a support desk expect in each.
Portuguese is Brazilian Portuguese, what most people whose phone or app says "pt" read, with
"você" (and "equipe", "pesquisa" rather than Portugal's "equipa", "inquérito").

``{brand}`` is ``CSAT_BRAND`` or, when that is not set, :data:`bot.surveys.DEFAULT_BRANDS` in the
template's language ("ons team", "unser Team"...); every template is worded so that phrase fits
where it stands (German and Portuguese keep it out of "von"/"de" + article constructions).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from bot.locales import brand_for, normalise_locale

__all__ = [
    "GSM7_CHARS",
    "GSM7_EXTENSION",
    "MESSAGE_KEYS",
    "SKIP_WORDS",
    "is_gsm7",
    "is_skip",
    "message",
    "translations",
]

_DEFAULT_LOCALE = "en"

_GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = "^{}\\[~]|€\f"  # \f: form feed

GSM7_EXTENSION: frozenset[str] = frozenset(_GSM7_EXTENSION)
"""The extension table: in GSM-7, but each one costs an escape septet too (two in all)."""
GSM7_CHARS: frozenset[str] = frozenset(_GSM7_BASIC + _GSM7_EXTENSION)
"""Characters an SMS can carry in the GSM 03.38 default alphabet, including the extension table
(each extension character costs two septets, but keeps the message out of UCS-2)."""


def is_gsm7(text: str) -> bool:
    """Whether ``text`` can go out as a GSM-7 SMS rather than the far shorter UCS-2 segments."""
    return all(char in GSM7_CHARS for char in text)


_MESSAGES: dict[str, dict[str, str]] = {
    "reply_hint": {
        "en": "Reply with a number from {min} to {max}.",
        "nl": "Antwoord met een getal van {min} tot en met {max}.",
        "nb": "Svar med et tall fra {min} til {max}.",
        "de": "Antworten Sie mit einer Zahl von {min} bis {max}.",
        "es": "Responda con una nota del {min} al {max}.",
        "zh": "请回复{min}到{max}之间的数字。",
        "fr": "Répondez par un nombre de {min} à {max}.",
        "pt": "Responda com uma nota de {min} a {max}.",
    },
    "reprompt": {
        "en": "Sorry, I didn't catch that. Please reply with one number from {min} to {max}.",
        "nl": "Sorry, dat begreep ik niet. Antwoord met één getal van {min} tot en met {max}.",
        "nb": "Beklager, det forsto jeg ikke. Svar med ett tall fra {min} til {max}.",
        "de": "Entschuldigung, das habe ich nicht verstanden. Bitte antworten Sie mit einer "
        "Zahl von {min} bis {max}.",
        "es": "Perdone, no lo he entendido. Responda con una sola nota del {min} al {max}.",
        "zh": "抱歉，我没有看懂。请回复一个{min}到{max}之间的数字。",
        "fr": "Désolé, je n'ai pas compris. Merci de répondre par un seul nombre de {min} à {max}.",
        "pt": "Desculpe, não entendi. Responda com uma única nota de {min} a {max}.",
    },
    "reprompt_no_choice": {  # a choice question: the options follow as a numbered list
        "en": "Sorry, I didn't catch that. Please reply with the number of one option, "
        "from {min} to {max}.",
        "nl": "Sorry, dat begreep ik niet. Antwoord met het nummer van een keuze, van {min} tot "
        "en met {max}.",
        "nb": "Beklager, det forsto jeg ikke. Svar med nummeret til ett av valgene, fra {min} "
        "til {max}.",
        "de": "Entschuldigung, das habe ich nicht verstanden. Bitte antworten Sie mit der "
        "Nummer einer Antwort, von {min} bis {max}.",
        "es": "Perdone, no lo he entendido. Responda con una de las opciones, del {min} al {max}.",
        "zh": "抱歉，我没有看懂。请回复其中一个选项的编号（{min}到{max}）。",
        "fr": "Désolé, je n'ai pas compris. Merci de répondre par le numéro d'un des choix, de "
        "{min} à {max}.",
        "pt": "Desculpe, não entendi. Responda com o número de uma das opções, de {min} a {max}.",
    },
    "reprompt_out_of_range": {
        "en": "That number is outside the scale. Please pick a number from {min} to {max}.",
        "nl": "Dat getal valt buiten de schaal. Kies een getal van {min} tot en met {max}.",
        "nb": "Det tallet er utenfor skalaen. Velg et tall fra {min} til {max}.",
        "de": "Diese Zahl liegt außerhalb der Skala. Bitte wählen Sie eine Zahl von {min} "
        "bis {max}.",
        "es": "Ese valor queda fuera de la escala. Elija una nota del {min} al {max}.",
        "zh": "这个数字超出了范围。请选择{min}到{max}之间的数字。",
        "fr": "Ce nombre est hors de l'échelle. Merci de choisir un nombre de {min} à {max}.",
        "pt": "Esse valor está fora da escala. Escolha uma nota de {min} a {max}.",
    },
    "reprompt_range_given": {
        "en": "Please pick just one number from {min} to {max}, not a range.",
        "nl": "Kies één getal van {min} tot en met {max}, geen bereik.",
        "nb": "Velg ett enkelt tall fra {min} til {max}, ikke et intervall.",
        "de": "Bitte wählen Sie eine einzelne Zahl von {min} bis {max}, keinen Bereich.",
        "es": "Elija una sola nota del {min} al {max}, no un rango.",
        "zh": "请只选择一个{min}到{max}之间的数字，不要回复范围。",
        "fr": "Merci de choisir un seul nombre de {min} à {max}, et non un intervalle.",
        "pt": "Escolha apenas uma nota de {min} a {max}, e não um intervalo.",
    },
    "reprompt_decimal": {
        "en": "Whole numbers only, please: reply with a number from {min} to {max}.",
        "nl": "Alleen hele getallen graag: antwoord met een getal van {min} tot en met {max}.",
        "nb": "Bare hele tall, takk: svar med et tall fra {min} til {max}.",
        "de": "Bitte nur ganze Zahlen: Antworten Sie mit einer Zahl von {min} bis {max}.",
        "es": "Sin decimales, por favor: responda con una nota entera del {min} al {max}.",
        "zh": "请只回复整数：{min}到{max}之间的数字。",
        "fr": "Nombres entiers uniquement, merci : répondez par un nombre de {min} à {max}.",
        "pt": "Use apenas números inteiros: responda com uma nota de {min} a {max}.",
    },
    "reprompt_multiple_numbers": {
        "en": "I saw more than one number. Please reply with just one, from {min} to {max}.",
        "nl": "Ik zie meer dan één getal. Antwoord met één getal van {min} tot en met {max}.",
        "nb": "Jeg ser mer enn ett tall. Svar med bare ett tall fra {min} til {max}.",
        "de": "Ich sehe mehr als eine Zahl. Bitte antworten Sie mit nur einer Zahl von {min} "
        "bis {max}.",
        "es": "Ha enviado varios valores. Responda con uno solo, del {min} al {max}.",
        "zh": "您回复了多个数字。请只回复一个{min}到{max}之间的数字。",
        "fr": "J'ai vu plusieurs nombres. Merci de n'en envoyer qu'un seul, de {min} à {max}.",
        "pt": "Você enviou mais de uma nota. Responda com apenas uma, de {min} a {max}.",
    },
    "reprompt_wrong_denominator": {
        "en": "This survey uses a scale of {min} to {max}. Please reply with a number in that "
        "range.",
        "nl": "We gebruiken hier een schaal van {min} tot en met {max}. Antwoord met een getal "
        "binnen die schaal.",
        "nb": "Denne undersøkelsen bruker en skala fra {min} til {max}. Svar med et tall "
        "innenfor den skalaen.",
        "de": "Diese Umfrage verwendet eine Skala von {min} bis {max}. Bitte antworten Sie mit "
        "einer Zahl in diesem Bereich.",
        "es": "Esta encuesta usa una escala del {min} al {max}. Responda con una nota dentro "
        "de ese rango.",
        "zh": "本调查使用{min}到{max}的评分。请回复这个范围内的数字。",
        "fr": "Ce questionnaire utilise une échelle de {min} à {max}. Merci de répondre "
        "par un nombre compris dans cette plage.",
        "pt": "Esta pesquisa usa uma escala de {min} a {max}. Responda com uma nota dentro "
        "dessa faixa.",
    },
    "reprompt_no_number": {
        "en": "I couldn't find a number in your reply. Please reply with a number from {min} "
        "to {max}.",
        "nl": "Ik zie geen getal in je antwoord. Antwoord met een getal van {min} tot en met "
        "{max}.",
        "nb": "Jeg fant ikke noe tall i svaret ditt. Svar med et tall fra {min} til {max}.",
        "de": "Ich konnte in Ihrer Antwort keine Zahl finden. Bitte antworten Sie mit einer "
        "Zahl von {min} bis {max}.",
        "es": "No veo ninguna nota en su respuesta. Responda con una nota del {min} al {max}.",
        "zh": "您的回复中没有数字。请回复{min}到{max}之间的数字。",
        "fr": "Je ne trouve aucun nombre dans votre réponse. Merci de répondre par un "
        "nombre de {min} à {max}.",
        "pt": "Não encontrei uma nota na sua resposta. Responda com uma nota de {min} a {max}.",
    },
    "reprompt_qualified": {
        "en": "Please reply with just the number you would give, from {min} to {max}.",
        "nl": "Antwoord alleen met het getal dat je zou geven, van {min} tot en met {max}.",
        "nb": "Svar bare med tallet du ville gitt, fra {min} til {max}.",
        "de": "Bitte antworten Sie nur mit der Zahl, die Sie geben würden, von {min} bis {max}.",
        "es": "Responda solo con la nota que nos quiere dar, del {min} al {max}.",
        "zh": "请直接回复您想给的分数，{min}到{max}之间。",
        "fr": "Merci de répondre seulement par le nombre que vous donneriez, de {min} à {max}.",
        "pt": "Responda apenas com a nota que você daria, de {min} a {max}.",
    },
    "reprompt_empty": {
        "en": "Your reply was empty. Please reply with a number from {min} to {max}.",
        "nl": "Je antwoord was leeg. Antwoord met een getal van {min} tot en met {max}.",
        "nb": "Svaret ditt var tomt. Svar med et tall fra {min} til {max}.",
        "de": "Ihre Antwort war leer. Bitte antworten Sie mit einer Zahl von {min} bis {max}.",
        "es": "Su respuesta no contiene texto. Responda con una nota del {min} al {max}.",
        "zh": "您的回复是空的。请回复{min}到{max}之间的数字。",
        "fr": "Votre réponse était vide. Merci de répondre par un nombre de {min} à {max}.",
        "pt": "Sua resposta veio vazia. Responda com uma nota de {min} a {max}.",
    },
    "thanks": {
        "en": "Thank you for your feedback!",
        "nl": "Bedankt voor je feedback!",
        "nb": "Takk for tilbakemeldingen!",
        "de": "Vielen Dank für Ihr Feedback!",
        "es": "¡Muchas gracias por sus comentarios!",
        "zh": "感谢您的反馈！",
        "fr": "Merci pour votre avis !",
        "pt": "Obrigado pela sua opinião!",
    },
    "thanks_rating": {
        "en": "Thanks! You rated us {value} out of {max}.",
        "nl": "Bedankt! Je gaf ons een {value} uit {max}.",
        "nb": "Takk! Du ga oss {value} av {max}.",
        "de": "Danke! Sie haben uns mit {value} von {max} bewertet.",
        "es": "¡Gracias! Nos ha dado un {value} de {max}.",
        "zh": "谢谢！您给我们打了{value}分（满分{max}分）。",
        "fr": "Merci ! Vous nous avez donné {value} sur {max}.",
        "pt": "Obrigado! Você nos deu nota {value} de {max}.",
    },
    "correction": {
        "en": "Got it, we've changed your rating to {value} out of {max}.",
        "nl": "Duidelijk, we hebben je score aangepast naar een {value} uit {max}.",
        "nb": "Notert! Vi har endret vurderingen din til {value} av {max}.",
        "de": "Alles klar, wir haben Ihre Bewertung auf {value} von {max} geändert.",
        "es": "Entendido, hemos cambiado su nota a un {value} de {max}.",
        "zh": "好的，我们已将您的评分改为{value}分（满分{max}分）。",
        "fr": "C'est noté : votre note passe à {value} sur {max}.",
        "pt": "Certo, alteramos sua nota para {value} de {max}.",
    },
    "already_answered": {
        "en": "You've already answered this survey. Thank you!",
        "nl": "Je hebt deze vragenlijst al ingevuld. Bedankt!",
        "nb": "Du har allerede svart på denne undersøkelsen. Takk!",
        "de": "Sie haben diese Umfrage bereits beantwortet. Vielen Dank!",
        "es": "Ya ha respondido a esta encuesta. ¡Gracias!",
        "zh": "您已经回答过本次调查，谢谢！",
        "fr": "Vous avez déjà répondu à ce questionnaire. Merci !",
        "pt": "Você já respondeu a esta pesquisa. Obrigado!",
    },
    "page_send": {
        "en": "Send",
        "nl": "Versturen",
        "nb": "Send",
        "de": "Senden",
        "es": "Enviar",
        "zh": "提交",
        "fr": "Envoyer",
        "pt": "Enviar",
    },
    "page_skip": {
        "en": "Skip",
        "nl": "Overslaan",
        "nb": "Hopp over",
        "de": "Überspringen",
        "es": "Omitir",
        "zh": "跳过",
        "fr": "Passer",
        "pt": "Pular",
    },
    "page_change": {
        "en": "Change your rating",
        "nl": "Je score aanpassen",
        "nb": "Endre vurderingen",
        "de": "Bewertung ändern",
        "es": "Cambiar su nota",
        "zh": "修改评分",
        "fr": "Modifier votre note",
        "pt": "Alterar sua nota",
    },
    "page_wait": {
        "en": "This survey opens in a moment; the page reloads itself.",
        "nl": "Deze vragenlijst opent zo; de pagina laadt vanzelf opnieuw.",
        "nb": "Undersøkelsen åpner straks; siden lastes inn på nytt av seg selv.",
        "de": "Diese Umfrage öffnet gleich; die Seite lädt sich selbst neu.",
        "es": "Esta encuesta se abre en un momento; la página se recarga sola.",
        "zh": "调查即将开启，页面会自动刷新。",
        "fr": "Ce questionnaire s'ouvre dans un instant ; la page se recharge toute seule.",
        "pt": "Esta pesquisa abre em instantes; a página recarrega sozinha.",
    },
    "page_missing": {
        "en": "This survey link is not valid.",
        "nl": "Deze link naar de vragenlijst klopt niet.",
        "nb": "Denne lenken til undersøkelsen er ikke gyldig.",
        "de": "Dieser Umfragelink ist ungültig.",
        "es": "Este enlace de encuesta no es válido.",
        "zh": "此调查链接无效。",
        "fr": "Ce lien de questionnaire n'est pas valide.",
        "pt": "Este link de pesquisa não é válido.",
    },
    "email_pick": {
        "en": "Pick a number: the page opens with it chosen, and you press Send.",
        "nl": "Kies een getal: de pagina opent met je keuze en je drukt op Versturen.",
        "nb": "Velg et tall: siden åpnes med valget ditt, og du trykker Send.",
        "de": "Wählen Sie eine Zahl: Die Seite öffnet sich mit Ihrer Wahl, dann auf Senden.",
        "es": "Elija un número: la página se abre con su elección y usted pulsa Enviar.",
        "zh": "请选择一个数字：页面会带着您的选择打开，然后点击提交。",
        "fr": "Choisissez un chiffre : la page s'ouvre avec votre choix, puis cliquez sur Envoyer.",
        "pt": "Escolha um número: a página abre com a sua escolha e você clica em Enviar.",
    },
    "email_footer": {
        "en": "You get this because you were in touch with {brand}.",
        "nl": "Je krijgt dit omdat je contact had met {brand}.",
        "nb": "Du får dette fordi du var i kontakt med {brand}.",
        "de": "Sie erhalten dies, weil Sie mit {brand} in Kontakt waren.",
        "es": "Recibe esto porque estuvo en contacto con {brand}.",
        "zh": "您收到此邮件，是因为您曾联系过{brand}。",
        "fr": "Vous recevez ceci car vous avez été en contact avec {brand}.",
        "pt": "Você recebe isto porque esteve em contato com {brand}.",
    },
    "email_unsubscribe": {
        "en": "No more surveys",
        "nl": "Geen vragenlijsten meer",
        "nb": "Ingen flere undersøkelser",
        "de": "Keine Umfragen mehr",
        "es": "No más encuestas",
        "zh": "不再接收调查",
        "fr": "Plus de questionnaires",
        "pt": "Não quero mais pesquisas",
    },
    "page_unsubscribed": {
        "en": "Done: you will get no more surveys from {brand} at this address.",
        "nl": "Gelukt: je krijgt op dit adres geen vragenlijsten meer van {brand}.",
        "nb": "Ferdig: du får ikke flere undersøkelser fra {brand} på denne adressen.",
        "de": "Erledigt: Sie erhalten an diese Adresse keine Umfragen mehr von {brand}.",
        "es": "Hecho: no recibirá más encuestas de {brand} en esta dirección.",
        "zh": "完成：此地址将不再收到{brand}的调查。",
        "fr": "C'est fait : vous ne recevrez plus de questionnaires de {brand} à cette adresse.",
        "pt": "Pronto: você não receberá mais pesquisas de {brand} neste endereço.",
    },
    "page_link_gone": {
        "en": "This link no longer works: the address it was sent to is no longer on file.",
        "nl": (
            "Deze link werkt niet meer: het adres waar hij naartoe ging, is niet meer bij "
            "ons bekend."
        ),
        "nb": (
            "Denne lenken virker ikke lenger: adressen den ble sendt til, er ikke lenger "
            "registrert."
        ),
        "de": (
            "Dieser Link funktioniert nicht mehr: Die Adresse, an die er ging, ist nicht "
            "mehr gespeichert."
        ),
        "es": "Este enlace ya no funciona: la dirección a la que se envió ya no consta.",
        "zh": "此链接已失效：它所发往的地址已不在记录中。",
        "fr": (
            "Ce lien ne fonctionne plus : l'adresse à laquelle il a été envoyé n'est plus "
            "enregistrée."
        ),
        "pt": (
            "Este link não funciona mais: o endereço para o qual foi enviado não está mais "
            "registrado."
        ),
    },
    "page_too_many": {
        "en": (
            "Your rating has been changed several times already, so this change was not "
            "recorded. Thank you!"
        ),
        "nl": (
            "Je score is al een paar keer aangepast, dus deze wijziging is niet opgeslagen. "
            "Bedankt!"
        ),
        "nb": (
            "Vurderingen din er allerede endret flere ganger, så denne endringen ble ikke "
            "lagret. Takk!"
        ),
        "de": (
            "Ihre Bewertung wurde schon mehrmals geändert, daher wurde diese Änderung nicht "
            "gespeichert. Vielen Dank!"
        ),
        "es": (
            "Su nota ya se ha cambiado varias veces, así que este cambio no se ha guardado. "
            "¡Gracias!"
        ),
        "zh": "您的评分已修改多次，本次修改未被记录。谢谢！",
        "fr": (
            "Votre note a déjà été modifiée plusieurs fois : ce changement n'a pas été "
            "enregistré. Merci !"
        ),
        "pt": (
            "Sua nota já foi alterada várias vezes, por isso esta alteração não foi "
            "registrada. Obrigado!"
        ),
    },
    "page_invalid": {
        "en": "This answer could not be read. Please go back and send it again.",
        "nl": "Dit antwoord kon niet worden gelezen. Ga terug en verstuur het opnieuw.",
        "nb": "Dette svaret kunne ikke leses. Gå tilbake og send det på nytt.",
        "de": (
            "Diese Antwort konnte nicht gelesen werden. Bitte gehen Sie zurück und senden "
            "Sie sie erneut."
        ),
        "es": "No se ha podido leer esta respuesta. Vuelva atrás y envíela de nuevo.",
        "zh": "无法读取此回答。请返回后重新提交。",
        "fr": "Cette réponse n'a pas pu être lue. Revenez en arrière et envoyez-la à nouveau.",
        "pt": "Não foi possível ler esta resposta. Volte e envie-a novamente.",
    },
    "comment_optional_hint": {
        "en": "(Optional: reply SKIP to skip this question.)",
        "nl": "(Optioneel: antwoord OVERSLAAN om deze vraag over te slaan.)",
        "nb": "(Valgfritt: svar HOPP OVER for å hoppe over spørsmålet.)",
        "de": "(Optional: Antworten Sie WEITER, um die Frage zu überspringen.)",
        "es": "(Opcional: responda OMITIR para saltar esta pregunta.)",
        "zh": "（选填：回复“跳过”即可跳过此问题。）",
        "fr": "(Facultatif : répondez PASSER pour ignorer cette question.)",
        "pt": "(Opcional: responda PULAR para pular esta pergunta.)",
    },
    "closed": {
        "en": "This survey has closed. Thank you anyway!",
        "nl": "Deze vragenlijst is gesloten. Toch bedankt!",
        "nb": "Denne undersøkelsen er avsluttet. Takk likevel!",
        "de": "Diese Umfrage ist bereits beendet. Trotzdem vielen Dank!",
        "es": "Esta encuesta ya se ha cerrado. ¡Gracias de todos modos!",
        "zh": "本次调查已结束。仍然感谢您的参与！",
        "fr": "Ce questionnaire est clos. Merci malgré tout !",
        "pt": "Esta pesquisa já foi encerrada. Obrigado mesmo assim!",
    },
    "no_open_survey": {
        "en": "There is no open survey for you right now.",
        "nl": "Er staat op dit moment geen vragenlijst voor je open.",
        "nb": "Du har ingen åpen undersøkelse akkurat nå.",
        "de": "Für Sie ist derzeit keine Umfrage offen.",
        "es": "Ahora mismo no tiene ninguna encuesta abierta.",
        "zh": "您目前没有待填写的调查。",
        "fr": "Vous n'avez aucun questionnaire en cours pour le moment.",
        "pt": "No momento, você não tem nenhuma pesquisa em aberto.",
    },
    "opted_out": {
        "en": "You're unsubscribed and won't get more surveys from {brand}. Reply START to "
        "resubscribe.",
        "nl": "Je bent afgemeld voor vragenlijsten van {brand} en krijgt er geen meer. "
        "Antwoord START om je weer aan te melden.",
        "nb": "Du er meldt av undersøkelser fra {brand} og får ikke flere. Svar START for å "
        "melde deg på igjen.",
        "de": "Sie sind abgemeldet, und {brand} schickt Ihnen keine Umfragen mehr. Antworten "
        "Sie START, um sich wieder anzumelden.",
        "es": "Se ha dado de baja de las encuestas de {brand} y no le enviaremos ninguna otra. "
        "Responda START para volver a darse de alta.",
        "zh": "您已退订{brand}的调查，今后不会再收到。回复 START 可重新订阅。",
        "fr": "Votre désinscription est prise en compte : {brand} ne vous enverra plus de "
        "questionnaires. Répondez START pour vous réinscrire.",
        "pt": "Pronto: {brand} não vai mais enviar pesquisas para você. Responda START para "
        "voltar a recebê-las.",
    },
    "opted_in": {
        "en": "You'll get surveys from {brand} again. Reply STOP to unsubscribe.",
        "nl": "Je bent weer aangemeld voor vragenlijsten van {brand}. Antwoord STOP om je af "
        "te melden.",
        "nb": "Du er meldt på undersøkelser fra {brand} igjen. Svar STOP for å melde deg av.",
        "de": "Sie sind wieder angemeldet, und {brand} kann Ihnen Umfragen schicken. Antworten "
        "Sie STOP, um sich abzumelden.",
        "es": "Vuelve a estar dado de alta en las encuestas de {brand}. Responda STOP para "
        "darse de baja.",
        "zh": "您已重新订阅{brand}的调查。回复 STOP 可退订。",
        "fr": "Votre réinscription est prise en compte : {brand} pourra de nouveau vous "
        "envoyer des questionnaires. Répondez STOP pour vous désinscrire.",
        "pt": "Tudo certo: {brand} voltará a enviar pesquisas para você. Responda STOP para "
        "cancelar.",
    },
    "help": {
        "en": "Customer surveys from {brand}. Reply with a number to answer, STOP to "
        "unsubscribe. Contact: {contact}",
        "nl": "Klantonderzoek van {brand}. Antwoord met een getal om te reageren, of STOP om "
        "je af te melden. Contact: {contact}",
        "nb": "Kundeundersøkelser fra {brand}. Send et tall for å svare, eller STOP for å "
        "melde deg av. Kontakt: {contact}",
        "de": "Hier fragt {brand} nach Ihrer Meinung. Antworten Sie mit einer Zahl, um zu "
        "bewerten, oder mit STOP, um sich abzumelden. Kontakt: {contact}",
        "es": "Encuestas a clientes de {brand}. Responda con una nota para contestar, o STOP "
        "para darse de baja. Contacto: {contact}",
        "zh": "这是{brand}的客户调查。回复数字即可作答，回复 STOP 可退订。联系方式：{contact}",
        "fr": "Questionnaires de satisfaction envoyés par {brand}. Répondez par un nombre pour "
        "donner votre note, ou STOP pour vous désinscrire. Contact : {contact}",
        "pt": "Pesquisas de satisfação: {brand} quer saber sua opinião. Responda com uma nota "
        "para avaliar, ou STOP para cancelar. Contato: {contact}",
    },
    "reminder_prefix": {
        "en": "Reminder: ",
        "nl": "Herinnering: ",
        "nb": "Påminnelse: ",
        "de": "Erinnerung: ",
        "es": "Recordatorio: ",
        "zh": "提醒：",
        "fr": "Rappel : ",
        "pt": "Lembrete: ",
    },
    "unparsed_final": {
        "en": "Thanks, we've noted your reply.",
        "nl": "Bedankt, we hebben je antwoord genoteerd.",
        "nb": "Takk, vi har notert svaret ditt.",
        "de": "Danke, wir haben Ihre Antwort notiert.",
        "es": "Gracias, hemos tomado nota de su respuesta.",
        "zh": "谢谢，我们已记录您的回复。",
        "fr": "Merci, nous avons bien noté votre réponse.",
        "pt": "Obrigado, registramos sua resposta.",
    },
    "not_a_lead": {
        "en": "Sorry, scores are only available to team leads.",
        "nl": "Sorry, scores zijn alleen beschikbaar voor teamleads.",
        "nb": "Beklager, resultatene er bare tilgjengelige for teamledere.",
        "de": "Entschuldigung, die Ergebnisse sind nur für Teamleitungen verfügbar.",
        "es": "Lo sentimos, los resultados solo los pueden ver los jefes de equipo.",
        "zh": "抱歉，只有团队主管才能查看评分。",
        "fr": "Désolé, les résultats sont réservés aux responsables d'équipe.",
        "pt": "Desculpe, os resultados só estão disponíveis para líderes de equipe.",
    },
    "stop_hint": {
        "en": "Reply STOP to opt out.",
        "nl": "Antwoord STOP om je af te melden.",
        "nb": "Svar STOP for å melde deg av.",
        "de": "Antworten Sie STOP zum Abmelden.",
        "es": "Responda STOP para darse de baja.",
        "zh": "回复 STOP 退订。",
        "fr": "Répondez STOP pour vous désinscrire.",
        "pt": "Responda STOP para cancelar.",
    },
}

MESSAGE_KEYS: frozenset[str] = frozenset(_MESSAGES)

SKIP_WORDS: frozenset[str] = frozenset(
    {
        # Every locale accepts the English word, so a hint read in one language and answered
        # in another still works. "no"/"nee"/"nei"/"nein"/"non"/"não" are safe because only an
        # optional question ever treats a reply as a skip.
        "skip",
        "no",
        "none",
        "nothing",
        "pass",
        "n/a",
        "-",
        "overslaan",
        "nee",
        "geen",
        "niets",
        "hopp over",
        "hopp",
        "nei",
        "ingen",
        "ingenting",
        "weiter",
        "überspringen",
        "nein",
        "nichts",
        "keine",
        "omitir",
        "saltar",
        "nada",
        "passer",
        "non",
        "rien",
        "aucun",
        "aucune",
        "pular",
        "não",
        "nenhum",
        "nenhuma",
        "跳过",
        "跳過",
        "不",
        "不用",
        "没有",
        "無",
        "无",
    }
)
"""Replies that mean "skip this optional question", casefolded; compare with :func:`is_skip`."""

_TRAILING_PUNCTUATION = " \t\r\n.!?。！？,，"


def is_skip(reply: str) -> bool:
    """Whether ``reply`` declines an optional question, tolerating case and closing punctuation
    ("Skip.", "NEE!", "跳过。") so a polite skip is not stored as a comment."""
    cleaned = " ".join(reply.casefold().split()).strip(_TRAILING_PUNCTUATION)
    return cleaned in SKIP_WORDS


class _KeepMissing(dict[str, object]):
    """Leaves an unfilled placeholder visible instead of raising, so a caller that forgets a
    value sends a slightly odd message rather than none at all."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def message(key: str, locale: str | None, **values: object) -> str:
    """The system message ``key`` in ``locale``, falling back to English.

    A blank ``brand`` (``CSAT_BRAND`` not set) becomes the default phrase in the language of the
    template used, see :func:`bot.surveys.brand_for`. An unknown key raises :class:`KeyError`
    because it can only be a programming error.
    """
    translations = _MESSAGES[key]
    code = normalise_locale(locale) or _DEFAULT_LOCALE
    if code not in translations:
        code = _DEFAULT_LOCALE
    brand = values.get("brand")
    if isinstance(brand, str):
        values["brand"] = brand_for(brand, code)
    return translations[code].format_map(_KeepMissing(values))


def translations(key: str) -> Mapping[str, str]:
    """Every locale's template for ``key``, read-only, without fallback: for checks that each
    translation exists and fits the SMS alphabet, and for tools that list the catalogue."""
    return MappingProxyType(_MESSAGES[key])
