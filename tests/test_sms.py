"""The Twilio SMS channel through the real app: signed webhooks in, a contract-checking fake
Twilio REST API out (reached only through ``TWILIO_API_URL``), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from bot.app.web import create_app
from bot.errors import ConfigError
from bot.sender import SendReport
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from bot.texts import is_gsm7
from channels.sms import SmsAdapter, build_adapter
from channels.sms_text import segments
from storage.models import Answer, InboundMessage, Invitation, Suppression
from storage.sql_store import SqlStore
from tests.conftest import TWILIO_ACCOUNT, TWILIO_TOKEN, Clock
from tests.fakes.twilio_api import FakeTwilio, load_contract

ACCOUNT, TOKEN = TWILIO_ACCOUNT, TWILIO_TOKEN
SERVICE_SID = "MG" + "fedcba9876543210" * 2
PUBLIC = "https://csat.example.com"
LEAD = "+31612345678"
CUSTOMER = "+31687654321"
NEW_YORK = "+12125550123"
AUTH = {"authorization": "Bearer test-token-0123456789"}
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def _fixture_forms() -> dict[str, dict[str, str]]:
    path = FIXTURES / "twilio_inbound.json"
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {name: dict(parse_qsl(body, keep_blank_values=True)) for name, body in raw.items()}


FIXTURE_FORMS = _fixture_forms()
# The fields Twilio posts for an incoming SMS, for when ../shared/fixtures is absent.
INBOUND_FIELDS = FIXTURE_FORMS.get("received") or {
    "ToCountry": "US",
    "SmsMessageSid": "",
    "NumMedia": "0",
    "SmsSid": "",
    "SmsStatus": "received",
    "Body": "",
    "To": "",
    "NumSegments": "1",
    "MessageSid": "",
    "AccountSid": "",
    "From": "",
    "ApiVersion": "2010-04-01",
}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any name lookup other than loopback fails the test: nothing may reach a real provider."""
    real = socket.getaddrinfo
    attempts: list[str] = []

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(name)
            raise OSError(f"network guard: tests may not resolve {name}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield attempts
    assert attempts == [], f"tried to reach {attempts}"


def sms_settings(database_url: str, api_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "csat_database_url": database_url,
        "csat_api_token": "test-token-0123456789",
        "csat_leads": f"sms:{LEAD}",
        "csat_brand": "Acme",
        "csat_contact": "help@acme.example",
        "csat_timezone": "Europe/Amsterdam",
        "csat_public_url": PUBLIC + "/",
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_messaging_service_sid": SERVICE_SID,
        "twilio_api_url": api_url,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Phone:
    """The app as Twilio sees it: signed form posts in, TwiML out; the sender runs on demand.

    Requests go to ``http://internal:8000`` (what a reverse proxy forwards to) while Twilio
    signs the public URL, as in production behind a TLS-terminating proxy.
    """

    def __init__(self, service: Service, adapter: SmsAdapter) -> None:
        self.service = service
        self.adapter = adapter
        self.app = create_app(service, adapters=[adapter])
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://internal:8000")
        self.signer = RequestValidator(TOKEN)
        self._sids = iter(range(1, 1_000_000))
        self.run(adapter.start(self.app.state.hub))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.adapter.stop())
        self.run(self.client.aclose())
        self.loop.close()

    def post(
        self,
        path: str,
        form: dict[str, str],
        *,
        signed_for: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = signed_for if signed_for is not None else PUBLIC + path
        given = dict(headers or {})
        if signature is None:
            signature = self.signer.compute_signature(url, form)
        if signature:
            given["X-Twilio-Signature"] = signature
        return self.run(self.client.post(path, data=form, headers=given))

    def text_form(
        self, sender: str, body: str, sid: str | None = None, **extra: str
    ) -> dict[str, str]:
        sid = sid or f"SM{next(self._sids):032x}"
        form = dict(INBOUND_FIELDS)
        form.update(
            {
                "From": sender,
                "To": "+12028831111",
                "Body": body,
                "MessageSid": sid,
                "SmsMessageSid": sid,
                "SmsSid": sid,
                "AccountSid": ACCOUNT,
            }
        )
        form.update(extra)
        return form

    def text(self, sender: str, body: str, sid: str | None = None, **extra: str) -> list[str]:
        """A customer's text; returns the texts of the TwiML answer."""
        response = self.post("/sms/inbound", self.text_form(sender, body, sid, **extra))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        return [m.text or "" for m in ET.fromstring(response.text).iter("Message")]

    def status(self, sid: str, status: str, error: str | None = None) -> httpx.Response:
        form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT}
        if error:
            form["ErrorCode"] = error
        return self.post("/sms/status", form)

    def trigger(self, to: str, interaction: str, **extra: Any) -> dict[str, Any]:
        body = {"channel": "sms", "to": to, "interaction_id": interaction, **extra}
        response = self.run(self.client.post("/v1/surveys", json=body, headers=AUTH))
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    def deliver(self) -> SendReport:
        report: SendReport = self.run(self.app.state.sender.run_once())
        return report

    def api(self, path: str) -> Any:
        response = self.run(self.client.get(path, headers=AUTH))
        assert response.status_code == 200, response.text
        return response.json()


def build_phone(database_url: str, engine: Engine, clock: Clock, api_url: str) -> Phone:
    settings = sms_settings(database_url, api_url)
    adapter = build_adapter(settings)
    service = Service(
        settings=settings,
        store=SqlStore(engine),
        surveys=builtin_surveys(),
        channels={"sms": adapter.channel},
        clock=clock,
        rng=random.Random(7),
    )
    return Phone(service, adapter)


@pytest.fixture
def phone(
    database_url: str, db_engine: Engine, clock: Clock, twilio: FakeTwilio
) -> Iterator[Phone]:
    client = build_phone(database_url, db_engine, clock, twilio.url)
    yield client
    client.close()


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def invitation(engine: Engine, interaction: str) -> Invitation:
    with Session(engine) as session:
        row = session.scalars(
            select(Invitation).where(Invitation.interaction_id == interaction)  # type: ignore[arg-type]
        ).one()
        return row


# -- whole conversations -----------------------------------------------------------------------


def test_conversation_from_trigger_to_score(phone: Phone, twilio: FakeTwilio) -> None:
    engine = phone.service.store.engine
    phone.trigger("+31 6 8765 4321", "T-1", agent="alice", locale="nl")
    assert phone.deliver().sent == 1
    [out] = twilio.messages
    assert out["To"] == CUSTOMER and out["MessagingServiceSid"] == SERVICE_SID
    assert out["StatusCallback"] == f"{PUBLIC}/sms/status"
    body = out["Body"]
    assert "Acme" in body and "1 tot en met 5" in body and "STOP" in body
    assert is_gsm7(body) and segments(body) <= 2

    sid = invitation(engine, "T-1").provider_message_id
    assert sid is not None and sid.startswith("SM")
    assert phone.status(sid, "sent").status_code == 204
    assert phone.status(sid, "delivered").status_code == 204

    follow_up = phone.text(CUSTOMER, "vijf")
    assert any("Wat is de belangrijkste reden" in t for t in follow_up), follow_up
    assert not any("STOP" in t for t in follow_up)
    thanks = phone.text(CUSTOMER, "Heel snel geholpen, top!")
    assert any("Bedankt" in t for t in thanks), thanks

    [score] = phone.text(LEAD, "SCORE")
    assert "CSAT 100.0%" in score and "n=1" in score and "Europe/Amsterdam" in score
    assert is_gsm7(score)

    [row] = phone.api("/v1/responses")["responses"]
    assert row["rating"] == 5 and row["comment"] == "Heel snel geholpen, top!"
    assert row["agent"] == "alice" and row["delivery_status"] == "delivered"
    assert count(engine, Answer) == 2


def test_fixture_shaped_inbound_without_open_survey_records_nothing(phone: Phone) -> None:
    answer = phone.text(CUSTOMER, "4")
    assert answer and "no open survey" in answer[0]
    engine = phone.service.store.engine
    assert count(engine, Answer) == 0 and count(engine, InboundMessage) == 0


def test_same_message_sid_twice_records_once_and_answers_the_same(phone: Phone) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    first = phone.text(CUSTOMER, "4", sid="SM" + "1" * 32)
    again = phone.text(CUSTOMER, "4", sid="SM" + "1" * 32)
    assert first == again and first
    engine = phone.service.store.engine
    assert count(engine, InboundMessage) == 1 and count(engine, Answer) == 1


def test_reply_is_matched_to_the_senders_own_invitation(phone: Phone) -> None:
    other = "+31611111111"
    phone.trigger(CUSTOMER, "T-1", agent="alice")
    phone.trigger(other, "T-2", agent="bob")
    assert phone.deliver().sent == 2
    phone.text(other, "2")
    phone.text(CUSTOMER, "5 great")
    ratings = {r["agent"]: r["rating"] for r in phone.api("/v1/responses")["responses"]}
    assert ratings == {"alice": 5, "bob": 2}


def test_unparseable_reply_is_reprompted(phone: Phone) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    [reprompt] = phone.text(CUSTOMER, "10/10")
    assert "1 to 5" in reprompt
    assert count(phone.service.store.engine, Answer) == 0


def test_late_reply_is_told_the_survey_closed(phone: Phone, clock: Clock) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    clock.advance(hours=25)
    phone.deliver()
    answer = phone.text(CUSTOMER, "5")
    assert any("closed" in t for t in answer), answer
    assert count(phone.service.store.engine, Answer) == 0


# -- signatures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature", ["", "bm90IGEgc2lnbmF0dXJl", "forged"], ids=["missing", "wrong", "garbage"]
)
def test_unsigned_or_forged_inbound_is_refused_and_stores_nothing(
    phone: Phone, signature: str
) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    form = phone.text_form(CUSTOMER, "5")
    response = phone.post("/sms/inbound", form, signature=signature)
    assert response.status_code == 403 and "X-Twilio-Signature" in response.json()["error"]
    engine = phone.service.store.engine
    assert count(engine, InboundMessage) == 0 and count(engine, Answer) == 0


