"""The reply path's plumbing: the SQLite write turn (threads and processes), where the hub runs a
use case, the direct webhook routes, and the SMS signature check against the SDK's own verdict."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from bot.direct import DirectRoute, DirectRoutes
from bot.errors import InvalidInput
from bot.hub import Hub
from bot.service import Service
from channels.sms import SmsAdapter, _Params, build_adapter
from storage.db import make_engine, upgrade
from storage.models import Answer, InboundMessage
from storage.turn import WriteTurn
from tests.conftest import Clock
from tests.fakes.twilio_api import FakeTwilio
from tests.helpers import deliver, trigger
from tests.test_sms import (
    CUSTOMER,
    LEAD,
    PUBLIC,
    TOKEN,
    Phone,
    build_phone,
    count,
    offline,
    sms_settings,
)

__all__ = ["offline"]  # the SMS tests' autouse guard: nothing here may leave loopback

ROOT = Path(__file__).resolve().parents[1]


# -- the turn across processes ------------------------------------------------------------------


class Holder:
    """Another process that takes the write turn of ``database`` and keeps it until released."""

    def __init__(self, database: Path) -> None:
        script = textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from storage.turn import WriteTurn
            with WriteTurn({str(database)!r}):
                print("held", flush=True)
                sys.stdin.readline()
            print("released", flush=True)
            """
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "held"

    def release(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "released"
        self.process.stdin.close()
        self.process.stdout.close()
        self.process.wait(timeout=10)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "csat.db"


@pytest.fixture
def turn(database: Path) -> WriteTurn:
    return WriteTurn(str(database))


def test_a_turn_held_by_another_process_is_not_taken_until_it_is_released(
    database: Path, turn: WriteTurn
) -> None:
    holder = Holder(database)
    try:
        assert not turn.try_acquire()
        taken_at: list[float] = []

        def wait_for_turn() -> None:
            with turn:
                taken_at.append(time.monotonic())

        waiter = threading.Thread(target=wait_for_turn)
        waiter.start()
        time.sleep(0.3)
        assert taken_at == [], "the turn was taken while another process held it"
        released_at = time.monotonic()
    finally:
        holder.release()
    waiter.join(timeout=10)
    assert len(taken_at) == 1 and taken_at[0] >= released_at
    assert turn.try_acquire()
    turn.release()


def test_the_turn_is_reentrant_in_a_thread_and_free_again_after_the_outermost_release(
    database: Path, turn: WriteTurn
) -> None:
    with turn, turn:
        assert turn.try_acquire()  # the same thread again
        turn.release()
        other: list[bool] = []
        thread = threading.Thread(target=lambda: other.append(turn.try_acquire()))
        thread.start()
        thread.join()
        assert other == [False]
    holder = Holder(database)  # another process gets it once every level is released
    holder.release()


def test_the_loop_waits_for_another_process_without_blocking_and_in_arrival_order(
    database: Path, turn: WriteTurn
) -> None:
    holder = Holder(database)
    order: list[str] = []

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as waiter:
            queue = asyncio.Lock()

            async def write(name: str) -> None:
                async with queue:
                    await turn.acquire_on_loop(waiter)
                    order.append(name)
                    turn.release()

            # The other process lets go after 0.6 s whatever happens here, so a loop that
            # blocked would fail the count below instead of hanging.
            threading.Timer(0.6, holder.release).start()
            first = asyncio.create_task(write("first"))
            second = asyncio.create_task(write("second"))
            began, ticks = time.monotonic(), 0
            while time.monotonic() - began < 0.3:
                await asyncio.sleep(0.01)
                ticks += 1
            assert ticks >= 6, "the loop stood still while another process wrote"
            assert order == [] and not first.done()
            await asyncio.wait_for(asyncio.gather(first, second), 10)

    asyncio.run(main())
    assert order == ["first", "second"]
    assert turn.try_acquire()
    turn.release()


def test_a_cancelled_wait_for_the_turn_does_not_keep_it(database: Path, turn: WriteTurn) -> None:
    holder = Holder(database)

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as waiter:
            waiting = asyncio.create_task(turn.acquire_on_loop(waiter))
            await asyncio.sleep(0.1)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await asyncio.to_thread(holder.release)  # the waiter thread now gets the file...

    asyncio.run(main())  # ...and lets it go once it has it
    deadline = time.monotonic() + 5
    while not turn.try_acquire():
        assert time.monotonic() < deadline, "the cancelled wait kept the turn"
        time.sleep(0.01)
    turn.release()
    Holder(database).release()  # and so can any other process


def test_the_loop_refuses_to_take_the_turn_again_while_it_waits_for_it(
    database: Path, turn: WriteTurn
) -> None:
    holder = Holder(database)

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as waiter:
            waiting = asyncio.create_task(turn.acquire_on_loop(waiter))
            await asyncio.sleep(0.1)
            assert not turn.try_acquire()
            with pytest.raises(RuntimeError, match="already"), turn:
                pass
            await asyncio.to_thread(holder.release)
            await asyncio.wait_for(waiting, 10)
            turn.release()

    asyncio.run(main())
    assert turn.try_acquire()
    turn.release()


def test_the_turn_file_can_be_taken_by_a_user_who_cannot_write_it(tmp_path: Path) -> None:
    database = tmp_path / "csat.db"
    with WriteTurn(str(database)):
        pass
    companion = tmp_path / "csat.db-turn"
    assert companion.stat().st_mode & 0o044 == 0o044, "readable by the database's other users"
    companion.chmod(0o444)  # as another user sees a file someone else created
    turn = WriteTurn(str(database))
    assert turn.try_acquire()
    turn.release()


# -- where the hub runs a use case --------------------------------------------------------------


@pytest.fixture
def sqlite_phone(tmp_path: Path, clock: Clock, twilio: FakeTwilio) -> Iterator[Phone]:
    url = f"sqlite:///{tmp_path / 'csat.db'}"
    upgrade(url)
    engine = make_engine(url)
    phone = build_phone(url, engine, clock, twilio.url)
    yield phone
    phone.close()
    engine.dispose()


def _hold_turn(service: Service, seconds: float) -> threading.Thread:
    turn = service.store.turn
    assert turn is not None
    held = threading.Event()

    def hold() -> None:
        with turn:
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    return thread


def test_a_reply_waits_for_a_busy_turn_and_is_recorded_once(
    sqlite_phone: Phone,
) -> None:
    phone = sqlite_phone
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    form = phone.text_form(CUSTOMER, "4")
    holder = _hold_turn(phone.service, 0.4)
    began = time.monotonic()
    response = phone.post("/sms/inbound", form)
    waited = time.monotonic() - began
    holder.join()
    assert response.status_code == 200 and "Thanks" in response.text
    assert waited >= 0.2, "the reply was written while another thread held the turn"
    assert count(phone.service.store.engine, Answer) == 1
    assert count(phone.service.store.engine, InboundMessage) == 1


def test_a_writer_outside_the_turn_does_not_stall_the_loop(sqlite_phone: Phone) -> None:
    """A shell or a migration holding SQLite's lock: the loop's connection gives up at once and
    the reply is written on a thread once the lock is free; the loop serves on meanwhile."""
    phone = sqlite_phone
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    form = phone.text_form(CUSTOMER, "4")
    database = str(phone.service.store.engine.url.database)
    locked = threading.Event()

    def shell() -> None:
        with sqlite3.connect(database, isolation_level=None) as other:
            other.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(0.6)
            other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=shell)
    thread.start()
    assert locked.wait(5)

    async def reply_while_ticking() -> tuple[httpx.Response, int]:
        posting = asyncio.create_task(
            phone.client.post(
                "/sms/inbound",
                data=form,
                headers={
                    "X-Twilio-Signature": phone.signer.compute_signature(
                        PUBLIC + "/sms/inbound", form
                    )
                },
            )
        )
        ticks = 0
        began = time.monotonic()
        while time.monotonic() - began < 0.4:
            await asyncio.sleep(0.01)
            ticks += 1
        return await posting, ticks

    response, ticks = phone.run(reply_while_ticking())
    thread.join()
    assert ticks >= 8, "the loop stood still while another connection held SQLite"
    assert response.status_code == 200 and "Thanks" in response.text
    assert count(phone.service.store.engine, Answer) == 1
    assert count(phone.service.store.engine, InboundMessage) == 1


