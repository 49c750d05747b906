"""The export: paged rows equal to a plain join whatever the page size, filters, the CSV formula
guard, JSON Lines, and the same rows through ``csat export`` and ``GET /v1/responses``."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import Session

from bot.export import csv_lines, csv_safe, jsonl_lines
from bot.service import Service
from channels.memory import MemoryChannel
from storage.export import COLUMNS, iter_responses
from storage.models import Invitation
from tests.conftest import Clock
from tests.helpers import deliver, trigger


def _fill(service: Service, clock: Clock, count: int = 10) -> None:
    for n in range(count):
        trigger(service, to=f"c{n}", interaction=f"T-{n}", agent="alice" if n % 2 else "bob")
        clock.advance(minutes=1)
    trigger(service, to="c0", interaction="T-throttled")  # skipped by the throttle: not exported
    deliver(service)
    for n in range(0, count, 3):
        service.handle_text("memory", f"c{n}", str(1 + n % 5))
        service.handle_text("memory", f"c{n}", f"=HYPERLINK('x') from {n}")


@pytest.mark.parametrize("page", [1, 3, 7, 5000])
def test_pages_of_any_size_give_the_same_rows(
    service: Service, memory: MemoryChannel, clock: Clock, page: int
) -> None:
    _fill(service, clock)
    rows = list(iter_responses(service.store.engine, page=page))
    assert [r[1] for r in rows] == [f"T-{n}" for n in range(10)]
    assert rows == list(iter_responses(service.store.engine, page=10_000))
    by_id = {r[1]: dict(zip(COLUMNS, r, strict=True)) for r in rows}
    assert by_id["T-3"]["rating"] == 4 and by_id["T-3"]["kind"] == "csat"
    assert by_id["T-3"]["comment"] == "=HYPERLINK('x') from 3"
    assert by_id["T-1"]["rating"] is None and by_id["T-1"]["status"] == "sent"
    with Session(service.store.engine) as session:
        stored = session.scalars(select(Invitation).where(Invitation.interaction_id == "T-3")).one()
    assert by_id["T-3"]["created_at"] == stored.created_at.isoformat()
    assert by_id["T-3"]["sent_at"] == stored.sent_at.isoformat() if stored.sent_at else False
    assert (
        by_id["T-3"]["responded_at"] == stored.responded_at.isoformat()
        if stored.responded_at
        else False
    )


def test_since_until_and_limit(service: Service, memory: MemoryChannel, clock: Clock) -> None:
    start = clock.now
    _fill(service, clock)
    since, until = start + timedelta(minutes=2), start + timedelta(minutes=5)
    window = list(iter_responses(service.store.engine, since, until, page=2))
    assert [r[1] for r in window] == ["T-2", "T-3", "T-4"]
    assert [r[1] for r in iter_responses(service.store.engine, limit=4, page=3)] == [
        "T-0",
        "T-1",
        "T-2",
        "T-3",
    ]


@pytest.mark.parametrize(
    "text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1", "\t\r=cmd|' /C calc'!A0"]
)
def test_formula_starts_are_neutralised(text: str) -> None:
    assert csv_safe(text) == "'" + text


@given(st.text())
def test_safe_cells_never_start_a_formula(text: str) -> None:
    cell = csv_safe(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.removeprefix("'") == text or cell == text


def test_csv_and_jsonl_round_trip(service: Service, memory: MemoryChannel, clock: Clock) -> None:
    _fill(service, clock)
    rows = list(iter_responses(service.store.engine))
    parsed = list(csv.DictReader(io.StringIO("".join(csv_lines(rows, chunk=2)))))
    assert len(parsed) == len(rows)
    assert parsed[3]["comment"] == "'=HYPERLINK('x') from 3"
    lines = "".join(jsonl_lines(rows, chunk=4)).splitlines()
    assert [json.loads(line)["interaction_id"] for line in lines] == [r[1] for r in rows]
    assert json.loads(lines[3])["comment"] == "=HYPERLINK('x') from 3"


def test_the_reason_of_a_low_rating_is_exported_by_its_id(service: Service) -> None:
    trigger(service, interaction="T-R", survey="reasons")
    trigger(service, to="cust-2", interaction="T-S")
    deliver(service)
    service.handle_text("memory", "cust-1", "2")
    service.handle_text("memory", "cust-1", "4")  # the fourth reason: speed
    service.handle_text("memory", "cust-2", "5")
    rows = {r[1]: dict(zip(COLUMNS, r, strict=True)) for r in iter_responses(service.store.engine)}
    assert (rows["T-R"]["rating"], rows["T-R"]["choice"]) == (2, "speed")
    assert (rows["T-S"]["rating"], rows["T-S"]["choice"]) == (5, None)
    header = next(csv.reader(io.StringIO(next(csv_lines(iter([]))))))
    assert header[-1] == "choice"
