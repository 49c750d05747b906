"""The surveys every installation has: ``support`` (CSAT), ``reasons`` (CSAT, then what went
wrong), ``nps`` and ``ces``."""

from __future__ import annotations

from bot.survey_model import Condition, Option, Question, Survey, default_scale

_COMMENT_TEXTS = {
    "en": "What is the main reason for your score?",
    "nl": "Wat is de belangrijkste reden voor je score?",
    "nb": "Hva er hovedgrunnen til vurderingen din?",
    "de": "Was ist der Hauptgrund für Ihre Bewertung?",
    "es": "¿Nos cuenta el motivo principal de su nota?",
    "zh": "您给出这个评分的主要原因是什么？",
    "fr": "Quelle est la raison principale de votre note ?",
    "pt": "Qual o principal motivo da sua nota?",
}


# Texts of the reason list are short (each is a line of the SMS) and, except Chinese, GSM-7:
# Spanish and Portuguese are worded around á, ó, ç and ã ("Contacto y respuestas").
_REASON_TEXTS = {
    "en": "What was the main problem?",
    "nl": "Wat was het grootste probleem?",
    "nb": "Hva var det største problemet?",
    "de": "Was war das Hauptproblem?",
    "es": "¿Qué es lo que ha fallado?",
    "zh": "主要问题出在哪里？",
    "fr": "Quel a été le principal problème ?",
    "pt": "Qual foi o principal problema?",
}
_REASONS: dict[str, dict[str, str]] = {
    "knowledge": {
        "en": "Knowledge",
        "nl": "Kennis",
        "nb": "Kunnskap",
        "de": "Fachwissen",
        "es": "Conocimientos",
        "zh": "专业知识",
        "fr": "Connaissances",
        "pt": "Conhecimento",
    },
    "communication": {
        "en": "Communication and responsiveness",
        "nl": "Communicatie en bereikbaarheid",
        "nb": "Kommunikasjon og oppfølging",
        "de": "Kommunikation, Erreichbarkeit",
        "es": "Contacto y respuestas",
        "zh": "沟通与响应",
        "fr": "Communication et réactivité",
        "pt": "Contato e retorno",
    },
    "professionalism": {
        "en": "Professionalism",
        "nl": "Professionaliteit",
        "nb": "Profesjonalitet",
        "de": "Professionalität",
        "es": "Profesionalidad",
        "zh": "专业态度",
        "fr": "Professionnalisme",
        "pt": "Profissionalismo",
    },
    "speed": {
        "en": "Speed",
        "nl": "Snelheid",
        "nb": "Hastighet",
        "de": "Tempo",
        "es": "Rapidez",
        "zh": "处理速度",
        "fr": "Rapidité",
        "pt": "Rapidez",
    },
    "resolution": {
        "en": "Effective resolution",
        "nl": "Goede oplossing",
        "nb": "God løsning",
        "de": "Wirksame Lösung",
        "es": "Resolver el problema",
        "zh": "问题解决效果",
        "fr": "Résolution efficace",
        "pt": "Resolver o problema",
    },
    "other": {
        "en": "Something else",
        "nl": "Iets anders",
        "nb": "Noe annet",
        "de": "Etwas anderes",
        "es": "Otro motivo",
        "zh": "其他",
        "fr": "Autre chose",
        "pt": "Outro motivo",
    },
}


