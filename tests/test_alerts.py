"""Low-score alerts: raised on a low rating and again with its comment, posted through the hub."""

from __future__ import annotations

import asyncio

from bot.alerts import Alert, alert_text
from bot.hub import Hub
from bot.results import Incoming
from bot.service import Service
from tests.helpers import deliver, trigger


class Inbox:
    def __init__(self, fail: bool = False) -> None:
        self.alerts: list[Alert] = []
        self.fail = fail

    async def post_alert(self, alert: Alert) -> None:
        if self.fail:
            raise RuntimeError("alert channel down")
        self.alerts.append(alert)


def test_low_rating_and_its_comment_are_alerted(service: Service) -> None:
    inbox, broken = Inbox(), Inbox(fail=True)
    hub = Hub(service, [broken, inbox])
    trigger(service, agent="alice")
    deliver(service)

    async def converse() -> None:
        await hub.receive(Incoming("memory", "cust-1", "1"))
        await hub.receive(Incoming("memory", "cust-1", "Nobody called me back"))

    asyncio.run(converse())
    assert [(a.value, a.comment) for a in inbox.alerts] == [
        (1, None),
        (1, "Nobody called me back"),
    ]
    text = alert_text(inbox.alerts[1])
    assert "1/5" in text and "T-1" in text and "alice" in text and "Nobody" in text
    metrics = hub.metrics.alerts.labels("memory")._value.get()
    assert metrics == 2


def test_good_rating_raises_no_alert(service: Service) -> None:
    inbox = Inbox()
    hub = Hub(service, [inbox])
    trigger(service)
    deliver(service)
    asyncio.run(hub.receive(Incoming("memory", "cust-1", "4")))
    asyncio.run(hub.receive(Incoming("memory", "cust-1", "fine")))
    assert inbox.alerts == []
