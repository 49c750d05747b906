"""The score query's fast plan on SQLite does not hang on a hand-written statistics row: after a
bulk load that rebuilt the index (which deletes its statistics), the next start restores them and
SQLite reads the answer buckets from ``ix_answer_buckets`` in order, without sorting the period."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.db import BUCKET_INDEX, TYPICAL_BUCKET_STAT, prepare, upgrade
from storage.scores import MOMENTS, _statement


def plan(path: Path) -> str:
    """The plan of the score query, as the store sends it, on a connection of the engine that a
    start opens."""
    engine = prepare(f"sqlite:///{path}")
    try:
        statement = _statement(engine.dialect, "answers", None)
        when = datetime(2026, 1, 1, tzinfo=UTC)
        parameters = statement.parameters(dict.fromkeys(MOMENTS, when))
        with engine.connect() as conn:  # the pool's: it must plan with the restored statistics
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement.sql}", parameters).all()
        return "\n".join(str(row[-1]) for row in rows)
    finally:
        engine.dispose()


def bulk_load(path: Path, answers: int) -> None:
    """Rows written straight into the file and the index rebuilt, as a restore or import does."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO invitation (id, interaction_id, survey, survey_version, channel, locale, "
            "status, created_at, send_at, version, attempts, question_index, reprompts) "
            "VALUES (1, 'I', 'support', 'v', 'sms', 'en', 'completed', ?, ?, 0, 0, 0, 0)",
            (start.strftime("%Y-%m-%d %H:%M:%S.%f"),) * 2,
        )
        columns = conn.execute("PRAGMA table_info(answer)").fetchall()
        names = [c[1] for c in columns if c[1] != "id"]
        rows = []
        for i in range(answers):
            value = 1 + i % 5
            row = {
                "invitation_id": 1,
                "question_id": f"q{i}",
                "kind": "csat",
                "value": value,
                "scale_min": 1,
                "scale_max": 5,
                "positive": int(value >= 4),
                "negative": int(value <= 2),
                "answered_at": (start + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                "channel": "sms",
                "survey": "support",
                "locale": "en",
            }
            rows.append(tuple(row.get(name) for name in names))
        marks = ", ".join("?" * len(names))
        conn.executemany(f"INSERT INTO answer ({', '.join(names)}) VALUES ({marks})", rows)
        sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = ?", (BUCKET_INDEX,)
        ).fetchone()[0]
        conn.execute(f"DROP INDEX {BUCKET_INDEX}")
        conn.execute(sql)
        assert not conn.execute(
            "SELECT 1 FROM sqlite_stat1 WHERE idx = ?", (BUCKET_INDEX,)
        ).fetchone(), "rebuilding the index took its statistics away"
    conn.close()


@pytest.mark.parametrize("answers", [50, 20_000])
def test_the_bucket_index_plan_survives_an_index_rebuild(tmp_path: Path, answers: int) -> None:
    path = tmp_path / "csat.db"
    upgrade(f"sqlite:///{path}")
    bulk_load(path, answers)
    found = plan(path)  # prepare() is what every start of serve, worker or score runs
    assert BUCKET_INDEX in found, found
    assert "TEMP B-TREE" not in found, found
    conn = sqlite3.connect(path)
    stat = conn.execute("SELECT stat FROM sqlite_stat1 WHERE idx = ?", (BUCKET_INDEX,)).fetchone()
    conn.close()
    assert stat == (TYPICAL_BUCKET_STAT,)


def test_an_analyze_that_describes_a_nearly_empty_table_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "csat.db"
    upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")  # an operator's ANALYZE on day one: the index looks useless
    conn.commit()
    conn.close()
    assert BUCKET_INDEX in plan(path)
