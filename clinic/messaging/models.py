"""Messages to and from patients: the outbox, inbound SMS and calls, the outreach rule set and the
dispatcher's lease.
"""

import datetime as dt
import enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clinic.columns import Channel, Language, OutboxChannel, UTCDateTime, enum_column, utc_column, utcnow


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    """The provider may or may not have it (no answer to the send nor to the lookup): on the call list,
    never sent again, settled by a later lookup (``recovery.settle_unknown``) or a delivery callback."""


class OutboxMessage(SQLModel, table=True):
    """One planned message of one visit's outreach: unique per (visit, action, due time), so a
    re-plan finds its rows again; a reschedule withdraws the old due time and queues the new one."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.UniqueConstraint("visit_id", "action", "due_at"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.Index("ix_outbox_message_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", ondelete="CASCADE", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    action: str = Field(max_length=60)
    rule_id: str = Field(max_length=80)
    due_at: dt.datetime = Field(sa_column=utc_column())
    next_attempt_at: dt.datetime = Field(sa_column=utc_column())
    status: OutboxStatus = Field(
        default=OutboxStatus.QUEUED,
        sa_column=enum_column(OutboxStatus, "status", default=OutboxStatus.QUEUED),
    )
    channel: OutboxChannel = Field(sa_column=enum_column(OutboxChannel, "channel"))
    fallback_channel: OutboxChannel | None = Field(
        default=None, sa_column=enum_column(OutboxChannel, "fallback_channel", nullable=True)
    )
    language: Language = Field(sa_column=enum_column(Language, "language"))
    essential: bool = True
    recipient: str = Field(max_length=254)
    body: str = Field(max_length=2000)
    attempts: int = 0
    on_call_list: bool = False
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    provider_id: str | None = Field(default=None, max_length=80, index=True)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    sent_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_column=sa.Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow),
    )


class OutreachRuleSet(SQLModel, table=True):
    """A version of the clinic's outreach rules: the newest row is in force. ``text`` is the validated
    YAML exactly as uploaded, so the coordinator sees and edits what they wrote."""

    __tablename__ = "outreach_rule_set"
    __table_args__ = (sa.CheckConstraint("version >= 1", name="version_positive"), sa.UniqueConstraint("version"))

    id: int | None = Field(default=None, primary_key=True)
    version: int
    filename: str = Field(max_length=200)
    text: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    created_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))


class DispatcherLease(SQLModel, table=True):
    """Who may dispatch right now: one row per lease name, held by ``owner`` until ``expires_at``."""

    __tablename__ = "dispatcher_lease"

    name: str = Field(primary_key=True, max_length=40)
    owner: str = Field(max_length=80)
    expires_at: dt.datetime = Field(sa_column=utc_column())
    heartbeat_at: dt.datetime = Field(sa_column=utc_column())


apscheduler_jobs = sa.Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary(), nullable=False),
)
"""APScheduler 3's ``SQLAlchemyJobStore`` table, created by the migration so the schema stays the models'."""


class InboundMessage(SQLModel, table=True):
    """An SMS (or a key pressed in a call) received from a patient, what it was taken to mean and
    what was answered; ``provider_id`` (Twilio's MessageSid/CallSid) makes a retried webhook harmless."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        sa.UniqueConstraint("provider_id"),
        sa.Index("ix_inbound_message_from_number_received_at", "from_number", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    received_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    channel: Channel = Field(sa_column=enum_column(Channel, "channel"))
    provider_id: str | None = Field(default=None, max_length=80)
    from_number: str = Field(max_length=32)
    body: str = Field(default="", max_length=1600)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", ondelete="SET NULL", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")
    keyword: str | None = Field(default=None, max_length=20)
    outcome: str = Field(max_length=40)
    reply: str = Field(default="", max_length=1600)
