"""Day rollups: whatever the rows went through, a report reads the same numbers as the raw rows.

Random rows over the last ten weeks (a DST change and a half-hour zone included) are counted by
the refresher; then every kind of later change to an older row (correction, deletion, late
receipt, a reply to an older invitation, an import, a moved agent) is made straight in the
database, as any writer would. Each report is compared with the raw statements before and after
the refresher counts the changed days again.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select, text, update

from bot.periods import ScoreQuery, buckets, parse_query
from bot.sender import Sender
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.memory import MemoryChannel
from storage import rollup
from storage.models import Answer, Invitation
from storage.scores import two_periods
from storage.sql_store import SqlStore
from storage.trends import bucket_counts
from storage.values import Counts, PeriodCounts

AGENTS = ["ana", "ben", "cy", None]
CHANNELS = ["sms", "slack", "telegram"]
SCALES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
QUERIES = [
    "70d by day",
    "70d",
    "30d by agent",
    "week by channel",
    "month by week",
    "60d by team",
    "yesterday",
    "14d by locale",
    "30d by touchpoint",
    "45d by survey",
]


def _now() -> datetime:
    return datetime.now(UTC)


def _seed(engine: Engine, rng: random.Random, n: int, *, oldest: timedelta) -> None:
    """``n`` invitations sent within ``oldest`` before now (the youngest three hours old), most
    answered once, some failed, some unanswered."""
    now = _now()
    invitations: list[dict[str, Any]] = []
    for i in range(n):
        sent = now - timedelta(seconds=rng.uniform(3 * 3600, oldest.total_seconds()))
        kind = rng.choice(["csat", "csat", "csat", "nps", "ces"])
        invitations.append(
            {
                "interaction_id": f"R-{rng.random()}-{i}",
                "survey": {"csat": "support", "nps": "nps", "ces": "ces"}[kind],
                "survey_version": "1",
                "channel": rng.choice(CHANNELS),
                "agent": rng.choice(AGENTS),
                "team": rng.choice(["red", "blue", None]),
                "touchpoint": rng.choice(["chat", None]),
                "locale": rng.choice(["en", "nl"]),
                "status": "completed",
                "created_at": sent,
                "send_at": sent,
                "sent_at": sent,
                "delivery_status": rng.choice([None, "delivered", "delivered", "failed"]),
                "responded_at": None,
                "version": 0,
                "attempts": 1,
                "question_index": 0,
                "reprompts": 0,
                "kind": kind,
            }
        )
    with engine.begin() as connection:
        for row in invitations:
            kind = row.pop("kind")
            answered = rng.random() < 0.8
            if answered:
                row["responded_at"] = row["sent_at"] + timedelta(minutes=rng.uniform(1, 600))
            inv_id = connection.execute(insert(Invitation).values(**row)).inserted_primary_key[0]
            if not answered or row["responded_at"] > now:
                continue
            low, high = SCALES[kind]
            value = rng.randint(low, high)
            connection.execute(
                insert(Answer).values(
                    invitation_id=inv_id,
                    question_id="q1",
                    kind=kind,
                    value=value,
                    scale_min=low,
                    scale_max=high,
                    positive=value >= high - 1,
                    negative=value <= low + 1,
                    answered_at=row["responded_at"],
                    channel=row["channel"],
                    agent=row["agent"],
                    team=row["team"],
                    touchpoint=row["touchpoint"],
                    survey=row["survey"],
                    locale=row["locale"],
                )
            )


def _normal(counts: Counts) -> tuple[int, int, list[tuple[Any, ...]]]:
    return (
        counts.sent,
        counts.responded,
        sorted(
            (b.kind, b.scale_min, b.scale_max, b.value, b.positive, b.negative, b.count)
            for b in counts.buckets
            if b.count
        ),
    )


def _groups(period: PeriodCounts) -> dict[str | None, Any]:
    return {k: _normal(v) for k, v in period.groups.items() if _normal(v) != (0, 0, [])}


def _query(text_: str, zone: str) -> ScoreQuery:
    return parse_query(text_, now=_now(), timezone=zone)


def _check_all(store: SqlStore, zone: str, *, expect_rollups: bool) -> int:
    """Every query through the store equals the raw statements; how many read counted days."""
    rolled = 0
    for text_ in QUERIES:
        query = _query(text_, zone)
        period, previous = query.period, query.period.previous()
        by = None if query.over_time else query.by
        moments = (previous.start, period.start, period.end)
        got = store.period_counts(*moments, by, timezone=zone)
        raw = two_periods(store.engine, *moments, by)
        assert [_groups(p) for p in got] == [_groups(p) for p in raw], text_
        bounds = [previous.start, period.start, period.end]
        if rollup.counts(store.engine, bounds, by, zone) is not None:
            rolled += 1
        if query.over_time:
            assert query.by is not None
            spans = buckets(period, query.by)
            edges = [span.start for span in spans] + [period.end]
            got_buckets = store.bucket_counts(edges, timezone=zone)
            raw_buckets = bucket_counts(store.engine, edges)
            assert [_normal(c) for c in got_buckets] == [_normal(c) for c in raw_buckets], text_
    if expect_rollups:
        assert rolled >= len(QUERIES) - 1, "the reports did not read the counted days"
    return rolled


def _refresh_all(store: SqlStore, zone: str) -> rollup.Refreshed:
    done = store.refresh_rollups(zone, _now(), chunks=100)
    assert done.skipped is None and not done.pending, done
    return done


def _marks(engine: Engine, zone: str | None = None) -> int:
    """Marks left; with ``zone``, only those on days closed by now (the others wait for their
    day to close)."""
    with engine.connect() as connection:
        hours = list(connection.execute(select(rollup.mark_table.c.hour)).scalars())
    if zone is None:
        return len(hours)
    tz = rollup._zone(zone)
    open_from = rollup.day_start(rollup.local_day(_now() - rollup.SETTLE, tz), tz)
    return sum(1 for hour in hours if hour.replace(tzinfo=UTC) + timedelta(hours=1) <= open_from)


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_counted_days_read_as_the_raw_rows(db_engine: Engine, zone: str) -> None:
    store = SqlStore(db_engine)
    _seed(db_engine, random.Random(zone), 1500, oldest=timedelta(days=75))
    assert _check_all(store, zone, expect_rollups=False) == 0  # nothing counted yet: raw
    done = _refresh_all(store, zone)
    assert done.days >= 70
    assert _marks(db_engine, zone) == 0  # the seed's marks were taken away with their days
    _check_all(store, zone, expect_rollups=True)


def test_changes_to_counted_days_read_raw_until_counted_again(db_engine: Engine) -> None:
    zone = "Europe/Amsterdam"
    store = SqlStore(db_engine)
    rng = random.Random(5)
    _seed(db_engine, rng, 1200, oldest=timedelta(days=72))
    _refresh_all(store, zone)
    _check_all(store, zone, expect_rollups=True)
    with db_engine.begin() as connection:
        ids = list(connection.execute(select(Answer.id).order_by(Answer.id)).scalars())
        inv_ids = list(connection.execute(select(Invitation.id).order_by(Invitation.id)).scalars())
        # A correction, a moved agent, a deletion.
        connection.execute(
            update(Answer)
            .where(Answer.id == ids[10])
            .values(value=1, positive=False, negative=True)
        )
        connection.execute(update(Answer).where(Answer.id == ids[20]).values(agent="zed"))
        connection.execute(delete(Answer).where(Answer.id.in_(ids[30:40])))
        # Late receipts, a reply to an older invitation, a re-dated sending.
        connection.execute(
            update(Invitation)
            .where(Invitation.id.in_(inv_ids[50:60]))
            .values(delivery_status="undelivered")
        )
        connection.execute(
            update(Invitation).where(Invitation.id == inv_ids[70]).values(responded_at=_now())
        )
        connection.execute(
            update(Invitation)
            .where(Invitation.id == inv_ids[80])
            .values(sent_at=_now() - timedelta(days=40))
        )
    _seed(db_engine, rng, 40, oldest=timedelta(days=60))  # an import of older rows
    assert _marks(db_engine) > 0
    _check_all(store, zone, expect_rollups=True)  # changed days raw, the rest counted
    _refresh_all(store, zone)
    assert _marks(db_engine, zone) == 0
    _check_all(store, zone, expect_rollups=True)


def test_rows_written_now_leave_no_mark(db_engine: Engine) -> None:
    zone = "Europe/Amsterdam"
    store = SqlStore(db_engine)
    _seed(db_engine, random.Random(2), 50, oldest=timedelta(days=10))
    _refresh_all(store, zone)
    with db_engine.begin() as connection:
        connection.execute(delete(rollup.mark_table))  # those of today's older rows
    now = _now()
    with db_engine.begin() as connection:
        inv = connection.execute(
            insert(Invitation).values(
                interaction_id="fresh",
                survey="support",
                survey_version="1",
                channel="sms",
                locale="en",
                status="sent",
                created_at=now,
                send_at=now,
                sent_at=now,
                version=0,
                attempts=1,
                question_index=0,
                reprompts=0,
            )
        ).inserted_primary_key[0]
        connection.execute(
            update(Invitation)
            .where(Invitation.id == inv)
            .values(responded_at=now, delivery_status="delivered")
        )
    assert _marks(db_engine) == 0  # the reply path's rows: no mark
    with db_engine.begin() as connection:
        old = now - timedelta(hours=1, minutes=5)
        connection.execute(update(Invitation).where(Invitation.id == inv).values(sent_at=old))
    assert _marks(db_engine) == 2  # the hour it moved to, and the one it left


def test_the_counted_rows_are_what_a_report_reads(db_engine: Engine) -> None:
    """A count changed behind the refresher's back shows in the report: the rollups are read."""
    zone = "Europe/Amsterdam"
    store = SqlStore(db_engine)
    _seed(db_engine, random.Random(3), 300, oldest=timedelta(days=20))
    _refresh_all(store, zone)
    query = _query("14d", zone)
    moments = (query.period.previous().start, query.period.start, query.period.end)
    before = store.period_counts(*moments, None, timezone=zone)[0].overall()
    with db_engine.begin() as connection:
        connection.execute(text("UPDATE rollup_day_answer SET n = n + 1000 WHERE dim = ''"))
    after = store.period_counts(*moments, None, timezone=zone)[0].overall()
    assert sum(b.count for b in after.buckets) > sum(b.count for b in before.buckets) + 1000


