"""Indexes for score reports

A report reads two periods: the sent counts come from an index that covers them, and on SQLite the
answer buckets come from an index led by the bucket columns, so SQLite returns them already grouped
(skip-scan over the few (kind, value, flags) prefixes, a range on answered_at inside each) instead
of sorting every answer of the period. SQLite only picks that plan with statistics for the index;
the migration records typical ones, because a fresh database has none and ANALYZE on a small table
would describe it wrongly for the day it is large. PostgreSQL groups by hashing and needs neither.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BUCKET_COLUMNS = ["kind", "scale_min", "scale_max", "value", "positive", "negative", "answered_at"]
# rows, then rows per distinct prefix of 1..7 columns: few kinds and values, many timestamps
TYPICAL_STAT = "1000000 250000 250000 250000 50000 50000 50000 1"


def upgrade() -> None:
    with op.batch_alter_table("invitation") as batch:
        batch.drop_index("ix_invitation_sent_at")
        batch.create_index(
            "ix_invitation_sent_scores", ["sent_at", "delivery_status", "responded_at"]
        )
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_answer_buckets", "answer", BUCKET_COLUMNS)
        op.execute("ANALYZE sqlite_schema")
        op.execute("DELETE FROM sqlite_stat1 WHERE idx = 'ix_answer_buckets'")
        op.execute(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) "
            f"VALUES ('answer', 'ix_answer_buckets', '{TYPICAL_STAT}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_answer_buckets", table_name="answer")
    with op.batch_alter_table("invitation") as batch:
        batch.drop_index("ix_invitation_sent_scores")
        batch.create_index("ix_invitation_sent_at", ["sent_at"])
