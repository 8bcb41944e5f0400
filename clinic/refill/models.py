"""The waitlist and the offers of freed places.
"""

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Relationship, SQLModel

from clinic.columns import enum_column, json_column, utc_column, utcnow
from clinic.patients.models import Patient
from clinic.unit.models import Pathway


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    REMOVED = "removed"


class WaitlistEntry(SQLModel, table=True):
    __tablename__ = "waitlist_entry"
    __table_args__ = (
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        sa.CheckConstraint("latest_date >= earliest_date", name="dates_ordered"),
        sa.CheckConstraint("min_notice_hours >= 0", name="notice_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    pathway_id: int = Field(foreign_key="pathway.id")
    priority: int = 3
    added_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    earliest_date: dt.date
    latest_date: dt.date
    min_notice_hours: int = 24
    accepts_short_notice: bool = False
    status: WaitlistStatus = Field(
        default=WaitlistStatus.WAITING,
        sa_column=enum_column(WaitlistStatus, "status", default=WaitlistStatus.WAITING),
    )
    notes: str = Field(default="", max_length=1000)

    patient: Patient | None = Relationship()
    pathway: Pathway | None = Relationship()


class OfferChannel(enum.StrEnum):
    PHONE = "phone"
    SMS = "sms"


class OfferStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    TAKEN = "taken"
    WITHDRAWN = "withdrawn"


class WaitlistOffer(SQLModel, table=True):
    """A freed place offered to a waiting patient: the cancelled visit it comes from, the proposed
    itinerary (engine minutes on ``day``), which wave it went out in and how it was answered."""

    __tablename__ = "waitlist_offer"
    __table_args__ = (
        sa.CheckConstraint("wave >= 1", name="wave_positive"),
        sa.CheckConstraint("expires_at > sent_at", name="expires_after_sent"),
        sa.Index("ix_waitlist_offer_source_status", "source_visit_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="waitlist_entry.id", ondelete="CASCADE", index=True)
    source_visit_id: int = Field(foreign_key="visit.id", ondelete="CASCADE")
    day: dt.date
    slot_start: dt.datetime = Field(sa_column=utc_column())
    itinerary: dict[str, Any] = Field(sa_column=json_column())
    channel: OfferChannel = Field(sa_column=enum_column(OfferChannel, "channel"))
    wave: int = 1
    sent_at: dt.datetime = Field(sa_column=utc_column())
    expires_at: dt.datetime = Field(sa_column=utc_column())
    status: OfferStatus = Field(
        default=OfferStatus.OPEN, sa_column=enum_column(OfferStatus, "status", default=OfferStatus.OPEN)
    )
    answered_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    seconds_after_cancel: int | None = Field(default=None, description="time from the cancellation to this offer")
    booked_visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")

    entry: WaitlistEntry | None = Relationship()
