"""Visits, their planned and performed steps, and check-in.
"""

import datetime as dt
import enum

import sqlalchemy as sa
from sqlmodel import Field, Relationship, SQLModel

from clinic.columns import UTCDateTime, enum_column, utc_column, utcnow
from clinic.patients.models import Patient
from clinic.unit.models import Pathway, PathwayStep, Resource


class VisitStatus(enum.StrEnum):
    REQUESTED = "requested"
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


ACTIVE_VISIT_STATUSES = frozenset(
    {
        VisitStatus.BOOKED,
        VisitStatus.CONFIRMED,
        VisitStatus.CHECKED_IN,
        VisitStatus.IN_PROGRESS,
        VisitStatus.COMPLETED,
    }
)
"""Visits whose planned steps hold resource capacity."""


class StepStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    SKIPPED = "skipped"


class Visit(SQLModel, table=True):
    """One patient's day at the unit; ``date`` is the local date in the clinic's time zone."""

    __table_args__ = (
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        sa.Index("ix_visit_date_status", "date", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    pathway_id: int = Field(foreign_key="pathway.id")
    date: dt.date
    status: VisitStatus = Field(
        default=VisitStatus.REQUESTED,
        sa_column=enum_column(VisitStatus, "status", default=VisitStatus.REQUESTED),
    )
    priority: int = 1
    booked_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    #: The arrival time the patient was told when the visit was booked (the start of its first step then).
    #: It never changes when the unit re-arranges the visit's internal steps for a later booking; empty
    #: for a visit not booked yet.
    announced_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    cancelled_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    #: The patient's calendar file (``clinic.messaging.calendar``): its SEQUENCE, raised by each update or
    #: cancellation queued for it, and the arrival of the last one sent (empty: none sent yet).
    calendar_sequence: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    calendar_arrival: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    cancelled_reason: str | None = Field(default=None, max_length=300)
    notes: str = Field(default="", max_length=1000)
    series_id: int | None = Field(default=None, foreign_key="treatment_series.id", index=True)
    cycle: int | None = None
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    updated_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_column=sa.Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow),
    )

    patient: Patient | None = Relationship()
    pathway: Pathway | None = Relationship()
    steps: list["VisitStep"] = Relationship(
        back_populates="visit",
        sa_relationship_kwargs={"order_by": "VisitStep.planned_start", "cascade": "all, delete-orphan"},
    )

    @property
    def arrival_at(self) -> dt.datetime | None:
        """When the patient comes: the announced arrival, else (a visit stored before it was kept) its first step."""
        if self.announced_at is not None:
            return self.announced_at
        return min((s.planned_start for s in self.steps), default=None)


class VisitStep(SQLModel, table=True):
    __tablename__ = "visit_step"
    __table_args__ = (
        sa.UniqueConstraint("visit_id", "pathway_step_id"),
        sa.CheckConstraint("planned_end > planned_start", name="planned_end_after_start"),
        sa.CheckConstraint(
            "actual_start IS NULL OR actual_end IS NULL OR actual_end >= actual_start",
            name="actual_end_after_start",
        ),
        sa.Index("ix_visit_step_resource_start", "resource_id", "planned_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", ondelete="CASCADE", index=True)
    pathway_step_id: int = Field(foreign_key="pathway_step.id")
    resource_id: int = Field(foreign_key="resource.id")
    planned_start: dt.datetime = Field(sa_column=utc_column())
    planned_end: dt.datetime = Field(sa_column=utc_column())
    actual_start: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    actual_end: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    status: StepStatus = Field(
        default=StepStatus.PLANNED, sa_column=enum_column(StepStatus, "status", default=StepStatus.PLANNED)
    )

    visit: Visit | None = Relationship(back_populates="steps")
    pathway_step: PathwayStep | None = Relationship()
    resource: Resource | None = Relationship()


class VisitCheckin(SQLModel, table=True):
    """What the front desk records when a patient arrives: when and by whom, how late, and the
    arrangements of the day (coffee voucher for long-distance patients, transport, volunteer, interpreter)."""

    __tablename__ = "visit_checkin"
    __table_args__ = (
        sa.UniqueConstraint("visit_id"),
        sa.UniqueConstraint("coffee_voucher"),
        sa.CheckConstraint("late_minutes >= 0", name="late_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", ondelete="CASCADE")
    checked_in_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    checked_in_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    late_minutes: int = 0
    coffee_voucher: str | None = Field(default=None, max_length=16)
    transport_booked: bool = False
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", ondelete="SET NULL")
    interpreter_needed: bool = False
    notes: str = Field(default="", max_length=500)
