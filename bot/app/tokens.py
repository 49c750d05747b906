"""The API token check shared by the API's bearer header and the dashboard's sign-in."""

from __future__ import annotations

import secrets

from pydantic import SecretStr


def token_matches(offered: str, token: SecretStr | None) -> bool:
    """Whether ``offered`` is the API token. The comparison takes the same time whatever the
    bytes; an empty offer, or no token configured, never matches."""
    given = offered.strip().encode("utf-8", "surrogateescape")
    if token is None or not given:
        return False
    return secrets.compare_digest(given, token.get_secret_value().encode())


def bearer_matches(authorization: str, token: SecretStr | None) -> bool:
    """Whether an ``Authorization`` header is ``Bearer <the API token>``."""
    scheme, _, value = authorization.partition(" ")
    return scheme.lower() == "bearer" and token_matches(value, token)