def test_whole_months_are_read_from_the_month_rows(db_engine: Engine) -> None:
    zone = "Europe/Amsterdam"
    store = SqlStore(db_engine)
    _seed(db_engine, random.Random(8), 600, oldest=timedelta(days=75))
    _refresh_all(store, zone)
    with db_engine.connect() as connection:
        months = list(connection.execute(select(rollup.month_table.c.day)).scalars())
    assert len(months) >= 2  # the whole months of the last ten weeks
    query = _query("70d by agent", zone)
    moments = (query.period.previous().start, query.period.start, query.period.end)
    before = store.period_counts(*moments, "agent", timezone=zone)[0].overall()
    with db_engine.begin() as connection:
        connection.execute(text("UPDATE rollup_month_answer SET n = n + 500 WHERE dim = 'agent'"))
    after = store.period_counts(*moments, "agent", timezone=zone)[0].overall()
    assert sum(b.count for b in after.buckets) > sum(b.count for b in before.buckets) + 500


def test_another_zone_takes_over_only_when_the_keeper_is_quiet(db_engine: Engine) -> None:
    store = SqlStore(db_engine)
    _seed(db_engine, random.Random(4), 400, oldest=timedelta(days=30))
    _refresh_all(store, "Europe/Amsterdam")
    done = store.refresh_rollups("America/New_York", _now())
    assert done.skipped is not None and "Europe/Amsterdam" in done.skipped
    # A process in the other zone reads raw rows, and right ones.
    assert _check_all(store, "America/New_York", expect_rollups=False) == 0
    with db_engine.begin() as connection:
        connection.execute(
            update(rollup.state_table).values(refreshed_at=_now() - rollup.TAKEOVER * 2)
        )
    _refresh_all(store, "America/New_York")
    _check_all(store, "America/New_York", expect_rollups=True)
    assert _check_all(store, "Europe/Amsterdam", expect_rollups=False) == 0