def test_long_reads_holding_connections_do_not_hold_up_a_reply(sqlite_phone: Phone) -> None:
    phone = sqlite_phone
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    engine = phone.service.store.engine
    held = [engine.raw_connection() for _ in range(20)]  # more than the pool keeps
    try:
        began = time.monotonic()
        assert phone.text(CUSTOMER, "4")
        assert time.monotonic() - began < 5
    finally:
        for connection in held:
            connection.close()
    assert count(engine, Answer) == 1


def test_a_leads_score_is_read_without_waiting_for_the_write_turn(sqlite_phone: Phone) -> None:
    phone = sqlite_phone
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    phone.text(CUSTOMER, "5")
    holder = _hold_turn(phone.service, 3.0)
    try:
        began = time.monotonic()
        [summary] = phone.text(LEAD, "SCORE")
        assert time.monotonic() - began < 2.0, "the report waited for the writers"
        assert "n=1" in summary
    finally:
        holder.join()


def test_other_methods_on_the_direct_sms_routes_get_405_from_the_router(
    sqlite_phone: Phone,
) -> None:
    for path in ("/sms/inbound", "/sms/status"):
        response = sqlite_phone.run(sqlite_phone.client.get(path))
        assert response.status_code == 405 and response.headers["allow"] == "POST"


