"""Erasure and retention (PRODUCT §9): addresses, comments and raw text go; ratings stay.

On SQLite nothing erased stays readable in the database's files: connections run with
``secure_delete`` (freed space is zeroed), and after an erasure the write-ahead log, which still
holds the pages as they were, is checkpointed and truncated. On PostgreSQL the rows are updated
and deleted; old row versions remain until VACUUM reclaims them and in the server's WAL (and
backups) until those are recycled, which is the operator's domain.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from bot.context import ServiceContext
from bot.errors import NotFound

log = logging.getLogger("csat.privacy")

ERASED = "[erased]"


def address_pattern(address: str) -> re.Pattern[str]:
    """The address as it may be written in a provider's error text: as stored, and for a phone
    number also without its '+' or with spaces, dashes or brackets between the digits."""
    digits = re.sub(r"\D", "", address)
    forms = [re.escape(address)]
    if "@" in address:  # an e-mail address: mail servers change its case at will
        return re.compile(re.escape(address), re.IGNORECASE)
    if address.startswith("+") and len(digits) >= 7:
        forms.append(r"(?<!\d)\+?" + r"[\s().-]*".join(digits) + r"(?!\d)")
    return re.compile("|".join(forms))


class Privacy:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def forget(self, channel: str, address: str) -> int:
        """Erase a respondent's address, comments and raw messages; ratings stay, unlinked.

        The address is also taken out of the provider errors recorded on their invitations
        ("The 'To' number +31... is not valid"). Returns how many invitations were unlinked.
        The suppression list keeps its HMAC.
        """
        chan = self.ctx.channels.get(channel)
        if chan is not None:
            address = chan.normalise_address(address)
        pattern = address_pattern(address)
        with self.ctx.store.writing() as tx:
            respondent = tx.find_respondent(channel, self.ctx.pseudonym(channel, address))
            if respondent is None:
                raise NotFound(f"no respondent {channel}:{address}")
            unlinked = tx.erase(
                respondent.id, self.ctx.clock(), lambda error: pattern.sub(ERASED, error)
            )
        self._clear_log("an erasure")
        return unlinked

    def purge_raw(self) -> int:
        """Drop raw inbound text past the retention period (and, on SQLite, what an earlier
        erasure could not clear from the write-ahead log)."""
        cutoff = self.ctx.clock() - timedelta(days=self.ctx.settings.csat_retention_days)
        with self.ctx.store.writing() as tx:
            purged = tx.purge_raw(cutoff)
        self._clear_log("the retention purge")
        return purged

    def _clear_log(self, what: str) -> None:
        """A reader that keeps the log busy leaves the old pages there until the next try (the
        hourly housekeeping)."""
        if not self.ctx.store.truncate_log():
            log.warning(
                "after %s the SQLite write-ahead log could not be truncated (a reader kept it "
                "busy); the old data stays in the -wal file until the next checkpoint",
                what,
            )