def test_two_refreshers_at_once_end_with_the_raw_numbers(database_url: str) -> None:
    from storage.db import make_engine

    zone = "Europe/Amsterdam"
    engines = [make_engine(database_url), make_engine(database_url)]
    try:
        stores = [SqlStore(engine) for engine in engines]
        _seed(engines[0], random.Random(6), 800, oldest=timedelta(days=50))
        errors: list[BaseException] = []

        def work(store: SqlStore) -> None:
            try:
                for _ in range(40):
                    if not store.refresh_rollups(zone, _now()).pending:
                        break
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        _seed(engines[0], random.Random(7), 100, oldest=timedelta(days=50))  # writes meanwhile
        for thread in threads:
            thread.join()
        assert not errors
        _refresh_all(stores[0], zone)
        _check_all(stores[1], zone, expect_rollups=True)
    finally:
        for engine in engines:
            engine.dispose()


def test_the_sender_loop_counts_the_days(
    settings: Settings, db_engine: Engine, memory: MemoryChannel
) -> None:
    """`csat serve` and `csat worker` count the days in their sender loop, a few at a time
    until caught up, and reports then read them."""
    zone = settings.csat_timezone
    service = Service(
        settings=settings,
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"memory": memory},
        rng=random.Random(9),
    )
    _seed(db_engine, random.Random(10), 400, oldest=timedelta(days=40))
    sender = Sender(service)

    def counted() -> int:
        with db_engine.connect() as connection:
            return len(list(connection.execute(select(rollup.day_table.c.day)).scalars()))

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(sender.run_forever(stop, 0.05))
        for _ in range(400):
            if await asyncio.to_thread(counted) >= 38 or loop.done():
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop, 10)

    asyncio.run(scenario())
    assert counted() >= 38
    _check_all(service.store, zone, expect_rollups=True)  # type: ignore[arg-type]