def test_signature_over_other_params_is_refused(phone: Phone) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    form = phone.text_form(CUSTOMER, "1")
    signature = phone.signer.compute_signature(f"{PUBLIC}/sms/inbound", form)
    tampered = {**form, "Body": "5"}
    response = phone.post("/sms/inbound", tampered, signature=signature)
    assert response.status_code == 403
    assert count(phone.service.store.engine, Answer) == 0


def test_behind_a_proxy_the_public_url_is_what_counts(phone: Phone) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    internal = phone.post(
        "/sms/inbound",
        phone.text_form(CUSTOMER, "5"),
        signed_for="http://internal:8000/sms/inbound",
    )
    assert internal.status_code == 403
    assert count(phone.service.store.engine, Answer) == 0
    # Twilio signs https://csat.example.com/sms/inbound; the app is reached at http://internal.
    assert phone.text(CUSTOMER, "5")
    assert count(phone.service.store.engine, Answer) == 1


def test_forged_status_callback_changes_nothing(phone: Phone) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    sid = invitation(phone.service.store.engine, "T-1").provider_message_id
    assert sid is not None
    form = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610"}
    assert phone.post("/sms/status", form, signature="forged").status_code == 403
    row = invitation(phone.service.store.engine, "T-1")
    assert row.status == "sent" and row.delivery_status is None
    assert count(phone.service.store.engine, Suppression) == 0


