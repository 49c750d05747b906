"""The export query: one row per survey sent, with its rating and comment, streamed in pages.

Pages are taken by key (``invitation.id > last``), each page's answers in one more statement, so
memory stays flat in the number of rows, no read transaction is held open between pages (a long
export holds up no writer on SQLite and pins no snapshot on PostgreSQL), and there is no cap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from storage.values import COLUMNS  # noqa: F401 - the export's columns, named here too

PAGE = 5000


_INVITATION = (
    "id, interaction_id, survey, survey_version, channel, agent, team, touchpoint, locale, "
    "status, reason, delivery_status, last_error, created_at, sent_at, responded_at"
)
_ANSWER = "invitation_id, question_id, kind, value, scale_max, comment, choice"


def iter_responses(
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    limit: int | None = None,
    page: int = PAGE,
) -> Iterator[tuple[Any, ...]]:
    """Rows in :data:`COLUMNS` order, oldest invitation first; ``limit`` rows at most, if given.

    Times come as ISO 8601 strings in UTC. The rating is the first answer with a value (in the
    order the questions were answered), the comment the first answer with one, the choice (the
    option id of a reason) likewise.

    The statements run on the driver's own cursor: a million rows through SQLAlchemy's result
    machinery and back to text cost three times what the query and the CSV writer do.
    """
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    where = [f"id > {mark}", "status != 'skipped'"]
    bounds: list[Any] = []
    for column, operator, value in (("created_at", ">=", since), ("created_at", "<", until)):
        if value is not None:
            where.append(f"{column} {operator} {mark}")
            bounds.append(_stored(value, sqlite))
    invitations_sql = (
        f"SELECT {_INVITATION} FROM invitation WHERE {' AND '.join(where)} ORDER BY id LIMIT {mark}"
    )
    answers_sql = (
        f"SELECT {_ANSWER} FROM answer WHERE invitation_id BETWEEN {mark} AND {mark} "
        "ORDER BY invitation_id, id"
    )
    iso = _iso_text if sqlite else _iso_datetime
    last = 0
    left = limit
    while left is None or left > 0:
        size = page if left is None else min(page, left)
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(invitations_sql, (last, *bounds, size))
            invitations = cursor.fetchall()
            if not invitations:
                return
            first_id, last = invitations[0][0], invitations[-1][0]
            cursor.execute(answers_sql, (first_id, last))
            answers = cursor.fetchall()
            cursor.close()
            connection.rollback()  # end the read; nothing is held between pages
        finally:
            connection.close()
        yield from _joined(invitations, answers, iso)
        if left is not None:
            left -= len(invitations)
        if len(invitations) < size:
            return


def _stored(moment: datetime, sqlite: bool) -> Any:
    """A bound as the UTC columns store it: naive UTC (on SQLite, SQLAlchemy's text form)."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else naive


def _iso_text(value: str | None) -> str | None:
    """SQLite's stored ``YYYY-MM-DD HH:MM:SS.ffffff`` as ISO 8601 in UTC, written as
    ``datetime.isoformat`` writes it (no fraction when it is zero), like PostgreSQL's rows."""
    if value is None:
        return None
    if value.endswith(".000000"):
        value = value[:-7]
    return value.replace(" ", "T", 1) + "+00:00"


def _iso_datetime(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "+00:00"


def _joined(
    invitations: Sequence[Any], answers: Sequence[Any], iso: Callable[[Any], str | None]
) -> Iterator[tuple[Any, ...]]:
    """Merge two id-ordered lists, as a merge join does."""
    position, count = 0, len(answers)
    for inv in invitations:
        inv_id = inv[0]
        while position < count and answers[position][0] < inv_id:
            position += 1
        rating: Any = None
        comment: str | None = None
        choice: str | None = None
        while position < count and answers[position][0] == inv_id:
            answer = answers[position]
            if rating is None and answer[3] is not None:
                rating = answer
            if comment is None and answer[5]:
                comment = answer[5]
            if choice is None and answer[6]:
                choice = answer[6]
            position += 1
        yield (
            *inv[:13],
            iso(inv[13]),
            iso(inv[14]),
            iso(inv[15]),
            rating[1] if rating is not None else None,
            rating[2] if rating is not None else None,
            rating[3] if rating is not None else None,
            rating[4] if rating is not None else None,
            comment,
            choice,
        )
