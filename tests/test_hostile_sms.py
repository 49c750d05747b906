"""Hostile input on the SMS webhooks: unsigned floods must not hold up the event loop, and odd
or malicious forms get a 4xx (or, signed and merely odd, a polite 200) with nothing stored."""

from __future__ import annotations

import base64
import select as io_select
import socket
import sqlite3
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from channels.sms import MAX_FORM_BYTES
from storage.models import Answer, InboundMessage
from tests.conftest import TWILIO_ACCOUNT as ACCOUNT
from tests.conftest import TWILIO_TOKEN as TOKEN
from tests.conftest import Clock
from tests.fakes.twilio_api import FakeTwilio
from tests.helpers import start_serve
from tests.test_sms import CUSTOMER, Phone, build_phone, count, invitation

PUBLIC = "https://csat.example.com"
# About 1 MB in 330 000 fields: just under the app's generic 1 MB body limit.
FLOOD_BODY = b"a=&" * 330_000
# Well-formed (base64 of 20 bytes, as HMAC-SHA1) and wrong.
WRONG_SIGNATURE = base64.b64encode(b"\x01" * 20).decode()


class Served:
    """``csat serve`` in a child process, its output read as it comes: a flood writes thousands
    of access-log lines, and a full pipe would block the server's own logging."""

    def __init__(self, base: str, database: Path, process: subprocess.Popen[str]) -> None:
        self.base, self.database, self.process = base, database, process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self._reader.join(timeout=20)
        return "".join(self.lines)


@pytest.fixture
def served(tmp_path: Path, twilio: FakeTwilio) -> Iterator[Served]:
    database = tmp_path / "csat.db"
    env = {
        "CSAT_DATABASE_URL": f"sqlite:///{database}",
        "CSAT_API_TOKEN": "t0ken-for-the-tests-0123",
        "CSAT_SENDER_INTERVAL": "0.5",
        "CSAT_PUBLIC_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": "+3197010000000",
        "TWILIO_API_URL": twilio.url,
    }
    base, process = start_serve(env, tmp_path)
    server = Served(base, database, process)
    yield server
    server.stop()
    if process.stdout is not None:
        process.stdout.close()


def _hostile_post(port: int, path: str, chunked: bool, signature: str | None) -> str:
    """One ~1 MB form post; the status the server answered, or how the connection ended.

    The body goes out in 64 kB pieces, and the client stops sending as soon as an answer is
    there (a server may answer before it has read everything)."""
    head = [f"POST {path} HTTP/1.1", "Host: csat.example.com"]
    head.append("Content-Type: application/x-www-form-urlencoded")
    if signature is not None:
        head.append(f"X-Twilio-Signature: {signature}")
    if chunked:
        head.append("Transfer-Encoding: chunked")
    else:
        head.append(f"Content-Length: {len(FLOOD_BODY)}")
    step = 65_536
    pieces = [FLOOD_BODY[i : i + step] for i in range(0, len(FLOOD_BODY), step)]
    if chunked:
        pieces = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces] + [b"0\r\n\r\n"]
    received = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for piece in pieces:
                if io_select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(piece)
            while b"\r\n" not in received:
                data = sock.recv(4096)
                if not data:
                    break
                received += data
    except (ConnectionResetError, BrokenPipeError):
        if b"\r\n" not in received:
            return "reset"
    except TimeoutError:
        return "timeout"
    line = received.split(b"\r\n", 1)[0].split()
    return line[1].decode() if len(line) > 1 else "closed"


