"""What the store raises. The layers above translate it into their own errors."""

from __future__ import annotations


class DatabaseSettingError(Exception):
    """``CSAT_DATABASE_URL`` names something the store cannot use (the message says why and
    starts with the setting's name)."""
