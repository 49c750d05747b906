"""Tables. State lives only here, so any number of web and sender processes can share one database.

Answers copy the invitation's dimensions (channel, agent, team, touchpoint, survey, locale): they
are fixed at trigger time, and having them on the answer row lets a score be one indexed range scan
over one table instead of a join.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _utc(nullable: bool = True, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class Digest(SQLModel, table=True):
    """One scheduled digest of one period: claimed by one process, then marked sent."""

    __tablename__ = "digest"
    schedule: str = Field(primary_key=True, max_length=40)
    period_start: datetime = Field(
        sa_column=Column(UTCDateTime(), primary_key=True, nullable=False)
    )
    claim_token: str | None = Field(default=None, max_length=36)
    claimed_until: datetime | None = Field(default=None, sa_column=_utc())
    sent_at: datetime | None = Field(default=None, sa_column=_utc())


class LoginLink(SQLModel, table=True):
    """A one-time dashboard sign-in link: only its SHA-256 is kept."""

    __tablename__ = "login_link"
    token_hash: str = Field(primary_key=True, max_length=64)
    lead: str = Field(max_length=200)
    expires_at: datetime = Field(sa_column=_utc(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_utc())


class Setting(SQLModel, table=True):
    """Small key/value facts the database owns (the generated pseudonym key)."""

    __tablename__ = "csat_setting"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=512)


class Respondent(SQLModel, table=True):
    __tablename__ = "respondent"
    __table_args__ = (UniqueConstraint("channel", "address_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address_hash: str = Field(max_length=64)
    address: str | None = Field(default=None, max_length=255)
    locale: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    erased_at: datetime | None = Field(default=None, sa_column=_utc())


class Suppression(SQLModel, table=True):
    """Opted-out addresses, kept as HMAC only so the list survives erasure."""

    __tablename__ = "suppression"
    channel: str = Field(primary_key=True, max_length=16)
    address_hash: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_utc(nullable=False))


class Invitation(SQLModel, table=True):
    __tablename__ = "invitation"
    __table_args__ = (
        UniqueConstraint("interaction_id", "survey"),
        Index("ix_invitation_due", "status", "send_at"),
        Index("ix_invitation_throttle", "throttle_key", "created_at"),
        Index("ix_invitation_sent_scores", "sent_at", "delivery_status", "responded_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    interaction_id: str = Field(max_length=200)
    survey: str = Field(max_length=64)
    survey_version: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    respondent_id: int | None = Field(default=None, foreign_key="respondent.id", index=True)
    throttle_key: str | None = Field(default=None, max_length=64)
    agent: str | None = Field(default=None, max_length=200)
    team: str | None = Field(default=None, max_length=200)
    touchpoint: str | None = Field(default=None, max_length=200)
    locale: str = Field(max_length=16)
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    send_at: datetime = Field(sa_column=_utc(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_utc())
    expires_at: datetime | None = Field(default=None, sa_column=_utc())
    remind_at: datetime | None = Field(default=None, sa_column=_utc())
    responded_at: datetime | None = Field(default=None, sa_column=_utc())
    closed_at: datetime | None = Field(default=None, sa_column=_utc())
    attempts: int = 0
    retry_until: datetime | None = Field(default=None, sa_column=_utc())
    last_error: str | None = Field(default=None, max_length=500)
    provider_message_id: str | None = Field(default=None, max_length=128, index=True)
    delivery_status: str | None = Field(default=None, max_length=32)
    question_index: int = 0
    reprompts: int = 0
    claim_token: str | None = Field(default=None, max_length=36)
    claimed_until: datetime | None = Field(default=None, sa_column=_utc())
    version: int = 0


class Answer(SQLModel, table=True):
    __tablename__ = "answer"
    __table_args__ = (
        UniqueConstraint("invitation_id", "question_id"),
        Index(
            "ix_answer_scores",
            "answered_at",
            "kind",
            "scale_min",
            "scale_max",
            "value",
            "positive",
            "negative",
        ),
        # The comments feed: the newest comments of a span without reading the answers that
        # have none (most have none).
        Index(
            "ix_answer_comments",
            "answered_at",
            "id",
            sqlite_where=text("comment IS NOT NULL"),
            postgresql_where=text("comment IS NOT NULL"),
        ),
        # The reasons report: the options chosen in a span.
        Index(
            "ix_answer_choices",
            "answered_at",
            "id",
            sqlite_where=text("choice IS NOT NULL"),
            postgresql_where=text("choice IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    invitation_id: int = Field(foreign_key="invitation.id")
    question_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    value: int | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    choice: str | None = Field(default=None, max_length=64)  # the option id on a choice question
    scale_min: int | None = None
    scale_max: int | None = None
    positive: bool = False
    negative: bool = False
    answered_at: datetime = Field(sa_column=_utc(nullable=False))
    channel: str = Field(max_length=16)
    agent: str | None = Field(default=None, max_length=200)
    team: str | None = Field(default=None, max_length=200)
    touchpoint: str | None = Field(default=None, max_length=200)
    survey: str = Field(max_length=64)
    locale: str = Field(max_length=16)


class Alert(SQLModel, table=True):
    """One low rating a lead should follow up: open, then claimed, then resolved."""

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("invitation_id"),
        Index("ix_alert_status_created", "status", "created_at"),
        Index("ix_alert_created", "created_at"),
        Index(
            "ix_alert_remind_due",
            "remind_at",
            sqlite_where=text("reminded_at IS NULL AND status = 'open'"),
            postgresql_where=text("reminded_at IS NULL AND status = 'open'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    invitation_id: int = Field(foreign_key="invitation.id")
    interaction_id: str = Field(max_length=200)
    channel: str = Field(max_length=16)
    agent: str | None = Field(default=None, max_length=200)
    team: str | None = Field(default=None, max_length=200)
    survey: str = Field(max_length=64)
    value: int
    scale_max: int
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reason: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    remind_at: datetime | None = Field(default=None, sa_column=_utc())
    reminded_at: datetime | None = Field(default=None, sa_column=_utc())
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_at: datetime | None = Field(default=None, sa_column=_utc())
    resolved_by: str | None = Field(default=None, max_length=200)
    resolved_at: datetime | None = Field(default=None, sa_column=_utc())
    version: int = 0


class AlertPost(SQLModel, table=True):
    """A chat message showing an alert (a Slack channel + ts, a Telegram chat + message id)."""

    __tablename__ = "alert_post"
    __table_args__ = (Index("ix_alert_post_alert", "alert_id"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id")
    sink: str = Field(max_length=16)
    target: str = Field(max_length=200)
    message_id: str = Field(max_length=64)
    posted_at: datetime = Field(sa_column=_utc(nullable=False))


class InboundMessage(SQLModel, table=True):
    """Every reply as received: raw text, parsed value and reason code.

    The UNIQUE provider id turns provider retries into no-ops; ``reply`` keeps what we answered so a
    retried webhook gets the same answer.
    """

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("channel", "provider_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=128)
    respondent_id: int | None = Field(default=None, foreign_key="respondent.id")
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id")
    raw_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    parsed_value: int | None = None
    reason: str = Field(max_length=64)
    reply: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    received_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
