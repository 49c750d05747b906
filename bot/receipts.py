"""Delivery receipts: a provider's word on what became of a survey message."""

from __future__ import annotations

from bot.context import ServiceContext
from bot.errors import InvalidInput
from bot.optouts import OptOuts
from storage.interface import Changes
from storage.values import UNDELIVERED, Closure, Status

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


class Receipts:
    def __init__(self, ctx: ServiceContext, optouts: OptOuts) -> None:
        self.ctx = ctx
        self.optouts = optouts

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
        with self.ctx.store.writing() as tx:
            invitation = tx.receipted(channel, provider_message_id)
            if invitation is None:
                return False
            if DELIVERY_RANK[status] <= DELIVERY_RANK.get(invitation.delivery_status or "", -1):
                return False
            changes: Changes = {"delivery_status": status}
            if error:
                changes["last_error"] = error[:500]
            if (
                status in UNDELIVERED
                and invitation.status == Status.SENT
                and invitation.responded_at is None
            ):
                changes["status"], changes["reason"] = Status.FAILED, Closure.UNDELIVERED
                changes["closed_at"] = self.ctx.clock()
            tx.change(invitation.id, changes)
            if opted_out and invitation.address is not None:
                self.optouts.opt_out_in(tx, channel, invitation.address, "provider")
            return True
