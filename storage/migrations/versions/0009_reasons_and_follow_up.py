"""Reasons and follow-up: the option chosen on an answer, and the alerts leads claim and resolve

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

``answer.choice`` keeps the id of the option picked on a ``choice`` question (never its text, so
renaming an option leaves old answers as they were). ``alert`` is one row per low rating, with who
claimed and resolved it and when; ``alert_post`` remembers each chat message that shows it, so a
claim can edit every copy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answer") as batch:
        batch.add_column(sa.Column("choice", sa.String(length=64), nullable=True))
    # The reasons report: the chosen options of a span, without reading every answer.
    op.create_index(
        "ix_answer_choices",
        "answer",
        ["answered_at", "id"],
        sqlite_where=sa.text("choice IS NOT NULL"),
        postgresql_where=sa.text("choice IS NOT NULL"),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=True),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("survey", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("scale_max", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("remind_at", sa.DateTime(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invitation_id"),
    )
    op.create_index("ix_alert_status_created", "alert", ["status", "created_at"])
    op.create_index("ix_alert_created", "alert", ["created_at"])
    # Reminders still to post, by when they are due: the sender's scan reads nothing else.
    op.create_index(
        "ix_alert_remind_due",
        "alert",
        ["remind_at"],
        sqlite_where=sa.text("reminded_at IS NULL AND status = 'open'"),
        postgresql_where=sa.text("reminded_at IS NULL AND status = 'open'"),
    )
    op.create_table(
        "alert_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("sink", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_post_alert", "alert_post", ["alert_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_post_alert", table_name="alert_post")
    op.drop_table("alert_post")
    op.drop_index("ix_alert_remind_due", table_name="alert")
    op.drop_index("ix_alert_created", table_name="alert")
    op.drop_index("ix_alert_status_created", table_name="alert")
    op.drop_table("alert")
    op.drop_index("ix_answer_choices", table_name="answer")
    with op.batch_alter_table("answer") as batch:
        batch.drop_column("choice")
