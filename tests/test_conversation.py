"""Whole conversations through the service, the sender and the in-memory channel."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session, col

from bot.errors import PermanentSendError, TransientSendError
from bot.requests import SurveyRequest
from bot.results import Outcome
from bot.service import Service
from channels.memory import MemoryChannel
from storage.models import Answer, InboundMessage, Invitation, Respondent, Suppression
from tests.conftest import Clock
from tests.helpers import deliver, trigger


def _answers(service: Service) -> list[Answer]:
    with Session(service.store.engine) as session:
        return list(session.scalars(select(Answer).order_by(Answer.id)))  # type: ignore[arg-type]


def _invitation(service: Service, interaction: str = "T-1") -> Invitation:
    with Session(service.store.engine) as session:
        row = session.scalars(
            select(Invitation).where(Invitation.interaction_id == interaction)  # type: ignore[arg-type]
        ).one()
        return row


def test_rating_then_comment_then_thanks(service: Service, memory: MemoryChannel) -> None:
    result = trigger(service, agent="alice", team="billing", touchpoint="support", locale="nl")
    assert result.status == "scheduled"
    assert deliver(service).sent == 1
    survey_message = memory.pop()
    assert survey_message.address == "cust-1"
    assert [b.value for b in survey_message.message.buttons] == [1, 2, 3, 4, 5]
    assert survey_message.message.invitation_id == result.invitation_id

    rating = service.handle_text("memory", "cust-1", "vijf", provider_message_id="m1")
    assert rating.reason == "rating"
    assert rating.replies[0].question_id == "comment"
    done = service.handle_text("memory", "cust-1", "Snel geholpen", provider_message_id="m2")
    assert done.reason == "comment" and done.closed

    answers = _answers(service)
    assert [(a.question_id, a.value, a.comment) for a in answers] == [
        ("csat", 5, None),
        ("comment", None, "Snel geholpen"),
    ]
    assert {a.agent for a in answers} == {"alice"} and {a.locale for a in answers} == {"nl"}
    assert _invitation(service).status == "completed"


def test_reprompts_twice_then_stores_unparsed(service: Service, memory: MemoryChannel) -> None:
    trigger(service)
    deliver(service)
    first = service.handle_text("memory", "cust-1", "10/10")
    second = service.handle_text("memory", "cust-1", "not bad")
    assert first.reason.startswith("reprompt:") and second.reason == "reprompt:no_number"
    third = service.handle_text("memory", "cust-1", "meh")
    assert third.reason == "unparsed" and third.closed
    assert _answers(service) == []
    with Session(service.store.engine) as session:
        raws = [m.raw_text for m in session.scalars(select(InboundMessage))]
    assert raws == ["10/10", "not bad", "meh"]
    assert _invitation(service).status == "unparsed"


def test_correction_while_open_latest_counts(service: Service, memory: MemoryChannel) -> None:
    trigger(service)
    deliver(service)
    service.handle_text("memory", "cust-1", "2")
    fixed = service.handle_text("memory", "cust-1", "4")
    assert fixed.reason == "correction"
    assert [(a.question_id, a.value, a.positive) for a in _answers(service)] == [("csat", 4, True)]
    service.handle_text("memory", "cust-1", "skip")
    button = service.handle_button("memory", "cust-1", _invitation(service).id or 0, "csat", 5)
    assert button.reason == "correction"
    assert [a.value for a in _answers(service)] == [5]


def test_adapters_read_a_typed_outcome(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    none_yet = service.handle_text("memory", "cust-1", "hello")
    assert none_yet.outcome is Outcome.NOT_AN_ANSWER
    trigger(service)
    deliver(service)
    assert service.handle_text("memory", "cust-1", "soon").outcome is Outcome.OTHER  # re-prompt
    assert service.handle_text("memory", "cust-1", "2").outcome is Outcome.RECORDED
    assert service.handle_text("memory", "cust-1", "4").outcome is Outcome.RECORDED  # correction
    assert service.handle_text("memory", "cust-1", "Slow but kind").outcome is Outcome.COMMENT
    assert service.handle_text("memory", "cust-1", "thanks!").outcome is Outcome.NOT_AN_ANSWER
    trigger(service, interaction="T-2", survey="nps")
    deliver(service)
    clock.advance(days=8)
    deliver(service)
    late = service.handle_text("memory", "cust-1", "9")
    assert (late.reason, late.outcome) == ("late", Outcome.CLOSED)


def test_late_reply_after_expiry_is_not_counted(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    trigger(service)
    deliver(service)
    clock.advance(days=8)
    deliver(service)
    assert _invitation(service).status == "expired"
    late = service.handle_text("memory", "cust-1", "5")
    assert late.reason == "late"
    assert "closed" in late.replies[0].text.lower()
    assert _answers(service) == []


def test_no_open_survey_records_nothing(service: Service) -> None:
    result = service.handle_text("memory", "stranger", "5", provider_message_id="x1")
    assert result.reason == "no_open_survey"
    with Session(service.store.engine) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_provider_retry_records_once_and_answers_the_same(
    service: Service, memory: MemoryChannel
) -> None:
    trigger(service)
    deliver(service)
    first = service.handle_text("memory", "cust-1", "4", provider_message_id="SM1")
    again = service.handle_text("memory", "cust-1", "4", provider_message_id="SM1")
    assert again.duplicate and not first.duplicate
    assert [r.text for r in again.replies] == [r.text for r in first.replies]
    assert len(_answers(service)) == 1


def test_idempotent_trigger(service: Service, memory: MemoryChannel) -> None:
    first = trigger(service)
    second = trigger(service)
    assert second.duplicate and second.invitation_id == first.invitation_id
    deliver(service)
    deliver(service)
    assert len(memory.outbox) == 1


def test_throttle_and_sampling_are_recorded_as_skips(service: Service) -> None:
    trigger(service, interaction="T-1")
    throttled = trigger(service, interaction="T-2")
    assert (throttled.status, throttled.reason) == ("skipped", "throttled")
    other = trigger(service, to="cust-2", interaction="T-3", customer_id="C-9")
    again = trigger(service, to="cust-3", interaction="T-4", customer_id="C-9")
    assert other.status == "scheduled" and again.reason == "throttled"


def test_a_batch_decides_each_item_as_one_trigger_after_another_would(
    service: Service, memory: MemoryChannel
) -> None:
    # History: cust-1 has a live survey (throttles), cust-2 opted out, cust-3 was erased.
    trigger(service, interaction="OLD-1")
    trigger(service, to="cust-2", interaction="OLD-2")
    deliver(service)
    service.handle_text("memory", "cust-2", "STOP")
    trigger(service, to="cust-3", interaction="OLD-3", survey="nps")
    service.forget("memory", "cust-3")
    batch = [
        {"to": "cust-1", "interaction_id": "OLD-1"},  # already triggered
        {"to": "cust-1", "interaction_id": "N-1"},  # throttled by OLD-1
        {"to": "cust-2", "interaction_id": "N-2"},  # opted out
        {"to": "cust-4", "interaction_id": "N-3"},  # new person: scheduled...
        {"to": "cust-4", "interaction_id": "N-4"},  # ...so this one is throttled by N-3
        {"to": "cust-5", "interaction_id": "N-5", "customer_id": "C-1"},
        {"to": "cust-6", "interaction_id": "N-6", "customer_id": "C-1"},  # same customer
        {"to": "cust-3", "interaction_id": "N-7"},  # erased earlier, contacted again
    ]
    results = service.start_surveys(
        [SurveyRequest.model_validate({"channel": "memory", **item}) for item in batch]
    )
    assert [(r.status, r.reason, r.duplicate) for r in results] == [
        ("sent", None, True),
        ("skipped", "throttled", False),
        ("skipped", "opted out", False),
        ("scheduled", None, False),
        ("skipped", "throttled", False),
        ("scheduled", None, False),
        ("skipped", "throttled", False),
        ("scheduled", None, False),
    ]
    assert [r.interaction_id for r in results] == [item["interaction_id"] for item in batch]
    assert len({r.invitation_id for r in results}) == len(batch)
    with Session(service.store.engine) as session:
        rows = {
            inv.interaction_id: inv
            for inv in session.scalars(
                select(Invitation).where(col(Invitation.id).in_([r.invitation_id for r in results]))
            )
        }
        assert {r.interaction_id for r in results} == set(rows)
        for result in results:
            assert rows[result.interaction_id].status == result.status
        again = session.get(Respondent, rows["N-7"].respondent_id)
        assert again is not None and again.address == "cust-3" and again.erased_at is None
        assert rows["N-3"].respondent_id == rows["N-4"].respondent_id


def test_stop_keyword_suppresses_and_confirms_once(service: Service, memory: MemoryChannel) -> None:
    trigger(service)
    deliver(service)
    stop = service.handle_text("memory", "cust-1", "STOP")
    assert stop.reason == "keyword:stop" and len(stop.replies) == 1
    assert "START" in stop.replies[0].text
    assert service.handle_text("memory", "cust-1", "stop").replies == ()
    assert _invitation(service).status == "cancelled"
    skipped = trigger(service, interaction="T-2")
    assert (skipped.status, skipped.reason) == ("skipped", "opted out")
    service.handle_text("memory", "cust-1", "START")
    with Session(service.store.engine) as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_transient_failure_retries_with_backoff_then_sends(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    trigger(service)
    memory.fail_next(TransientSendError("busy", code="429", retry_after=120))
    report = deliver(service)
    assert report.retried == 1 and memory.outbox == []
    row = _invitation(service)
    assert row.status == "scheduled" and row.attempts == 1 and "429" in (row.last_error or "")
    assert deliver(service).sent == 0
    clock.advance(seconds=121)
    assert deliver(service).sent == 1


def test_permanent_failure_recorded_and_opt_out_suppresses(
    service: Service, memory: MemoryChannel
) -> None:
    trigger(service)
    memory.fail_next(PermanentSendError("unsubscribed", code="21610", opted_out=True))
    assert deliver(service).failed == 1
    row = _invitation(service)
    assert row.status == "failed" and "21610" in (row.last_error or "")
    assert trigger(service, interaction="T-2").reason == "opted out"


def test_reminder_sent_once_when_unanswered(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    from dataclasses import replace
    from datetime import timedelta

    service.surveys["support"] = replace(
        service.surveys["support"], reminder_after=timedelta(hours=1)
    )
    trigger(service)
    deliver(service)
    memory.pop()
    clock.advance(hours=2)
    assert deliver(service).reminded == 1
    reminder = memory.pop()
    assert reminder.message.kind == "reminder"
    clock.advance(hours=2)
    deliver(service)
    assert memory.outbox == []


def test_cancel_before_answer(service: Service, memory: MemoryChannel) -> None:
    trigger(service, delay="10m")
    assert service.cancel("T-1") == 1
    deliver(service)
    assert memory.outbox == []


def test_very_long_reply_is_reprompted_quickly(service: Service, memory: MemoryChannel) -> None:
    trigger(service)
    deliver(service)
    result = service.handle_text("memory", "cust-1", "5 " + "great service " * 5000)
    assert result.reason == "reprompt:no_number"


def test_reply_for_a_named_invitation(service: Service, memory: MemoryChannel) -> None:
    first = trigger(service, to="cust-1", interaction="T-1")
    deliver(service)
    service.handle_text("memory", "cust-1", "2")
    named = service.handle_text(
        "memory", "cust-1", "slow answer", invitation_id=first.invitation_id
    )
    assert named.reason == "comment" and named.invitation_id == first.invitation_id
    other = service.handle_text("memory", "someone-else", "hi", invitation_id=first.invitation_id)
    assert other.reason == "no_open_survey"
