"""Prepared statements run on the driver's cursor read and write exactly what SQLAlchemy would,
on SQLite and PostgreSQL: types converted both ways, literals kept, duplicates and missing values
refused with nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.models import Answer, InboundMessage, Invitation
from storage.prepared import Prepared, raw_transaction
from storage.replies import ANSWER, ANSWER_COLUMNS, INBOUND, INBOUND_COLUMNS, INVITATION

WHEN = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)


def _invitation(engine: Engine) -> int:
    with Session(engine) as session:
        row = Invitation(
            interaction_id="T-1",
            survey="support",
            survey_version="v1",
            channel="sms",
            locale="en",
            status="sent",
            created_at=WHEN,
            send_at=WHEN,
            sent_at=WHEN,
        )
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def _answer_row(invitation_id: int, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "invitation_id": invitation_id,
        "question_id": "csat",
        "kind": "csat",
        "value": 4,
        "comment": None,
        "choice": None,
        "scale_min": 1,
        "scale_max": 5,
        "positive": True,
        "negative": False,
        "answered_at": WHEN,
        "channel": "sms",
        "agent": "alice",
        "team": None,
        "touchpoint": None,
        "survey": "support",
        "locale": "en",
    }
    row.update(extra)
    return row


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    offset=st.integers(min_value=-14 * 60, max_value=14 * 60),
    positive=st.booleans(),
    # No NUL: PostgreSQL cannot store it in text, and the app refuses it at every edge.
    comment=st.none() | st.text(st.characters(exclude_characters="\x00"), max_size=40),
)
def test_a_row_written_raw_reads_back_through_the_orm_unchanged(
    db_engine: Engine, moment: datetime, offset: int, positive: bool, comment: str | None
) -> None:
    invitation_id = _invitation(db_engine)
    local = moment.astimezone(timezone(timedelta(minutes=offset)))
    statement = Prepared(insert(ANSWER), db_engine.dialect, ANSWER_COLUMNS)
    with raw_transaction(db_engine) as tx:
        tx.execute(
            statement,
            _answer_row(invitation_id, answered_at=local, positive=positive, comment=comment),
        )
    with Session(db_engine) as session:
        answer = session.scalars(select(Answer)).one()
        try:
            assert answer.answered_at == moment and answer.answered_at.tzinfo == UTC
            assert answer.positive is positive and answer.comment == comment
        finally:  # the next example starts from an empty table even after a failure
            session.delete(answer)
            session.delete(session.get(Invitation, invitation_id))
            session.commit()


def test_selected_datetimes_come_back_aware_and_literals_are_kept(db_engine: Engine) -> None:
    invitation_id = _invitation(db_engine)
    c = INVITATION.c
    query = select(c.id, c.sent_at, c.expires_at).where(
        c.status == "sent", c.sent_at <= bindparam("until")
    )
    prepared = Prepared(query, db_engine.dialect)
    with raw_transaction(db_engine) as tx:
        assert tx.first(prepared, {"until": WHEN}) == (invitation_id, WHEN, None)
        assert tx.first(prepared, {"until": WHEN - timedelta(microseconds=1)}) is None
        assert tx.all(prepared, {"until": WHEN}) == [(invitation_id, WHEN, None)]


def test_a_missing_value_is_named_and_nothing_is_stored(db_engine: Engine) -> None:
    invitation_id = _invitation(db_engine)
    statement = Prepared(insert(ANSWER), db_engine.dialect, ANSWER_COLUMNS)
    row = _answer_row(invitation_id)
    del row["agent"]
    with pytest.raises(KeyError, match="'agent'"), raw_transaction(db_engine) as tx:
        tx.execute(statement, row)
    with Session(db_engine) as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == 0


def test_a_duplicate_is_sqlalchemys_integrity_error_and_the_transaction_rolls_back(
    db_engine: Engine,
) -> None:
    statement = Prepared(insert(INBOUND), db_engine.dialect, INBOUND_COLUMNS)
    values = {
        "channel": "sms",
        "provider_message_id": "SM1",
        "respondent_id": None,
        "invitation_id": None,
        "raw_text": "5",
        "parsed_value": 5,
        "reason": "rating",
        "reply": "[]",
        "received_at": WHEN,
    }
    with raw_transaction(db_engine) as tx:
        tx.execute(statement, values)
    with pytest.raises(IntegrityError), raw_transaction(db_engine) as tx:
        tx.execute(statement, {**values, "provider_message_id": "SM2"})
        tx.execute(statement, values)  # the first one again: the whole transaction goes
    with Session(db_engine) as session:
        ids = session.scalars(select(InboundMessage.provider_message_id)).all()  # type: ignore[call-overload]
        assert ids == ["SM1"]
