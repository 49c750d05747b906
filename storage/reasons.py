"""The reasons of low scores: which option of a choice question came with each low rating.

Few answers are choices, so a span's choices are read through their own partial index
(``ix_answer_choices``: answered_at, id, only rows with a choice), and each one's rating is
looked up through the (invitation_id, question_id) unique index; the period's other answers are
never read. A rating counts for the period it was given in, like every score; its reason may
come a little later (or, after a correction, earlier), so choices are read over the span widened
by ``window``, the longest time a survey stays open, and the rating's own time decides.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, and_, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.models import Answer
from storage.values import SCORED_KINDS


def reasons_statement(start: datetime, end: datetime, window: timedelta) -> Select[str | None, int]:
    """(option id, low ratings) of the ratings given in ``[start, end)``."""
    choice = aliased(Answer, name="c")
    rating = aliased(Answer, name="r")
    statement = (
        select(col(choice.choice), func.count())
        .select_from(choice)
        .join(
            rating,
            and_(
                col(rating.invitation_id) == col(choice.invitation_id),
                col(rating.kind).in_(SCORED_KINDS),
                col(rating.negative).is_(True),
            ),
        )
        .where(
            col(choice.choice).is_not(None),
            col(choice.answered_at) >= start - window,
            col(choice.answered_at) < end + window,
            col(rating.answered_at) >= start,
            col(rating.answered_at) < end,
        )
        .group_by(col(choice.choice))
    )
    return statement


def reason_counts(
    engine: Engine, start: datetime, end: datetime, window: timedelta
) -> dict[str, int]:
    """Low ratings given in ``[start, end)`` per option id chosen in the same survey."""
    statement = reasons_statement(start, end, window)
    with engine.connect() as connection:
        return {str(option): int(count) for option, count in connection.execute(statement)}
