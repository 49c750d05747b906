"""Block Kit for the Slack channel: pure functions from core messages and reports to blocks.

Everything a button carries back is an id the core can check (invitation, question, value);
nothing here is a secret, because Slack shows action values to anyone who inspects a payload and
the signed request is what proves the tap came from Slack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.alerts import Alert, action_label, alert_text, follow_up_line
from bot.channel import Button, OutboundMessage, plain_text
from bot.locales import normalise_locale
from bot.report_text import change_text, group_line, pct, reason_lines, short_summary
from bot.results import Tap
from storage.values import FollowUpAction

Block = dict[str, Any]

RATE_ACTION = re.compile(r"^csat_rate_\d{1,3}$")
SELECT_ACTION = "csat_select"
COMMENT_ACTION = "csat_comment_open"
SKIP_ACTION = "csat_comment_skip"
COMMENT_VIEW = "csat_comment"
COMMENT_BLOCK = "comment"
COMMENT_INPUT = "text"
SCALE_BLOCK_PREFIX = "csat_scale"

MAX_BUTTONS = 11  # NPS 0-10 still fits one row of buttons; wider scales get a select menu
MAX_SECTION_TEXT = 3000
MAX_GROUPS = 40  # Slack allows 50 blocks per message
COMMENT_MAX = 3000

_VALUE = re.compile(r"^(\d{1,18}):([A-Za-z0-9_]{1,64}):(\d{1,3})$")
_TARGET = re.compile(r"^(\d{1,18}):([A-Za-z0-9_]{1,64})$")
_SCALE_BLOCK = re.compile(r"^csat_scale:([a-z0-9_]{1,16}):(\d{1,3}):(\d{1,3})$")
_METADATA = re.compile(
    r"^(\d{1,18}):([A-Za-z0-9_]{1,64}):([A-Z0-9]{1,32}):(\d{1,12}\.\d{1,12})(?::([a-z]{2,3}))?$"
)


@dataclass(frozen=True)
class CommentTarget:
    """The question a comment answers, and the prompt message to update once it arrives."""

    invitation_id: int
    question_id: str
    channel_id: str | None = None
    message_ts: str | None = None
    locale: str | None = None  # the survey's language, for the modal's own labels


# Labels of Slack's own controls, in the survey's language (English where one is missing).
LABELS: dict[str, dict[str, str]] = {
    "add_comment": {
        "en": "Add a comment",
        "nl": "Opmerking toevoegen",
        "nb": "Legg til en kommentar",
        "de": "Kommentar hinzufügen",
        "es": "Añadir un comentario",
        "zh": "添加评论",
        "fr": "Ajouter un commentaire",
        "pt": "Adicionar um comentário",
    },
    "skip": {
        "en": "Skip",
        "nl": "Overslaan",
        "nb": "Hopp over",
        "de": "Überspringen",
        "es": "Omitir",
        "zh": "跳过",
        "fr": "Passer",
        "pt": "Pular",
    },
    "your_comment": {
        "en": "Your comment",
        "nl": "Je opmerking",
        "nb": "Din kommentar",
        "de": "Ihr Kommentar",
        "es": "Su comentario",
        "zh": "您的评论",
        "fr": "Votre commentaire",
        "pt": "Seu comentário",
    },
    "comment": {
        "en": "Comment",
        "nl": "Opmerking",
        "nb": "Kommentar",
        "de": "Kommentar",
        "es": "Comentario",
        "zh": "评论",
        "fr": "Commentaire",
        "pt": "Comentário",
    },
    "send": {
        "en": "Send",
        "nl": "Versturen",
        "nb": "Send",
        "de": "Senden",
        "es": "Enviar",
        "zh": "发送",
        "fr": "Envoyer",
        "pt": "Enviar",
    },
    "cancel": {
        "en": "Cancel",
        "nl": "Annuleren",
        "nb": "Avbryt",
        "de": "Abbrechen",
        "es": "Cancelar",
        "zh": "取消",
        "fr": "Annuler",
        "pt": "Cancelar",
    },
    "close": {
        "en": "Close",
        "nl": "Sluiten",
        "nb": "Lukk",
        "de": "Schließen",
        "es": "Cerrar",
        "zh": "关闭",
        "fr": "Fermer",
        "pt": "Fechar",
    },
}
COMMENT_BLOCK_PREFIX = "csat_comment"


def label(key: str, locale: str | None) -> str:
    texts = LABELS[key]
    return texts.get(normalise_locale(locale) or "en", texts["en"])


def comment_locale(blocks: Sequence[Mapping[str, Any]]) -> str | None:
    """The language of a comment prompt, kept in its actions block's id."""
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        prefix, _, locale = block_id.partition(":")
        if prefix == COMMENT_BLOCK_PREFIX and locale:
            return locale
    return None


