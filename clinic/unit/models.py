"""The unit itself: its resources (desks, rooms, chairs, staff), their opening hours and closures, and
the pathways of steps a visit follows.
"""

import datetime as dt
import enum

import sqlalchemy as sa
from sqlmodel import Field, Relationship, SQLModel

from clinic.columns import enum_column, json_column
from clinic.translatable import Named


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


class Resource(SQLModel, table=True):
    __table_args__ = (sa.CheckConstraint("capacity >= 1", name="capacity_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    kind: ResourceKind = Field(sa_column=enum_column(ResourceKind, "kind"))
    capacity: int = 1
    attributes: list[str] = Field(default_factory=list, sa_column=json_column())
    skills: list[str] = Field(
        default_factory=list,
        sa_column=json_column(),
        description="What this resource is qualified for (``oncology``, ``chemo-certified``): see ``PathwayStep.skills``",
    )
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
    names: dict[str, str] = Field(default_factory=dict, sa_column=json_column())
    resource_kind: ResourceKind = Field(sa_column=enum_column(ResourceKind, "resource_kind"))
    default_minutes: int
    tariff_cents: int = 0
    currency: str = Field(default="EUR", max_length=3)
    vat_rate_bp: int = Field(default=0, description="VAT in basis points: 2100 = 21 %")

    def name_in(self, language: object) -> str:
        """The name patients read in ``language`` (an invoice line): its translation in ``names``, else ``name``."""
        return self.names.get(str(language)) or self.name

    @property
    def named(self) -> Named:
        """``name`` with its translations, for screens that show it in their reader's language."""
        return Named(self.name, self.names)


class Pathway(SQLModel, table=True):
    __table_args__ = (
        sa.CheckConstraint("max_visit_minutes IS NULL OR max_visit_minutes > 0", name="max_visit_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    names: dict[str, str] = Field(default_factory=dict, sa_column=json_column())
    description: str = Field(default="", max_length=1000)
    max_visit_minutes: int | None = None
    active: bool = True

    def name_in(self, language: object) -> str:
        """The name patients read in ``language`` (messages, invoices): its translation in ``names``, else
        ``name``."""
        return self.names.get(str(language)) or self.name

    @property
    def named(self) -> Named:
        return Named(self.name, self.names)

    steps: list["PathwayStep"] = Relationship(
        back_populates="pathway",
        sa_relationship_kwargs={"order_by": "PathwayStep.sequence", "cascade": "all, delete-orphan"},
    )


class PathwayStep(SQLModel, table=True):
    """A step of a pathway; ``code`` names it inside the pathway (``reg``, ``lab``, ``treat``).

    ``skills`` sit on the step, not on its type: the same ``consult`` type is an oncology consult in one
    pathway and a cardiology consult in another. The step may only be given by an active resource of its
    type's kind carrying all of them (and only by ``resource`` when that is set too), see
    ``planning.engine_steps``."""

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
    skills: list[str] = Field(
        default_factory=list,
        sa_column=json_column(),
        description="Only resources of the step type's kind having every one of these skills",
    )

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
