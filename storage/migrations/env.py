"""Alembic environment: runs on the connection handed over by storage.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
config = context.config


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, other: object
) -> bool:
    """Slack's installation tables follow slack_sdk's layout and are migrated by hand."""
    if type_ == "index" and name == "ix_answer_buckets":
        return False  # SQLite only, made by migration 0003
    return not (type_ == "table" and (name or "").startswith("slack_"))


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is None:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").begin() as opened:
        run(opened)
else:
    run(given)
