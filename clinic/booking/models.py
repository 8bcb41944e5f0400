"""The per-day booking lock, and treatment series (cycles of one pathway booked together).
"""

import datetime as dt
import enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clinic.columns import enum_column, utc_column, utcnow


class BookingLock(SQLModel, table=True):
    """One row per clinic day, updated first thing by every booking of that day: the row lock
    (PostgreSQL) or the write lock it takes (SQLite) serialises the capacity re-check and the insert."""

    __tablename__ = "booking_lock"
    __table_args__ = (sa.CheckConstraint("version >= 0", name="version_not_negative"),)

    day: dt.date = Field(primary_key=True)
    version: int = 0
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))


class SeriesStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class TreatmentSeries(SQLModel, table=True):
    """A treatment series: ``cycles`` one-visit days of one pathway, ``interval_days`` apart, each within
    ``tolerance_days`` of its nominal date; the visits point back at it (``Visit.series_id``, ``Visit.cycle``).

    ``part_of_day`` and ``weekdays`` (``"0,1,2,3,4"``, 0 = Monday) are the patient's availability the series
    was proposed with; re-proposing a later cycle uses them again."""

    __tablename__ = "treatment_series"
    __table_args__ = (
        sa.CheckConstraint("cycles BETWEEN 1 AND 24", name="cycles_range"),
        sa.CheckConstraint("interval_days BETWEEN 1 AND 120", name="interval_range"),
        sa.CheckConstraint("tolerance_days >= 0 AND 2 * tolerance_days < interval_days", name="tolerance_range"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    pathway_id: int = Field(foreign_key="pathway.id")
    cycles: int
    interval_days: int
    tolerance_days: int
    part_of_day: str = Field(default="any", max_length=9)
    weekdays: str = Field(default="0,1,2,3,4,5,6", max_length=13)
    status: SeriesStatus = Field(
        default=SeriesStatus.ACTIVE,
        sa_column=enum_column(SeriesStatus, "status", default=SeriesStatus.ACTIVE),
    )
    created_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    cancelled_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

    @property
    def weekday_set(self) -> frozenset[int]:
        return frozenset(int(d) for d in self.weekdays.split(",") if d.strip().isdigit())


class HoldStatus(enum.StrEnum):
    HELD = "held"
    BOOKED = "booked"
    RELEASED = "released"
    EXPIRED = "expired"


class BookingHold(SQLModel, table=True):
    """A proposed itinerary held for a few minutes (IHE ITI-116 ``$hold``): while ``status`` is ``held`` and
    ``expires_at`` is ahead, its steps (``choice``, as ``encode_choice`` writes it) are busy time for every
    other booking, proposal, refill and optimisation (``clinic.planning.held_placements``). Booked by
    ``clinic.booking.holds.book_held`` (``visit_id``); expired ones are ignored by readers at once and
    marked ``expired`` by the worker's job."""

    __tablename__ = "booking_hold"
    __table_args__ = (sa.Index("ix_booking_hold_live", "day", "status", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    pathway_id: int = Field(foreign_key="pathway.id")
    day: dt.date
    choice: str = Field(max_length=2000)
    expires_at: dt.datetime = Field(sa_column=utc_column())
    status: HoldStatus = Field(
        default=HoldStatus.HELD, sa_column=enum_column(HoldStatus, "hold_status", default=HoldStatus.HELD)
    )
    #: Who asked for the hold: an API client's name (``$hold``) and/or a staff account.
    client: str = Field(default="", max_length=120)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    ended_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

    def live(self, now: dt.datetime) -> bool:
        return self.status == HoldStatus.HELD and self.expires_at > now
