"""Delivery: claims due invitations from the database and sends them through their channel.

Runs as a loop inside ``csat serve`` or as any number of ``csat worker`` processes. Every decision
(quiet hours, back-off, giving up, suppression) is the core's; a channel only says whether a send
worked, failed for now, or failed for good.

Delivery semantics:

- A claim is a lease, renewed (for the whole batch at once) before any send that finds less than
  half of it left, so a live worker never loses rows it holds, however slow the provider, and a
  fast one spends no write on it; a worker killed mid-send can leave only the message in flight
  to be sent again (the provider got it, the database never heard).
- A failure for now (429, 5xx, network) pauses the channel in this process (:mod:`bot.delivery`):
  the other due surveys of that channel stay due and untouched, and the channel is probed again
  after the provider's Retry-After, or after a pause doubling from 1 s to 15 s.
- A survey whose sends keep failing for now is given up ``CSAT_SEND_RETRY_FOR`` after its first
  failure (default 24 h), never by a count of tries.
- The suppression list is read for the rest of the batch before a send whenever the last read is
  a second old or more (one query per batch at full speed instead of one per send), so an
  opt-out recorded meanwhile stops every send that starts a second or more after it.
- Sends of a batch overlap, in order of claim: a channel's window of sends in flight starts at
  one, grows by one with each success up to ``CSAT_SEND_IN_FLIGHT`` (8) and falls back to one
  at a failure for now, so the first send after a pause goes alone (a probe) and a storm meets
  one request at a time, while a healthy provider's latency is no longer paid once per survey.
  A crash may re-send what was in flight, so ``CSAT_SEND_IN_FLIGHT=1`` bounds that to one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from anyio import to_thread

from bot.alerts import AlertDesk, AlertSink
from bot.channel import Channel, OutboundMessage
from bot.context import ServiceContext
from bot.delivery import pause
from bot.digest import Digests, DigestSink
from bot.engine import Context, question_message
from bot.errors import PermanentSendError, TransientSendError
from bot.followups import FollowUps
from bot.metrics import Metrics
from bot.optouts import OptOuts
from bot.privacy import Privacy
from bot.quiet_hours import next_send_time
from bot.service import Service
from bot.texts import message
from bot.triggering import Triggering
from bot.web_surveys import WebSurveys
from bot.webhooks import Webhooks
from storage.interface import Changes, DueSend
from storage.values import Closure, Status

log = logging.getLogger("csat.sender")

# The suppression list is read for the rest of a batch at most this long before a send (seconds):
# once per batch at full speed, about once a second when the provider is slow.
SUPPRESSION_FRESH_FOR = 1.0

# After a pass that failed as a whole (database away, a bug), wait longer each time, up to this.
LONGEST_IDLE = 30.0
ROLLUP_EVERY = timedelta(seconds=30)  # between rounds of counting days, once caught up
ROLLUP_CHUNKS = 4  # transactions of storage.rollup.CHUNK_DAYS days per sender pass


@dataclass
class SendReport:
    sent: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    reminded: int = 0
    claimed: int = 0
    paused: int = 0  # claimed, then left due because their channel was paused meanwhile
    lost: int = 0  # claimed, then taken by another worker before the send (should stay 0)


@dataclass
class Pause:
    """A channel that failed for now: no sends on it before ``until``."""

    until: datetime
    failures: int = 0
    mark: int = 0  # the failure's number in this process: sends begun before it cannot lift it


@dataclass
class Pauses:
    by_channel: dict[str, Pause] = field(default_factory=dict)
    marks: int = 0  # failures so far

    def ticket(self) -> int:
        """Taken as a send begins: a success lifts only the pauses of failures before it."""
        return self.marks

    def active(self, now: datetime) -> list[str]:
        return [name for name, p in self.by_channel.items() if p.until > now]

    def failed(self, channel: str, now: datetime, retry_after: float | None) -> datetime:
        current = self.by_channel.get(channel)
        failures = (current.failures if current else 0) + 1
        until = now + pause(failures, retry_after)
        self.marks += 1
        self.by_channel[channel] = Pause(until, failures, self.marks)
        return until

    def worked(self, channel: str, ticket: int) -> None:
        current = self.by_channel.get(channel)
        if current is not None and current.mark <= ticket:
            del self.by_channel[channel]


@dataclass
class Windows:
    """Per channel: how many sends may be in flight now, and how many are."""

    widest: int
    allowed: dict[str, int] = field(default_factory=dict)
    flying: dict[str, int] = field(default_factory=dict)

    def has_room(self, channel: str) -> bool:
        return self.flying.get(channel, 0) < self.allowed.get(channel, 1)

    def took(self, channel: str) -> None:
        self.flying[channel] = self.flying.get(channel, 0) + 1

    def landed(self, channel: str, worked: bool | None) -> None:
        """``worked``: whether the channel took the send; None when it was not asked."""
        self.flying[channel] -= 1
        if worked is not None:
            wider = min(self.widest, self.allowed.get(channel, 1) + 1)
            self.allowed[channel] = wider if worked else 1


class Sender:
    def __init__(
        self,
        source: Service | ServiceContext,
        *,
        batch: int = 50,
        metrics: Metrics | None = None,
        digest_sinks: Sequence[DigestSink] = (),
        in_flight: int | None = None,
        alert_sinks: Sequence[AlertSink] = (),
    ) -> None:
        """``source``: the service, or just the context (the sender needs nothing else).
        ``in_flight``: the most sends of one channel at once (1: one after the other); by
        default ``CSAT_SEND_IN_FLIGHT``."""
        self.ctx = ctx = source.ctx if isinstance(source, Service) else source
        self.store = ctx.store
        self.triggering = Triggering(ctx)
        self.optouts = OptOuts(ctx)
        self.privacy = Privacy(ctx)
        self.web = WebSurveys(ctx)
        self.webhooks = Webhooks(ctx)
        self.digests = Digests(ctx, digest_sinks)
        self.followups = FollowUps(ctx, self.webhooks)
        self.desk = AlertDesk(alert_sinks, ctx.store, ctx.clock, ctx.surveys)
        self.batch = batch
        self.metrics = metrics or Metrics()
        self.pauses = Pauses()
        widest = ctx.settings.csat_send_in_flight if in_flight is None else in_flight
        self.windows = Windows(widest=max(1, widest))
        self._held: dict[str, datetime] = {}  # claim token -> when its lease runs out
        self._kept: dict[str, frozenset[int]] = {}  # claim token -> rows held at the last renewal
        self._blocked: set[int] = set()  # invitations of this batch whose address opted out
        self._blocked_read = 0.0  # time.monotonic() when _blocked was read
        self._renewing = asyncio.Lock()  # one per pass, made on its loop

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.csat_claim_lease)

    def _claim(self) -> list[DueSend]:
        now = self.ctx.clock()
        due = self.store.claim_due(now, now + self.lease, self.batch, self.pauses.active(now))
        self._held = {job.claim.token: now + self.lease for job in due}
        self._kept = {}
        return due

    async def _record(self, job: DueSend, changes: Changes) -> bool:
        """Write the outcome and release the claim, if this worker still holds it."""
        return await to_thread.run_sync(self.store.finish, job.claim, changes)

    def _message(self, job: DueSend) -> OutboundMessage | None:
        inv = job
        survey = self.ctx.surveys.get(inv.survey)
        if survey is None:
            return None
        if survey.version != inv.survey_version and job.claim.reminder:
            # The question was asked under another definition: never re-ask it differently.
            return None
        # A survey never sent has asked nothing yet, so it goes out under today's definition
        # (an upgrade that rewords a text does not drop what is due); _deliver records which.
        ctx = Context(
            now=self.ctx.clock(),
            locale=inv.locale,
            brand=self.ctx.settings.csat_brand,
            invitation_id=inv.id,
        )
        if job.claim.reminder:
            prefix = message("reminder_prefix", inv.locale)
            return question_message(survey, inv.question_index, ctx, prefix=prefix, kind="reminder")
        return question_message(survey, 0, ctx)

    def _fresh(self, job: DueSend) -> bool:
        """Whether more than half of this batch's lease is left: then no other worker can take
        a row of it (a claim needs an expired lease) and the send needs no renewal first."""
        held = self._held.get(job.claim.token)
        return held is not None and held - self.ctx.clock() > self.lease / 2

    def _renew(self, job: DueSend) -> None:
        now = self.ctx.clock()
        self._kept[job.claim.token] = self.store.renew(job.claim, now + self.lease)
        self._held[job.claim.token] = now + self.lease

    async def _holding(self, job: DueSend) -> bool:
        """Whether this worker still holds the job's row, renewing the batch's lease first when
        less than half of it is left. One renewal serves every send in flight (taken under a
        lock), and after a renewal only the rows it found still held may be sent: a row whose
        lease ran out before it may belong to another worker now."""
        async with self._renewing:
            if not self._fresh(job):
                await to_thread.run_sync(self._renew, job)
        kept = self._kept.get(job.claim.token)
        return kept is None or job.id in kept

    async def run_once(self) -> SendReport:
        """One pass: expire, claim, send. Returns what happened, for logs and tests."""
        await to_thread.run_sync(self.triggering.expire_due)
        jobs = await to_thread.run_sync(self._claim)
        report = SendReport(claimed=len(jobs))
        self._blocked_read = -SUPPRESSION_FRESH_FOR  # read it for this batch before its first send
        room = asyncio.Condition()
        self._renewing = asyncio.Lock()
        async with asyncio.TaskGroup() as flights:
            for position, job in enumerate(jobs):
                async with room:
                    await room.wait_for(functools.partial(self.windows.has_room, job.channel))
                if job.channel in self.pauses.active(self.ctx.clock()):
                    # Its channel failed earlier in this batch: leave it due, untried, unclaimed.
                    await self._record(job, {})
                    report.paused += 1
                    continue
                if time.monotonic() - self._blocked_read >= SUPPRESSION_FRESH_FOR:
                    ids = [later.id for later in jobs[position:]]
                    self._blocked = await to_thread.run_sync(self.store.suppressed_sends, ids)
                    self._blocked_read = time.monotonic()
                self.windows.took(job.channel)
                flights.create_task(self._fly(job, report, room))
        for outcome in ("sent", "deferred", "retried", "failed", "reminded", "paused", "lost"):
            if count := getattr(report, outcome):
                self.metrics.sends.labels(outcome).inc(count)
        return report

    async def _fly(self, job: DueSend, report: SendReport, room: asyncio.Condition) -> None:
        worked: bool | None = False
        ticket = self.pauses.ticket()
        try:
            worked = await self._deliver(job, report)
        finally:
            if worked and self.pauses.ticket() != ticket:
                worked = None  # a failure landed while it flew: it says nothing newer
            async with room:
                self.windows.landed(job.channel, worked)
                room.notify_all()

    async def _deliver(self, job: DueSend, report: SendReport) -> bool | None:
        """Send one survey and record the outcome. Whether the channel took it; None when the
        channel was not asked (failed, skipped, deferred or lost before the send)."""
        inv = job
        ctx = self.ctx
        channel: Channel | None = ctx.channels.get(inv.channel)
        now = ctx.clock()
        outbound = self._message(job)
        if channel is None or job.address is None or outbound is None:
            why = (
                Closure.CHANNEL_NOT_ENABLED
                if channel is None
                else Closure.RESPONDENT_ERASED
                if job.address is None
                else Closure.SURVEY_CHANGED
            )
            await self._record(job, {"status": Status.FAILED, "reason": why, "closed_at": now})
            report.failed += 1
            return None
        if job.id in self._blocked:
            skipped: Changes = {
                "status": Status.SKIPPED,
                "reason": Closure.OPTED_OUT,
                "closed_at": now,
            }
            await self._record(job, skipped)
            return None
        traits = channel.traits
        if traits.links_to_page:
            outbound = self.web.with_links(outbound)
        allowed = next_send_time(now, channel.timezones(job.address), traits.quiet_hours)
        if allowed > now and not job.claim.reminder:
            await self._record(job, {"send_at": allowed})
            report.deferred += 1
            return None
        if not await self._holding(job):
            log.warning("sender: invitation %s was taken by another worker", inv.id)
            report.lost += 1
            return None
        ticket = self.pauses.ticket()
        try:
            result = await channel.send(job.address, outbound)
        except TransientSendError as exc:
            await self._transient(job, exc, report)
            return False
        except PermanentSendError as exc:
            self.pauses.worked(inv.channel, ticket)
            await self._permanent(job, exc, now, report)
            return True
        except Exception as exc:  # a bug in an adapter: retried by time like a provider failure
            log.exception("sender: %s channel raised unexpectedly", inv.channel)
            await self._transient(job, TransientSendError(repr(exc), code="internal"), report)
            return False
        self.pauses.worked(inv.channel, ticket)
        now = ctx.clock()
        if job.claim.reminder:
            await self._record(job, {"remind_at": None})
            report.reminded += 1
            return True
        survey = ctx.surveys[inv.survey]
        expiry = survey.expires_after or traits.default_expiry
        sent: Changes = {
            "status": Status.SENT,
            "sent_at": now,
            "expires_at": now + expiry,
            "remind_at": now + survey.reminder_after if survey.reminder_after else None,
            "provider_message_id": result.provider_message_id,
            "attempts": inv.attempts + 1,
            "last_error": None,
            "retry_until": None,
            "survey_version": survey.version,
        }
        await self._record(job, sent)
        report.sent += 1
        return True

    async def _transient(self, job: DueSend, exc: TransientSendError, report: SendReport) -> None:
        inv = job
        now = self.ctx.clock()
        retry_at = self.pauses.failed(inv.channel, now, exc.retry_after)
        error = f"{exc.code or 'transient'}: {exc}"[:500]
        if job.claim.reminder:
            await self._record(job, {"remind_at": None, "last_error": error})
            return
        attempts = inv.attempts + 1
        give_up_at = inv.retry_until or now + self.ctx.settings.send_retry_for()
        if now >= give_up_at:
            gave_up: Changes = {
                "status": Status.FAILED,
                "attempts": attempts,
                "last_error": error,
                "reason": Closure.GAVE_UP,
                "closed_at": now,
            }
            await self._record(job, gave_up)
            report.failed += 1
            return
        retry: Changes = {
            "attempts": attempts,
            "last_error": error,
            "send_at": retry_at,
            "retry_until": give_up_at,
        }
        await self._record(job, retry)
        report.retried += 1

    async def _permanent(
        self, job: DueSend, exc: PermanentSendError, now: datetime, report: SendReport
    ) -> None:
        error = f"{exc.code or 'permanent'}: {exc}"[:500]
        if exc.opted_out and job.address is not None:
            address = job.address
            await to_thread.run_sync(self.optouts.opt_out, job.channel, address, "provider")
        if job.claim.reminder:
            await self._record(job, {"remind_at": None, "last_error": error})
            return
        failed: Changes = {
            "status": Status.FAILED,
            "attempts": job.attempts + 1,
            "last_error": error,
            "reason": Closure.OPTED_OUT if exc.opted_out else Closure.DELIVERY_FAILED,
            "closed_at": now,
        }
        await self._record(job, failed)
        report.failed += 1

    async def _refresh_rollups(self) -> timedelta:
        """Count the closed days into the day rollups, a few short transactions per pass; the
        wait before the next round (none while days are still to count). A failure is logged
        and waits for the next round: reports read raw rows meanwhile, so nothing is wrong."""
        ctx = self.ctx
        try:
            done = await to_thread.run_sync(
                functools.partial(
                    ctx.store.refresh_rollups,
                    ctx.settings.csat_timezone,
                    ctx.clock(),
                    chunks=ROLLUP_CHUNKS,
                )
            )
        except Exception:
            log.exception("counting days into the rollups failed; reports read raw rows")
            return ROLLUP_EVERY
        if done.days:
            log.info("rollups: %d day(s) counted, %d mark(s) cleared", done.days, done.marks)
        return timedelta(0) if done.pending else ROLLUP_EVERY

    async def remind(self) -> int:
        """Post again, once, the alerts nobody claimed within ``CSAT_FOLLOW_UP_AFTER``. Each is
        taken by one process only (see :meth:`FollowUps.due_reminders`); without an alert sink
        nothing is taken, so a process with no sinks never uses up a reminder."""
        if not self.desk.sinks:
            return 0
        alerts = await to_thread.run_sync(self.followups.due_reminders)
        if alerts:
            self.metrics.reminders.inc(len(alerts))
            await self.desk.publish(alerts)
        return len(alerts)

    async def run_forever(self, stop: asyncio.Event, interval: float) -> None:
        """Pass after pass until ``stop`` is set. A pass that fails (the database away, a bug) is
        logged and counted in ``csat_sender_errors_total``, and the loop goes on after a pause
        that grows with repeated failures."""
        housekeeping_due = rollups_due = self.ctx.clock()
        failures = 0
        # Webhooks go out on their own task: a slow receiver holds up no survey.
        posting = (
            asyncio.create_task(self._post_webhooks(stop, interval))
            if self.webhooks.enabled
            else None
        )
        try:
            await self._pass_forever(stop, interval, housekeeping_due, rollups_due, failures)
        finally:
            if posting is not None:
                await posting

    async def _post_webhooks(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            busy = False
            try:
                done = await self.webhooks.deliver_due()
                busy = bool(done.delivered or done.retried or done.failed)
            except Exception:
                log.exception("posting webhooks failed; going on")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _pass_forever(
        self,
        stop: asyncio.Event,
        interval: float,
        housekeeping_due: datetime,
        rollups_due: datetime,
        failures: int,
    ) -> None:
        while not stop.is_set():
            full = False
            try:
                report = await self.run_once()
                full = report.claimed >= self.batch
                if report.sent or report.failed or report.retried:
                    log.info("sender: %s", report)
                await self.digests.run_due()
                await self.remind()
                if self.ctx.clock() >= rollups_due:
                    rollups_due = self.ctx.clock() + await self._refresh_rollups()
                if self.ctx.clock() >= housekeeping_due:
                    await to_thread.run_sync(self.privacy.purge_raw)
                    housekeeping_due = self.ctx.clock() + timedelta(hours=1)
                failures = 0
            except Exception:
                failures += 1
                self.metrics.sender_errors.inc()
                log.exception("sender pass failed (%d in a row); going on", failures)
            if full:
                continue
            idle = min(interval * 2 ** min(failures, 10), max(interval, LONGEST_IDLE))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle)
