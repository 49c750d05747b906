"""Benchmark the SMS inbound webhook: many customers answering at once, against a bare baseline.

1. Prepares a SQLite database with N customers who each have an open survey: triggered through
   the service and sent by the real sender through the SMS channel to the fake Twilio API of the
   test-suite (so the invitations carry real provider message ids).
2. Runs ``csat serve --workers N`` itself (uvicorn, the app with its sender loop, and its default
   logging, access log included) on loopback, once per ``--workers`` count, each time on a fresh
   copy of the prepared database, and has ``--concurrency`` simulated customers post signed
   replies concurrently, each with its own MessageSid; about ``--duplicates`` of them are sent a
   second time, as Twilio does when our answer is slow, to prove they are not counted twice.
3. Does the same against a bare Starlette endpoint in another child process that only verifies the
   signature and inserts one row into a SQLite table (same WAL settings).
4. Prints replies/s and p50/p99 latency for both and whether the app met the targets (500
   replies/s, p99 under 100 ms), and checks in the database afterwards that every reply was
   recorded exactly once.

    python bench/sms_inbound.py                       # 3000 customers, 50 concurrent
    python bench/sms_inbound.py --customers 10000 --concurrency 100 --workers 2
    python bench/sms_inbound.py --database-url postgresql://postgres@127.0.0.1:5432/test

The exit status is non-zero only when an answer was lost or double-counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]  # noqa: E402

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "bench-auth-token"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
PUBLIC = "https://csat.example.com"
PATH = "/sms/inbound"
TARGET_RATE, TARGET_P99_MS = 500, 100
PG_BENCH_DATABASE = "csat_sms_bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _number(i: int) -> str:
    return f"+3161{i:07d}"


def _env(database_url: str, api_url: str) -> dict[str, str]:
    return {
        "CSAT_DATABASE_URL": database_url,
        "CSAT_PUBLIC_URL": PUBLIC,
        "CSAT_BRAND": "Acme",
        "CSAT_API_TOKEN": "bench-sms-inbound-token-0123456789",
        "CSAT_QUIET_START": "00:00",
        "CSAT_QUIET_END": "24:00",
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
        "TWILIO_API_URL": api_url,
    }


# -- the two servers (child processes) ------------------------------------------------------------


def app_command(port: int, workers: int) -> list[str]:
    """``csat serve`` itself: uvicorn, the app, the sender loop and its logging, as deployed."""
    return [
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def serve_bare(port: int, db: Path) -> None:
    """Signature check plus one INSERT: the floor any SMS webhook on this stack pays.

    The INSERT runs on the event loop, as the app's reply path does when nobody else is writing:
    a thread hop per request costs more than the INSERT itself.
    """
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    validator = RequestValidator(TOKEN)
    conn = sqlite3.connect(db, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")

    async def inbound(request: Request) -> Response:
        form = await request.form()
        signature = request.headers.get("x-twilio-signature", "")
        if not validator.validate(PUBLIC + request.url.path, form, signature):
            return Response("forbidden", status_code=403)
        with conn:
            conn.execute(
                "INSERT OR IGNORE INTO reply (sid, sender, body) VALUES (?, ?, ?)",
                (str(form["MessageSid"]), str(form["From"]), str(form["Body"])),
            )
        return Response(
            '<?xml version="1.0" encoding="UTF-8"?><Response />', media_type="application/xml"
        )

    app = Starlette(routes=[Route(PATH, inbound, methods=["POST"])])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=120,
    )


def _start(
    command: Sequence[str],
    env: dict[str, str],
    port: int,
    ready: str | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server and wait until it answers; with ``ready``, until every worker process
    answers a GET of that path. ``log`` takes what the server prints."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CSAT_", "TWILIO_"))}
    output = log.open("wb") if log is not None else None
    process = subprocess.Popen(
        list(command),
        cwd=ROOT,
        env={**clean, **env},
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
    if output is not None:
        output.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise SystemExit(f"server {command} did not start")
    if ready is not None:
        # Workers start after the port is bound, and a worker still importing takes no
        # connections: once the app answers, give the others time to catch up before timing.
        answered = 0
        while answered < 50 and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    probe = f"GET {ready} HTTP/1.1\r\nHost: bench\r\n\r\n"
                    sock.sendall(probe.encode())
                    answered += 1 if sock.recv(64).startswith(b"HTTP/1.1 200") else 0
            except OSError:
                time.sleep(0.1)
        time.sleep(3)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=15)


# -- preparation -----------------------------------------------------------------------------------


def prepare_app_db(database_url: str, customers: int) -> None:
    """N open surveys, each sent through the SMS channel to the fake Twilio API."""
    from bot.app.assembly import build_service
    from bot.requests import SurveyRequest
    from bot.sender import Sender
    from bot.settings import load_settings
    from channels.sms import build_adapter
    from storage.db import upgrade
    from tests.fakes.twilio_api import FakeTwilio

    fake = FakeTwilio(ACCOUNT, TOKEN)
    fake.start()
    saved = dict(os.environ)
    try:
        upgrade(database_url)
        os.environ.update(_env(database_url, fake.url))
        settings = load_settings(_env_file=None)
        adapter = build_adapter(settings)
        service = build_service(settings, channels={"sms": adapter.channel})
        for start in range(0, customers, 1000):
            batch = [
                SurveyRequest(
                    channel="sms", to=_number(i), interaction_id=f"B-{i}", agent=f"agent{i % 7}"
                )
                for i in range(start, min(customers, start + 1000))
            ]
            service.start_surveys(batch)

        async def send_all() -> int:
            sender, sent = Sender(service, batch=500), 0
            await adapter.channel.open()  # only the client: no webhooks here
            try:
                while sent < customers:
                    report = await sender.run_once()
                    if report.claimed == 0:
                        break
                    sent += report.sent
            finally:
                await adapter.stop()
            return sent

        sent = asyncio.run(send_all())
        if sent != customers or fake.problems:
            raise SystemExit(f"preparation failed: sent {sent}/{customers}, {fake.problems[:3]}")
        service.store.engine.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        fake.stop()


def age_sendings(database_url: str, hours: float) -> None:
    """Move every sending ``hours`` back, as if the customers answered that long after the
    survey: an answer to an invitation sent over an hour ago leaves a rollup mark (migration
    0007), the reply path's dearer case."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, sent_at FROM invitation")).all()
            shift = timedelta(hours=hours)
            moved = []
            for row in rows:
                sent = row[1]
                sent = datetime.fromisoformat(sent) if isinstance(sent, str) else sent
                moved.append({"id": row[0], "sent_at": sent - shift})
            connection.execute(
                text("UPDATE invitation SET sent_at = :sent_at WHERE id = :id"), moved
            )
    finally:
        engine.dispose()


