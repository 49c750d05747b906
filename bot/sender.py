"""Delivery: claims due invitations from the database and sends them through their channel.

Runs as a loop inside ``csat serve`` or as any number of ``csat worker`` processes. Every decision
(quiet hours, back-off, giving up, suppression) is the core's; a channel only says whether a send
worked, failed for now, or failed for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from anyio import to_thread
from sqlalchemy import update
from sqlmodel import col

from bot.channel import Channel, OutboundMessage
from bot.delivery import backoff
from bot.engine import Context, question_message
from bot.errors import PermanentSendError, TransientSendError
from bot.quiet_hours import next_send_time
from bot.service import Service
from bot.texts import message
from storage.models import Invitation, Respondent
from storage.queries import Claim, changed, claim_due

log = logging.getLogger("csat.sender")

LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Job:
    claim: Claim
    invitation: Invitation
    address: str | None


@dataclass
class SendReport:
    sent: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    reminded: int = 0
    claimed: int = 0


class Sender:
    def __init__(self, service: Service, *, batch: int = 50) -> None:
        self.service = service
        self.batch = batch

    def _claim(self) -> list[Job]:
        now = self.service.clock()
        with self.service.session() as session:
            claims = claim_due(session, now, now + LEASE, self.batch)
        jobs: list[Job] = []
        with self.service.session() as session:
            for claim in claims:
                invitation = session.get(Invitation, claim.invitation_id)
                if invitation is None:
                    continue
                respondent = (
                    session.get(Respondent, invitation.respondent_id)
                    if invitation.respondent_id is not None
                    else None
                )
                jobs.append(Job(claim, invitation, respondent.address if respondent else None))
        return jobs

    def _finish(self, job: Job, **values: Any) -> bool:
        """Write the outcome only if this worker still holds the claim."""
        with self.service.session() as session:
            result = changed(
                session,
                update(Invitation)
                .where(
                    col(Invitation.id) == job.claim.invitation_id,
                    col(Invitation.claim_token) == job.claim.token,
                )
                .values(
                    claim_token=None,
                    claimed_until=None,
                    version=col(Invitation.version) + 1,
                    **values,
                ),
            )
            return bool(result)

    def _message(self, job: Job) -> OutboundMessage | None:
        inv = job.invitation
        survey = self.service.surveys.get(inv.survey)
        if survey is None or survey.version != inv.survey_version:
            return None
        ctx = Context(
            now=self.service.clock(),
            locale=inv.locale,
            brand=self.service.settings.csat_brand,
            invitation_id=inv.id,
        )
        if job.claim.reminder:
            prefix = message("reminder_prefix", inv.locale)
            return question_message(survey, inv.question_index, ctx, prefix=prefix, kind="reminder")
        return question_message(survey, 0, ctx)

    async def run_once(self) -> SendReport:
        """One pass: expire, claim, send. Returns what happened, for logs and tests."""
        await to_thread.run_sync(self.service.expire_due)
        jobs = await to_thread.run_sync(self._claim)
        report = SendReport(claimed=len(jobs))
        for job in jobs:
            await self._deliver(job, report)
        return report

    async def _deliver(self, job: Job, report: SendReport) -> None:
        inv = job.invitation
        service = self.service
        channel: Channel | None = service.channels.get(inv.channel)
        now = service.clock()
        outbound = self._message(job)
        if channel is None or job.address is None or outbound is None:
            why = (
                "channel not enabled"
                if channel is None
                else "respondent erased"
                if job.address is None
                else "survey definition changed"
            )
            await to_thread.run_sync(
                lambda: self._finish(job, status="failed", reason=why, closed_at=now)
            )
            report.failed += 1
            return
        suppressed = await to_thread.run_sync(self._suppressed, inv.channel, job.address)
        if suppressed:
            await to_thread.run_sync(
                lambda: self._finish(job, status="skipped", reason="opted out", closed_at=now)
            )
            return
        traits = channel.traits
        allowed = next_send_time(now, channel.timezones(job.address), traits.quiet_hours)
        if allowed > now and not job.claim.reminder:
            await to_thread.run_sync(lambda: self._finish(job, send_at=allowed))
            report.deferred += 1
            return
        try:
            result = await channel.send(job.address, outbound)
        except TransientSendError as exc:
            await self._transient(job, exc, traits.max_attempts, now, report)
            return
        except PermanentSendError as exc:
            await self._permanent(job, exc, now, report)
            return
        if job.claim.reminder:
            await to_thread.run_sync(lambda: self._finish(job, remind_at=None))
            report.reminded += 1
            return
        survey = service.surveys[inv.survey]
        expiry = survey.expires_after or traits.default_expiry
        remind_at = now + survey.reminder_after if survey.reminder_after else None
        await to_thread.run_sync(
            lambda: self._finish(
                job,
                status="sent",
                sent_at=now,
                expires_at=now + expiry,
                remind_at=remind_at,
                provider_message_id=result.provider_message_id,
                attempts=inv.attempts + 1,
                last_error=None,
            )
        )
        report.sent += 1

    def _suppressed(self, channel: str, address: str) -> bool:
        with self.service.read_session() as session:
            return self.service.is_suppressed(session, channel, address)

    async def _transient(
        self,
        job: Job,
        exc: TransientSendError,
        max_attempts: int,
        now: datetime,
        report: SendReport,
    ) -> None:
        attempts = job.invitation.attempts + 1
        error = f"{exc.code or 'transient'}: {exc}"[:500]
        if job.claim.reminder:
            await to_thread.run_sync(lambda: self._finish(job, remind_at=None, last_error=error))
            return
        if attempts >= max_attempts:
            await to_thread.run_sync(
                lambda: self._finish(
                    job,
                    status="failed",
                    attempts=attempts,
                    last_error=error,
                    reason="gave up after retries",
                    closed_at=now,
                )
            )
            report.failed += 1
            return
        retry_at = now + backoff(attempts, exc.retry_after)
        await to_thread.run_sync(
            lambda: self._finish(job, attempts=attempts, last_error=error, send_at=retry_at)
        )
        report.retried += 1

    async def _permanent(
        self, job: Job, exc: PermanentSendError, now: datetime, report: SendReport
    ) -> None:
        error = f"{exc.code or 'permanent'}: {exc}"[:500]
        if exc.opted_out and job.address is not None:
            address = job.address
            await to_thread.run_sync(
                lambda: self.service.opt_out(job.invitation.channel, address, "provider")
            )
        if job.claim.reminder:
            await to_thread.run_sync(lambda: self._finish(job, remind_at=None, last_error=error))
            return
        await to_thread.run_sync(
            lambda: self._finish(
                job,
                status="failed",
                attempts=job.invitation.attempts + 1,
                last_error=error,
                reason="opted out" if exc.opted_out else "delivery failed",
                closed_at=now,
            )
        )
        report.failed += 1

    async def run_forever(self, stop: asyncio.Event, interval: float) -> None:
        housekeeping_due = self.service.clock()
        while not stop.is_set():
            try:
                report = await self.run_once()
                if report.sent or report.failed or report.retried:
                    log.info("sender: %s", report)
                if self.service.clock() >= housekeeping_due:
                    await to_thread.run_sync(self.service.purge_raw)
                    housekeeping_due = self.service.clock() + timedelta(hours=1)
            except Exception:
                log.exception("sender pass failed; retrying")
                if report.claimed >= self.batch:
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
