"""Low-score alerts and their follow-up: one alert per low rating, kept in the database, posted once
and edited as it changes; claimed and resolved by leads and agents only; reminded once."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace

import pytest

from bot.alerts import Alert, alert_text, follow_up_line
from bot.followups import NOT_ALLOWED, follow_up_report
from bot.hub import Hub
from bot.results import Incoming
from bot.sender import Sender
from bot.service import Service
from storage.interface import AlertPost
from storage.values import AlertStatus, FollowUpAction
from tests.conftest import Clock
from tests.helpers import deliver, trigger

CLAIM, RESOLVE = FollowUpAction.CLAIM, FollowUpAction.RESOLVE


class Board:
    """An alert sink that keeps what it was asked to show, message by message."""

    def __init__(self, fail: bool = False) -> None:
        self.name = "broken" if fail else "board"
        self.fail = fail
        self.posted: list[Alert] = []
        self.messages: dict[str, str] = {}  # message id -> the text it shows now
        self.edits = 0

    async def post_alert(self, alert: Alert) -> AlertPost | None:
        if self.fail:
            raise RuntimeError("alert channel down")
        self.posted.append(alert)
        message_id = str(len(self.posted))
        self.messages[message_id] = alert_text(alert)
        return AlertPost(self.name, "room", message_id)

    async def edit_alert(self, alert: Alert, post: AlertPost) -> None:
        assert post.sink == self.name and post.message_id in self.messages
        self.messages[post.message_id] = alert_text(alert)
        self.edits += 1


def _low_rating(service: Service, hub: Hub, *texts: str, to: str = "cust-1") -> None:
    async def converse() -> None:
        for text in texts:
            await hub.receive(Incoming("memory", to, text))
        await hub.drain()

    asyncio.run(converse())


def _rated(service: Service, board: Board, *texts: str) -> Hub:
    hub = Hub(service, [Board(fail=True), board])
    trigger(service, agent="alice", team="care")
    deliver(service)
    _low_rating(service, hub, *texts)
    return hub


def test_a_low_rating_is_posted_once_and_its_comment_edits_that_message(
    service: Service,
) -> None:
    board = Board()
    hub = _rated(service, board, "1", "Nobody called me back")
    assert len(board.posted) == 1, "the comment edits the alert, it does not post a second one"
    shown = board.messages["1"]
    assert "1/5" in shown and "T-1" in shown and "alice" in shown
    assert 'Comment: "Nobody called me back"' in shown
    assert "Nobody is following up yet" in shown
    stored = service.store.alerts(None, 10)
    assert [(a.value, a.comment, a.status, a.team) for a in stored] == [
        (1, "Nobody called me back", AlertStatus.OPEN, "care")
    ]
    assert hub.metrics.alerts.labels("memory")._value.get() == 1


def test_a_correction_updates_the_one_alert(service: Service) -> None:
    board = Board()
    _rated(service, board, "2", "1")  # "1" right after the rating corrects it (no comment yet)
    assert len(board.posted) == 1
    assert [a.value for a in service.store.alerts(None, 10)] == [1]
    assert "1/5" in board.messages["1"]


def test_good_rating_raises_no_alert(service: Service) -> None:
    board = Board()
    _rated(service, board, "4", "fine")
    assert board.posted == [] and service.store.alerts(None, 10) == []


def test_only_leads_and_agents_may_follow_up_and_a_refusal_changes_nothing(
    service: Service, clock: Clock
) -> None:
    board = Board()
    hub = _rated(service, board, "1")
    (alert,) = service.store.alerts(None, 10)
    refused = asyncio.run(hub.follow_up("memory", "cust-1", "@cust", alert.id, CLAIM))
    assert refused.alert is None and refused.notice == NOT_ALLOWED
    assert service.store.alert(alert.id) == alert, "a refusal leaves the alert as it was"
    assert board.edits == 0

    clock.advance(minutes=12)
    claimed = asyncio.run(hub.follow_up("memory", "lead-1", "@ann", alert.id, CLAIM))
    assert claimed.alert is not None and claimed.notice == ""
    assert "Claimed by @ann 12 min after the rating" in board.messages["1"]

    # An agent (CSAT_AGENTS) may act too, but cannot take over a claim.
    service.ctx.agents = service.ctx.settings.model_copy(
        update={"csat_agents": "memory:agent-7"}
    ).agents()
    again = asyncio.run(hub.follow_up("memory", "agent-7", "@bob", alert.id, CLAIM))
    assert again.alert is None and again.notice == "Already claimed by @ann."
    clock.advance(hours=2, minutes=48)
    resolved = asyncio.run(hub.follow_up("memory", "agent-7", "@bob", alert.id, RESOLVE))
    assert resolved.alert is not None
    shown = board.messages["1"]
    assert "Resolved by @bob 3 h after the rating (claimed by @ann)" in shown
    late = asyncio.run(hub.follow_up("memory", "lead-1", "@ann", alert.id, CLAIM))
    assert late.notice == "Already resolved by @bob."
    stored = service.store.alert(alert.id)
    assert stored is not None and stored.status is AlertStatus.RESOLVED
    assert (stored.claimed_by, stored.resolved_by) == ("@ann", "@bob")


def test_an_unknown_or_forged_alert_id_is_answered_politely(service: Service) -> None:
    hub = _rated(service, Board(), "1")
    for alert_id in (0, 999_999, -1):
        result = asyncio.run(hub.follow_up("memory", "lead-1", "@ann", alert_id, CLAIM))
        assert result.alert is None and result.notice == "That alert is no longer here."


def test_two_leads_claiming_at_once_get_one_claim(service: Service) -> None:
    _rated(service, Board(), "1")
    (alert,) = service.store.alerts(None, 10)
    service.ctx.leads = service.ctx.leads | {
        replace(next(iter(service.ctx.leads)), channel="memory", address=f"lead-{n}")
        for n in range(2, 9)
    }
    results: list[str] = []
    start = threading.Barrier(8)

    def claim(n: int) -> None:
        start.wait()
        outcome = service.followups.act("memory", f"lead-{n}", f"@lead{n}", alert.id, CLAIM)
        results.append("won" if outcome.alert is not None else outcome.notice)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("won") == 1, results
    stored = service.store.alert(alert.id)
    assert stored is not None and stored.claimed_by is not None
    assert all(r == f"Already claimed by {stored.claimed_by}." for r in results if r != "won")


def test_an_unclaimed_alert_is_posted_again_once_by_one_of_two_senders(
    service: Service, clock: Clock
) -> None:
    board = Board()
    _rated(service, board, "1")
    first, second = (Sender(service, alert_sinks=[board]) for _ in range(2))

    async def both() -> list[int]:
        return list(await asyncio.gather(first.remind(), second.remind()))

    clock.advance(hours=3, minutes=59)
    assert asyncio.run(both()) == [0, 0], "not before CSAT_FOLLOW_UP_AFTER (4 h)"
    clock.advance(minutes=1)
    assert sorted(asyncio.run(both())) == [0, 1]
    clock.advance(hours=30)
    assert asyncio.run(both()) == [0, 0], "once only"
    assert len(board.posted) == 2
    assert board.messages["2"].startswith("Reminder: nobody has followed this up in 4 h.")
    # A claim now edits both messages.
    (alert,) = service.store.alerts(None, 10)
    asyncio.run(Hub(service, [board]).follow_up("memory", "lead-1", "@ann", alert.id, CLAIM))
    assert all("Claimed by @ann" in text for text in board.messages.values())
    assert not board.messages["2"].startswith("Reminder"), "the edit shows where it stands"


def test_a_claimed_alert_is_not_reminded_and_reminders_can_be_off(
    service: Service, clock: Clock
) -> None:
    board = Board()
    hub = _rated(service, board, "1")
    (alert,) = service.store.alerts(None, 10)
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", alert.id, CLAIM))
    clock.advance(hours=5)
    assert asyncio.run(Sender(service, alert_sinks=[board]).remind()) == 0
    service.ctx.settings = service.ctx.settings.model_copy(update={"csat_follow_up_after": "off"})
    trigger(service, to="cust-2", interaction="T-2")
    deliver(service)
    _low_rating(service, hub, "1", to="cust-2")
    clock.advance(hours=50)
    assert asyncio.run(Sender(service, alert_sinks=[board]).remind()) == 0
    assert len(board.posted) == 2


def test_a_sender_without_alert_sinks_leaves_reminders_for_one_that_has_them(
    service: Service, clock: Clock
) -> None:
    board = Board()
    _rated(service, board, "1")
    clock.advance(hours=5)
    assert asyncio.run(Sender(service).remind()) == 0
    assert asyncio.run(Sender(service, alert_sinks=[board]).remind()) == 1


def test_follow_up_events_go_to_the_webhook_outbox(service: Service, clock: Clock) -> None:
    service.ctx.settings = service.ctx.settings.model_copy(
        update={"csat_webhook_urls": "http://127.0.0.1:9/hook", "csat_webhook_secret": None}
    )
    from pydantic import SecretStr

    service.ctx.settings = service.ctx.settings.model_copy(
        update={"csat_webhook_secret": SecretStr("a-webhook-secret-of-enough-length")}
    )
    from bot.followups import FollowUps

    service.followups = FollowUps(service.ctx)
    service.conversations.webhooks = service.followups.webhooks
    hub = _rated(service, Board(), "1")
    (alert,) = service.store.alerts(None, 10)
    clock.advance(minutes=5)
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", alert.id, CLAIM))
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", alert.id, CLAIM))  # no change
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", alert.id, RESOLVE))
    events = service.store.claim_events(clock.advance(seconds=1), clock(), 50)
    types = [json.loads(event.body)["type"] for event in events]
    assert types == ["response.created", "alert.created", "alert.claimed", "alert.resolved"]
    resolved = json.loads(events[-1].body)["data"]
    assert resolved["claimed_by"] == "@ann" and resolved["status"] == "resolved"


def test_follow_up_figures_overall_and_by_agent(service: Service, clock: Clock) -> None:
    board = Board()
    hub = Hub(service, [board])
    for n, agent in enumerate(("alice", "alice", "bob"), start=1):
        trigger(service, to=f"cust-{n}", interaction=f"T-{n}", agent=agent)
    deliver(service)
    for n in (1, 2, 3):
        _low_rating(service, hub, "1", to=f"cust-{n}")
    first, second, _third = sorted(service.store.alerts(None, 10), key=lambda a: a.id)
    clock.advance(minutes=10)
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", first.id, CLAIM))
    clock.advance(minutes=20)
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", second.id, CLAIM))
    clock.advance(minutes=30)
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", first.id, RESOLVE))
    times = service.store.follow_up_times(first.created_at, clock())
    report = follow_up_report(times, "agent")
    assert report["alerts"] == 3 and report["claimed"] == 2 and report["resolved"] == 1
    assert report["follow_up_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["median_minutes_to_claim"] == 20.0  # 10 and 30 minutes
    assert report["median_minutes_to_resolve"] == 60.0
    assert report["groups"]["alice"]["claimed"] == 2
    assert report["groups"]["bob"] == {
        "alerts": 1,
        "claimed": 0,
        "resolved": 0,
        "follow_up_rate": 0.0,
        "median_minutes_to_claim": None,
        "median_minutes_to_resolve": None,
    }


def test_erasing_a_customer_clears_the_alert_comment(service: Service) -> None:
    _rated(service, Board(), "1", "My address is 1 Main St")
    assert service.forget("memory", "cust-1") >= 1
    (alert,) = service.store.alerts(None, 10)
    assert alert.comment is None


def test_follow_up_line_wording() -> None:
    from datetime import UTC, datetime, timedelta

    rated = datetime(2025, 1, 1, tzinfo=UTC)
    alert = Alert(1, "T", "sms", None, "support", 1, 5, id=3, created_at=rated)
    assert follow_up_line(alert) == "Nobody is following up yet"
    claimed = replace(
        alert, status=AlertStatus.CLAIMED, claimed_by="@ann", claimed_at=rated + timedelta(days=3)
    )
    assert follow_up_line(claimed) == "Claimed by @ann 3 days after the rating"


# -- the API, the reports, the command line ------------------------------------------------------


def test_alerts_api_lists_by_status_and_pages(service: Service, clock: Clock) -> None:
    from tests.test_api import AUTH, Api

    board = Board()
    hub = Hub(service, [board])
    for n in range(1, 4):
        trigger(service, to=f"cust-{n}", interaction=f"T-{n}", agent="alice")
    deliver(service)
    for n in range(1, 4):
        _low_rating(service, hub, "1", to=f"cust-{n}")
    ids = sorted(alert.id for alert in service.store.alerts(None, 10))
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", ids[0], CLAIM))
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", ids[1], RESOLVE))
    api = Api(service)
    try:
        assert api.request("GET", "/v1/alerts").status_code == 401
        everything = api.request("GET", "/v1/alerts", headers=AUTH).json()
        assert [a["id"] for a in everything["alerts"]] == ids[::-1]
        assert everything["next_before"] is None
        for status, expected in (("open", ids[2]), ("claimed", ids[0]), ("resolved", ids[1])):
            found = api.request("GET", f"/v1/alerts?status={status}", headers=AUTH).json()
            assert [a["id"] for a in found["alerts"]] == [expected]
            assert found["alerts"][0]["status"] == status
        page = api.request("GET", "/v1/alerts?limit=2", headers=AUTH).json()
        assert [a["id"] for a in page["alerts"]] == [ids[2], ids[1]]
        rest = api.request(
            "GET", f"/v1/alerts?limit=2&before={page['next_before']}", headers=AUTH
        ).json()
        assert [a["id"] for a in rest["alerts"]] == [ids[0]] and rest["next_before"] is None
        resolved = rest["alerts"][0]
        assert resolved["claimed_by"] == "@ann" and resolved["agent"] == "alice"
        for bad in ("status=lost", "limit=0", "limit=501", "before=-3", "before=x"):
            answer = api.request("GET", f"/v1/alerts?{bad}", headers=AUTH)
            assert answer.status_code == 422 and "Traceback" not in answer.text, bad
        report = api.request("GET", "/v1/scores?period=today&by=agent", headers=AUTH).json()
        assert report["follow_up"]["alerts"] == 3 and report["follow_up"]["claimed"] == 2
        assert report["follow_up"]["groups"]["alice"]["resolved"] == 1
    finally:
        api.close()


def test_the_lead_summary_names_the_follow_up(service: Service, clock: Clock) -> None:
    from bot.report_text import short_summary

    hub = _rated(service, Board(), "1")
    (alert,) = service.store.alerts(None, 10)
    clock.advance(minutes=90)
    asyncio.run(hub.follow_up("memory", "lead-1", "@ann", alert.id, CLAIM))
    text = short_summary(service.scores(service.parse_query("today")))
    assert text.splitlines()[-1] == "Follow-up: 1/1 alerts claimed, median 1.5 h to claim"


def test_four_senders_remind_each_of_many_alerts_exactly_once(
    service: Service, clock: Clock
) -> None:
    board = Board()
    hub = Hub(service, [board])
    for n in range(30):
        trigger(service, to=f"cust-{n}", interaction=f"T-{n}")
    deliver(service)
    for n in range(30):
        _low_rating(service, hub, "1", to=f"cust-{n}")
    senders = [Sender(service, alert_sinks=[board]) for _ in range(4)]
    clock.advance(hours=4)

    async def all_of_them() -> int:
        total = 0
        for _ in range(3):  # batches of 20: more than one round is needed
            total += sum(await asyncio.gather(*(sender.remind() for sender in senders)))
        return total

    assert asyncio.run(all_of_them()) == 30
    reminders = [alert for alert in board.posted if alert.reminder]
    assert sorted(alert.id for alert in reminders) == sorted(
        alert.id for alert in service.store.alerts(None, 100)
    )


def test_a_slow_alert_channel_never_holds_up_the_customers_answer(service: Service) -> None:
    import time

    class Slow(Board):
        async def post_alert(self, alert: Alert) -> AlertPost | None:
            await asyncio.sleep(1.5)
            return await super().post_alert(alert)

    slow = Slow()
    hub = Hub(service, [slow])
    trigger(service)
    deliver(service)

    async def answer() -> float:
        began = time.perf_counter()
        result = await hub.receive(Incoming("memory", "cust-1", "1"))
        took = time.perf_counter() - began
        assert result.alerts and slow.posted == []
        await hub.drain()
        return took

    took = asyncio.run(answer())
    assert took < 1.0, f"the answer waited {took:.2f} s for the alert channel"
    assert len(slow.posted) == 1


def test_two_workers_on_their_own_connections_remind_each_alert_once(
    service: Service, clock: Clock, database_url: str
) -> None:
    """Like two `csat worker` processes: each its own engine and thread, racing on one database."""
    import random as random_module

    from storage.db import make_engine
    from storage.sql_store import SqlStore

    board = Board()
    hub = Hub(service, [board])
    for n in range(40):
        trigger(service, to=f"cust-{n}", interaction=f"T-{n}")
    deliver(service)
    for n in range(40):
        _low_rating(service, hub, "1", to=f"cust-{n}")
    clock.advance(hours=4, minutes=1)
    engines = [make_engine(database_url) for _ in range(2)]
    boards = [Board(), Board()]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        worker = Service(
            settings=service.ctx.settings,
            store=SqlStore(engines[index]),
            surveys=service.surveys,
            channels={},
            clock=clock,
            rng=random_module.Random(index),
        )
        sender = Sender(worker, alert_sinks=[boards[index]])
        start.wait()
        try:
            while asyncio.run(sender.remind()):
                pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    reminded = [alert.id for board in boards for alert in board.posted]
    assert sorted(reminded) == sorted(alert.id for alert in service.store.alerts(None, 100))
    assert len(set(reminded)) == len(reminded) == 40