@pytest.mark.parametrize(
    ("path", "form", "content_type"),
    [
        ("/sms/inbound", {"Body": "5", "From": CUSTOMER}, None),
        ("/sms/inbound", {"Body": "5", "MessageSid": "SM1"}, None),
        ("/sms/status", {"MessageSid": "SM1"}, None),
        ("/sms/status", {"MessageSid": "SM1", "MessageStatus": "teleported"}, None),
        ("/sms/inbound", {"Body": "5"}, "application/json"),
    ],
    ids=["no-sid", "no-from", "no-status", "unknown-status", "json-body"],
)
def test_signed_but_malformed_requests_get_a_clear_400(
    phone: Phone, path: str, form: dict[str, str], content_type: str | None
) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    if content_type is None:
        response = phone.post(path, form)
    else:
        signature = phone.signer.compute_signature(PUBLIC + path, {})
        response = phone.run(
            phone.client.post(
                path,
                content=json.dumps(form),
                headers={"content-type": content_type, "X-Twilio-Signature": signature},
            )
        )
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]
    engine = phone.service.store.engine
    assert count(engine, InboundMessage) == 0 and count(engine, Answer) == 0
    assert invitation(engine, "T-1").delivery_status is None


# -- opt-out compliance ----------------------------------------------------------------------------


def test_stop_suppresses_confirms_once_and_blocks_later_surveys(
    phone: Phone, twilio: FakeTwilio
) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    [confirmation] = phone.text(CUSTOMER, "Stop")
    assert "unsubscribed" in confirmation and "Acme" in confirmation
    assert phone.text(CUSTOMER, "STOP") == []
    engine = phone.service.store.engine
    assert count(engine, Suppression) == 1
    assert invitation(engine, "T-1").status == "cancelled"
    result = phone.trigger(CUSTOMER, "T-2")
    assert (result["status"], result["reason"]) == ("skipped", "opted out")
    phone.deliver()
    assert len(twilio.messages) == 1