def _build_builtins() -> dict[str, Survey]:
    comment = Question("comment", "text", _COMMENT_TEXTS, None, required=False)
    csat = Question(
        "csat",
        "csat",
        {
            "en": "How would you rate the support you received from {brand}?",
            "nl": "Hoe beoordeel je de hulp die je van {brand} hebt gekregen?",
            "nb": "Hvordan vil du vurdere hjelpen du fikk fra {brand}?",
            "de": "Wie bewerten Sie die Unterstützung durch {brand}?",
            "es": "¿Qué le ha parecido la ayuda que ha recibido de {brand}?",
            "zh": "您如何评价{brand}为您提供的支持服务？",
            "fr": "Comment évaluez-vous l'aide apportée par {brand} ?",
            "pt": "Como foi seu atendimento com {brand}?",
        },
        default_scale("csat"),
    )
    support = Survey("support", (csat, comment))
    reasons = Survey(
        "reasons",
        (
            csat,
            Question(
                "reason",
                "choice",
                _REASON_TEXTS,
                None,
                ask_if=Condition("csat", "<=", 3),
                required=False,
                options=tuple(Option(key, texts) for key, texts in _REASONS.items()),
            ),
        ),
    )
    nps = Survey(
        "nps",
        (
            Question(
                "nps",
                "nps",
                {
                    "en": "How likely are you to recommend {brand} to a friend or colleague?",
                    "nl": "Hoe waarschijnlijk is het dat je {brand} aanraadt aan een vriend of "
                    "collega?",
                    "nb": "Hvor sannsynlig er det at du vil anbefale {brand} til en venn eller "
                    "kollega?",
                    "de": "Wie wahrscheinlich ist es, dass Sie {brand} einem Freund oder "
                    "Kollegen empfehlen?",
                    "es": "¿Qué probabilidad hay de que recomiende los servicios de {brand} a "
                    "un amigo o colega?",
                    "zh": "您向朋友或同事推荐{brand}的可能性有多大？",
                    "fr": "Quelle est la probabilité que vous recommandiez {brand} à un ami ou "
                    "un collègue ?",
                    "pt": "Qual a probabilidade de recomendar {brand} a um amigo ou colega?",
                },
                default_scale("nps"),
            ),
            comment,
        ),
    )
    ces = Survey(
        "ces",
        (
            Question(
                "ces",
                "ces",
                {
                    "en": "How easy was it to get your issue resolved with {brand}? "
                    "(1 = very difficult, 7 = very easy)",
                    "nl": "Hoe makkelijk was het om je vraag bij {brand} opgelost te krijgen? "
                    "(1 = heel moeilijk, 7 = heel makkelijk)",
                    "nb": "Hvor enkelt var det å få løst saken din hos {brand}? "
                    "(1 = svært vanskelig, 7 = svært enkelt)",
                    "de": "Wie einfach hat {brand} es Ihnen gemacht, Ihr Anliegen zu lösen? "
                    "(1 = sehr schwierig, 7 = sehr einfach)",
                    "es": "¿Le ha resultado sencillo resolver su consulta con {brand}? "
                    "(1 = muy complicado, 7 = muy sencillo)",
                    "zh": "通过{brand}解决您的问题有多容易？（1 = 非常困难，7 = 非常容易）",
                    "fr": "Vous a-t-il été facile de régler votre demande avec {brand} ? "
                    "(1 = très difficile, 7 = très facile)",
                    "pt": "Foi simples resolver seu problema com {brand}? "
                    "(1 = muito complicado, 7 = muito simples)",
                },
                default_scale("ces"),
            ),
            Question(
                "comment",
                "text",
                {
                    "en": "What could we have made easier?",
                    "nl": "Wat hadden we makkelijker kunnen maken?",
                    "nb": "Hva kunne vi ha gjort enklere?",
                    "de": "Was hätten wir einfacher machen können?",
                    "es": "¿Qué le ha resultado complicado?",
                    "zh": "我们在哪些方面还可以做得更简便？",
                    "fr": "Qu'aurions-nous pu rendre plus simple ?",
                    "pt": "O que poderia ter sido mais simples?",
                },
                None,
                ask_if=Condition("ces", "<=", 4),
                required=False,
            ),
        ),
    )
    return {survey.name: survey for survey in (support, reasons, nps, ces)}


_BUILTINS = _build_builtins()


def builtin_surveys() -> dict[str, Survey]:
    """A fresh dict each call, so a caller adding or replacing surveys never leaks into another."""
    return dict(_BUILTINS)
