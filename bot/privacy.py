"""Erasure and retention (PRODUCT §9): addresses, comments and raw text go; ratings stay.

On SQLite nothing erased stays readable in the database's files: connections run with
``secure_delete`` (freed space is zeroed, see :mod:`storage.db`), and after an erasure the
write-ahead log, which still holds the pages as they were, is checkpointed and truncated. On
PostgreSQL the rows are updated and deleted; old row versions remain until VACUUM reclaims them
and in the server's WAL (and backups) until those are recycled, which is the operator's domain.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import col

from bot.errors import NotFound
from bot.service_base import ServiceBase
from storage.db import truncate_wal
from storage.models import Answer, InboundMessage, Invitation
from storage.queries import changed
from storage.values import OPEN_STATUSES, Status

log = logging.getLogger("csat.privacy")

ERASED = "[erased]"


def address_pattern(address: str) -> re.Pattern[str]:
    """The address as it may be written in a provider's error text: as stored, and for a phone
    number also without its '+' or with spaces, dashes or brackets between the digits."""
    digits = re.sub(r"\D", "", address)
    forms = [re.escape(address)]
    if address.startswith("+") and len(digits) >= 7:
        forms.append(r"(?<!\d)\+?" + r"[\s().-]*".join(digits) + r"(?!\d)")
    return re.compile("|".join(forms))


class Privacy(ServiceBase):
    def forget(self, channel: str, address: str) -> int:
        """Erase a respondent's address, comments and raw messages; ratings stay, unlinked.

        The address is also taken out of the provider errors recorded on their invitations
        ("The 'To' number +31... is not valid"). Returns how many invitations were unlinked.
        The suppression list keeps its HMAC.
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
                    col(Invitation.status).in_(OPEN_STATUSES),
                )
                .values(status=Status.CANCELLED, reason="erased", closed_at=self.clock()),
            )
            changed(
                session,
                update(Invitation)
                .where(col(Invitation.id).in_(invitations))
                .values(respondent_id=None, throttle_key=None),
            )
            errors = session.execute(
                select(col(Invitation.id), col(Invitation.last_error)).where(
                    col(Invitation.id).in_(invitations), col(Invitation.last_error).is_not(None)
                )
            ).all()
            pattern = address_pattern(address)
            for invitation_id, error in errors:
                scrubbed = pattern.sub(ERASED, error)
                if scrubbed != error:
                    changed(
                        session,
                        update(Invitation)
                        .where(col(Invitation.id) == invitation_id)
                        .values(last_error=scrubbed),
                    )
            changed(
                session,
                update(InboundMessage)
                .where(col(InboundMessage.respondent_id) == respondent.id)
                .values(raw_text=None, reply=None, respondent_id=None),
            )
            session.delete(respondent)
        self._clear_wal("an erasure")
        return len(invitations)

    def purge_raw(self) -> int:
        """Drop raw inbound text past the retention period (and, on SQLite, what an earlier
        erasure could not clear from the write-ahead log)."""
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
        self._clear_wal("the retention purge")
        return result

    def _clear_wal(self, what: str) -> None:
        """SQLite: truncate the write-ahead log, which still holds the pages as they were
        before ``what``; a reader that keeps it busy leaves them there until the next try
        (the hourly housekeeping)."""
        if self.turn is None:
            return
        if not truncate_wal(self.engine, self.write_turn):
            log.warning(
                "after %s the SQLite write-ahead log could not be truncated (a reader kept it "
                "busy); the old data stays in %s-wal until the next checkpoint",
                what,
                self.engine.url.database,
            )
