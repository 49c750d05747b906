"""Use cases: trigger, reply, score, export, forget. Channels and the web app call only these.

:class:`Service` is assembled from focused parts: conversations (``bot.conversations``), reports
(``bot.reports``) and privacy (``bot.privacy``) on shared plumbing (``bot.service_base``). This
module adds triggering, delivery receipts and expiry.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot.conversations import Conversations
from bot.errors import InvalidInput, NotFound
from bot.privacy import Privacy
from bot.requests import SurveyRequest
from bot.service_base import InboundResult, ServiceBase, TriggerResult, utcnow
from bot.surveys import Survey, normalise_locale
from storage import triggers
from storage.models import Invitation, Respondent
from storage.queries import changed
from storage.scores import UNDELIVERED
from storage.values import LIVE_STATUSES, OPEN_STATUSES, Status

log = logging.getLogger("csat.service")

__all__ = ["InboundResult", "Service", "ServiceBase", "TriggerResult", "utcnow"]

LIVE = LIVE_STATUSES
_NEVER = datetime.min.replace(tzinfo=UTC)

DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "partially_delivered": 4,
    "read": 5,
}


class Service(Conversations, Privacy):
    # -- triggering -----------------------------------------------------------------------

    def start_survey(self, request: SurveyRequest) -> TriggerResult:
        return self.start_surveys([request])[0]

    def start_surveys(self, requests: Sequence[SurveyRequest]) -> list[TriggerResult]:
        """Schedule surveys, all or none of a batch; a repeated interaction+survey is a no-op."""
        prepared = [
            self._prepare(r, i if len(requests) > 1 else None) for i, r in enumerate(requests)
        ]
        seen: set[tuple[str, str]] = set()
        for request, _, _ in prepared:
            key = (request.interaction_id, request.survey)
            if key in seen:
                raise InvalidInput(
                    f"interaction {request.interaction_id!r} appears twice for survey "
                    f"{request.survey!r} in one batch"
                )
            seen.add(key)
        for attempt in range(3):
            try:
                with self.session() as session:
                    return self._schedule_all(session, prepared)
            except IntegrityError:  # another writer took one of these keys first: read again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _prepare(
        self, request: SurveyRequest, position: int | None
    ) -> tuple[SurveyRequest, Survey, str]:
        where = f"item {position}: " if position is not None else ""
        try:
            channel = self.channel(request.channel)
            survey = self.survey(request.survey)
            address = channel.normalise_address(request.to)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}{exc}") from None
        locale = normalise_locale(request.locale) or survey.fallback_locale
        return request.model_copy(update={"to": address, "locale": locale}), survey, address

    def _schedule_all(
        self, session: Session, prepared: Sequence[tuple[SurveyRequest, Survey, str]]
    ) -> list[TriggerResult]:
        """Decide and insert a whole batch with a handful of set queries: the rules are those of
        one trigger at a time, in the batch's order (an earlier item can throttle a later one)."""
        now = self.clock()
        keys = {(request.interaction_id, request.survey) for request, _, _ in prepared}
        existing = triggers.existing_invitations(session, keys)
        fresh = [
            item for item in prepared if (item[0].interaction_id, item[0].survey) not in existing
        ]
        digests = {
            (r.channel, address): self.pseudonym(r.channel, address) for r, _, address in fresh
        }
        respondents = triggers.respondent_ids(session, digests, now)
        blocked = triggers.suppressed(session, {(c, d) for (c, _), d in digests.items()})
        throttle_keys = {  # per customer when the caller names one, else per address
            request: self.pseudonym("customer", request.customer_id)
            if request.customer_id
            else digests[(request.channel, address)]
            for request, _, address in fresh
        }
        longest = max((s.throttle for _, s, _ in fresh), default=timedelta(0))
        throttled_keys = {throttle_keys[r] for r, s, _ in fresh if s.throttle > timedelta(0)}
        latest = (
            triggers.latest_live(session, throttled_keys, now - longest, LIVE)
            if throttled_keys
            else {}
        )
        decided: list[tuple[Status, str | None]] = []
        rows: list[dict[str, object]] = []
        for request, survey, address in fresh:
            key = throttle_keys[request]
            status, reason = Status.SCHEDULED, None
            if (request.channel, digests[(request.channel, address)]) in blocked:
                status, reason = Status.SKIPPED, "opted out"
            elif survey.throttle > timedelta(0) and latest.get(key, _NEVER) > now - survey.throttle:
                status, reason = Status.SKIPPED, "throttled"
            elif self.rng.random() >= survey.sample_rate:
                status, reason = Status.SKIPPED, "not sampled"
            if status in LIVE:
                latest[key] = now
            decided.append((status, reason))
            rows.append(
                {
                    "interaction_id": request.interaction_id,
                    "survey": request.survey,
                    "survey_version": survey.version,
                    "channel": request.channel,
                    "respondent_id": respondents[(request.channel, address)],
                    "throttle_key": key,
                    "agent": request.agent,
                    "team": request.team,
                    "touchpoint": request.touchpoint,
                    "locale": request.locale or survey.fallback_locale,
                    "status": status,
                    "reason": reason,
                    "created_at": now,
                    "send_at": now + request.delay,
                    "closed_at": now if status == Status.SKIPPED else None,
                    "version": 0,
                    "attempts": 0,
                    "question_index": 0,
                    "reprompts": 0,
                }
            )
        made = zip(triggers.insert_invitations(session, rows), decided, strict=True)
        results: list[TriggerResult] = []
        for request, _, _ in prepared:
            found = existing.get((request.interaction_id, request.survey))
            if found is not None:
                results.append(self._result(found, duplicate=True))
                continue
            invitation_id, (status, reason) = next(made)
            results.append(
                TriggerResult(
                    interaction_id=request.interaction_id,
                    survey=request.survey,
                    invitation_id=invitation_id,
                    status=status,
                    reason=reason,
                    send_at=now + request.delay,
                    duplicate=False,
                )
            )
        if len(prepared) == 1:
            only = results[0]
            log.info(
                "survey %s for %s: %s",
                only.survey,
                only.interaction_id,
                "duplicate" if only.duplicate else only.reason or only.status,
            )
        else:
            tally = Counter("duplicate" if r.duplicate else r.reason or r.status for r in results)
            log.info(
                "%d surveys triggered: %s",
                len(results),
                ", ".join(f"{n} {what}" for what, n in sorted(tally.items())),
            )
        return results

    @staticmethod
    def _result(invitation: Invitation, *, duplicate: bool) -> TriggerResult:
        assert invitation.id is not None
        return TriggerResult(
            interaction_id=invitation.interaction_id,
            survey=invitation.survey,
            invitation_id=invitation.id,
            status=invitation.status,
            reason=invitation.reason,
            send_at=invitation.send_at,
            duplicate=duplicate,
        )

    def cancel(self, interaction_id: str, survey: str | None = None) -> int:
        """Cancel unanswered surveys of an interaction (the ticket was reopened)."""
        with self.session() as session:
            statement = select(Invitation).where(col(Invitation.interaction_id) == interaction_id)
            if survey is not None:
                statement = statement.where(col(Invitation.survey) == survey)
            rows = list(session.scalars(statement))
            if not rows:
                raise NotFound(f"no survey for interaction {interaction_id!r}")
            cancelled = 0
            for row in rows:
                if row.status in OPEN_STATUSES and row.responded_at is None:
                    row.status, row.reason, row.closed_at = (
                        Status.CANCELLED,
                        "cancelled",
                        self.clock(),
                    )
                    row.version += 1
                    cancelled += 1
            return cancelled

    # -- delivery receipts ------------------------------------------------------------------

    def record_delivery(
        self,
        channel: str,
        provider_message_id: str,
        status: str,
        error: str | None = None,
        *,
        opted_out: bool = False,
    ) -> bool:
        """Apply a provider's delivery receipt to the survey message it is about.

        Receipts arrive out of order, so the status only moves forward (queued -> sent ->
        delivered/undelivered/failed -> read). An undelivered survey is closed as failed and no
        longer counts as sent. Returns whether anything changed.
        """
        status = status.strip().lower()
        if status not in DELIVERY_RANK:
            raise InvalidInput(f"unknown delivery status {status!r}")
        with self.session() as session:
            invitation = session.scalars(
                select(Invitation).where(
                    col(Invitation.channel) == channel,
                    col(Invitation.provider_message_id) == provider_message_id,
                )
            ).first()
            if invitation is None:
                return False
            current = DELIVERY_RANK.get(invitation.delivery_status or "", -1)
            if DELIVERY_RANK[status] <= current:
                return False
            invitation.delivery_status = status
            if error:
                invitation.last_error = error[:500]
            if (
                status in UNDELIVERED
                and invitation.status == Status.SENT
                and invitation.responded_at is None
            ):
                invitation.status, invitation.reason = Status.FAILED, "undelivered"
                invitation.closed_at = self.clock()
            invitation.version += 1
            respondent = (
                session.get(Respondent, invitation.respondent_id)
                if invitation.respondent_id is not None
                else None
            )
            if opted_out and respondent is not None and respondent.address is not None:
                self._opt_out(session, channel, respondent.address, "provider")
            return True

    def expire_due(self) -> int:
        now = self.clock()
        with self.session() as session:
            result = changed(
                session,
                update(Invitation)
                .where(
                    col(Invitation.status) == Status.SENT,
                    col(Invitation.expires_at) <= now,
                )
                .values(status=Status.EXPIRED, closed_at=now, version=col(Invitation.version) + 1),
            )
            return result
