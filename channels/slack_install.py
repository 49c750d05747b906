"""Multi-workspace installs: Bolt's installation and OAuth-state stores in our own database.

The tables have exactly the layout of slack_sdk's ``SQLAlchemyInstallationStore`` and
``SQLAlchemyOAuthStateStore`` (``slack_installations``, ``slack_bots``, ``slack_oauth_states``),
so a deployment can move to those classes, or read the rows with them, at any time. The classes
themselves are not imported: their module imports ``sqlalchemy.ext.asyncio``, which needs
``greenlet``, a package the project does not otherwise depend on. The work runs on our
synchronous engine in a worker thread, the way the core runs the service, and the tables are
created by migration 0002 so ``csat db upgrade`` stays the one place that changes the schema.

They share the service's store: its connection pool, and on SQLite its write turn, so an
install or an OAuth state never races a customer's reply for the one writer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from anyio import to_thread
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    desc,
    insert,
    select,
)

from storage.sql_store import SqlStore

T = TypeVar("T")
log = logging.getLogger("csat.slack.install")

STATE_EXPIRY_SECONDS = 600
INSTALLATIONS = "slack_installations"
BOTS = "slack_bots"
STATES = "slack_oauth_states"


def _bot_columns() -> list[Column[Any]]:
    return [
        Column("bot_token", String(200)),
        Column("bot_id", String(32)),
        Column("bot_user_id", String(32)),
        Column("bot_scopes", String(1000)),
        Column("bot_refresh_token", String(200)),
        Column("bot_token_expires_at", DateTime),
    ]


def slack_metadata() -> MetaData:
    """The three tables, as slack_sdk's SQLAlchemy stores define them."""
    metadata = MetaData()
    Table(
        INSTALLATIONS,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("client_id", String(32), nullable=False),
        Column("app_id", String(32), nullable=False),
        Column("enterprise_id", String(32)),
        Column("enterprise_name", String(200)),
        Column("enterprise_url", String(200)),
        Column("team_id", String(32)),
        Column("team_name", String(200)),
        *_bot_columns(),
        Column("user_id", String(32), nullable=False),
        Column("user_token", String(200)),
        Column("user_scopes", String(1000)),
        Column("user_refresh_token", String(200)),
        Column("user_token_expires_at", DateTime),
        Column("incoming_webhook_url", String(200)),
        Column("incoming_webhook_channel", String(200)),
        Column("incoming_webhook_channel_id", String(200)),
        Column("incoming_webhook_configuration_url", String(200)),
        Column("is_enterprise_install", Boolean, nullable=False, default=False),
        Column("token_type", String(32)),
        Column("installed_at", DateTime, nullable=False),
        Index(
            f"{INSTALLATIONS}_idx",
            "client_id",
            "enterprise_id",
            "team_id",
            "user_id",
            "installed_at",
        ),
    )
    Table(
        BOTS,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("client_id", String(32), nullable=False),
        Column("app_id", String(32), nullable=False),
        Column("enterprise_id", String(32)),
        Column("enterprise_name", String(200)),
        Column("team_id", String(32)),
        Column("team_name", String(200)),
        *_bot_columns(),
        Column("is_enterprise_install", Boolean, nullable=False, default=False),
        Column("installed_at", DateTime, nullable=False),
        Index(f"{BOTS}_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
    )
    Table(
        STATES,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("state", String(200), nullable=False),
        Column("expire_at", DateTime, nullable=False),
    )
    return metadata


_TABLES = slack_metadata().tables


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _row_values(data: Mapping[str, Any], table: Table, client_id: str) -> dict[str, Any]:
    values = {k: _naive_utc(v) for k, v in data.items() if k in table.c and k != "id"}
    values["client_id"] = client_id
    return values


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def _threaded(fn: Callable[[], T]) -> T:
    return await to_thread.run_sync(fn)


class DatabaseInstallationStore(AsyncInstallationStore):
    """One row per install (and per bot) in ``slack_installations``/``slack_bots``; the newest
    row of a workspace wins, so a re-install with new scopes replaces the token."""

    def __init__(self, client_id: str, store: SqlStore) -> None:
        self.client_id = client_id
        self.store = store
        self.installations = _TABLES[INSTALLATIONS]
        self.bots = _TABLES[BOTS]

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        def save() -> None:
            with self.store.begin() as connection:
                connection.execute(
                    insert(self.installations),
                    _row_values(installation.to_dict(), self.installations, self.client_id),
                )
                bot = installation.to_bot()
                if bot is not None:
                    connection.execute(
                        insert(self.bots), _row_values(bot.to_dict(), self.bots, self.client_id)
                    )

        await _threaded(save)

    async def async_save_bot(self, bot: Bot) -> None:
        def save() -> None:
            with self.store.begin() as connection:
                connection.execute(
                    insert(self.bots), _row_values(bot.to_dict(), self.bots, self.client_id)
                )

        await _threaded(save)

    def _latest(
        self,
        table: Table,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None,
        user_id: str | None = None,
    ) -> dict[str, Any] | None:
        c = table.c
        query = select(table).where(c.client_id == self.client_id)
        query = query.where(
            c.enterprise_id.is_(None) if enterprise_id is None else c.enterprise_id == enterprise_id
        )
        if not is_enterprise_install:
            query = query.where(c.team_id.is_(None) if team_id is None else c.team_id == team_id)
        if user_id is not None:
            query = query.where(c.user_id == user_id)
        with self.store.engine.connect() as connection:
            row = (
                connection.execute(query.order_by(desc(c.installed_at), desc(c.id)).limit(1))
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        row = await _threaded(
            lambda: self._latest(self.bots, enterprise_id, team_id, is_enterprise_install)
        )
        if row is None or not row["bot_token"]:
            return None
        return Bot(
            app_id=row["app_id"],
            enterprise_id=row["enterprise_id"],
            enterprise_name=row["enterprise_name"],
            team_id=row["team_id"],
            team_name=row["team_name"],
            bot_token=row["bot_token"],
            bot_id=row["bot_id"],
            bot_user_id=row["bot_user_id"],
            bot_scopes=row["bot_scopes"] or "",
            bot_refresh_token=row["bot_refresh_token"],
            bot_token_expires_at=_aware(row["bot_token_expires_at"]),
            is_enterprise_install=row["is_enterprise_install"],
            installed_at=_aware(row["installed_at"]) or datetime.now(UTC),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        row = await _threaded(
            lambda: self._latest(
                self.installations, enterprise_id, team_id, is_enterprise_install, user_id
            )
        )
        if row is None:
            return None
        fields = {k: v for k, v in row.items() if k not in ("id", "client_id")}
        for key in ("installed_at", "bot_token_expires_at", "user_token_expires_at"):
            fields[key] = _aware(fields[key])
        fields["bot_scopes"] = fields["bot_scopes"] or ""
        fields["user_scopes"] = fields["user_scopes"] or ""
        return Installation(**fields)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._delete(self.bots, enterprise_id, team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._delete(self.installations, enterprise_id, team_id, user_id)

    async def _delete(
        self,
        table: Table,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        c = table.c
        statement = delete(table).where(
            c.client_id == self.client_id, c.enterprise_id == enterprise_id, c.team_id == team_id
        )
        if user_id is not None:
            statement = statement.where(c.user_id == user_id)

        def run() -> None:
            with self.store.begin() as connection:
                connection.execute(statement)

        await _threaded(run)


class DatabaseStateStore(AsyncOAuthStateStore):
    """OAuth ``state`` values in the database, so any web worker can finish an install."""

    def __init__(self, store: SqlStore, expiration_seconds: int = STATE_EXPIRY_SECONDS) -> None:
        self.store = store
        self.expiration_seconds = expiration_seconds
        self.table = _TABLES[STATES]

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = str(uuid.uuid4())
        expire_at = datetime.fromtimestamp(time.time() + self.expiration_seconds, UTC)

        def issue() -> None:
            with self.store.begin() as connection:
                connection.execute(
                    insert(self.table), {"state": state, "expire_at": _naive_utc(expire_at)}
                )

        await _threaded(issue)
        return state

    async def async_consume(self, state: str) -> bool:
        """True once per unexpired state: the row is deleted as it is used."""
        c = self.table.c

        def consume() -> bool:
            now = datetime.now(UTC).replace(tzinfo=None)
            with self.store.begin() as connection:
                result = connection.execute(
                    delete(self.table).where(c.state == state, c.expire_at > now)
                )
                return bool(result.rowcount)

        return await _threaded(consume)
