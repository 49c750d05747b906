"""How long the ``csat`` command takes to start, beside ``python -c pass`` in the same run.

Each round runs, one after the other and each in a fresh process: ``python -c pass`` (the
interpreter's own start, the floor), ``csat --help``, ``csat score today`` on a migrated SQLite
database with every channel configured (so a command that loaded a channel SDK it does not need
would show here) and ``python -c "import sqlalchemy"`` (what any command that reads the database
must load). It prints the median and min-max wall time of each over the rounds, and the
difference to the floor. Target: ``csat --help`` and ``csat score`` under 0.5 s.

    python bench/cli_start.py --rounds 15
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
from pathlib import Path

TARGET_S = 0.5

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.helpers import EVERY_CHANNEL  # noqa: E402


def timed(command: Sequence[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    python = sys.executable
    csat = str(Path(python).with_name("csat"))
    with tempfile.TemporaryDirectory() as workdir:
        env = {
            **os.environ,
            "CSAT_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
            **EVERY_CHANNEL,
        }
        subprocess.run([csat, "db", "upgrade"], env=env, cwd=workdir, check=True)
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "csat --help": [csat, "--help"],
            "csat score today": [csat, "score", "today"],
            "import sqlalchemy": [python, "-c", "import sqlalchemy"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():  # warm the file cache and the .pyc files
            timed(command, env, workdir)
        for _ in range(args.rounds):
            for name, command in commands.items():
                times[name].append(timed(command, env, workdir))
    floor = statistics.median(times["python -c pass"])
    print(f"{args.rounds} rounds, wall time in seconds: median (min-max), and minus the floor")
    for name, values in times.items():
        median = statistics.median(values)
        verdict = ""
        if name.startswith("csat"):
            verdict = "  target met" if median < TARGET_S else f"  over {TARGET_S} s"
        print(
            f"  {name:<18} {median:.3f} ({min(values):.3f}-{max(values):.3f})"
            f"  +{median - floor:.3f}{verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