def test_a_takeover_never_keeps_what_the_old_zone_wrote_meanwhile(db_engine: Engine) -> None:
    """The old zone's keeper has claimed the state and written a day, not yet committed, when a
    process in another zone takes over: once both are done, no row of the old zone is left."""
    old_day = datetime(2001, 1, 1).date()
    with db_engine.begin() as connection:
        connection.execute(
            insert(rollup.state_table).values(
                id=1, zone="Europe/Amsterdam", refreshed_at=_now() - timedelta(hours=1), version=3
            )
        )
    outcome: list[rollup.Refreshed | BaseException] = []

    def take_over() -> None:
        try:
            outcome.append(rollup.refresh(db_engine, "America/New_York", _now()))
        except BaseException as exc:  # pragma: no cover - reported below
            outcome.append(exc)

    with db_engine.connect() as keeper:
        writing = keeper.begin()
        claimed = keeper.execute(
            update(rollup.state_table).where(rollup.state_table.c.version == 3).values(version=4)
        )
        assert claimed.rowcount == 1
        keeper.execute(insert(rollup.day_table).values(day=old_day, built_at=_now()))
        keeper.execute(
            insert(rollup.answer_table).values(
                dim="", day=old_day, grp="", kind="csat", scale_min=1, scale_max=5, value=5,
                positive=True, negative=False, n=7,
            )
        )  # fmt: skip
        thread = threading.Thread(target=take_over)
        thread.start()
        _wait_until_blocked(db_engine, thread)
        writing.commit()
    thread.join(30)
    assert len(outcome) == 1 and not isinstance(outcome[0], BaseException), outcome
    with db_engine.connect() as connection:
        zone = connection.execute(select(rollup.state_table.c.zone)).scalar_one()
        days = list(connection.execute(select(rollup.day_table.c.day)).scalars())
        rows = connection.execute(select(func.count()).select_from(rollup.answer_table)).scalar()
    if db_engine.dialect.name == "postgresql":
        assert zone == "America/New_York"  # it waited for the keeper, then took over
    if zone == "America/New_York":
        assert (days, rows) == ([], 0)
    else:  # the keeper was seen writing: this round is skipped, its rows are its own
        assert outcome[0].skipped is not None and days == [old_day]  # type: ignore[union-attr]


def _wait_until_blocked(engine: Engine, thread: threading.Thread) -> None:
    """Until ``thread`` waits for a lock (PostgreSQL tells; on SQLite, a moment)."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 20
    with engine.connect() as watcher:
        while time.monotonic() < deadline and thread.is_alive():
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            ).scalar()
            watcher.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the takeover never waited for the keeper")


def test_a_fault_in_the_rollups_reads_the_raw_rows(db_engine: Engine) -> None:
    zone = "Europe/Amsterdam"
    store = SqlStore(db_engine)
    _seed(db_engine, random.Random(11), 200, oldest=timedelta(days=20))
    _refresh_all(store, zone)
    with db_engine.begin() as connection:
        connection.execute(text("ALTER TABLE rollup_day_sent RENAME TO rollup_day_sent_away"))
    try:
        assert _check_all(store, zone, expect_rollups=False) == 0
    finally:
        with db_engine.begin() as connection:
            connection.execute(text("ALTER TABLE rollup_day_sent_away RENAME TO rollup_day_sent"))
    _check_all(store, zone, expect_rollups=True)
