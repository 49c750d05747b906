"""What channel adapters talk to: the service's use cases, run off the event loop, with alerts
posted and metrics counted in one place so no adapter repeats that plumbing.

Use cases that write (replies, taps, receipts, opt-outs) go through :meth:`Hub.write`, which the
store runs without blocking the event loop (on SQLite on the loop itself when the write turn is
free, on PostgreSQL on writer threads: see :mod:`storage.sql_store`). Reads (reports) run on the
general thread pool, so a long report never holds up a customer's reply.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from anyio import to_thread

from bot.alerts import Alert, AlertDesk, AlertSink
from bot.conversations import TextRoute
from bot.followups import FollowUpResult
from bot.metrics import Metrics
from bot.results import InboundResult, Incoming
from bot.service import Service
from storage.values import FollowUpAction

if TYPE_CHECKING:
    from fastapi import APIRouter

    from bot.channel import Channel
    from bot.surveys import Survey

T = TypeVar("T")


class Hub:
    def __init__(
        self, service: Service, sinks: Sequence[AlertSink] = (), metrics: Metrics | None = None
    ) -> None:
        self.service = service
        self.sinks = list(sinks)
        self.metrics = metrics or Metrics()
        self.desk = AlertDesk(self.sinks, service.store, service.ctx.clock, service.surveys)
        self._posting: set[asyncio.Task[None]] = set()
        self._in_order: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """A read, or anything slow, on the general thread pool."""
        return await to_thread.run_sync(fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """A short write use case, run by the store without blocking the loop."""
        return await self.service.store.write(fn, *args)

    def close(self) -> None:
        """Finish the writes already queued (a later write, the app started again, gets new
        writer threads)."""
        self.service.store.close()

    async def _finish(self, channel: str, result: InboundResult) -> InboundResult:
        if not result.duplicate:
            self.metrics.replies.labels(channel, result.reason.split(":")[0]).inc()
            if result.alerts:
                raised = sum(1 for alert in result.alerts if alert.created)
                if raised:
                    self.metrics.alerts.labels(channel).inc(raised)
                self._publish(result.alerts)
        return result

    def _publish(self, alerts: Sequence[Alert]) -> None:
        """Alerts are posted on a task of their own: a slow Slack or Telegram never holds up the
        customer's answer (the alert is in the database already; a lost post is logged)."""
        if not self.sinks:
            return
        task = asyncio.create_task(self._publish_in_order(alerts))
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    async def _publish_in_order(self, alerts: Sequence[Alert]) -> None:
        """One at a time, in the order the replies came: an edit (the comment) never runs
        before the post it edits."""
        loop = asyncio.get_running_loop()
        lock = self._in_order.get(loop)
        if lock is None:
            lock = self._in_order[loop] = asyncio.Lock()
        async with lock:
            await self.desk.publish(alerts)

    async def drain(self) -> None:
        """Wait for the alerts still being posted (on shutdown, and in tests)."""
        while self._posting:
            await asyncio.gather(*self._posting, return_exceptions=True)

    async def receive(self, incoming: Incoming) -> InboundResult:
        """The one way in for a message: a tap is recorded in the write turn; a typed text is
        routed first, so a lead's report (a read that may take a while) runs off the turn."""
        channel, address = incoming.channel, incoming.address
        tap = incoming.tap
        if tap is not None:
            result = await self.write(
                self.service.handle_button,
                channel,
                address,
                tap.invitation_id,
                tap.question_id,
                tap.value,
                incoming.provider_message_id,
            )
            return await self._finish(channel, result)
        comment = incoming.comment
        if comment is not None:
            result = await self.write(
                self.service.handle_comment,
                channel,
                address,
                comment.invitation_id,
                comment.question_id,
                comment.text,
                incoming.provider_message_id,
            )
            return await self._finish(channel, result)
        text, invitation_id = incoming.text, incoming.invitation_id
        routed = self.service.route_text(channel, address, text, invitation_id)
        use = self.run if routed.route is TextRoute.LEAD_SCORE else self.write
        handle = functools.partial(self.service.handle_text, routed=routed)
        result = await use(
            handle, channel, address, text, incoming.provider_message_id, invitation_id
        )
        return await self._finish(channel, result)

    async def scores_for(self, channel: str, address: str, query: str) -> dict[str, Any]:
        """Leads only: raises NotAllowed for anyone else, InvalidInput for a bad query."""
        return await self.run(self.service.scores_for, channel, address, query)

    async def trend_for(
        self, channel: str, address: str, query: str
    ) -> tuple[dict[str, Any], bytes]:
        """Leads only: ``trend ...`` as a report and its chart, drawn off the event loop."""
        return await self.run(self.service.trend_for, channel, address, query)

    async def dashboard_link(self, channel: str, address: str) -> str:
        """Leads only: a one-time sign-in link to the web dashboard."""
        return await self.write(self.service.signin.link_for, channel, address)

    async def comments_for(self, channel: str, address: str, query: str) -> dict[str, Any]:
        """Leads only, like :meth:`scores_for`: the latest comments for ``comments ...``."""
        return await self.run(self.service.comments_for, channel, address, query)

    async def follow_up(
        self, channel: str, address: str, who: str, alert_id: int, action: FollowUpAction
    ) -> FollowUpResult:
        """A tap on an alert's "I'll follow up" or "Resolved": recorded, then every message
        that shows the alert is edited to say who and when."""
        result = await self.write(
            self.service.followups.act, channel, address, who, alert_id, action
        )
        if result.alert is not None:
            self.metrics.follow_ups.labels(str(action)).inc()
            await self.desk.refresh(result.alert)
        return result

    async def opt_out(self, channel: str, address: str, reason: str) -> bool:
        return await self.write(self.service.opt_out, channel, address, reason)

    async def opt_in(self, channel: str, address: str) -> None:
        await self.write(self.service.opt_in, channel, address)

    async def record_delivery(
        self,
        channel: str,
        provider_message_id: str,
        status: str,
        error: str | None = None,
        *,
        opted_out: bool = False,
    ) -> bool:
        """A provider's delivery receipt (:meth:`Service.record_delivery`); in write turn."""
        receipt = functools.partial(
            self.service.record_delivery,
            channel,
            provider_message_id,
            status,
            error,
            opted_out=opted_out,
        )
        return await self.write(receipt)

    @property
    def surveys(self) -> Mapping[str, Survey]:
        return self.service.surveys

    @property
    def brand(self) -> str:
        """``CSAT_BRAND`` as set (blank: each text names the team in its own language)."""
        return self.service.settings.csat_brand


class ChannelAdapter(Protocol):
    """One channel's parts: the outbound :class:`Channel`, its webhook routes, an alert sink.

    ``start``/``stop`` run in the app's lifespan (e.g. to initialise an SDK client, or to run a
    long-polling loop when there is no public URL).
    """

    @property
    def channel(self) -> Channel: ...

    @property
    def alert_sink(self) -> AlertSink | None: ...

    def routes(self, hub: Hub) -> APIRouter | None: ...

    async def start(self, hub: Hub) -> None: ...

    async def stop(self) -> None: ...