def escape(text: str) -> str:
    """Slack's three control characters, so a brand or a comment cannot inject mentions/links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)[:MAX_SECTION_TEXT]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text)[:3000]}]}


def encode_tap(invitation_id: int, question_id: str, value: int) -> str:
    return f"{invitation_id}:{question_id}:{value}"


def decode_tap(raw: str | None) -> Tap | None:
    match = _VALUE.fullmatch(raw or "")
    if match is None:
        return None
    return Tap(int(match.group(1)), match.group(2), int(match.group(3)))


def decode_target(raw: str | None) -> CommentTarget | None:
    match = _TARGET.fullmatch(raw or "")
    if match is None:
        return None
    return CommentTarget(int(match.group(1)), match.group(2))


def encode_metadata(target: CommentTarget) -> str:
    text = f"{target.invitation_id}:{target.question_id}:{target.channel_id}:{target.message_ts}"
    language = normalise_locale(target.locale)
    return f"{text}:{language}" if language and re.fullmatch(r"[a-z]{2,3}", language) else text


def decode_metadata(raw: str | None) -> CommentTarget | None:
    match = _METADATA.fullmatch(raw or "")
    if match is None:
        return None
    return CommentTarget(
        int(match.group(1)), match.group(2), match.group(3), match.group(4), match.group(5)
    )


def star_label(kind: str | None, button: Button, maximum: int) -> str:
    if kind == "csat" and maximum <= 5 and button.value >= 1:
        return "⭐" * button.value
    return button.label


def _rating_elements(outbound: OutboundMessage) -> list[dict[str, Any]]:
    assert outbound.invitation_id is not None and outbound.question_id is not None
    maximum = outbound.buttons[-1].value
    values = [
        (
            star_label(outbound.question_kind, b, maximum),
            encode_tap(outbound.invitation_id, outbound.question_id, b.value),
            b.value,
        )
        for b in outbound.buttons
    ]
    if len(values) <= MAX_BUTTONS:
        return [
            {"type": "button", "action_id": f"csat_rate_{v}", "text": _plain(label), "value": value}
            for label, value, v in values
        ]
    options: list[dict[str, Any]] = [
        {"text": _plain(label), "value": value} for label, value, _ in values
    ]
    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": SELECT_ACTION,
        "placeholder": _plain(f"{values[0][2]}-{values[-1][2]}"),
    }
    if len(options) <= 100:
        select["options"] = options
    else:
        select["option_groups"] = [
            {
                "label": _plain(f"{chunk[0]['text']['text']}-{chunk[-1]['text']['text']}"),
                "options": chunk,
            }
            for chunk in (options[i : i + 10] for i in range(0, len(options), 10))
        ]
    return [select]


def message_blocks(outbound: OutboundMessage) -> list[Block]:
    """A core message as blocks: rating buttons (a button per option for a choice question, the
    option's number as its value), a comment prompt, or just the text."""
    rateable = bool(outbound.buttons) and outbound.invitation_id is not None
    if rateable and outbound.question_id is not None:
        low, high = outbound.buttons[0].value, outbound.buttons[-1].value
        kind = outbound.question_kind or "csat"
        controls = _rating_elements(outbound)
        if kind == "choice" and outbound.skippable:
            target = f"{outbound.invitation_id}:{outbound.question_id}"
            controls.append(
                {
                    "type": "button",
                    "action_id": SKIP_ACTION,
                    "text": _plain(label("skip", outbound.locale)),
                    "value": target,
                }
            )
        return [
            _section(outbound.text),
            {
                "type": "actions",
                "block_id": f"{SCALE_BLOCK_PREFIX}:{kind}:{low}:{high}",
                "elements": controls,
            },
        ]
    if (
        outbound.question_kind == "text"
        and outbound.invitation_id is not None
        and outbound.question_id is not None
    ):
        target = f"{outbound.invitation_id}:{outbound.question_id}"
        elements: list[dict[str, Any]] = [
            {
                "type": "button",
                "action_id": COMMENT_ACTION,
                "text": _plain(label("add_comment", outbound.locale)),
                "value": target,
                "style": "primary",
            }
        ]
        if outbound.hint is not None:  # the core adds the skip hint only to optional questions
            elements.append(
                {
                    "type": "button",
                    "action_id": SKIP_ACTION,
                    "text": _plain(label("skip", outbound.locale)),
                    "value": target,
                }
            )
        return [
            _section(outbound.text),
            {
                "type": "actions",
                "block_id": f"{COMMENT_BLOCK_PREFIX}:{outbound.locale or 'en'}",
                "elements": elements,
            },
        ]
    return [_section(plain_text(outbound))]


def fallback_text(outbound: OutboundMessage) -> str:
    """The notification and screen-reader text Slack shows where blocks are not rendered."""
    return plain_text(outbound)[:4000]


def scale_of(blocks: Sequence[Mapping[str, Any]]) -> tuple[str, int, int] | None:
    for block in blocks:
        match = _SCALE_BLOCK.fullmatch(str(block.get("block_id", "")))
        if match is not None:
            return match.group(1), int(match.group(2)), int(match.group(3))
    return None


def rating_text(value: int, scale: tuple[str, int, int] | None) -> str:
    if scale is None:
        return str(value)
    kind, low, high = scale
    if kind == "csat" and low == 1 and high <= 5:
        return "★" * value + "☆" * (high - value) + f"  {value}/{high}"
    return f"{value}/{high}"


def answer_text(value: int, blocks: Sequence[Mapping[str, Any]]) -> str:
    """What a tapped message shows in place of its buttons: the stars of a rating, or the text
    of the option chosen (read back from the button that carried ``value``)."""
    scale = scale_of(blocks)
    if scale is not None and scale[0] == "choice":
        buttons = [
            element
            for block in blocks
            if block.get("type") == "actions"
            for element in block.get("elements") or ()
        ]
        for button in buttons:
            tap = decode_tap(button.get("value"))
            if tap is not None and tap.value == value:
                return f"✓ {(button.get('text') or {}).get('text', value)}"
    return rating_text(value, scale)


def _kept_sections(blocks: Sequence[Mapping[str, Any]]) -> list[Block]:
    return [dict(b) for b in blocks if b.get("type") == "section"][:1]


def answered_blocks(blocks: Sequence[Mapping[str, Any]], note: str) -> list[Block]:
    """The message as it was, its buttons replaced by what happened (the rating, a comment)."""
    return [*_kept_sections(blocks), _context(note)]


def comment_view(target: CommentTarget, question: str) -> dict[str, Any]:
    locale = target.locale
    return {
        "type": "modal",
        "callback_id": COMMENT_VIEW,
        "private_metadata": encode_metadata(target),
        "title": _plain(label("your_comment", locale), 24),
        "submit": _plain(label("send", locale), 24),
        "close": _plain(label("cancel", locale), 24),
        "blocks": [
            {
                "type": "input",
                "block_id": COMMENT_BLOCK,
                "label": _plain(question or label("comment", locale), 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": COMMENT_INPUT,
                    "multiline": True,
                    "max_length": COMMENT_MAX,
                },
            }
        ],
    }


def thanks_view(text: str, locale: str | None = None) -> dict[str, Any]:
    """What the comment modal turns into once the comment is stored: the core's thank-you, in
    the answer to the submission itself, so it reaches the user whatever the Web API does."""
    return {
        "type": "modal",
        "title": _plain(label("your_comment", locale), 24),
        "close": _plain(label("close", locale), 24),
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": text[:3000]}}],
    }


def _group_fields(name: str, group: Mapping[str, Any]) -> list[dict[str, str]]:
    csat = group.get("csat") or {}
    ci = csat.get("ci95")
    interval = f"{ci[0]:.0f}-{ci[1]:.0f}%" if ci else "-"
    responses = int(group.get("responses") or 0)
    rate = group.get("response_rate")
    fields = [
        f"*{escape(name)}*\nCSAT {pct(csat.get('score'))} (n={responses})"
        + (" low sample" if responses and group.get("low_sample") else ""),
        f"*Answered*\n{group.get('answered', responses)} of {group.get('sent', 0)} sent"
        + (f" ({float(rate):.0f}%)" if rate is not None else ""),
        f"*95% interval*\n{interval}",
        f"*Change*\n{change_text(group)}",
    ]
    nps = group.get("nps") or {}
    if nps.get("score") is not None:
        nps_ci = nps.get("ci95")
        bounds = f" ({nps_ci[0]:+.0f} to {nps_ci[1]:+.0f})" if nps_ci else ""
        fields.append(f"*NPS*\n{nps['score']:+.0f}{bounds}")
    ces = group.get("ces") or {}
    if ces.get("mean") is not None:
        fields.append(f"*CES*\n{ces['mean']:.2f}")
    return [{"type": "mrkdwn", "text": text} for text in fields]


def report_blocks(report: Mapping[str, Any]) -> list[Block]:
    """The score report for ``/csat``: the overall group, then one section per group."""
    period = report["period"]
    blocks: list[Block] = [
        {"type": "header", "text": _plain(f"CSAT {period['label']} ({period['timezone']})", 150)},
        {"type": "section", "fields": _group_fields("Overall", report["overall"])},
    ]
    groups: Mapping[str, Any] = report.get("groups") or {}
    if report.get("by") == "reason":  # the low ratings' reasons, a line each
        blocks += [{"type": "divider"}, _section("\n".join(reason_lines(report, MAX_GROUPS)))]
        return blocks
    if groups:
        blocks.append({"type": "divider"})
    for name in list(groups)[:MAX_GROUPS]:
        blocks.append({"type": "section", "fields": _group_fields(name, groups[name])})
    if len(groups) > MAX_GROUPS:
        blocks.append(_context(f"+{len(groups) - MAX_GROUPS} more"))
    blocks.append(_context(f"Overall: {group_line(report['overall'])}"))
    return blocks


def report_text(report: Mapping[str, Any]) -> str:
    return short_summary(report)


FOLLOW_UP_ACTIONS = {
    FollowUpAction.CLAIM: "csat_alert_claim",
    FollowUpAction.RESOLVE: "csat_alert_resolve",
}


def alert_blocks(alert: Alert) -> list[Block]:
    """The alert: what happened, its details, where the follow-up stands, and the buttons that
    are still useful (none once resolved). A button's value is only the alert's id: who may
    press it is decided by the core from the presser's Slack user."""
    head = alert_text(replace(alert, comment=None, reason=None, id=None)).split("\n")
    fields = {
        "Agent": alert.agent or "no agent",
        "Interaction": alert.interaction_id,
        "Rating": f"{alert.value}/{alert.scale_max}",
        "Channel": alert.channel,
    }
    if alert.team:
        fields["Team"] = alert.team
    if alert.reason:
        fields["Reason"] = alert.reason
    if alert.comment:
        fields["Comment"] = alert.comment
    block: Block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": escape("\n".join(head))[:3000]},
        "fields": [
            {"type": "mrkdwn", "text": f"*{escape(k)}*\n{escape(v)[:1900]}"}
            for k, v in fields.items()
        ],
    }
    blocks: list[Block] = [block]
    if alert.id is None:
        return blocks
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": escape(follow_up_line(alert))}],
        }
    )
    actions = alert.actions()
    if actions:
        blocks.append(
            {
                "type": "actions",
                "block_id": "csat_alert",
                "elements": [
                    {
                        "type": "button",
                        "action_id": FOLLOW_UP_ACTIONS[action],
                        "text": _plain(action_label(action)),
                        "value": str(alert.id),
                        **({"style": "primary"} if action is FollowUpAction.CLAIM else {}),
                    }
                    for action in actions
                ],
            }
        )
    return blocks
