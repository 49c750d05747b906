"""Scheduled digests: one row per schedule and period, claimed before it is sent

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest",
        sa.Column("schedule", sa.String(length=40), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("schedule", "period_start"),
    )


def downgrade() -> None:
    op.drop_table("digest")
