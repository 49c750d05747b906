"""Benchmark the trigger path and the sender: surveys accepted per second, surveys sent per second.

1. **Accept.** A real ``csat serve`` (SMS channel on, every survey delayed an hour so that nothing
   is sent yet) takes ``--requests`` POSTs of ``--items`` surveys each on ``/v1/surveys``, one
   after the other, each to a new phone number. Baseline, in the same run: a bare batched insert
   of the same rows into an empty copy of the invitation table (``executemany`` on the driver,
   one transaction per request), the floor any trigger path is measured against.
2. **Drain.** The server is stopped, every accepted survey is made due, and one ``csat worker``
   sends them to the fake Twilio API (answering at once) until none is left. Baseline: the same
   number of message creations posted straight to the fake by one ``httpx`` client, the fake's
   own ceiling on this machine.

Targets: 10 000 surveys accepted in under 2 s on SQLite (4 s on PostgreSQL); the worker drains
at 300 surveys/s or more.

    python bench/trigger.py                       # SQLite, 10 x 1000
    python bench/trigger.py --database-url postgresql://postgres@127.0.0.1:5432/test
    (on PostgreSQL it works in a database of its own, csat_trigger_bench, made anew each run)
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from storage.db import is_sqlite, make_engine, normalise_url, upgrade  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

TOKEN = "bench-trigger-token-0123456789abcdef"
ACCOUNT = "AC" + "0123456789abcdef" * 2
AUTH = "bench-twilio-auth-token"
ACCEPT_TARGET = {"sqlite": 2.0, "postgresql": 4.0}
DRAIN_TARGET = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"csat serve did not answer on {url}")


def count(database_url: str, where: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(text(f"SELECT count(*) FROM invitation WHERE {where}")).scalar()
            return int(found or 0)
    finally:
        engine.dispose()


def execute(database_url: str, sql: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def own_database(server_url: str) -> str:
    """A database of its own on that server (dropped and made anew), so the benchmark never
    touches the tables of the database named in the URL."""
    import psycopg

    url = normalise_url(server_url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS csat_trigger_bench")
        conn.execute("CREATE DATABASE csat_trigger_bench")
    return url.rsplit("/", 1)[0] + "/csat_trigger_bench"


def items(request: int, size: int) -> list[dict[str, Any]]:
    return [
        {
            "channel": "sms",
            "to": f"+3161{request * size + i:07d}",
            "interaction_id": f"B-{request}-{i}",
            "agent": f"agent-{i % 20}",
            "delay": "1h",
        }
        for i in range(size)
    ]


def bare_insert(database_url: str, requests: int, size: int) -> float:
    """The floor: the same rows inserted by the driver, one transaction per request."""
    now = datetime.now(UTC).isoformat()
    rows = [
        (f"B-{r}-{i}", "support", "v", "sms", None, f"agent-{i % 20}", "en", "scheduled", now, now)
        for r in range(requests)
        for i in range(size)
    ]
    columns = (
        "interaction_id, survey, survey_version, channel, throttle_key, agent, locale, status, "
        "created_at, send_at"
    )
    if is_sqlite(database_url):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bare.db"
            source = sqlite3.connect(database_url.split("///", 1)[1])
            schema = source.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'invitation' AND sql IS NOT NULL"
            ).fetchall()
            source.close()
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            for (sql,) in schema:
                conn.execute(sql)  # the foreign key is not enforced: foreign_keys is off
            placeholders = ", ".join("?" * 10)
            started = time.perf_counter()
            for r in range(requests):
                with conn:
                    conn.executemany(
                        f"INSERT INTO invitation ({columns}, version, attempts, question_index, "
                        f"reprompts) VALUES ({placeholders}, 0, 0, 0, 0)",
                        rows[r * size : (r + 1) * size],
                    )
            elapsed = time.perf_counter() - started
            conn.close()
            return elapsed
    import psycopg

    url = normalise_url(database_url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bare_invitation")
        conn.execute("CREATE TABLE bench_bare_invitation (LIKE invitation INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        for r in range(requests):
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO bench_bare_invitation ({columns}, version, attempts, "
                    "question_index, reprompts) VALUES "
                    f"({', '.join(['%s'] * 10)}, 0, 0, 0, 0)",
                    rows[r * size : (r + 1) * size],
                )
            conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_bare_invitation")
        conn.commit()
        return elapsed


def bare_sends(fake: FakeTwilio, total: int) -> float:
    """The fake's own ceiling: message creations posted by one client, one after the other."""
    url = f"{fake.url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    with httpx.Client(auth=(ACCOUNT, AUTH)) as client:
        started = time.perf_counter()
        for i in range(total):
            client.post(url, data={"To": f"+3162{i:07d}", "From": "+3197010000000", "Body": "x"})
        return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    args = parser.parse_args(argv)
    total = args.requests * args.items
    fake = FakeTwilio(ACCOUNT, AUTH)
    fake.start()
    with tempfile.TemporaryDirectory() as workdir:
        database_url = args.database_url or f"sqlite:///{workdir}/trigger.db"
        backend = "sqlite" if is_sqlite(database_url) else "postgresql"
        if backend == "postgresql":
            database_url = own_database(database_url)
        upgrade(database_url)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CSAT_", "TWILIO_"))},
            "CSAT_DATABASE_URL": database_url,
            "CSAT_API_TOKEN": TOKEN,
            "CSAT_PUBLIC_URL": "https://csat.example.com",
            "CSAT_QUIET_START": "00:00",
            "CSAT_QUIET_END": "24:00",
            "CSAT_SENDER_INTERVAL": "0.2",
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": AUTH,
            "TWILIO_FROM_NUMBER": "+3197010000000",
            "TWILIO_API_URL": fake.url,
        }
        port = free_port()
        serve = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(url)
            bodies = [items(r, args.items) for r in range(args.requests)]
            per_request: list[float] = []
            with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300) as api:
                started = time.perf_counter()
                for body in bodies:
                    begun = time.perf_counter()
                    response = api.post(f"{url}/v1/surveys", json=body)
                    per_request.append(time.perf_counter() - begun)
                    if response.status_code != 201:
                        raise SystemExit(f"{response.status_code}: {response.text[:300]}")
                accepted = time.perf_counter() - started
        finally:
            serve.terminate()
            serve.wait(timeout=30)
        scheduled = count(database_url, "status = 'scheduled'")
        floor = bare_insert(database_url, args.requests, args.items)
        print(f"{backend}: {args.requests} requests x {args.items} surveys = {total:,}")
        target = ACCEPT_TARGET[backend]
        print(
            f"  accept  csat serve   {accepted:6.2f} s  {total / accepted:8,.0f}/s  "
            f"(per request {min(per_request):.2f}-{max(per_request):.2f} s)  "
            + ("target met" if accepted < target else f"over {target} s")
        )
        print(
            f"          bare insert  {floor:6.2f} s  {total / floor:8,.0f}/s  "
            f"ratio {accepted / floor:.1f}x"
        )
        if scheduled != total:
            print(f"  !! {scheduled} scheduled, expected {total}")
            return 1
        execute(database_url, "UPDATE invitation SET send_at = created_at")
        log_path = Path(workdir) / "worker.log"
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "bot", "worker", "--interval", "0.2"],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            started = time.perf_counter()
            left = total
            while left:
                time.sleep(0.25)
                left = count(database_url, "status = 'scheduled'")
                if time.perf_counter() - started > 600 or worker.poll() is not None:
                    print(f"  !! {left} still scheduled; the worker's last words:")
                    print(log_path.read_text()[-2000:])
                    return 1
            drained = time.perf_counter() - started
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        sent = count(database_url, "status = 'sent'")
        created = len(fake.created)
        ceiling = bare_sends(fake, min(total, 2000)) / min(total, 2000) * total
        print(
            f"  drain   csat worker  {drained:6.2f} s  {total / drained:8,.0f}/s  "
            f"sent {sent:,}, provider got {created:,}  "
            + ("target met" if total / drained >= DRAIN_TARGET else f"under {DRAIN_TARGET:.0f}/s")
        )
        print(
            f"          bare client  {ceiling:6.2f} s  {total / ceiling:8,.0f}/s  "
            "(the fake's ceiling, from 2000 posts)"
        )
        fake.stop()
        return 0 if sent == total == created else 1


if __name__ == "__main__":
    raise SystemExit(main())