# -- direct routes ------------------------------------------------------------------------------


def _refuse(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=422)


def test_a_direct_route_keeps_the_apps_exception_handlers() -> None:
    async def broken(request: Request) -> Response:
        raise InvalidInput("'Body' is not a rating")

    async def fine(request: Request) -> Response:
        return PlainTextResponse(request.scope["endpoint"].__name__)

    routes = [
        DirectRoute("/a", broken, methods=["POST"]),
        DirectRoute("/b", fine, methods=["POST"]),
    ]
    handlers: dict[Any, Any] = {InvalidInput: _refuse}
    app = Starlette(
        routes=list(routes),
        exception_handlers=handlers,
        middleware=[Middleware(DirectRoutes, routes=routes, exception_handlers=handlers)],
    )

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            refused = await client.post("/a")
            assert refused.status_code == 422
            assert refused.json() == {"error": "'Body' is not a rating"}
            assert (await client.post("/b")).text == "fine"
            assert (await client.get("/b")).status_code == 405
            assert (await client.post("/c")).status_code == 404

    asyncio.run(main())


def test_a_direct_route_needs_a_fixed_path() -> None:
    async def endpoint(request: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match="fixed path"):
        DirectRoutes(
            Starlette(),
            routes=[DirectRoute("/sms/{tenant}", endpoint, methods=["POST"])],
            exception_handlers={},
        )


# -- the signature check agrees with the SDK ----------------------------------------------------


def _adapter(public_url: str) -> SmsAdapter:
    return SmsAdapter(
        channel=build_adapter(sms_settings("sqlite:///unused.db", "http://127.0.0.1:9")).channel,
        auth_token=TOKEN,
        public_url=public_url,
        brand="Acme",
    )


def _request(path: str, query: str) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": query.encode(),
        "headers": [],
    }
    return Request(scope)


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    public=st.sampled_from(
        [PUBLIC, PUBLIC + ":443", "http://csat.example.com", "http://csat.example.com:8080"]
    ),
    signed_public=st.sampled_from(
        [PUBLIC, PUBLIC + ":443", "http://csat.example.com:80", "http://csat.example.com:8080"]
    ),
    path=st.sampled_from(["/sms/inbound", "/sms/status"]),
    query=st.sampled_from(["", "tenant=a", "a=1&b=%20x"]),
    form=st.lists(st.tuples(st.sampled_from(["Body", "From", "To", "x"]), _text), max_size=5),
    algorithm=st.sampled_from(["HMAC_SHA1", "HMAC_SHA256"]),
    tamper=st.booleans(),
)
def test_signature_check_gives_the_sdks_verdict(
    public: str,
    signed_public: str,
    path: str,
    query: str,
    form: list[tuple[str, str]],
    algorithm: str,
    tamper: bool,
) -> None:
    validator = RequestValidator(TOKEN)
    signed_url = signed_public + path + (f"?{query}" if query else "")
    params = _Params(list(form))
    signature = validator.compute_signature(signed_url, params, algorithm)
    if tamper:
        params = _Params([*form, ("Body", "forged")])
    expected_url = public + path + (f"?{query}" if query else "")
    expected = validator.validate(expected_url, params, signature, algorithm)
    adapter = _adapter(public)
    assert adapter.signature_matches(_request(path, query), params, signature, algorithm) is (
        expected
    )


def test_an_unknown_signature_algorithm_is_refused_by_name(sqlite_phone: Phone) -> None:
    phone = sqlite_phone
    phone.trigger(CUSTOMER, "T-1")
    phone.deliver()
    form = phone.text_form(CUSTOMER, "5")
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=k1,algorithm=HMAC_MD5"}
    response = phone.post("/sms/inbound", form, headers=settings)
    assert response.status_code == 403
    assert response.json() == {"error": "unsupported signature algorithm 'HMAC_MD5'"}
    assert count(phone.service.store.engine, InboundMessage) == 0


def test_a_hub_writes_again_after_it_was_closed(service: Service) -> None:
    """The app's lifespan closes the hub; an app started again must still write (PostgreSQL
    writes run on the hub's writer threads)."""
    hub = Hub(service)
    trigger(service)
    deliver(service)
    hub.close()
    assert asyncio.run(hub.opt_out("memory", "cust-1", "closed and opened again"))
