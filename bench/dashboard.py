"""Benchmark the dashboard page's server time beside the API that computes the same numbers.

Uses the score benchmark's database (N answers over two years, filled by ``bench/score.py``'s
generator and kept under ``bench/data``), serves the real app with uvicorn on a free port, signs
in with the API token, and times ``GET /dashboard?period=P&by=agent`` for each period a lead can
pick. In the same run, on the same server: ``GET /v1/scores`` for the same query (the numbers
alone, as JSON) and ``GET /healthz`` (a bare endpoint: the HTTP floor). Target: every page under
300 ms at 1 M answers. It also times the chat chart (``bot.charts.trend_png``, matplotlib's Agg
backend) for ``30d by day`` on the same data: the first render (matplotlib loading) and then the
median of the others; target under 300 ms.

    python bench/dashboard.py                  # SQLite, 1 M answers
    python bench/dashboard.py --answers 1M --runs 9
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.score import (  # noqa: E402
    DATA_DIR,
    _parse_count,
    count_days,
    fill,
    is_filled,
    make_service,
    sqlite_target,
)
from bot.app.web import create_app  # noqa: E402
from bot.charts import trend_png  # noqa: E402
from storage.db import prepare  # noqa: E402

TOKEN = "bench-dashboard-token-0123456789abcdef"
PERIODS = ("today", "7d", "30d", "90d", "365d")
TARGET_MS = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(client: httpx.Client, url: str, runs: int) -> list[float]:
    client.get(url).raise_for_status()  # warm: compiled statements, templates, page cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def summary(times: list[float]) -> str:
    return f"{statistics.median(times):7.1f} ms ({min(times):.1f}-{max(times):.1f})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=_parse_count, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args(argv)

    target = sqlite_target(f"sqlite:///{DATA_DIR / f'score-{args.answers}.db'}")
    if not is_filled(target, args.answers, args.seed):
        print(f"filling {target.label} with {args.answers:,} answers ...")
        fill(target, args.answers, args.seed)
    engine = prepare(target.url)
    service = make_service(engine, target.url)
    print(count_days(service.store))  # type: ignore[arg-type]
    service.settings = service.settings.model_copy(update={"csat_api_token": SecretStr(TOKEN)})
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    worst = 0.0
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for _ in range(100):
                try:
                    client.get("/healthz")
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            bare = timed(client, "/healthz", args.runs)
            print(f"sqlite, {args.answers:,} answers, {args.runs} runs each: median (min-max)")
            print(f"  bare endpoint /healthz          {summary(bare)}")
            for period in PERIODS:
                page = timed(client, f"/dashboard?period={period}&by=agent", args.runs)
                api = timed(client, f"/v1/scores?period={period}&by=agent", args.runs)
                worst = max(worst, statistics.median(page))
                ratio = statistics.median(page) / statistics.median(api)
                print(
                    f"  {period:>5} by agent  page {summary(page)}   API {summary(api)}   "
                    f"page/API {ratio:.2f}"
                )
        chart = service.scores(service.parse_query("30d by day"))
        started = time.perf_counter()
        first_png = trend_png(chart)
        first = (time.perf_counter() - started) * 1000
        renders = []
        for _ in range(args.runs):
            started = time.perf_counter()
            png = trend_png(chart)
            renders.append((time.perf_counter() - started) * 1000)
        assert png.startswith(b"\x89PNG") and first_png.startswith(b"\x89PNG")
        print(f"  chart 30d by day, PNG  first {first:.0f} ms, then {summary(renders)}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    verdict = "target met" if worst < TARGET_MS else f"over {TARGET_MS:.0f} ms"
    print(f"  slowest page (median) {worst:.1f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
