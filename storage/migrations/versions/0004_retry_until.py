"""Give up on transient send failures by time, not by a count of attempts

``retry_until`` is set at a survey's first transient send failure (429, 5xx, network): the sender
keeps retrying until then, however many tries a rate-limit storm takes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitation") as batch:
        batch.add_column(sa.Column("retry_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitation") as batch:
        batch.drop_column("retry_until")