def test_start_resubscribes_and_help_names_brand_and_contact(phone: Phone) -> None:
    phone.text(CUSTOMER, "UNSUBSCRIBE")
    [back] = phone.text(CUSTOMER, "start")
    assert "STOP" in back
    assert count(phone.service.store.engine, Suppression) == 0
    [info] = phone.text(CUSTOMER, "HELP")
    assert "Acme" in info and "help@acme.example" in info and "STOP" in info


def test_twilio_opt_out_type_is_honoured_without_a_second_confirmation(phone: Phone) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    assert phone.text(CUSTOMER, "ARRET", OptOutType="STOP") == []
    engine = phone.service.store.engine
    assert count(engine, Suppression) == 1
    assert phone.trigger(CUSTOMER, "T-2")["reason"] == "opted out"
    assert phone.text(CUSTOMER, "OUI", OptOutType="START") == []
    assert count(engine, Suppression) == 0


def test_error_21610_on_send_opts_the_number_out(phone: Phone, twilio: FakeTwilio) -> None:
    twilio.answer(21610)
    phone.trigger(CUSTOMER, "T-1")
    report = phone.deliver()
    assert report.failed == 1 and len(twilio.messages) == 1
    engine = phone.service.store.engine
    row = invitation(engine, "T-1")
    assert row.status == "failed" and row.reason == "opted out"
    assert row.last_error is not None and row.last_error.startswith("21610")
    assert count(engine, Suppression) == 1
    assert phone.trigger(CUSTOMER, "T-2")["reason"] == "opted out"


def test_error_21610_in_a_status_callback_opts_the_number_out(phone: Phone) -> None:
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    engine = phone.service.store.engine
    sid = invitation(engine, "T-1").provider_message_id
    assert sid is not None
    failed = FIXTURE_FORMS.get("status_failed_21610") or {"ErrorCode": "21610", "To": CUSTOMER}
    form = {**failed, "MessageSid": sid, "MessageStatus": "failed", "To": CUSTOMER}
    assert phone.post("/sms/status", form).status_code == 204
    row = invitation(engine, "T-1")
    assert row.delivery_status == "failed"
    assert row.last_error is not None and row.last_error.startswith("21610: ")
    assert count(engine, Suppression) == 1
    assert phone.trigger(CUSTOMER, "T-2")["reason"] == "opted out"


# -- provider failures, quiet hours, delivery receipts ---------------------------------------------


def test_429_and_500_are_retried_with_retry_after(
    phone: Phone, twilio: FakeTwilio, clock: Clock
) -> None:
    twilio.answer((429, 120), 500)
    phone.trigger(CUSTOMER, "T-1")
    assert phone.deliver().retried == 1
    engine = phone.service.store.engine
    row = invitation(engine, "T-1")
    assert row.status == "scheduled" and row.attempts == 1
    assert row.last_error is not None and row.last_error.startswith("429")
    assert row.send_at.replace(tzinfo=UTC) >= clock.now + timedelta(seconds=120)
    clock.advance(minutes=3)
    assert phone.deliver().retried == 1
    assert invitation(engine, "T-1").last_error.startswith("500")  # type: ignore[union-attr]
    clock.advance(minutes=30)
    assert phone.deliver().sent == 1
    assert invitation(engine, "T-1").status == "sent"
    assert len(twilio.messages) == 3


def test_new_york_number_at_23h_is_deferred_to_9_local(
    phone: Phone, twilio: FakeTwilio, clock: Clock
) -> None:
    clock.now = datetime(2025, 6, 11, 3, 0, tzinfo=UTC)  # 23:00 in New York (EDT)
    phone.trigger(NEW_YORK, "T-NY")
    assert phone.deliver().deferred == 1
    assert twilio.messages == []
    send_at = invitation(phone.service.store.engine, "T-NY").send_at.replace(tzinfo=UTC)
    assert send_at == datetime(2025, 6, 11, 13, 0, tzinfo=UTC)  # 09:00 EDT
    clock.now = send_at
    assert phone.deliver().sent == 1
    assert [m["To"] for m in twilio.messages] == [NEW_YORK]


