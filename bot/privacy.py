"""Erasure and retention (PRODUCT §9): addresses, comments and raw text go; ratings stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import col

from bot.errors import NotFound
from bot.service_base import ServiceBase
from storage.models import Answer, InboundMessage, Invitation
from storage.queries import changed


class Privacy(ServiceBase):
    def forget(self, channel: str, address: str) -> int:
        """Erase a respondent's address, comments and raw messages; ratings stay, unlinked.

        Returns how many invitations were unlinked. The suppression list keeps its HMAC.
        """
        chan = self.channels.get(channel)
        if chan is not None:
            address = chan.normalise_address(address)
        with self.session() as session:
            respondent = self._find_respondent(session, channel, address)
            if respondent is None:
                raise NotFound(f"no respondent {channel}:{address}")
            invitations = list(
                session.scalars(
                    select(col(Invitation.id)).where(col(Invitation.respondent_id) == respondent.id)
                )
            )
            changed(
                session,
                update(Answer)
                .where(col(Answer.invitation_id).in_(invitations))
                .values(comment=None),
            )
            changed(
                session,
                update(Invitation)
                .where(
                    col(Invitation.id).in_(invitations),
                    col(Invitation.status).in_(("scheduled", "sent")),
                )
                .values(status="cancelled", reason="erased", closed_at=self.clock()),
            )
            changed(
                session,
                update(Invitation)
                .where(col(Invitation.id).in_(invitations))
                .values(respondent_id=None, throttle_key=None),
            )
            changed(
                session,
                update(InboundMessage)
                .where(col(InboundMessage.respondent_id) == respondent.id)
                .values(raw_text=None, reply=None, respondent_id=None),
            )
            session.delete(respondent)
            return len(invitations)

    def purge_raw(self) -> int:
        """Drop raw inbound text past the retention period."""
        cutoff = self.clock() - timedelta(days=self.settings.csat_retention_days)
        with self.session() as session:
            result = changed(
                session,
                update(InboundMessage)
                .where(
                    col(InboundMessage.received_at) < cutoff,
                    col(InboundMessage.raw_text).is_not(None),
                )
                .values(raw_text=None, reply=None),
            )
            return result
