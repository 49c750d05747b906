"""What customers wrote: the latest comments for leads, with the rating each came with.

The query is the score grammar with a filter word: ``[period] [low|all] [by dimension]``, e.g.
``week low by agent``. ``low`` keeps comments whose rating is on the survey's unhappy side (its
own thresholds, the ones behind the CSAT score); ``by`` groups the page by that dimension.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.context import ServiceContext
from bot.errors import InvalidInput, NotAllowed
from bot.periods import DIMENSIONS, Period, parse_query
from bot.texts import message

PAGE = 20
MAX_PAGE = 200
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}T[\d:.]+\+00:00)~(\d{1,18})")
USAGE = "comments [period] [low|all] [by dimension], e.g. 'comments week low by agent'"


@dataclass(frozen=True)
class CommentQuery:
    period: Period
    low_only: bool
    by: str | None


class Comments:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def parse(self, text: str) -> CommentQuery:
        words = text.split()
        if words and words[0].lower() == "comments":
            words = words[1:]
        filters = [w for w in words if w.lower() in ("low", "all")]
        if len(filters) > 1:
            raise InvalidInput(f"Write 'low' or 'all', not both. Usage: {USAGE}.")
        rest = " ".join(w for w in words if w.lower() not in ("low", "all"))
        query = parse_query(rest, now=self.ctx.clock(), timezone=self.ctx.settings.csat_timezone)
        if query.by is not None and query.by not in DIMENSIONS:
            raise InvalidInput(
                f"Comments group by {', '.join(DIMENSIONS)}, not by {query.by}. Usage: {USAGE}."
            )
        low = bool(filters) and filters[0].lower() == "low"
        return CommentQuery(period=query.period, low_only=low, by=query.by)

    def latest(
        self, query: CommentQuery, *, limit: int = PAGE, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page, newest first, in the API's shape; ``next_cursor`` asks for the next."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"'limit' must be 1..{MAX_PAGE}")
        before = _decode(cursor) if cursor else None
        period = query.period
        rows = self.ctx.store.latest_comments(
            period.start, period.end, low_only=query.low_only, limit=limit + 1, before=before
        )
        page, more = rows[:limit], len(rows) > limit
        items = [
            {
                "answered_at": row.answered_at.isoformat(),
                "comment": row.comment,
                "rating": row.rating,
                "scale_max": row.scale_max,
                "low": row.low,
                "agent": row.agent,
                "team": row.team,
                "channel": row.channel,
                "survey": row.survey,
                "interaction_id": row.interaction_id,
            }
            for row in page
        ]
        if query.by is not None:
            items.sort(key=lambda item: str(item.get(query.by or "") or "~"), reverse=False)
        last = page[-1] if page else None
        return {
            "period": {
                "label": period.label,
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "timezone": period.timezone,
            },
            "filter": "low" if query.low_only else "all",
            "by": query.by,
            "comments": items,
            "next_cursor": f"{last.answered_at.isoformat()}~{last.answer_id}"
            if more and last is not None
            else None,
        }

    def comments_for(self, channel: str, address: str, text: str) -> dict[str, Any]:
        """Leads only, like scores: anyone else is refused without being told anything."""
        if not self.ctx.is_lead(channel, address):
            raise NotAllowed(message("not_a_lead", None))
        return self.latest(self.parse(text), limit=10)


def _decode(cursor: str) -> tuple[datetime, int]:
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise InvalidInput("'cursor': not a cursor this API gave out")
    try:
        return datetime.fromisoformat(match.group(1)), int(match.group(2))
    except ValueError:
        raise InvalidInput("'cursor': not a cursor this API gave out") from None


def comments_text(page: Mapping[str, Any], width: int = 160) -> str:
    """The page for a chat: one line per comment, rating first, grouped when asked."""
    period = page["period"]
    head = f"Comments {period['label']} ({period['timezone']}), {page['filter']}"
    items = page["comments"]
    if not items:
        return f"{head}: none."
    lines = [head + ":"]
    by, group = page.get("by"), object()
    for item in items:
        if by is not None and item.get(by) != group:
            group = item.get(by)
            lines.append(f"{by} {group or '(none)'}:")
        rating = f"{item['rating']}/{item['scale_max']}" if item["rating"] is not None else "-"
        who = item.get("agent") or "-"
        text = " ".join(str(item["comment"]).split())
        if len(text) > width:
            text = text[: width - 1] + "…"
        lines.append(f"{rating} {who} {item['interaction_id']}: {text}")
    if page.get("next_cursor"):
        lines.append("(more: ask the API or the CLI for the next page)")
    return "\n".join(lines)
