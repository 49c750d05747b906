"""Dashboard sign-in: a one-time link a lead asks for in chat, then a signed session cookie.

A lead types ``/csat dashboard`` (Slack) or ``/score dashboard`` (Telegram) and gets a link that
works once, for ten minutes. Only the token's SHA-256 is stored, so the database alone opens
nothing. Following the link sets a session cookie: the lead and an expiry, signed with HMAC-SHA256
under a key derived from the service's own secret (``CSAT_HASH_KEY`` or the generated one), sent
HttpOnly and SameSite=Lax (Secure behind https). The API token signs in too, for the operator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta

from bot.context import ServiceContext
from bot.errors import NotAllowed
from bot.texts import message

LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=12)
COOKIE = "csat_session"


class SignIn:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _key(self) -> bytes:
        return hmac.new(self.ctx.hash_key(), b"dashboard session", hashlib.sha256).digest()

    def link_for(self, channel: str, address: str) -> str:
        """A one-time sign-in path (or URL, with ``CSAT_PUBLIC_URL``) for a lead."""
        if not self.ctx.is_lead(channel, address):
            raise NotAllowed(message("not_a_lead", None))
        token = secrets.token_urlsafe(32)
        digest = hashlib.sha256(token.encode()).hexdigest()
        expires = self.ctx.clock() + LINK_LIFETIME
        self.ctx.store.add_login_link(digest, f"{channel}:{address}", expires)
        base = (self.ctx.settings.csat_public_url or "").rstrip("/")
        return f"{base}/dashboard/login?token={token}"

    def redeem(self, token: str) -> str | None:
        """The lead a link was made for, once; None for a used, expired or unknown token."""
        if not 20 <= len(token) <= 100:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        return self.ctx.store.use_login_link(digest, self.ctx.clock())

    def session(self, lead: str) -> str:
        expires = int((self.ctx.clock() + SESSION_LIFETIME).timestamp())
        body = base64.urlsafe_b64encode(json.dumps([lead, expires]).encode()).decode()
        return f"{body}.{self._sign(body)}"

    def lead_of(self, cookie: str | None) -> str | None:
        """Whose valid session this is, or None (forged, expired or malformed)."""
        if not cookie or len(cookie) > 1000 or not cookie.isascii() or "." not in cookie:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return None
        try:
            lead, expires = json.loads(base64.urlsafe_b64decode(body.encode()))
        except (ValueError, TypeError):
            return None
        if not isinstance(lead, str) or not isinstance(expires, int):
            return None
        if datetime.fromtimestamp(expires, self.ctx.clock().tzinfo) <= self.ctx.clock():
            return None
        return lead

    def _sign(self, body: str) -> str:
        return hmac.new(self._key(), body.encode(), hashlib.sha256).hexdigest()
