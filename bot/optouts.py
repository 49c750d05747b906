"""The suppression list: STOP, START, and a provider's word that an address opted out."""

from __future__ import annotations

from bot.channel import OutboundMessage
from bot.context import ServiceContext
from storage.interface import Transaction
from storage.values import Closure


class OptOuts:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def opt_out_in(
        self, tx: Transaction, channel: str, address: str, reason: str
    ) -> tuple[OutboundMessage, ...]:
        """Suppress the address and close its open surveys; the confirmation goes out only the
        first time."""
        digest = self.ctx.pseudonym(channel, address)
        if not tx.suppress(channel, digest, reason, self.ctx.clock()):
            return ()
        respondent = tx.find_respondent(channel, digest)
        if respondent is not None:
            tx.close_open(respondent.id, Closure.OPTED_OUT, self.ctx.clock())
        return (self.ctx.text("opted_out", respondent.locale if respondent else None),)

    def opt_out(self, channel: str, address: str, reason: str = "provider") -> bool:
        """Suppress from outside a conversation (e.g. a provider's opt-out error); True if new."""
        with self.ctx.store.writing() as tx:
            return bool(self.opt_out_in(tx, channel, address, reason))

    def opt_in(self, channel: str, address: str) -> None:
        with self.ctx.store.writing() as tx:
            tx.unsuppress(channel, self.ctx.pseudonym(channel, address))
