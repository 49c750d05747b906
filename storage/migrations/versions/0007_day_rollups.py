"""Closed local days counted once: day rollups, and the marks that say a closed day changed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

``rollup_day_answer`` and ``rollup_day_sent`` hold, per local day of the team's zone and per
dimension, what the score statements would count over that day; ``rollup_month_*`` the same per
calendar month, summed from the days. ``rollup_day`` and ``rollup_month`` list the days and months
they hold, ``rollup_state`` the zone they were cut in. The refresher fills them off the reply path
(:mod:`storage.rollup`).

The triggers below only note *that* a row of an older hour changed: a row whose instant is more
than an hour old when it is written, changed or deleted leaves its UTC hour in ``rollup_mark``.
Rows written now are never marked, so the reply path pays only for the trigger's test; a late
receipt, a reply to an older invitation, an erasure or an import leaves a mark, and the days it
touches are read from the raw rows until the refresher has counted them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The columns whose change moves a row's counts (storage/scores.py reads no others).
ANSWER_COLUMNS = (
    "answered_at, kind, scale_min, scale_max, value, positive, negative, "
    "channel, agent, team, touchpoint, survey, locale"
)
INVITATION_COLUMNS = (
    "sent_at, delivery_status, responded_at, channel, agent, team, touchpoint, survey, locale"
)
TABLES = (("answer", "answered_at", ANSWER_COLUMNS), ("invitation", "sent_at", INVITATION_COLUMNS))


def upgrade() -> None:
    op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "rollup_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    for unit in ("day", "month"):
        # Days, and calendar months summed from their days: a year by agent reads a dozen months
        # and the days at its ends instead of every day.
        if unit == "month":
            op.create_table(
                "rollup_month",
                sa.Column("day", sa.Date(), nullable=False),  # the month's first day
                sa.Column("built_at", sa.DateTime(), nullable=False),
                sa.PrimaryKeyConstraint("day"),
            )
        op.create_table(
            f"rollup_{unit}_answer",
            sa.Column("dim", sa.String(length=16), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("grp", sa.String(length=200), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("scale_min", sa.Integer(), nullable=True),
            sa.Column("scale_max", sa.Integer(), nullable=True),
            sa.Column("value", sa.Integer(), nullable=False),
            sa.Column("positive", sa.Boolean(), nullable=False),
            sa.Column("negative", sa.Boolean(), nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
        )
        # Rows are replaced a day (a month) at a time and read by (dimension, span); the indexes
        # hold every column, so a report reads them alone, in order, and never the table.
        op.create_index(
            f"ix_rollup_{unit}_answer_read",
            f"rollup_{unit}_answer",
            [
                "dim",
                "day",
                "grp",
                "kind",
                "scale_min",
                "scale_max",
                "value",
                "positive",
                "negative",
                "n",
            ],
        )
        op.create_table(
            f"rollup_{unit}_sent",
            sa.Column("dim", sa.String(length=16), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("grp", sa.String(length=200), nullable=False),
            sa.Column("sent", sa.Integer(), nullable=False),
            sa.Column("responded", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("dim", "day", "grp"),
        )
        op.create_index(
            f"ix_rollup_{unit}_sent_read",
            f"rollup_{unit}_sent",
            ["dim", "day", "grp", "sent", "responded"],
        )
    op.create_table(
        "rollup_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The comments feed reads comments only, newest first (most answers carry none).
    op.create_index(
        "ix_answer_comments",
        "answer",
        ["answered_at", "id"],
        sqlite_where=sa.text("comment IS NOT NULL"),
        postgresql_where=sa.text("comment IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
    else:
        _postgres_triggers()


def _sqlite_triggers() -> None:
    old = "{column} < datetime('now', '-1 hour')"
    hour = "strftime('%Y-%m-%d %H:00:00', {row}.{column})"
    mark = f"INSERT INTO rollup_mark (hour) VALUES ({hour})"
    for table, column, columns in TABLES:
        aged = old.format(column=f"NEW.{column}")
        op.execute(
            f"CREATE TRIGGER rollup_{table}_insert AFTER INSERT ON {table} WHEN {aged} "
            f"BEGIN {mark.format(row='NEW', column=column)}; END"
        )
        was_aged = old.format(column=f"OLD.{column}")
        op.execute(
            f"CREATE TRIGGER rollup_{table}_delete AFTER DELETE ON {table} WHEN {was_aged} "
            f"BEGIN {mark.format(row='OLD', column=column)}; END"
        )
        op.execute(
            f"CREATE TRIGGER rollup_{table}_update AFTER UPDATE OF {columns} ON {table} "
            f"WHEN {was_aged} OR {aged} BEGIN "
            f"INSERT INTO rollup_mark (hour) SELECT {hour.format(row='OLD', column=column)} "
            f"WHERE OLD.{column} IS NOT NULL; "
            f"INSERT INTO rollup_mark (hour) SELECT {hour.format(row='NEW', column=column)} "
            f"WHERE NEW.{column} IS NOT NULL AND "
            f"({hour.format(row='OLD', column=column)} IS NOT "
            f"{hour.format(row='NEW', column=column)}); "
            "END"
        )


def _postgres_triggers() -> None:
    cutoff = "(statement_timestamp() AT TIME ZONE 'UTC') - interval '1 hour'"
    for table, column, columns in TABLES:
        op.execute(
            f"""CREATE FUNCTION rollup_mark_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.{column} IS NOT NULL THEN
        INSERT INTO rollup_mark (hour) VALUES (date_trunc('hour', OLD.{column}));
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.{column} IS NOT NULL AND (TG_OP = 'INSERT'
            OR date_trunc('hour', NEW.{column}) IS DISTINCT FROM date_trunc('hour', OLD.{column}))
    THEN
        INSERT INTO rollup_mark (hour) VALUES (date_trunc('hour', NEW.{column}));
    END IF;
    RETURN NULL;
END $$"""
        )
        run = f"EXECUTE FUNCTION rollup_mark_{table}()"
        op.execute(
            f"CREATE TRIGGER rollup_{table}_insert AFTER INSERT ON {table} "
            f"FOR EACH ROW WHEN (NEW.{column} < {cutoff}) {run}"
        )
        op.execute(
            f"CREATE TRIGGER rollup_{table}_delete AFTER DELETE ON {table} "
            f"FOR EACH ROW WHEN (OLD.{column} < {cutoff}) {run}"
        )
        op.execute(
            f"CREATE TRIGGER rollup_{table}_update AFTER UPDATE OF {columns} ON {table} "
            f"FOR EACH ROW WHEN (OLD.{column} < {cutoff} OR NEW.{column} < {cutoff}) {run}"
        )


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_answer_comments", table_name="answer")
    for table, _, _ in TABLES:
        for event in ("insert", "update", "delete"):
            if bind.dialect.name == "sqlite":
                op.execute(f"DROP TRIGGER IF EXISTS rollup_{table}_{event}")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS rollup_{table}_{event} ON {table}")
        if bind.dialect.name != "sqlite":
            op.execute(f"DROP FUNCTION IF EXISTS rollup_mark_{table}()")
    for table in (
        "rollup_mark",
        "rollup_month_sent",
        "rollup_month_answer",
        "rollup_month",
        "rollup_day_sent",
        "rollup_day_answer",
        "rollup_day",
        "rollup_state",
    ):
        op.drop_table(table)