def test_status_moves_forward_only_and_undelivered_leaves_the_response_rate(
    phone: Phone,
) -> None:
    engine = phone.service.store.engine
    phone.trigger(CUSTOMER, "T-1")
    phone.trigger("+31611111111", "T-2")
    phone.deliver()
    first = invitation(engine, "T-1").provider_message_id
    second = invitation(engine, "T-2").provider_message_id
    assert first and second
    for state in ("delivered", "sent", "queued"):
        assert phone.status(first, state).status_code == 204
    assert invitation(engine, "T-1").delivery_status == "delivered"
    phone.status(second, "sent")
    assert phone.status(second, "undelivered", "30003").status_code == 204
    rows = {r["interaction_id"]: r for r in phone.api("/v1/responses")["responses"]}
    assert rows["T-2"]["delivery_status"] == "undelivered"
    assert rows["T-2"]["status"] == "failed"
    assert rows["T-2"]["last_error"].startswith("30003: ")
    scores = phone.api("/v1/scores?period=today")
    assert scores["overall"]["sent"] == 1


# -- leads -----------------------------------------------------------------------------------------


def test_lead_asks_score_week_and_by_agent(phone: Phone) -> None:
    phone.trigger(CUSTOMER, "T-1", agent="alice")
    phone.trigger("+31611111111", "T-2", agent="bob")
    phone.deliver()
    phone.text(CUSTOMER, "5")
    phone.text("+31611111111", "2")
    [week] = phone.text(LEAD, "SCORE week")
    assert "week" in week and "n=2" in week and "CSAT 50.0%" in week
    [by_agent] = phone.text(LEAD, "score 7d by agent")
    assert "alice:" in by_agent and "bob:" in by_agent and "previous" in by_agent
    for text in (week, by_agent):
        assert is_gsm7(text) and segments(text) <= 3


@pytest.mark.parametrize(
    "query", ["0001-01-01", "9999-12-31", "0001-01-01..0001-01-03 by agent", "\x00", "x" * 1500]
)
def test_a_lead_asking_for_an_impossible_period_gets_a_polite_answer(
    phone: Phone, query: str
) -> None:
    [answer] = phone.text(LEAD, f"SCORE {query}")
    assert "CSAT" not in answer and answer.strip()


def test_non_lead_asking_for_score_is_refused(phone: Phone) -> None:
    [refusal] = phone.text(CUSTOMER, "SCORE week")
    assert "only available to team leads" in refusal
    assert "CSAT" not in refusal


# -- configuration and the fake itself ------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"csat_public_url": None}, "CSAT_PUBLIC_URL"),
        ({"twilio_messaging_service_sid": None}, "TWILIO_MESSAGING_SERVICE_SID"),
    ],
)
def test_build_adapter_names_the_missing_setting(missing: dict[str, Any], named: str) -> None:
    settings = sms_settings("sqlite:///unused.db", "http://127.0.0.1:9", **missing)
    with pytest.raises(ConfigError, match=named):
        build_adapter(settings)


def test_from_number_is_used_without_a_messaging_service(
    database_url: str, db_engine: Engine, clock: Clock, twilio: FakeTwilio
) -> None:
    settings = sms_settings(
        database_url,
        twilio.url,
        twilio_messaging_service_sid=None,
        twilio_from_number="+12028831111",
    )
    adapter = build_adapter(settings)
    service = Service(
        settings=settings,
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"sms": adapter.channel},
        clock=clock,
    )
    client = Phone(service, adapter)
    try:
        client.trigger(CUSTOMER, "T-1")
        assert client.deliver().sent == 1
        [out] = twilio.messages
        assert out["From"] == "+12028831111" and "MessagingServiceSid" not in out
    finally:
        client.close()


def test_fake_twilio_checks_the_contract(twilio: FakeTwilio) -> None:
    messages = f"{twilio.url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    with httpx.Client() as http:
        no_to = http.post(messages, data={"Body": "hi"}, auth=(ACCOUNT, TOKEN))
        bad_auth = http.post(messages, data={"To": CUSTOMER, "Body": "x"}, auth=(ACCOUNT, "no"))
        wrong_method = http.get(f"{twilio.url}/2010-04-01/Accounts/{ACCOUNT}/Nope.json")
    assert no_to.status_code == 400 and "required parameter To missing" in no_to.text
    assert "basic auth" in bad_auth.text
    assert "no such path" in wrong_method.text
    twilio.reset()


def test_twilio_contract_is_loaded_from_shared_specs() -> None:
    contract = load_contract()
    if contract.skipped:
        pytest.skip(contract.skipped)
    assert contract.source == "twilio_api_v2010.json"
    assert len(contract.operations) > 100
