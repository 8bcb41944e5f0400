"""The clinic's domain model: SQLModel tables plus separate create/read models.

Tables do not validate on construction (SQLModel), so input from people and files goes through the
``*Create`` models first.  The database enforces what a database should: unique keys, foreign keys,
non-null columns and CHECK constraints on enum values and ranges, identically on SQLite and PostgreSQL.

Times: every instant is an aware UTC ``datetime`` (``UTCDateTime`` makes SQLite behave like
PostgreSQL); a ``Visit.date`` is the local date in the clinic's time zone; opening hours are local
wall-clock ``time`` values.
"""

import datetime as dt
import enum
import re
from typing import Any

import phonenumbers
import sqlalchemy as sa
from pydantic import field_validator
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Relationship, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

DEFAULT_PHONE_REGION = "NL"
MAX_AGE_YEARS = 120
MAX_DISTANCE_KM = 1000
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every database: SQLite stores naive UTC, results come back aware UTC.

    Naive datetimes are refused on the way in, because guessing their zone silently shifts visits.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; store aware UTC datetimes")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _enum_column(
    enum_cls: type[enum.Enum], name: str, *, nullable: bool = False, default: Any = None
) -> sa.Column:
    """A VARCHAR column holding the enum's *values* with a CHECK constraint listing them."""
    values = [member.value for member in enum_cls]
    return sa.Column(
        sa.Enum(
            enum_cls,
            name=name,
            native_enum=False,
            create_constraint=True,
            length=max(len(v) for v in values),
            values_callable=lambda cls: [m.value for m in cls],
            validate_strings=True,
        ),
        nullable=nullable,
        default=default,
    )


def _json_column(*, nullable: bool = False) -> sa.Column:
    return sa.Column(sa.JSON(), nullable=nullable)


def _utc_column(*, nullable: bool = False, default: Any = None) -> sa.Column:
    return sa.Column(UTCDateTime(), nullable=nullable, default=default)


class Role(enum.StrEnum):
    FRONT_DESK = "front_desk"
    COORDINATOR = "coordinator"
    VOLUNTEER = "volunteer"
    ADMIN = "admin"


class Language(enum.StrEnum):
    EN = "en"
    NL = "nl"
    FR = "fr"


class Channel(enum.StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"


class ResourceKind(enum.StrEnum):
    REGISTRATION = "registration"
    CONSULT = "consult"
    LAB = "lab"
    IMAGING = "imaging"
    ECG = "ecg"
    CHAIR = "chair"
    CHECKOUT = "checkout"
    DIETITIAN = "dietitian"
    NURSE_INTAKE = "nurse-intake"
    PHARMACY = "pharmacy"


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


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    REMOVED = "removed"


class InvoiceStatus(enum.StrEnum):
    ISSUED = "issued"
    CREDITED = "credited"


# --- people -----------------------------------------------------------------------------------


class Volunteer(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    phone: str = Field(max_length=20)
    languages: list[str] = Field(default_factory=list, sa_column=_json_column())
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


class UserBase(SQLModel):
    username: str = Field(max_length=40)
    display_name: str = Field(max_length=120)
    role: Role
    language: Language | None = None
    volunteer_id: int | None = None
    active: bool = True


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=40, unique=True)
    display_name: str = Field(max_length=120)
    password_hash: str = Field(max_length=255)
    role: Role = Field(sa_column=_enum_column(Role, "role"))
    language: Language | None = Field(
        default=None, sa_column=_enum_column(Language, "language", nullable=True)
    )
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", ondelete="SET NULL")
    active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))


class UserCreate(UserBase):
    password: str = Field(min_length=8, max_length=200)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,39}", value):
            raise ValueError("use 2-40 lower-case letters, digits, dots, dashes or underscores")
        return value


class UserRead(UserBase):
    id: int


