"""What the store raises. The layers above translate it into their own errors."""

from __future__ import annotations


class DatabaseSettingError(Exception):
    """``CSAT_DATABASE_URL`` names something the store cannot use (the message says why and
    starts with the setting's name)."""


class DuplicateKey(Exception):
    """A row with this key exists already: a provider's retry, or another writer first."""
