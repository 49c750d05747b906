"""The fast reply path keeps the old behaviour: retries, races, corrections, stored replies, TwiML.

The reply use case runs on prebuilt Core statements and relies on the UNIQUE provider message id
instead of looking it up first; these tests pin what that must not change, on both databases.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]

from bot.channel import Button, OutboundMessage
from bot.results import decode_replies as _decode
from bot.results import encode_replies as _encode
from bot.service import Service
from channels.memory import MemoryChannel
from channels.sms import _Params, twiml_text
from storage.models import Answer, InboundMessage, Invitation
from tests.conftest import Clock
from tests.helpers import deliver, trigger


def _count(service: Service, model: type) -> int:
    with Session(service.store.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _invitation(service: Service) -> Invitation:
    with Session(service.store.engine) as session:
        return session.scalars(select(Invitation)).one()


def _answers(service: Service) -> list[tuple[str, int | None, str | None, bool, bool]]:
    with Session(service.store.engine) as session:
        rows = session.scalars(select(Answer).order_by(Answer.id))  # type: ignore[arg-type]
        return [(a.question_id, a.value, a.comment, a.positive, a.negative) for a in rows]


def test_retry_after_the_survey_closed_answers_what_was_answered_first(
    service: Service, memory: MemoryChannel
) -> None:
    trigger(service)
    deliver(service)
    first = service.handle_text("memory", "cust-1", "4", provider_message_id="m1")
    service.handle_text("memory", "cust-1", "great", provider_message_id="m2")
    assert _invitation(service).status == "completed"
    again = service.handle_text("memory", "cust-1", "4", provider_message_id="m1")
    assert again.duplicate and again.reason == "rating"
    assert again.replies == first.replies and again.invitation_id == first.invitation_id
    assert _count(service, InboundMessage) == 2
    assert _answers(service) == [
        ("csat", 4, None, True, False),
        ("comment", None, "great", False, False),
    ]


def test_retry_of_an_answered_message_from_an_erased_respondent_is_still_a_retry(
    service: Service, memory: MemoryChannel
) -> None:
    trigger(service)
    deliver(service)
    service.handle_text("memory", "cust-1", "2", provider_message_id="m1")
    service.forget("memory", "cust-1")
    again = service.handle_text("memory", "cust-1", "2", provider_message_id="m1")
    assert again.duplicate and again.reason == "rating"
    assert _count(service, InboundMessage) == 1


def test_unknown_sender_is_told_there_is_no_survey_and_nothing_is_written(
    service: Service,
) -> None:
    result = service.handle_text("memory", "stranger", "5", provider_message_id="m1")
    assert result.reason == "no_open_survey" and not result.duplicate
    assert _count(service, InboundMessage) == 0


def test_correction_overwrites_the_rating_and_keeps_one_row(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    trigger(service)
    deliver(service)
    first = clock.now
    service.handle_text("memory", "cust-1", "2", provider_message_id="m1")
    clock.advance(minutes=1)
    fixed = service.handle_text("memory", "cust-1", "5", provider_message_id="m2")
    assert fixed.reason == "correction"
    assert _answers(service) == [("csat", 5, None, True, False)]
    assert _invitation(service).responded_at == first
    with Session(service.store.engine) as session:
        answered = session.scalars(select(Answer.answered_at)).one()  # type: ignore[call-overload]
    assert answered == clock.now


def test_responded_at_is_the_first_answer_and_closed_at_the_last(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    trigger(service)
    deliver(service)
    sent_version = _invitation(service).version
    first = clock.now
    service.handle_text("memory", "cust-1", "3", provider_message_id="m1")
    clock.advance(minutes=5)
    service.handle_text("memory", "cust-1", "fine", provider_message_id="m2")
    invitation = _invitation(service)
    assert invitation.responded_at == first
    assert invitation.closed_at == clock.now
    assert invitation.status == "completed" and invitation.version == sent_version + 2


def test_unparsed_reply_records_its_reason(service: Service, memory: MemoryChannel) -> None:
    trigger(service)
    deliver(service)
    for text in ("what?", "no idea", "meh"):
        service.handle_text("memory", "cust-1", text)
    invitation = _invitation(service)
    assert invitation.status == "unparsed" and invitation.reason == "unparsed reply"
    assert invitation.responded_at is None and invitation.closed_at is not None
    assert _answers(service) == []


def test_the_same_message_from_many_threads_is_recorded_once(
    service: Service, memory: MemoryChannel
) -> None:
    trigger(service)
    deliver(service)
    results = []
    barrier = threading.Barrier(6)

    def reply() -> None:
        barrier.wait()
        results.append(service.handle_text("memory", "cust-1", "4", provider_message_id="m1"))

    threads = [threading.Thread(target=reply) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    assert sum(not r.duplicate for r in results) == 1
    assert {r.replies for r in results} == {results[0].replies}
    assert _count(service, InboundMessage) == 1
    assert _answers(service) == [("csat", 4, None, True, False)]


def test_racing_replies_to_one_survey_are_applied_one_after_the_other(
    service: Service, memory: MemoryChannel
) -> None:
    trigger(service)
    deliver(service)
    sent_version = _invitation(service).version
    barrier = threading.Barrier(2)
    reasons: list[str] = []

    def reply(sid: str, text: str) -> None:
        barrier.wait()
        reasons.append(
            service.handle_text("memory", "cust-1", text, provider_message_id=sid).reason
        )

    threads = [
        threading.Thread(target=reply, args=("a", "4")),
        threading.Thread(target=reply, args=("b", "5")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Whichever came second saw the first one's rating: it corrects it, never inserts a second.
    assert sorted(reasons) == ["correction", "rating"]
    assert len(_answers(service)) == 1
    assert _invitation(service).version == sent_version + 2


def test_a_closed_survey_answers_late_without_touching_the_invitation(
    service: Service, memory: MemoryChannel, clock: Clock
) -> None:
    trigger(service)
    deliver(service)
    sent_version = _invitation(service).version
    clock.advance(days=30)
    late = service.handle_text("memory", "cust-1", "5", provider_message_id="m1")
    assert late.reason in ("late", "closed") and not late.duplicate
    assert _invitation(service).version == sent_version
    assert _count(service, InboundMessage) == 1
    again = service.handle_text("memory", "cust-1", "5", provider_message_id="m1")
    assert again.duplicate and again.reason == late.reason


messages = st.builds(
    OutboundMessage,
    text=st.text(),
    buttons=st.lists(st.builds(Button, label=st.text(), value=st.integers())).map(tuple),
    hint=st.none() | st.text(),
    invitation_id=st.none() | st.integers(),
    question_id=st.none() | st.text(),
    question_kind=st.none() | st.text(),
    kind=st.sampled_from(["survey", "reminder", "reply", "alert"]),
    locale=st.none() | st.text(max_size=5),
)


@given(st.lists(messages, max_size=3))
def test_stored_replies_are_what_asdict_gave(replies: list[OutboundMessage]) -> None:
    assert _encode(replies) == json.dumps([asdict(r) for r in replies])
    assert _decode(_encode(replies)) == tuple(replies)


def _sdk_twiml(texts: list[str]) -> str:
    document = MessagingResponse()
    for text in texts:
        document.message(text)
    return str(document)


xml_text = st.text(st.characters(blacklist_categories=("Cs",)))


@settings(max_examples=300)
@given(st.lists(xml_text, max_size=3))
def test_twiml_is_byte_for_byte_what_the_sdk_writes(texts: list[str]) -> None:
    replies = [OutboundMessage(text=t) for t in texts]
    rendered = [_render(r) for r in replies]
    assert twiml_text(replies, brand="Acme") == _sdk_twiml(rendered)


def _render(reply: OutboundMessage) -> str:
    from channels.sms_text import render

    return render(reply, brand="Acme")


def test_twiml_escapes_markup_and_keeps_the_empty_response() -> None:
    assert twiml_text([], brand="Acme") == _sdk_twiml([])
    reply = OutboundMessage(text='<b>"R&D"</b> > 4')
    assert '&lt;b&gt;"R&amp;D"&lt;/b&gt; &gt; 4' in twiml_text([reply], brand="Acme")


# -- csat serve --workers ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CSAT_", "SLACK_", "TWILIO_", "TELEGRAM_"))
        },
        "CSAT_DATABASE_URL": f"sqlite:///{tmp_path / 'csat.db'}",
        "CSAT_API_TOKEN": "t0ken-for-the-tests-0123",
        "CSAT_SENDER_INTERVAL": "0.2",
        "CSAT_BRAND": "Acme",
        **extra,
    }


def test_serve_with_two_workers_sends_every_survey_once(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"authorization": "Bearer t0ken-for-the-tests-0123"}
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("csat serve --workers 2 did not start")
        batch = [
            {"channel": "console", "to": f"c{i}", "interaction_id": f"W-{i}"} for i in range(20)
        ]
        created = httpx.post(f"{base}/v1/surveys", headers=auth, json=batch, timeout=10)
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + 20
        statuses: list[str] = []
        while time.monotonic() < deadline:
            rows = httpx.get(f"{base}/v1/responses", headers=auth, timeout=10).json()["responses"]
            statuses = [r["status"] for r in rows]
            if statuses.count("sent") == 20:
                break
            time.sleep(0.2)
        assert statuses.count("sent") == 20
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert "workers: 2" in output
    # The console channel prints each survey it sends: twenty, from whichever worker claimed it.
    assert output.count("How would you rate") == 20, output


def test_serve_refuses_several_workers_when_a_channel_long_polls(tmp_path: Path) -> None:
    env = _env(tmp_path, TELEGRAM_BOT_TOKEN="123456:" + "A" * 35)
    finished = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", str(_free_port()), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode != 0
    assert "long-polls" in finished.stdout + finished.stderr


pairs = st.lists(
    st.tuples(st.sampled_from(["Body", "From", "MessageSid", "To", "X"]), st.text(max_size=8)),
    max_size=8,
)


@given(pairs)
def test_the_validator_signs_the_same_fields_as_from_the_form(
    fields: list[tuple[str, str]],
) -> None:
    validator = RequestValidator("token")
    url = "https://csat.example.com/sms/inbound"
    form_pairs: list[tuple[str, str | UploadFile]] = list(fields)
    expected = validator.compute_signature(url, FormData(form_pairs))
    assert validator.compute_signature(url, _Params(form_pairs)) == expected
    assert validator.validate(url, _Params(form_pairs), expected)
    assert not validator.validate(url, _Params([*form_pairs, ("Body", "forged")]), expected) or (
        ("Body", "forged") in fields
    )
