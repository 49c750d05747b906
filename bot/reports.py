"""Scores for leads and exports for the team's systems (PRODUCT §5, §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bot.channel import OutboundMessage
from bot.errors import InvalidInput, NotAllowed
from bot.periods import ScoreQuery, parse_query, resolve_period
from bot.scoring import group_report, report
from bot.service_base import InboundResult, ServiceBase
from bot.settings import Lead
from bot.texts import message
from storage.models import Answer, Invitation
from storage.scores import group_keys, two_periods
from storage.values import Status


class Reports(ServiceBase):
    # -- scores ---------------------------------------------------------------------------

    def is_lead(self, channel: str, address: str) -> bool:
        return Lead(channel, address) in self.leads

    def parse_query(self, text: str) -> ScoreQuery:
        return parse_query(text, now=self.clock(), timezone=self.settings.csat_timezone)

    def scores(self, query: ScoreQuery) -> dict[str, Any]:
        """The report in the contract's JSON shape (PRODUCT §5)."""
        period, previous = query.period, query.period.previous()
        assert previous.end == period.start, "a previous period ends where its period starts"
        now, before = two_periods(self.engine, previous.start, period.start, period.end, query.by)
        overall = group_report(now.overall(), before.overall())
        groups = {
            key: group_report(now.get(key), before.get(key)) for key in group_keys(now.groups)
        }
        return report(period=period, overall=overall, groups=groups, by=query.by)

    def scores_for(self, channel: str, address: str, text: str) -> dict[str, Any]:
        """Leads-only access, the rule every channel reuses; refuses without disclosing anything."""
        if not self.is_lead(channel, address):
            raise NotAllowed(message("not_a_lead", None))
        return self.scores(self.parse_query(text))

    def _lead_score_reply(self, channel: str, address: str, text: str) -> InboundResult:
        from bot.report_text import short_summary

        try:
            reply = short_summary(self.scores(self.parse_query(text)))
        except InvalidInput as exc:
            reply = str(exc)
        return InboundResult(replies=(OutboundMessage(text=reply),), reason="score")

    def query_scores(self, period: str = "today", by: str | None = None) -> dict[str, Any]:
        text = period if by is None else f"{period} by {by}"
        now = self.clock()
        resolve_period(period, now=now, timezone=self.settings.csat_timezone)
        return self.scores(parse_query(text, now=now, timezone=self.settings.csat_timezone))

    # -- export and privacy ---------------------------------------------------------------

    def responses(
        self, since: datetime | None = None, until: datetime | None = None, limit: int = 10_000
    ) -> list[dict[str, Any]]:
        """One row per sent invitation with its answers, for export."""
        with self.read_session() as session:
            statement = select(Invitation).where(col(Invitation.status) != Status.SKIPPED)
            if since is not None:
                statement = statement.where(col(Invitation.created_at) >= since)
            if until is not None:
                statement = statement.where(col(Invitation.created_at) < until)
            invitations = list(session.scalars(statement.order_by(col(Invitation.id)).limit(limit)))
            ids = [i.id for i in invitations]
            answers: dict[int, list[Answer]] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for answer in session.scalars(
                    select(Answer).where(col(Answer.invitation_id).in_(chunk))
                ):
                    answers.setdefault(answer.invitation_id, []).append(answer)
        rows: list[dict[str, Any]] = []
        for inv in invitations:
            assert inv.id is not None
            by_question = {a.question_id: a for a in answers.get(inv.id, [])}
            rating = next((a for a in by_question.values() if a.value is not None), None)
            comment = next((a.comment for a in by_question.values() if a.comment), None)
            rows.append(
                {
                    "invitation_id": inv.id,
                    "interaction_id": inv.interaction_id,
                    "survey": inv.survey,
                    "survey_version": inv.survey_version,
                    "channel": inv.channel,
                    "agent": inv.agent,
                    "team": inv.team,
                    "touchpoint": inv.touchpoint,
                    "locale": inv.locale,
                    "status": inv.status,
                    "reason": inv.reason,
                    "delivery_status": inv.delivery_status,
                    "last_error": inv.last_error,
                    "created_at": inv.created_at.isoformat(),
                    "sent_at": inv.sent_at.isoformat() if inv.sent_at else None,
                    "responded_at": inv.responded_at.isoformat() if inv.responded_at else None,
                    "question": rating.question_id if rating else None,
                    "kind": rating.kind if rating else None,
                    "rating": rating.value if rating else None,
                    "scale_max": rating.scale_max if rating else None,
                    "comment": comment,
                }
            )
        return rows