def prepare_bare_db(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE reply (sid TEXT PRIMARY KEY, sender TEXT, body TEXT)")


# -- load ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    cpu: float  # server CPU seconds (user + system, all its processes) spent on the run
    client: float  # the load generator's own CPU seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.requests * 1000

    @property
    def client_ms(self) -> float:
        return self.client / self.requests * 1000

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def signed_replies(
    customers: int, duplicates: float, body: str = "4, quick and friendly"
) -> list[tuple[bytes, str]]:
    """(body, signature) per request, built before the clock starts: Twilio does the signing."""
    validator = RequestValidator(TOKEN)
    replies = []
    for i in range(customers):
        sid = f"SM{i:032x}"
        form = {
            "ToCountry": "NL",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "To": "+3197010000000",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT,
            "From": _number(i),
            "ApiVersion": "2010-04-01",
        }
        replies.append((urlencode(form).encode(), validator.compute_signature(PUBLIC + PATH, form)))
    step = max(1, round(1 / duplicates)) if duplicates > 0 else 0
    retries = replies[::step] if step else []
    return replies + retries


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants (uvicorn's workers): a figure the
    other load on a shared machine cannot skew the way it skews wall-clock rates."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in children)


class Connection:
    """One customer's keep-alive HTTP/1.1 connection, written by hand on asyncio streams.

    The load generator must cost far less than the server it measures: httpx's pool spent about
    11 ms of CPU per request here, more than the app itself, and capped both servers at the same
    rate. This costs a few hundredths of that. It speaks only what the two servers answer:
    ``Content-Length`` bodies, keep-alive.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        try:
            self.writer.write(request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await self.reader.readexactly(length)
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def http_request(port: int, body: bytes, signature: str) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Twilio-Signature: {signature}\r\n"
        "\r\n"
    )
    return head.encode() + body


async def hammer(
    name: str,
    server: subprocess.Popen[bytes],
    port: int,
    replies: list[tuple[bytes, str]],
    concurrency: int,
) -> Result:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body, signature in replies:
        queue.put_nowait(http_request(port, body, signature))
    latencies: list[float] = []
    transport_errors: list[int] = []
    errors = 0

    async def customer() -> None:
        nonlocal errors
        connection = Connection(port)
        try:
            while True:
                try:
                    request = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                began = time.perf_counter()
                for attempt in range(3):
                    try:
                        status, body = await connection.post(request)
                        break
                    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                        # Twilio retries too; the MessageSid keeps the retry from counting twice.
                        transport_errors.append(attempt)
                else:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - began)
                if status != 200 or not body.startswith(b"<?xml"):
                    errors += 1
        finally:
            await connection.close()

    cpu_before = cpu_seconds(server.pid)
    client_before = time.process_time()
    began = time.perf_counter()
    await asyncio.gather(*(customer() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    client = time.process_time() - client_before
    cpu = cpu_seconds(server.pid) - cpu_before
    if transport_errors:
        print(f"{name}: {len(transport_errors)} connection errors, retried", flush=True)
    return Result(name, len(replies), elapsed, latencies, errors, cpu, client)


def count_app(database_url: str) -> dict[str, int]:
    from sqlalchemy import text

    from storage.db import make_engine

    queries = {
        "answers": "SELECT count(*) FROM answer WHERE question_id = 'csat' AND value IS NOT NULL",
        "inbound": "SELECT count(*) FROM inbound_message",
        "responded": "SELECT count(*) FROM invitation WHERE responded_at IS NOT NULL",
    }
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return {k: int(connection.execute(text(q)).scalar_one()) for k, q in queries.items()}
    finally:
        engine.dispose()


def postgres_bench_url(url: str) -> str:
    """A database of the benchmark's own on the server ``url`` names, emptied for each run;
    nothing in the database ``url`` names is touched."""
    import psycopg
    from sqlalchemy.engine import make_url

    from storage.db import normalise_url

    target = make_url(normalise_url(url)).set(database=PG_BENCH_DATABASE)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.autocommit = True
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (PG_BENCH_DATABASE,)
        ).fetchone()
        if exists is None:
            conn.execute(f"CREATE DATABASE {PG_BENCH_DATABASE}")
    return target.render_as_string(hide_password=False)


def empty_postgres(database_url: str) -> None:
    import psycopg

    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        conn.autocommit = True
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def count_bare(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM reply").fetchone()[0])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument(
        "--workers",
        default="1,2",
        help="uvicorn worker processes for the app, comma-separated for one run each",
    )
    parser.add_argument(
        "--database-url",
        help="a postgresql:// URL: run the app on that server, in a database of its own "
        f"({PG_BENCH_DATABASE}), instead of SQLite",
    )
    parser.add_argument(
        "--sent-hours-ago",
        type=float,
        default=0.0,
        help="move the surveys' sending back this many hours before the replies (default 0: "
        "answered right after sending)",
    )
    parser.add_argument(
        "--body",
        default="4, quick and friendly",
        help='what every customer texts back (e.g. "1": a low rating, so each reply also '
        "raises an alert)",
    )
    parser.add_argument("--serve", choices=("bare",), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workers = [int(n) for n in str(args.workers).split(",")]
    if args.serve == "bare":
        serve_bare(args.port, args.db)
        return 0

    postgres = postgres_bench_url(args.database_url) if args.database_url else None
    with tempfile.TemporaryDirectory(prefix="csat-sms-bench-") as tmp:
        prepared, bare_db = Path(tmp) / "prepared.db", Path(tmp) / "bare.db"
        began = time.perf_counter()
        if postgres is None:
            prepare_app_db(f"sqlite:///{prepared}", args.customers)
            if args.sent_hours_ago:
                age_sendings(f"sqlite:///{prepared}", args.sent_hours_ago)
            print(
                f"prepared {args.customers} open SMS surveys in {time.perf_counter() - began:.1f}s",
                flush=True,
            )
        prepare_bare_db(bare_db)
        replies = signed_replies(args.customers, args.duplicates, args.body)
        results: list[Result] = []
        recorded: dict[str, str] = {}
        exact = True
        for n in workers:
            if postgres is None:
                app_db = Path(tmp) / f"app-{n}.db"
                copy_db(prepared, app_db)
                database_url = f"sqlite:///{app_db}"
            else:  # a fresh schema and the surveys sent again for each run
                database_url = postgres
                empty_postgres(database_url)
                began = time.perf_counter()
                prepare_app_db(database_url, args.customers)
                if args.sent_hours_ago:
                    age_sendings(database_url, args.sent_hours_ago)
                print(
                    f"prepared {args.customers} open SMS surveys on PostgreSQL in "
                    f"{time.perf_counter() - began:.1f}s",
                    flush=True,
                )
            name = f"csat app, {n} worker{'s' if n > 1 else ''}"
            port = _free_port()
            env = _env(database_url, "http://127.0.0.1:9")
            log = Path(tmp) / f"serve-{n}.log"
            server = _start(app_command(port, n), env, port, ready="/healthz", log=log)
            try:
                results.append(asyncio.run(hammer(name, server, port, replies, args.concurrency)))
            finally:
                _stop(server)
            counts = count_app(database_url)
            recorded[name] = (
                f"{counts['answers']} answers, {counts['inbound']} messages, "
                f"{counts['responded']} responded / {args.customers} expected"
            )
            exact = exact and (
                counts["answers"] == counts["inbound"] == counts["responded"] == args.customers
            )
        port = _free_port()
        bare = [sys.executable, str(Path(__file__).resolve()), "--serve", "bare"]
        server = _start([*bare, "--db", str(bare_db), "--port", str(port)], {}, port)
        try:
            results.append(
                asyncio.run(hammer("bare endpoint", server, port, replies, args.concurrency))
            )
        finally:
            _stop(server)
        bare_count = count_bare(bare_db)
        recorded["bare endpoint"] = f"{bare_count} rows / {args.customers} expected"
        exact = exact and bare_count == args.customers
    backend = "PostgreSQL" if postgres is not None else "SQLite WAL"
    return report(results, args.customers, args.concurrency, backend, recorded, exact)


def copy_db(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    with sqlite3.connect(target) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def report(
    results: Sequence[Result],
    customers: int,
    concurrency: int,
    backend: str,
    recorded: dict[str, str],
    exact: bool,
) -> int:
    duplicates = results[0].requests - customers
    print(
        f"\n{customers} customers, {duplicates} provider retries (same MessageSid), "
        f"{os.cpu_count()} CPUs, the app on {backend}\n"
    )
    print(
        f"{'endpoint':<22}{'replies/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/reply':>13}"
        f"{'client ms':>10}{'errors':>8}  recorded"
    )
    for r in results:
        print(
            f"{r.name:<22}{r.rate:>10.0f}{r.pct(0.50):>9.1f}{r.pct(0.99):>9.1f}"
            f"{r.cpu_ms:>13.2f}{r.client_ms:>10.2f}{r.errors:>8}  {recorded[r.name]}"
        )
    for r in results:
        if r.name.startswith("csat app"):
            met = r.rate >= TARGET_RATE and r.pct(0.99) < TARGET_P99_MS
            print(
                f"{r.name}: {'meets' if met else 'MISSES'} the target of {TARGET_RATE} replies/s "
                f"with p99 under {TARGET_P99_MS} ms at {concurrency} concurrent senders"
            )
    exact = exact and not any(r.errors for r in results)
    print("\nevery answer recorded exactly once" if exact else "\nLOST OR DOUBLE-COUNTED ANSWERS")
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
