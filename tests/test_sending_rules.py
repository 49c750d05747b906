"""Delivery rules of the core that channels only parametrise: quiet hours, giving up, versions,
retention, and the console channel's text rendering."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import event, select
from sqlmodel import Session

from bot.channel import OutboundMessage, QuietHours, SendResult
from bot.requests import SurveyRequest
from bot.service import Service
from bot.surveys import Question
from channels.console import ConsoleChannel
from channels.memory import MemoryChannel, with_quiet_hours
from storage.models import InboundMessage, Invitation
from tests.conftest import Clock
from tests.helpers import deliver, trigger


def _invitation(service: Service) -> Invitation:
    with Session(service.store.engine) as session:
        return session.scalars(select(Invitation)).one()


def test_send_outside_the_window_is_deferred_to_its_start(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    with_quiet_hours(memory, QuietHours(start=time(9), end=time(20)))
    memory.zones["night-owl"] = ["America/New_York"]
    clock.now = datetime(2025, 6, 10, 3, 0, tzinfo=UTC)  # 23:00 in New York
    trigger(service, to="night-owl")
    assert deliver(service).deferred == 1
    assert memory.outbox == []
    row = _invitation(service)
    assert row.status == "scheduled"
    assert row.send_at == datetime(2025, 6, 10, 13, 0, tzinfo=UTC)  # 09:00 EDT
    clock.now = datetime(2025, 6, 10, 13, 0, tzinfo=UTC)
    assert deliver(service).sent == 1


def test_changed_survey_never_reinterprets_an_old_invitation(
    service: Service, memory: MemoryChannel
) -> None:
    trigger(service)
    deliver(service)
    old = service.surveys["support"]
    first: Question = old.questions[0]
    service.surveys["support"] = replace(
        old, questions=(replace(first, texts={"en": "Rate us 1-5"}), *old.questions[1:])
    )
    assert service.surveys["support"].version != old.version
    reply = service.handle_text("memory", "cust-1", "5")
    assert reply.reason == "survey_changed"
    with Session(service.store.engine) as session:
        assert session.scalars(select(InboundMessage.parsed_value)).all() == [None]  # type: ignore[call-overload]


def test_a_survey_not_yet_sent_goes_out_under_the_new_definition(
    service: Service, memory: MemoryChannel
) -> None:
    # An upgrade (or an edited surveys file) rewords the question while a survey is due.
    trigger(service)
    old = service.surveys["support"]
    first: Question = old.questions[0]
    service.surveys["support"] = replace(
        old, questions=(replace(first, texts={"en": "Rate us 1-5"}), *old.questions[1:])
    )
    report = deliver(service)
    assert (report.sent, report.failed) == (1, 0)
    assert "Rate us 1-5" in memory.outbox[-1].message.text
    assert _invitation(service).survey_version == service.surveys["support"].version
    reply = service.handle_text("memory", "cust-1", "5")
    assert reply.reason != "survey_changed"
    row = _invitation(service)
    assert row.status != "failed" and row.question_index >= 0


def test_raw_text_is_blanked_after_retention(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    trigger(service)
    deliver(service)
    service.handle_text("memory", "cust-1", "4")
    clock.advance(days=89)
    assert service.purge_raw() == 0
    clock.advance(days=2)
    assert service.purge_raw() == 1
    with Session(service.store.engine) as session:
        message = session.scalars(select(InboundMessage)).one()
    assert message.raw_text is None and message.parsed_value == 4


def test_console_renders_buttons_as_a_numbered_scale(service: Service) -> None:
    lines: list[str] = []
    service.channels["console"] = ConsoleChannel(write=lines.append)
    service.start_survey(SurveyRequest(channel="console", to="ann", interaction_id="T-9"))
    deliver(service)
    assert len(lines) == 1
    assert "[1] [2] [3] [4] [5]" in lines[0]
    assert "Acme" in lines[0]


def test_delivery_receipts_only_move_forward(service: Service, memory: MemoryChannel) -> None:
    trigger(service)
    deliver(service)
    provider_id = memory.pop().provider_message_id
    assert service.record_delivery("memory", provider_id, "delivered")
    assert not service.record_delivery("memory", provider_id, "sent")  # late, out of order
    assert not service.record_delivery("memory", "unknown-id", "delivered")
    row = _invitation(service)
    assert (row.delivery_status, row.status) == ("delivered", "sent")


def test_undelivered_survey_is_failed_and_not_counted_as_sent(
    service: Service, memory: MemoryChannel
) -> None:
    trigger(service)
    deliver(service)
    provider_id = memory.pop().provider_message_id
    assert service.record_delivery(
        "memory", provider_id, "undelivered", "30006: landline", opted_out=False
    )
    row = _invitation(service)
    assert (row.status, row.reason, row.last_error) == ("failed", "undelivered", "30006: landline")
    assert service.scores(service.parse_query("today"))["overall"]["sent"] == 0


def test_opt_out_receipt_suppresses(service: Service, memory: MemoryChannel) -> None:
    trigger(service)
    deliver(service)
    provider_id = memory.pop().provider_message_id
    service.record_delivery("memory", provider_id, "failed", "21610", opted_out=True)
    assert trigger(service, interaction="T-2").reason == "opted out"


class _OptOutWhileSending(MemoryChannel):
    """A provider slow on its first send, during which a later recipient texts STOP."""

    def __init__(self, service: Service, stops: str, pause: float) -> None:
        super().__init__()
        self.service, self.stops, self.pause = service, stops, pause

    async def send(self, address: str, outbound: OutboundMessage) -> SendResult:
        if not self.outbox:
            await asyncio.to_thread(self.service.opt_out, "memory", self.stops, "keyword")
            await asyncio.sleep(self.pause)
        return await super().send(address, outbound)


def test_an_opt_out_during_a_slow_batch_stops_the_later_sends(service: Service) -> None:
    """The batch reads the suppression list again once its last read is a second old: a STOP that
    arrives while a slow provider takes its time stops the sends that start after that."""
    channel = _OptOutWhileSending(service, stops="cust-b", pause=1.2)
    service.channels["memory"] = channel
    trigger(service, to="cust-a", interaction="T-A")
    trigger(service, to="cust-b", interaction="T-B")
    report = deliver(service)
    assert [sent.address for sent in channel.outbox] == ["cust-a"]
    assert report.sent == 1
    with Session(service.store.engine) as session:
        row = session.scalars(select(Invitation).where(Invitation.interaction_id == "T-B")).one()
    assert row.status in ("skipped", "cancelled")  # suppressed: never sent


def test_a_batch_reads_the_suppression_list_once_when_sends_are_fast(service: Service) -> None:
    """At full speed one query covers the batch (no query per send)."""
    statements: list[str] = []
    engine = service.store.engine
    for n in range(5):
        trigger(service, to=f"fast-{n}", interaction=f"T-F{n}")

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "suppression" in statement.lower():
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert deliver(service).sent == 5
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
