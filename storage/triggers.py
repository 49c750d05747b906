"""Set queries for accepting a batch of survey triggers: a few statements per batch, not per item.

A batch of 1000 triggers used to cost five round trips per item (duplicate check, respondent,
suppression, throttle, insert). Here each of those is one statement per chunk of keys, and the
invitations go in as one INSERT that returns their ids in the order given.

On PostgreSQL that INSERT takes one array per column (``INSERT ... SELECT ... FROM unnest(...)
WITH ORDINALITY ORDER BY ordinality``): a short statement with fifteen parameters instead of a
VALUES list with fifteen thousand, which the driver would scan for placeholders on every call
(two thirds of a 1000-row insert's time). The ids come from the sequence in the SELECT's order,
so sorted they line up with the rows given, as SQLAlchemy's own sorted insert relies on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col

from storage.models import Invitation, Respondent, Suppression

CHUNK = 500  # keys per IN list: far below SQLite's 32766 bound parameters and PostgreSQL's 65535

T = TypeVar("T")


def _chunks(items: Iterable[T]) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def existing_invitations(
    session: Session, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], Invitation]:
    """The invitations already made for these (interaction id, survey) keys."""
    found: dict[tuple[str, str], Invitation] = {}
    for chunk in _chunks(sorted({interaction for interaction, _ in keys})):
        statement = select(Invitation).where(col(Invitation.interaction_id).in_(chunk))
        for invitation in session.scalars(statement):
            key = (invitation.interaction_id, invitation.survey)
            if key in keys:
                found[key] = invitation
    return found


def respondent_ids(
    session: Session, digests: Mapping[tuple[str, str], str], now: datetime
) -> dict[tuple[str, str], int]:
    """The respondent id of every (channel, address), creating those not seen before. A
    respondent erased earlier gets its address back, since they are being contacted again.
    ``digests`` maps each (channel, address) to its pseudonym (``address_hash``)."""
    by_digest = {
        (channel, digest): (channel, address) for (channel, address), digest in digests.items()
    }
    ids: dict[tuple[str, str], int] = {}
    erased: list[dict[str, Any]] = []
    for channel in sorted({channel for channel, _ in by_digest}):
        wanted = sorted(digest for c, digest in by_digest if c == channel)
        for chunk in _chunks(wanted):
            rows = session.execute(
                select(col(Respondent.id), col(Respondent.address_hash), col(Respondent.address))
                .where(col(Respondent.channel) == channel)
                .where(col(Respondent.address_hash).in_(chunk))
            )
            for respondent_id, digest, address in rows:
                key = by_digest[(channel, digest)]
                ids[key] = respondent_id
                if address is None:
                    erased.append({"rid": respondent_id, "address": key[1]})
    for item in erased:
        session.execute(
            update(Respondent)
            .where(col(Respondent.id) == item["rid"])
            .values(address=item["address"], erased_at=None)
        )
    new = [key for key in digests if key not in ids]
    missing = [
        {
            "channel": channel,
            "address_hash": digests[(channel, address)],
            "address": address,
            "created_at": now,
        }
        for channel, address in new
    ]
    ids.update(zip(new, _insert_ids(session, Respondent, missing), strict=True))
    return ids


def suppressed(session: Session, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (channel, pseudonym) pairs are on the suppression list."""
    found: set[tuple[str, str]] = set()
    for channel in sorted({channel for channel, _ in keys}):
        for chunk in _chunks(sorted(digest for c, digest in keys if c == channel)):
            rows = session.execute(
                select(col(Suppression.channel), col(Suppression.address_hash))
                .where(col(Suppression.channel) == channel)
                .where(col(Suppression.address_hash).in_(chunk))
            )
            found.update((c, d) for c, d in rows)
    return found


def latest_live(
    session: Session, throttle_keys: Collection[str], since: datetime, live: Sequence[str]
) -> dict[str, datetime]:
    """For each throttle key, when its newest live invitation created after ``since`` was made."""
    latest: dict[str, datetime] = {}
    for chunk in _chunks(sorted(throttle_keys)):
        rows = session.execute(
            select(col(Invitation.throttle_key), func.max(col(Invitation.created_at)))
            .where(col(Invitation.throttle_key).in_(chunk))
            .where(col(Invitation.status).in_(live))
            .where(col(Invitation.created_at) > since)
            .group_by(col(Invitation.throttle_key))
        )
        for key, created in rows:
            if key is not None and created is not None:
                latest[key] = created
    return latest


def insert_invitations(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert the invitations in one statement; their ids, in the order given."""
    return _insert_ids(session, Invitation, rows)


def _insert_ids(session: Session, model: Any, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert ``rows`` (dicts with the same keys) into ``model``'s table and return the new ids
    in the order of the rows. Either way the ids are drawn in the rows' order within the
    statement, so sorted they line up with the rows (what SQLAlchemy's sorted insert relies on
    as well)."""
    if not rows:
        return []
    names = list(rows[0])
    if any(len(row) != len(names) for row in rows):
        raise ValueError("every row needs the same columns")
    if session.get_bind().dialect.name == "postgresql":
        columns = model.__table__.c
        arrays = [
            bindparam(f"all_{name}", [row[name] for row in rows], type_=ARRAY(columns[name].type))
            for name in names
        ]
        given = func.unnest(*arrays).table_valued(*names, with_ordinality="position")
        given = given.render_derived()
        ordered = select(*(given.c[name] for name in names)).order_by(given.c.position)
        statement = insert(model).from_select(names, ordered).returning(col(model.id))
        return sorted(int(row_id) for (row_id,) in session.execute(statement))
    return _insert_values(session, model, names, rows)


def _insert_values(
    session: Session, model: Any, names: list[str], rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """SQLite: multi-row ``INSERT ... VALUES (...), (...) RETURNING id`` on the driver's cursor,
    the row's SQL and value conversions compiled once by SQLAlchemy. Through the ORM's bulk
    insert the same rows cost five times as much, mostly in per-row result bookkeeping."""
    from storage.prepared import Prepared, raw_in

    columns = model.__table__.c
    one_row = insert(model).values(
        {name: bindparam(name, type_=columns[name].type) for name in names}
    )
    prepared = Prepared(one_row, session.get_bind().dialect)
    head, _, values = prepared.sql.partition(" VALUES ")
    per_statement = max(1, 30_000 // len(names))  # SQLite takes up to 32766 parameters
    ids: list[int] = []
    with raw_in(session.connection()) as raw:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = f"{head} VALUES {', '.join([values] * len(chunk))} RETURNING id"
            parameters = [value for row in chunk for value in prepared.parameters(row)]
            ids.extend(sorted(int(row_id) for (row_id,) in raw.query(sql, parameters)))
    return ids
