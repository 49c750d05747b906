"""What an adapter without webhooks of its own is: no routes, nothing to start or stop."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

    from bot.hub import Hub


class WithoutWebhooks:
    """Mixed into the console, link and e-mail adapters: their answers come another way (a
    prompt, the web survey page)."""

    alert_sink: None = None

    def routes(self, hub: Hub) -> APIRouter | None:
        return None

    async def start(self, hub: Hub) -> None:
        return None

    async def stop(self) -> None:
        return None