class Patient(SQLModel, table=True):
    __table_args__ = (sa.CheckConstraint("distance_km >= 0", name="distance_not_negative"),)

    id: int | None = Field(default=None, primary_key=True)
    mrn: str = Field(max_length=20, unique=True, description="Hospital record number, e.g. P000123")
    given_name: str = Field(max_length=80)
    family_name: str = Field(max_length=80)
    birth_date: dt.date
    phone: str = Field(max_length=20, description="E.164")
    email: str | None = Field(default=None, max_length=254)
    language: Language = Field(sa_column=_enum_column(Language, "language"))
    channel: Channel = Field(sa_column=_enum_column(Channel, "channel"))
    address_line: str = Field(max_length=160)
    postcode: str = Field(max_length=12)
    city: str = Field(max_length=80)
    distance_km: float
    needs_wheelchair: bool = False
    needs_interpreter: bool = False
    needs_hearing: bool = False
    consent: bool = False
    opted_out: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
    updated_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_column=sa.Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow),
    )

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def normalise_phone(value: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164 form of a phone number, or ``ValueError`` saying why it is not one."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{value!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{value!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not EMAIL_RE.fullmatch(value) or len(value) > 254:
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


class PatientBase(SQLModel):
    mrn: str = Field(min_length=1, max_length=20)
    given_name: str = Field(min_length=1, max_length=80)
    family_name: str = Field(min_length=1, max_length=80)
    birth_date: dt.date
    phone: str
    email: str | None = None
    language: Language = Language.NL
    channel: Channel = Channel.SMS
    address_line: str = Field(min_length=1, max_length=160)
    postcode: str = Field(min_length=1, max_length=12)
    city: str = Field(min_length=1, max_length=80)
    distance_km: float = Field(ge=0, le=MAX_DISTANCE_KM)
    needs_wheelchair: bool = False
    needs_interpreter: bool = False
    needs_hearing: bool = False
    consent: bool = False
    opted_out: bool = False


class PatientCreate(PatientBase):
    """Validated input for a new patient: phone to E.164 (default region NL), e-mail, plausible birth date."""

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_phone(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalise_email(value)

    @field_validator("birth_date")
    @classmethod
    def _birth_date(cls, value: dt.date) -> dt.date:
        today = dt.date.today()
        if value > today:
            raise ValueError("date of birth is in the future")
        if (today.year - value.year) - ((today.month, today.day) < (value.month, value.day)) > MAX_AGE_YEARS:
            raise ValueError(f"date of birth makes the patient older than {MAX_AGE_YEARS}")
        return value

    @field_validator("given_name", "family_name", "address_line", "postcode", "city", "mrn")
    @classmethod
    def _stripped(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class PatientRead(PatientBase):
    id: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- resources and opening hours --------------------------------------------------------------


class Resource(SQLModel, table=True):
    __table_args__ = (sa.CheckConstraint("capacity >= 1", name="capacity_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    kind: ResourceKind = Field(sa_column=_enum_column(ResourceKind, "kind"))
    capacity: int = 1
    attributes: list[str] = Field(default_factory=list, sa_column=_json_column())
    active: bool = True

    hours: list["ResourceHours"] = Relationship(
        back_populates="resource", sa_relationship_kwargs={"cascade": "all, delete-orphan"}
    )


class ResourceHours(SQLModel, table=True):
    """One opening window on a weekday (0 = Monday); several rows per day model breaks and shifts."""

    __tablename__ = "resource_hours"
    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        sa.CheckConstraint("closes > opens", name="closes_after_opens"),
    )

    id: int | None = Field(default=None, primary_key=True)
    resource_id: int = Field(foreign_key="resource.id", ondelete="CASCADE", index=True)
    weekday: int
    opens: dt.time
    closes: dt.time

    resource: Resource | None = Relationship(back_populates="hours")


class ResourceClosure(SQLModel, table=True):
    """A closure on a date: of one resource, or of the whole clinic when ``resource_id`` is empty;
    all day when ``starts``/``ends`` are empty."""

    __tablename__ = "resource_closure"
    __table_args__ = (
        sa.CheckConstraint(
            "(starts IS NULL AND ends IS NULL) OR (starts IS NOT NULL AND ends IS NOT NULL AND ends > starts)",
            name="closure_window",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    resource_id: int | None = Field(default=None, foreign_key="resource.id", ondelete="CASCADE", index=True)
    date: dt.date = Field(index=True)
    starts: dt.time | None = None
    ends: dt.time | None = None
    reason: str = Field(max_length=200)


# --- pathways -----------------------------------------------------------------------------------


class StepType(SQLModel, table=True):
    __tablename__ = "step_type"
    __table_args__ = (
        sa.CheckConstraint("default_minutes > 0", name="duration_positive"),
        sa.CheckConstraint("tariff_cents >= 0", name="tariff_not_negative"),
        sa.CheckConstraint("vat_rate_bp BETWEEN 0 AND 10000", name="vat_range"),
        sa.CheckConstraint("length(currency) = 3", name="currency_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    names: dict[str, str] = Field(default_factory=dict, sa_column=_json_column())
    resource_kind: ResourceKind = Field(sa_column=_enum_column(ResourceKind, "resource_kind"))
    default_minutes: int
    tariff_cents: int = 0
    currency: str = Field(default="EUR", max_length=3)
    vat_rate_bp: int = Field(default=0, description="VAT in basis points: 2100 = 21 %")

    def name_in(self, language: object) -> str:
        """The name patients read in ``language`` (an invoice line): its translation in ``names``, else ``name``."""
        return self.names.get(str(language)) or self.name


class Pathway(SQLModel, table=True):
    __table_args__ = (
        sa.CheckConstraint("max_visit_minutes IS NULL OR max_visit_minutes > 0", name="max_visit_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    names: dict[str, str] = Field(default_factory=dict, sa_column=_json_column())
    description: str = Field(default="", max_length=1000)
    max_visit_minutes: int | None = None
    active: bool = True

    def name_in(self, language: object) -> str:
        """The name patients read in ``language`` (messages, invoices): its translation in ``names``, else
        ``name``."""
        return self.names.get(str(language)) or self.name

    steps: list["PathwayStep"] = Relationship(
        back_populates="pathway",
        sa_relationship_kwargs={"order_by": "PathwayStep.sequence", "cascade": "all, delete-orphan"},
    )


class PathwayStep(SQLModel, table=True):
    """A step of a pathway; ``code`` names it inside the pathway (``reg``, ``lab``, ``treat``)."""

    __tablename__ = "pathway_step"
    __table_args__ = (
        sa.UniqueConstraint("pathway_id", "sequence"),
        sa.UniqueConstraint("pathway_id", "code"),
        sa.CheckConstraint("sequence >= 1", name="sequence_positive"),
        sa.CheckConstraint("duration_minutes IS NULL OR duration_minutes > 0", name="duration_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    pathway_id: int = Field(foreign_key="pathway.id", ondelete="CASCADE", index=True)
    step_type_id: int = Field(foreign_key="step_type.id")
    code: str = Field(max_length=20)
    sequence: int
    duration_minutes: int | None = Field(default=None, description="Overrides the step type's default")
    resource_id: int | None = Field(default=None, foreign_key="resource.id", description="Only this resource")

    pathway: Pathway | None = Relationship(back_populates="steps")
    step_type: StepType | None = Relationship()
    resource: Resource | None = Relationship()
    dependencies: list["PathwayStepDependency"] = Relationship(
        back_populates="step",
        sa_relationship_kwargs={
            "foreign_keys": "PathwayStepDependency.step_id",
            "cascade": "all, delete-orphan",
        },
    )

    @property
    def duration(self) -> int:
        return self.duration_minutes or self.step_type.default_minutes


class PathwayStepDependency(SQLModel, table=True):
    """``step`` starts between ``min_gap`` and ``max_gap`` minutes after ``depends_on`` ends (a DAG edge)."""

    __tablename__ = "pathway_step_dependency"
    __table_args__ = (
        sa.UniqueConstraint("step_id", "depends_on_id"),
        sa.CheckConstraint("step_id <> depends_on_id", name="not_self"),
        sa.CheckConstraint("min_gap >= 0", name="min_gap_not_negative"),
        sa.CheckConstraint("max_gap IS NULL OR max_gap >= min_gap", name="max_gap_after_min_gap"),
    )

    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="pathway_step.id", ondelete="CASCADE", index=True)
    depends_on_id: int = Field(foreign_key="pathway_step.id", ondelete="CASCADE")
    min_gap: int = 0
    max_gap: int | None = None

    step: PathwayStep | None = Relationship(
        back_populates="dependencies",
        sa_relationship_kwargs={"foreign_keys": "PathwayStepDependency.step_id"},
    )
    depends_on: PathwayStep | None = Relationship(
        sa_relationship_kwargs={"foreign_keys": "PathwayStepDependency.depends_on_id"}
    )


# --- visits -------------------------------------------------------------------------------------


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
        sa_column=_enum_column(VisitStatus, "status", default=VisitStatus.REQUESTED),
    )
    priority: int = 1
    booked_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    cancelled_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    cancelled_reason: str | None = Field(default=None, max_length=300)
    notes: str = Field(default="", max_length=1000)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
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
    planned_start: dt.datetime = Field(sa_column=_utc_column())
    planned_end: dt.datetime = Field(sa_column=_utc_column())
    actual_start: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    actual_end: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    status: StepStatus = Field(
        default=StepStatus.PLANNED, sa_column=_enum_column(StepStatus, "status", default=StepStatus.PLANNED)
    )

    visit: Visit | None = Relationship(back_populates="steps")
    pathway_step: PathwayStep | None = Relationship()
    resource: Resource | None = Relationship()


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
    added_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
    earliest_date: dt.date
    latest_date: dt.date
    min_notice_hours: int = 24
    accepts_short_notice: bool = False
    status: WaitlistStatus = Field(
        default=WaitlistStatus.WAITING,
        sa_column=_enum_column(WaitlistStatus, "status", default=WaitlistStatus.WAITING),
    )
    notes: str = Field(default="", max_length=1000)

    patient: Patient | None = Relationship()
    pathway: Pathway | None = Relationship()


# --- billing and audit --------------------------------------------------------------------------


class Invoice(SQLModel, table=True):
    """Numbered per calendar year (``year`` + ``seq``), shown as ``2026-000123``."""

    __table_args__ = (
        sa.UniqueConstraint("year", "seq"),
        sa.CheckConstraint("seq >= 1", name="seq_positive"),
        sa.CheckConstraint("length(currency) = 3", name="currency_code"),
        sa.CheckConstraint("total_cents = subtotal_cents + vat_cents", name="total_adds_up"),
    )

    id: int | None = Field(default=None, primary_key=True)
    year: int
    seq: int
    patient_id: int = Field(foreign_key="patient.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id")
    issued_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
    currency: str = Field(default="EUR", max_length=3)
    subtotal_cents: int = 0
    vat_cents: int = 0
    total_cents: int = 0
    status: InvoiceStatus = Field(
        default=InvoiceStatus.ISSUED,
        sa_column=_enum_column(InvoiceStatus, "status", default=InvoiceStatus.ISSUED),
    )
    credit_for_id: int | None = Field(default=None, foreign_key="invoice.id")

    lines: list["InvoiceLine"] = Relationship(
        back_populates="invoice", sa_relationship_kwargs={"cascade": "all, delete-orphan"}
    )

    @property
    def number(self) -> str:
        return f"{self.year}-{self.seq:06d}"


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "invoice_line"
    __table_args__ = (
        sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
        sa.CheckConstraint("vat_rate_bp BETWEEN 0 AND 10000", name="vat_range"),
        sa.CheckConstraint("total_cents = net_cents + vat_cents", name="total_adds_up"),
    )

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", ondelete="CASCADE", index=True)
    description: str = Field(max_length=200)
    step_type_id: int | None = Field(default=None, foreign_key="step_type.id")
    quantity: int = 1
    unit_cents: int
    vat_rate_bp: int = 0
    net_cents: int
    vat_cents: int
    total_cents: int

    invoice: Invoice | None = Relationship(back_populates="lines")


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_entity", "entity", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    action: str = Field(max_length=60)
    entity: str = Field(max_length=60)
    entity_id: int
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
    details: dict[str, Any] | None = Field(default=None, sa_column=_json_column(nullable=True))


def table_names() -> list[str]:
    """Every table, parents first (children last): empty them in reverse."""
    return [table.name for table in SQLModel.metadata.sorted_tables]


# --- check-in and journey (issue 4, journey) ----------------------------------------------------


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
    checked_in_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
    checked_in_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    late_minutes: int = 0
    coffee_voucher: str | None = Field(default=None, max_length=16)
    transport_booked: bool = False
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", ondelete="SET NULL")
    interpreter_needed: bool = False
    notes: str = Field(default="", max_length=500)


# --- booking (issue 4: the Book flow) -------------------------------------------------------------


class BookingLock(SQLModel, table=True):
    """One row per clinic day, updated first thing by every booking of that day: the row lock
    (PostgreSQL) or the write lock it takes (SQLite) serialises the capacity re-check and the insert."""

    __tablename__ = "booking_lock"
    __table_args__ = (sa.CheckConstraint("version >= 0", name="version_not_negative"),)

    day: dt.date = Field(primary_key=True)
    version: int = 0
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))


# --- refill: waitlist offers (0004_refill) ------------------------------------------------------


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
    slot_start: dt.datetime = Field(sa_column=_utc_column())
    itinerary: dict[str, Any] = Field(sa_column=_json_column())
    channel: OfferChannel = Field(sa_column=_enum_column(OfferChannel, "channel"))
    wave: int = 1
    sent_at: dt.datetime = Field(sa_column=_utc_column())
    expires_at: dt.datetime = Field(sa_column=_utc_column())
    status: OfferStatus = Field(
        default=OfferStatus.OPEN, sa_column=_enum_column(OfferStatus, "status", default=OfferStatus.OPEN)
    )
    answered_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    seconds_after_cancel: int | None = Field(default=None, description="time from the cancellation to this offer")
    booked_visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")

    entry: WaitlistEntry | None = Relationship()


# --- outreach: rule sets, the outbox, the dispatcher's lease (issue 5, 0006_outreach) -----------


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"
    SKIPPED = "skipped"


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
    due_at: dt.datetime = Field(sa_column=_utc_column())
    next_attempt_at: dt.datetime = Field(sa_column=_utc_column())
    status: OutboxStatus = Field(
        default=OutboxStatus.QUEUED,
        sa_column=_enum_column(OutboxStatus, "status", default=OutboxStatus.QUEUED),
    )
    channel: Channel = Field(sa_column=_enum_column(Channel, "channel"))
    fallback_channel: Channel | None = Field(
        default=None, sa_column=_enum_column(Channel, "fallback_channel", nullable=True)
    )
    language: Language = Field(sa_column=_enum_column(Language, "language"))
    essential: bool = True
    recipient: str = Field(max_length=254)
    body: str = Field(max_length=2000)
    attempts: int = 0
    on_call_list: bool = False
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    provider_id: str | None = Field(default=None, max_length=80, index=True)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
    sent_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
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
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))


class DispatcherLease(SQLModel, table=True):
    """Who may dispatch right now: one row per lease name, held by ``owner`` until ``expires_at``."""

    __tablename__ = "dispatcher_lease"

    name: str = Field(primary_key=True, max_length=40)
    owner: str = Field(max_length=80)
    expires_at: dt.datetime = Field(sa_column=_utc_column())
    heartbeat_at: dt.datetime = Field(sa_column=_utc_column())


apscheduler_jobs = sa.Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary(), nullable=False),
)
"""APScheduler 3's ``SQLAlchemyJobStore`` table, created by the migration so the schema stays the models'."""


# --- invoicing: checkout (migration 0005_invoicing) ---------------------------------------------

OPEN_INVOICE_WHERE = "status = 'issued' AND credit_for_id IS NULL"
sa.Index(
    "ux_invoice_open_visit",
    Invoice.__table__.c.visit_id,  # type: ignore[attr-defined]
    unique=True,
    sqlite_where=sa.text(OPEN_INVOICE_WHERE),
    postgresql_where=sa.text(OPEN_INVOICE_WHERE),
)
"""At most one issued (not credited) invoice per visit: checking a visit out twice is impossible."""
sa.Index(
    "ux_invoice_credit_for",
    Invoice.__table__.c.credit_for_id,  # type: ignore[attr-defined]
    unique=True,
    sqlite_where=sa.text("credit_for_id IS NOT NULL"),
    postgresql_where=sa.text("credit_for_id IS NOT NULL"),
)
"""At most one credit note per invoice."""


# --- messaging: inbound SMS and voice answers (issue 5, migration 0007_messaging) ----------------


class InboundMessage(SQLModel, table=True):
    """An SMS (or a key pressed in a call) received from a patient, what it was taken to mean and
    what was answered; ``provider_id`` (Twilio's MessageSid/CallSid) makes a retried webhook harmless."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        sa.UniqueConstraint("provider_id"),
        sa.Index("ix_inbound_message_from_number_received_at", "from_number", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    received_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
    channel: Channel = Field(sa_column=_enum_column(Channel, "channel"))
    provider_id: str | None = Field(default=None, max_length=80)
    from_number: str = Field(max_length=32)
    body: str = Field(default="", max_length=1600)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", ondelete="SET NULL", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")
    keyword: str | None = Field(default=None, max_length=20)
    outcome: str = Field(max_length=40)
    reply: str = Field(default="", max_length=1600)


# --- service: volunteers, two questions, follow-ups, touch-points, recovery (issue 6, 0008_service) ---


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
    reason: AssignmentReason = Field(sa_column=_enum_column(AssignmentReason, "assignment_reason"))
    source: AssignmentSource = Field(
        default=AssignmentSource.AUTO,
        sa_column=_enum_column(AssignmentSource, "assignment_source", default=AssignmentSource.AUTO),
    )
    flagged_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    meet_at: dt.datetime = Field(sa_column=_utc_column())
    leave_at: dt.datetime = Field(sa_column=_utc_column())
    meeting_place: str = Field(default="", max_length=120)
    match_note: str = Field(default="", max_length=200)
    outcome: MeetingOutcome | None = Field(
        default=None, sa_column=_enum_column(MeetingOutcome, "meeting_outcome", nullable=True)
    )
    outcome_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
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
        sa_column=_enum_column(OutboxStatus, "status", default=OutboxStatus.QUEUED),
    )
    provider_id: str | None = Field(default=None, max_length=80)
    last_error: str | None = Field(default=None, max_length=500)
    due_at: dt.datetime = Field(sa_column=_utc_column())
    sent_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))


class SurveyTrigger(enum.StrEnum):
    VISIT = "visit"
    CALL = "call"
    INBOUND = "inbound"
    FOLLOW_UP = "follow_up"


class SurveyChannel(enum.StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    TABLET = "tablet"


class SurveyStatus(enum.StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    UNANSWERED = "unanswered"
    WITHDRAWN = "withdrawn"


class Survey(SQLModel, table=True):
    """The two questions after an interaction: *Did you get what you needed?* and *Did we do a good
    job?* ``source_ref`` names the interaction (a visit, an outbox message, an inbound message, a
    follow-up), so each is asked once."""

    __table_args__ = (
        sa.UniqueConstraint("trigger", "source_ref"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.Index("ix_survey_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")
    trigger: SurveyTrigger = Field(sa_column=_enum_column(SurveyTrigger, "survey_trigger"))
    source_ref: str = Field(max_length=60)
    channel: SurveyChannel = Field(sa_column=_enum_column(SurveyChannel, "survey_channel"))
    language: Language = Field(sa_column=_enum_column(Language, "language"))
    status: SurveyStatus = Field(
        default=SurveyStatus.PENDING,
        sa_column=_enum_column(SurveyStatus, "survey_status", default=SurveyStatus.PENDING),
    )
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(sa_column=_utc_column())
    asked_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    got_what_needed: bool | None = None
    good_job: bool | None = None
    comment: str = Field(default="", max_length=1000)
    answered_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))


class FollowUpReason(enum.StrEnum):
    ANSWERED_NO = "answered_no"
    NO_ANSWER = "no_answer"


class FollowUpStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class FollowUp(SQLModel, table=True):
    """Opened by a "no" (or no answer after two attempts); stays open until the patient answers "yes"
    to both questions; escalated to the coordinator when overdue."""

    __tablename__ = "follow_up"
    __table_args__ = (sa.Index("ix_follow_up_status_due_at", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")
    survey_id: int | None = Field(default=None, foreign_key="survey.id", ondelete="SET NULL")
    reason: FollowUpReason = Field(sa_column=_enum_column(FollowUpReason, "follow_up_reason"))
    status: FollowUpStatus = Field(
        default=FollowUpStatus.OPEN,
        sa_column=_enum_column(FollowUpStatus, "follow_up_status", default=FollowUpStatus.OPEN),
    )
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    due_at: dt.datetime = Field(sa_column=_utc_column())
    escalated_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    closed_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    closing_survey_id: int | None = Field(default=None, foreign_key="survey.id", ondelete="SET NULL")
    summary: str = Field(default="", max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))


class FollowUpEvent(SQLModel, table=True):
    """The history of one follow-up: opened, called, note, re-asked, escalated, closed."""

    __tablename__ = "follow_up_event"

    id: int | None = Field(default=None, primary_key=True)
    follow_up_id: int = Field(foreign_key="follow_up.id", ondelete="CASCADE", index=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
    kind: str = Field(max_length=30)
    user_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    note: str = Field(default="", max_length=1000)


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
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))
    channel: TouchChannel = Field(sa_column=_enum_column(TouchChannel, "touch_channel"))
    direction: TouchDirection = Field(sa_column=_enum_column(TouchDirection, "touch_direction"))
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
    status: GestureStatus = Field(sa_column=_enum_column(GestureStatus, "gesture_status"))
    granted_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    decided_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    decided_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(default=utcnow))


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
    channel: TouchChannel = Field(sa_column=_enum_column(TouchChannel, "touch_channel"))
    answered_at: dt.datetime = Field(sa_column=_utc_column())
    arranged_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    arranged_by: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    note: str = Field(default="", max_length=500)