def _healthz_latencies(base: str, seconds: float) -> list[float]:
    latencies = []
    with httpx.Client(base_url=base, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            latencies.append(time.perf_counter() - start)
            time.sleep(0.01)
    return latencies


def _figures(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p90 = ordered[int(len(ordered) * 0.9)]
    return (
        f"n={len(ordered)} median={statistics.median(ordered) * 1000:.1f} ms "
        f"p90={p90 * 1000:.1f} ms max={ordered[-1] * 1000:.1f} ms"
    )


def test_unsigned_megabyte_floods_do_not_hold_up_healthz(served: Served) -> None:
    base, database = served.base, served.database
    port = int(base.rsplit(":", 1)[1])
    quiet = _healthz_latencies(base, 1.0)

    stop = threading.Event()
    outcomes: list[str] = []

    def flood(i: int) -> None:
        path = "/sms/inbound" if i % 2 == 0 else "/sms/status"
        signature = None if i == 7 else WRONG_SIGNATURE
        while not stop.is_set():
            outcomes.append(_hostile_post(port, path, chunked=i % 4 >= 2, signature=signature))

    threads = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)  # the flood is under way
        loaded = _healthz_latencies(base, 4.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    print(f"\n/healthz alone:        {_figures(quiet)}")
    print(f"/healthz under flood:  {_figures(loaded)}")
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    print(f"hostile posts answered: {counts}")

    assert len(outcomes) >= 16, "the flood ran"
    assert not any(o.startswith(("2", "5")) for o in outcomes), counts
    assert statistics.median(loaded) < 0.1, _figures(loaded)
    assert max(loaded) < 1.0, _figures(loaded)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM inbound_message").fetchone()[0] == 0
    output = served.stop()
    assert "Traceback" not in output and " 500 " not in output


# -- hostile forms through the app (SQLite and PostgreSQL) ------------------------------------


FORM = "application/x-www-form-urlencoded"
SHA1_LOOKING = base64.b64encode(b"\x02" * 20)  # a well-formed signature header, wrong


@pytest.fixture
def phone(
    database_url: str, db_engine: Engine, clock: Clock, twilio: FakeTwilio
) -> Iterator[Phone]:
    client = build_phone(database_url, db_engine, clock, twilio.url)
    client.trigger(CUSTOMER, "T-1")
    assert client.deliver().sent == 1
    yield client
    client.close()


def _post_raw(
    phone: Phone, path: str, body: bytes, signed: dict[str, Any] | None, **headers: str
) -> httpx.Response:
    """``body`` as it is, signed over the parameters ``signed`` (as the app would parse them)."""
    given = {"content-type": FORM, **headers}
    if signed is not None:
        given["X-Twilio-Signature"] = phone.signer.compute_signature(PUBLIC + path, signed)
    response: httpx.Response = phone.run(phone.client.post(path, content=body, headers=given))
    return response


def _nothing_stored(phone: Phone) -> None:
    engine = phone.service.store.engine
    assert count(engine, InboundMessage) == 0 and count(engine, Answer) == 0
    row = invitation(engine, "T-1")
    assert row.status == "sent" and row.delivery_status is None


def _signed_form(phone: Phone, path: str, pairs: list[tuple[str, str]]) -> httpx.Response:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    body = urlencode(pairs).encode()
    return _post_raw(phone, path, body, _Fields(grouped))


class _Fields(dict[str, list[str]]):
    """Fields with repeated values, for the SDK's signer (it asks for ``getall``)."""

    def getall(self, key: str) -> list[str]:
        return self[key]


def _text_pairs(phone: Phone, body: str, **extra: str) -> list[tuple[str, str]]:
    return list(phone.text_form(CUSTOMER, body, **extra).items())


HOSTILE_FORMS: dict[str, tuple[int, Any]] = {
    # name: (status, the form's pairs from the phone's text_form, or raw (bytes, signed params))
    "duplicated From": (400, lambda p: [*_text_pairs(p, "5"), ("From", "+31611111111")]),
    "duplicated MessageSid": (400, lambda p: [*_text_pairs(p, "5"), ("MessageSid", "SM2")]),
    "duplicated Body": (400, lambda p: [*_text_pairs(p, "5"), ("Body", "1")]),
    "201 fields": (413, lambda p: _text_pairs(p, "5") + [(f"x{i}", "") for i in range(201)]),
    "100 kB of text": (413, lambda p: _text_pairs(p, "5 " + "very good " * 10_000)),
    "MessageSid with NUL": (400, lambda p: _text_pairs(p, "5", MessageSid="SM\x001")),
    "MessageSid of 500 characters": (400, lambda p: _text_pairs(p, "5", MessageSid="S" * 500)),
    "no From": (400, lambda p: [(k, v) for k, v in _text_pairs(p, "5") if k != "From"]),
    "no MessageSid": (
        400,
        lambda p: [(k, v) for k, v in _text_pairs(p, "5") if "Sid" not in k or k == "AccountSid"],
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE_FORMS))
def test_hostile_but_signed_forms_are_refused_and_store_nothing(phone: Phone, name: str) -> None:
    status, pairs = HOSTILE_FORMS[name]
    response = _signed_form(phone, "/sms/inbound", pairs(phone))
    assert response.status_code == status, response.text
    assert response.json()["error"]
    _nothing_stored(phone)


@pytest.mark.parametrize(
    ("raw_body", "as_parsed"),
    [
        (b"Body=5\xff\xfe great", "5\ufffd\ufffd great"),
        (b"Body=%ZZ5%", "%ZZ5%"),
        (b"Body=5%FF%FE", "5\ufffd\ufffd"),
        (b"Body=5%E2%82", "5\ufffd"),
    ],
    ids=["not-utf8", "bad-percent-escape", "escaped-not-utf8", "escaped-truncated-utf8"],
)
def test_badly_encoded_forms_are_refused_and_store_nothing(
    phone: Phone, raw_body: bytes, as_parsed: str
) -> None:
    rest = [(k, v) for k, v in _text_pairs(phone, "5") if k != "Body"]
    body = urlencode(rest).encode() + b"&" + raw_body
    signed = {**dict(rest), "Body": as_parsed}  # what a lenient parser would have read
    response = _post_raw(phone, "/sms/inbound", body, signed)
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    _nothing_stored(phone)


def test_nul_bytes_in_a_reply_are_dropped_not_stored(phone: Phone) -> None:
    response = _signed_form(phone, "/sms/inbound", _text_pairs(phone, "4\x00 quick\x00\x00"))
    assert response.status_code == 200, response.text
    assert "<Message>" in response.text
    with Session(phone.service.store.engine) as session:
        [raw] = session.scalars(select(col(InboundMessage.raw_text))).all()
        [value] = session.scalars(select(col(Answer.value))).all()
    assert raw == "4 quick" and value == 4


def test_a_long_signed_reply_is_answered_and_stored_truncated(phone: Phone) -> None:
    phone.text(CUSTOMER, "2")
    comment = "Te traag. " + "\u00e9\u4e2d" * 3000  # 6010 characters, 45 kB escaped
    pairs = _text_pairs(phone, comment)
    response = _signed_form(phone, "/sms/inbound", pairs)
    assert response.status_code == 200, response.text
    with Session(phone.service.store.engine) as session:
        raws = session.scalars(select(col(InboundMessage.raw_text))).all()
        comments = session.scalars(
            select(col(Answer.comment)).where(col(Answer.comment).is_not(None))
        ).all()
    assert max(len(r or "") for r in raws) <= 4000
    assert [len(c or "") for c in comments] == [4000]


@pytest.mark.parametrize("sender", ["hello", "+1", "ACME", "\x00" * 3, "9" * 300])
def test_a_sender_that_is_not_a_phone_number_gets_an_empty_answer(
    phone: Phone, sender: str
) -> None:
    pairs = [(k, sender if k == "From" else v) for k, v in _text_pairs(phone, "5")]
    response = _signed_form(phone, "/sms/inbound", pairs)
    assert response.status_code == 200, response.text
    assert "<Message" not in response.text
    _nothing_stored(phone)


def test_a_status_callback_with_nul_bytes_and_a_long_error_is_stored_cleaned(
    phone: Phone,
) -> None:
    sid = invitation(phone.service.store.engine, "T-1").provider_message_id
    assert sid is not None
    pairs = [
        ("MessageSid", sid),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003\x00"),
        ("ErrorMessage", "Unreachable\x00 " + "x" * 10_000),
        ("AccountSid", ACCOUNT),
    ]
    response = _signed_form(phone, "/sms/status", pairs)
    assert response.status_code == 204, response.text
    row = invitation(phone.service.store.engine, "T-1")
    assert row.delivery_status == "undelivered"
    assert row.last_error is not None and "\x00" not in row.last_error
    assert row.last_error.startswith("30003: Unreachable ") and len(row.last_error) <= 500


def test_a_sha256_signature_is_accepted(phone: Phone) -> None:
    form = phone.text_form(CUSTOMER, "5")
    signature = phone.signer.compute_signature(PUBLIC + "/sms/inbound", form, "HMAC_SHA256")
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=k1,algorithm=HMAC_SHA256"}
    response = phone.post("/sms/inbound", form, signature=signature, headers=settings)
    assert response.status_code == 200, response.text
    assert count(phone.service.store.engine, Answer) == 1


def test_a_client_that_goes_away_mid_form_gets_no_traceback(phone: Phone) -> None:
    headers = [(b"content-type", FORM.encode()), (b"x-twilio-signature", SHA1_LOOKING)]
    status, read = _asgi_post(phone, headers, iter([b"Body=5&", b"From="]), disconnect=True)
    assert (status, read) == (400, 3)
    _nothing_stored(phone)


# -- refused before the body is read (ASGI level) ---------------------------------------------


def _asgi_post(
    phone: Phone,
    headers: list[tuple[bytes, bytes]],
    chunks: Iterator[bytes],
    *,
    disconnect: bool = False,
) -> tuple[int, int]:
    """POST /sms/inbound straight into the app: (status, how many body chunks it read)."""
    read = 0
    status = 0

    async def receive() -> MutableMapping[str, Any]:
        nonlocal read
        read += 1
        chunk = next(chunks, None)
        if chunk is None:
            if disconnect:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/sms/inbound",
        "raw_path": b"/sms/inbound",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"internal:8000"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    phone.run(phone.app(scope, receive, send))
    return status, read


def _endless(size: int = 16_384) -> Iterator[bytes]:
    while True:
        yield b"a=&" * (size // 3)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([(b"content-type", FORM.encode())], 403),
        ([(b"content-type", FORM.encode()), (b"x-twilio-signature", b"forged")], 403),
        (
            [
                (b"content-type", FORM.encode()),
                (b"x-twilio-signature", base64.b64encode(b"1" * 19)),
            ],
            403,
        ),
        (
            [
                (b"content-type", FORM.encode()),
                (b"x-twilio-signature", SHA1_LOOKING),
                (b"x-twilio-webhooks-signature-settings", b"algorithm=HMAC_MD5"),
            ],
            403,
        ),
        (
            [
                (b"content-type", FORM.encode()),
                (b"x-twilio-signature", SHA1_LOOKING),
                (b"x-twilio-webhooks-signature-settings", b"algorithm=HMAC_SHA256"),
            ],
            403,
        ),
        ([(b"content-type", b"application/json"), (b"x-twilio-signature", SHA1_LOOKING)], 400),
        (
            [
                (b"content-type", FORM.encode()),
                (b"x-twilio-signature", SHA1_LOOKING),
                (b"content-length", b"990000"),
            ],
            413,
        ),
    ],
    ids=[
        "no-signature",
        "garbage-signature",
        "19-byte-signature",
        "unknown-algorithm",
        "sha1-length-for-sha256",
        "not-a-form",
        "declared-too-long",
    ],
)
def test_refused_before_reading_the_body(
    phone: Phone, headers: list[tuple[bytes, bytes]], status: int
) -> None:
    assert _asgi_post(phone, headers, _endless()) == (status, 0)
    _nothing_stored(phone)


def test_an_undeclared_long_body_is_refused_once_past_the_cap(phone: Phone) -> None:
    headers = [(b"content-type", FORM.encode()), (b"x-twilio-signature", SHA1_LOOKING)]
    status, read = _asgi_post(phone, headers, _endless(16_384))
    assert status == 413
    assert read <= MAX_FORM_BYTES // 16_384 + 1
    _nothing_stored(phone)
