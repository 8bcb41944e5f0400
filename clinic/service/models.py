"""The unit's service around a visit: volunteers, touch-points, recovery gestures and transport.
"""

import datetime as dt
import enum

import sqlalchemy as sa
from sqlmodel import Field, Relationship, SQLModel

from clinic.columns import UTCDateTime, enum_column, json_column, utc_column, utcnow
from clinic.messaging.models import OutboxStatus


class Volunteer(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    phone: str = Field(max_length=20)
    languages: list[str] = Field(default_factory=list, sa_column=json_column())
    active: bool = True

    availability: list["VolunteerAvailability"] = Relationship(
        back_populates="volunteer", sa_relationship_kwargs={"cascade": "all, delete-orphan"}
    )


class VolunteerAvailability(SQLModel, table=True):
    __tablename__ = "volunteer_availability"
    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        sa.CheckConstraint("ends > starts", name="ends_after_starts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", ondelete="CASCADE", index=True)
    weekday: int
    starts: dt.time
    ends: dt.time

    volunteer: Volunteer | None = Relationship(back_populates="availability")


class AssignmentSource(enum.StrEnum):
    AUTO = "auto"
    OVERRIDE = "override"


class AssignmentReason(enum.StrEnum):
    LONG_DISTANCE = "long_distance"
    FLAGGED = "flagged"


class MeetingOutcome(enum.StrEnum):
    MET = "met"
    NOT_MET = "not_met"


class VolunteerAssignment(SQLModel, table=True):
    """A visit that needs a volunteer on its day (long distance, or flagged by a clerk) and who meets the
    patient. ``volunteer_id`` is empty while nobody suitable is free; ``source`` ``override`` rows are the
    coordinator's choice and automatic matching leaves them alone."""

    __tablename__ = "volunteer_assignment"
    __table_args__ = (
        sa.UniqueConstraint("visit_id"),
        sa.Index("ix_volunteer_assignment_day_volunteer", "day", "volunteer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", ondelete="CASCADE")
    day: dt.date
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", ondelete="SET NULL")
    reason: AssignmentReason = Field(sa_column=enum_column(AssignmentReason, "assignment_reason"))
    source: AssignmentSource = Field(
        default=AssignmentSource.AUTO,
        sa_column=enum_column(AssignmentSource, "assignment_source", default=AssignmentSource.AUTO),
    )
    flagged_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    meet_at: dt.datetime = Field(sa_column=utc_column())
    leave_at: dt.datetime = Field(sa_column=utc_column())
    meeting_place: str = Field(default="", max_length=120)
    match_note: str = Field(default="", max_length=200)
    outcome: MeetingOutcome | None = Field(
        default=None, sa_column=enum_column(MeetingOutcome, "meeting_outcome", nullable=True)
    )
    outcome_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    updated_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_column=sa.Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow),
    )


class VolunteerNotice(SQLModel, table=True):
    """The SMS a volunteer gets the evening before with their list; one per volunteer and day, shown in
    the Outbox screen like every other message."""

    __tablename__ = "volunteer_notice"
    __table_args__ = (sa.UniqueConstraint("volunteer_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", ondelete="CASCADE")
    day: dt.date
    recipient: str = Field(max_length=32)
    body: str = Field(max_length=2000)
    status: OutboxStatus = Field(
        default=OutboxStatus.QUEUED,
        sa_column=enum_column(OutboxStatus, "status", default=OutboxStatus.QUEUED),
    )
    provider_id: str | None = Field(default=None, max_length=80)
    last_error: str | None = Field(default=None, max_length=500)
    due_at: dt.datetime = Field(sa_column=utc_column())
    sent_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))


class TouchChannel(enum.StrEnum):
    PHONE = "phone"
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    WALK_IN = "walk_in"
    WEB = "web"


class TouchDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class TouchPoint(SQLModel, table=True):
    """Every contact with a patient: channel, direction, purpose and whether the expectation set for
    that touch-point was met (``None`` while it cannot be told yet). ``ref`` points at the record behind
    it (e.g. ``outbox:12``), unique with ``purpose`` so recording the same contact twice is harmless."""

    __tablename__ = "touch_point"
    __table_args__ = (
        sa.UniqueConstraint("purpose", "ref"),
        sa.Index("ix_touch_point_patient_at", "patient_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE")
    visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")
    at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    channel: TouchChannel = Field(sa_column=enum_column(TouchChannel, "touch_channel"))
    direction: TouchDirection = Field(sa_column=enum_column(TouchDirection, "touch_direction"))
    purpose: str = Field(max_length=40)
    expectation_met: bool | None = None
    user_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    ref: str | None = Field(default=None, max_length=60)
    note: str = Field(default="", max_length=500)


class GestureStatus(enum.StrEnum):
    GRANTED = "granted"
    PENDING = "pending"
    DECLINED = "declined"


class RecoveryGesture(SQLModel, table=True):
    """A service-recovery gesture (parking refund, meal voucher, taxi home): granted within the
    granter's monthly limit per role, otherwise pending until a coordinator approves or declines it."""

    __tablename__ = "recovery_gesture"
    __table_args__ = (
        sa.CheckConstraint("cost_cents > 0", name="cost_positive"),
        sa.Index("ix_recovery_gesture_granted_by_created_at", "granted_by", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")
    kind: str = Field(max_length=40)
    cost_cents: int
    reason: str = Field(max_length=500)
    status: GestureStatus = Field(sa_column=enum_column(GestureStatus, "gesture_status"))
    granted_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    decided_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    decided_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))


class TransportRequest(SQLModel, table=True):
    """A patient's answer to the offer of transport and help at home for one visit (by SMS, in the call,
    or told to the desk), and once they want it, who arranged it and when. One row per visit: a later
    answer replaces the earlier one."""

    __tablename__ = "transport_request"
    __table_args__ = (sa.UniqueConstraint("visit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", ondelete="CASCADE")
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE", index=True)
    wanted: bool
    channel: TouchChannel = Field(sa_column=enum_column(TouchChannel, "touch_channel"))
    answered_at: dt.datetime = Field(sa_column=utc_column())
    arranged_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    arranged_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    note: str = Field(default="", max_length=500)
