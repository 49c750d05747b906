"""Triggering: a finished interaction becomes a scheduled survey (or a skipped one, and why)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from bot.context import ServiceContext
from bot.errors import InvalidInput, NotFound
from bot.requests import SurveyRequest
from bot.results import TriggerResult
from bot.surveys import Survey, normalise_locale
from bot.web_surveys import WebSurveys
from storage.errors import DuplicateKey
from storage.interface import NewInvitation, Transaction, Triggered
from storage.values import LIVE_STATUSES, Closure, Status

log = logging.getLogger("csat.service")

_NEVER = datetime.min.replace(tzinfo=UTC)


class Prepared(NamedTuple):
    """One checked trigger: the request, its survey, the normalised address and the locale."""

    request: SurveyRequest
    survey: Survey
    address: str
    locale: str


class Triggering:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def start_survey(self, request: SurveyRequest) -> TriggerResult:
        return self.start_surveys([request])[0]

    def start_surveys(self, requests: Sequence[SurveyRequest]) -> list[TriggerResult]:
        """Schedule surveys, all or none of a batch; a repeated interaction+survey is a no-op."""
        prepared = [
            self._prepare(r, i if len(requests) > 1 else None) for i, r in enumerate(requests)
        ]
        seen: set[tuple[str, str]] = set()
        for request, *_ in prepared:
            key = (request.interaction_id, request.survey)
            if key in seen:
                raise InvalidInput(
                    f"interaction {request.interaction_id!r} appears twice for survey "
                    f"{request.survey!r} in one batch"
                )
            seen.add(key)
        for attempt in range(3):
            try:
                with self.ctx.store.writing() as tx:
                    results = self._schedule_all(tx, prepared)
            except DuplicateKey:  # another writer took one of these keys first: read again
                if attempt == 2:
                    raise
                continue
            _log(results)
            return self._with_pages(prepared, results)
        raise AssertionError("unreachable")

    def _with_pages(
        self, prepared: Sequence[Prepared], results: list[TriggerResult]
    ) -> list[TriggerResult]:
        """The survey page's URL on each result of a channel answered there (link)."""
        pages = WebSurveys(self.ctx)
        return [
            replace(result, url=pages.url(result.invitation_id))
            if self.ctx.channel(item.request.channel).traits.answered_on_page
            and result.status in LIVE_STATUSES
            else result
            for item, result in zip(prepared, results, strict=True)
        ]

    def _prepare(self, request: SurveyRequest, position: int | None) -> Prepared:
        where = f"item {position}: " if position is not None else ""
        try:
            channel = self.ctx.channel(request.channel)
            survey = self.ctx.survey(request.survey)
            address = channel.normalise_address(request.to)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}{exc}") from None
        locale = normalise_locale(request.locale) or survey.fallback_locale
        return Prepared(request, survey, address, locale)

    def _schedule_all(self, tx: Transaction, prepared: Sequence[Prepared]) -> list[TriggerResult]:
        """Decide and insert a whole batch with a handful of set queries: the rules are those of
        one trigger at a time, in the batch's order (an earlier item can throttle a later one)."""
        ctx = self.ctx
        now = ctx.clock()
        keys = {(item.request.interaction_id, item.request.survey) for item in prepared}
        existing = tx.existing_invitations(keys)
        fresh = [
            item
            for item in prepared
            if (item.request.interaction_id, item.request.survey) not in existing
        ]
        digests = {
            (item.request.channel, item.address): ctx.pseudonym(item.request.channel, item.address)
            for item in fresh
        }
        respondents = tx.respondent_ids(digests, now)
        blocked = tx.suppressed({(c, d) for (c, _), d in digests.items()})
        throttle_keys = [  # per customer when the caller names one, else per address
            ctx.pseudonym("customer", item.request.customer_id)
            if item.request.customer_id
            else digests[(item.request.channel, item.address)]
            for item in fresh
        ]
        longest = max((item.survey.throttle for item in fresh), default=timedelta(0))
        throttled_keys = {
            key
            for key, item in zip(throttle_keys, fresh, strict=True)
            if item.survey.throttle > timedelta(0)
        }
        latest = tx.latest_live(throttled_keys, now - longest) if throttled_keys else {}
        rows: list[NewInvitation] = []
        for (request, survey, address, locale), key in zip(fresh, throttle_keys, strict=True):
            status, reason = Status.SCHEDULED, None
            if (request.channel, digests[(request.channel, address)]) in blocked:
                status, reason = Status.SKIPPED, Closure.OPTED_OUT
            elif survey.throttle > timedelta(0) and latest.get(key, _NEVER) > now - survey.throttle:
                status, reason = Status.SKIPPED, Closure.THROTTLED
            elif ctx.rng.random() >= survey.sample_rate:
                status, reason = Status.SKIPPED, Closure.NOT_SAMPLED
            if status in LIVE_STATUSES:
                latest[key] = now
            rows.append(
                NewInvitation(
                    interaction_id=request.interaction_id,
                    survey=request.survey,
                    survey_version=survey.version,
                    channel=request.channel,
                    respondent_id=respondents[(request.channel, address)],
                    throttle_key=key,
                    agent=request.agent,
                    team=request.team,
                    touchpoint=request.touchpoint,
                    locale=locale,
                    status=status,
                    reason=reason,
                    created_at=now,
                    send_at=now + request.delay,
                    closed_at=now if status == Status.SKIPPED else None,
                )
            )
        made = iter(zip(tx.insert_invitations(rows), rows, strict=True))
        results: list[TriggerResult] = []
        for item in prepared:
            found = existing.get((item.request.interaction_id, item.request.survey))
            if found is not None:
                results.append(_result(found))
                continue
            invitation_id, row = next(made)
            results.append(
                TriggerResult(
                    interaction_id=row.interaction_id,
                    survey=row.survey,
                    invitation_id=invitation_id,
                    status=row.status,
                    reason=row.reason,
                    send_at=row.send_at,
                    duplicate=False,
                )
            )
        return results

    def cancel(self, interaction_id: str, survey: str | None = None) -> int:
        """Cancel unanswered surveys of an interaction (the ticket was reopened)."""
        with self.ctx.store.writing() as tx:
            cancelled = tx.cancel_unanswered(interaction_id, survey, self.ctx.clock())
        if cancelled is None:
            raise NotFound(f"no survey for interaction {interaction_id!r}")
        return cancelled

    def expire_due(self) -> int:
        with self.ctx.store.writing() as tx:
            return tx.expire(self.ctx.clock())


def _result(found: Triggered) -> TriggerResult:
    return TriggerResult(
        interaction_id=found.interaction_id,
        survey=found.survey,
        invitation_id=found.id,
        status=found.status,
        reason=found.reason,
        send_at=found.send_at,
        duplicate=True,
    )


def _log(results: Sequence[TriggerResult]) -> None:
    if len(results) == 1:
        only = results[0]
        what = "duplicate" if only.duplicate else only.reason or only.status
        log.info("survey %s for %s: %s", only.survey, only.interaction_id, what)
        return
    tally = Counter("duplicate" if r.duplicate else r.reason or r.status for r in results)
    summary = ", ".join(f"{n} {what}" for what, n in sorted(tally.items()))
    log.info("%d surveys triggered: %s", len(results), summary)
