"""Benchmark ``csat export`` against a hand-written streaming export on the same database.

Uses the score benchmark's database (``bench/data/score-<n>.db``: n answers, one invitation each,
filled by ``bench/score.py``'s generator if missing), then times, alternately and each in a process
of its own:

- ``csat export --format csv --output FILE`` (the whole command: start-up, settings, the
  service's paged query, CSV with the formula guard);
- the baseline: ``python -c`` with ``sqlite3`` (or ``psycopg``) running one LEFT JOIN ordered by
  invitation id and writing each row with ``csv.writer`` as it arrives, the obvious streaming
  export.

It prints the rows written, seconds, rows/s and the peak resident memory of each run (the
child's own ``ru_maxrss`` from ``wait4``), the medians and min-max over the runs, and the ratio
ours / baseline pair by pair. Targets: at most twice the baseline's time and 100 MB of memory.

    python bench/export.py --rows 1M --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from score import (  # noqa: E402
    DATA_DIR,
    _parse_count,
    fill,
    is_filled,
    postgres_target,
    sqlite_target,
)

from storage.db import is_sqlite  # noqa: E402

TIME_RATIO_TARGET = 2.0
MEMORY_TARGET_MB = 100.0

BASELINE = r"""
import csv, sys
backend, dsn, out = sys.argv[1:4]
if backend == "sqlite":
    import sqlite3
    connection = sqlite3.connect(dsn)
else:
    import psycopg
    connection = psycopg.connect(dsn)
sql = '''
SELECT i.id, i.interaction_id, i.survey, i.survey_version, i.channel, i.agent, i.team,
       i.touchpoint, i.locale, i.status, i.reason, i.delivery_status, i.last_error,
       i.created_at, i.sent_at, i.responded_at,
       a.question_id, a.kind, a.value, a.scale_max, a.comment
FROM invitation i LEFT JOIN answer a ON a.invitation_id = i.id
WHERE i.status != 'skipped'
ORDER BY i.id
'''
if backend == "sqlite":
    cursor = connection.execute(sql)
else:
    cursor = connection.cursor(name="export")  # server-side: streamed, not fetched whole
    cursor.itersize = 5000
    cursor.execute(sql)
count = 0
with open(out, "w", newline="", encoding="utf-8") as handle:
    writer = csv.writer(handle)
    writer.writerow([d[0] for d in cursor.description])
    for row in cursor:
        writer.writerow(row)
        count += 1
print(count)
"""


@dataclass
class Run:
    seconds: float
    peak_mb: float
    rows: int


def run(command: Sequence[str], env: dict[str, str], output: Path) -> Run:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({process.returncode}): {errors.strip()}")
    with output.open("rb") as handle:
        rows = sum(1 for _ in handle) - 1
    return Run(seconds, usage.ru_maxrss / 1024, rows)


def summary(values: Sequence[float], fmt: str) -> str:
    picked = (min(values), statistics.median(values), max(values))
    low, middle, high = (fmt.format(v) for v in picked)
    return f"{middle} ({low}–{high})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=_parse_count, default=1_000_000, help="default 1M")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--database-url", help="default: SQLite bench/data/score-<rows>.db")
    args = parser.parse_args(argv)
    n = args.rows
    if args.database_url is None or is_sqlite(args.database_url):
        target = sqlite_target(args.database_url or f"sqlite:///{DATA_DIR / f'score-{n}.db'}")
        dsn = target.label
    else:
        target = postgres_target(args.database_url)
        dsn = target.url.replace("postgresql+psycopg://", "postgresql://")
    if not is_filled(target, n, args.seed):
        print(f"filling {target.label} with {n:,} answers ...")
        print(f"  filled in {fill(target, n, args.seed):.0f} s")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSAT_")}
    env["CSAT_DATABASE_URL"] = target.url
    csat = str(Path(sys.executable).with_name("csat"))
    ours: list[Run] = []
    hand: list[Run] = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "export.csv"
        for index in range(args.runs):
            ours.append(run([csat, "export", "--format", "csv", "--output", str(out)], env, out))
            hand.append(
                run([sys.executable, "-c", BASELINE, target.backend, dsn, str(out)], env, out)
            )
            print(
                f"run {index + 1}: csat export {ours[-1].seconds:.1f} s {ours[-1].peak_mb:.0f} MB"
                f" {ours[-1].rows:,} rows; baseline {hand[-1].seconds:.1f} s "
                f"{hand[-1].peak_mb:.0f} MB {hand[-1].rows:,} rows"
            )
    if any(o.rows != h.rows for o, h in zip(ours, hand, strict=True)):
        print("MISMATCH: the two exports wrote different numbers of rows", file=sys.stderr)
        return 1
    ratios = [o.seconds / h.seconds for o, h in zip(ours, hand, strict=True)]
    rows = ours[0].rows
    print(f"\n{target.backend} {target.label}: {rows:,} rows, {args.runs} runs, median (min–max)")
    print(f"{'':14} {'seconds':>22} {'rows/s':>26} {'peak MB':>20}")
    for label, runs in (("csat export", ours), ("baseline", hand)):
        print(
            f"{label:14} {summary([r.seconds for r in runs], '{:.1f}'):>22} "
            f"{summary([rows / r.seconds for r in runs], '{:,.0f}'):>26} "
            f"{summary([r.peak_mb for r in runs], '{:.0f}'):>20}"
        )
    ratio, peak = statistics.median(ratios), max(r.peak_mb for r in ours)
    print(f"time ratio ours/baseline: {summary(ratios, '{:.2f}')}")
    met = ratio <= TIME_RATIO_TARGET and peak <= MEMORY_TARGET_MB
    print(
        f"target (≤ {TIME_RATIO_TARGET:.0f}× the baseline's time, ≤ {MEMORY_TARGET_MB:.0f} MB): "
        + ("met" if met else "NOT met")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
