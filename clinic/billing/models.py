"""Invoices and their lines.
"""

import datetime as dt
import enum

import sqlalchemy as sa
from sqlmodel import Field, Relationship, SQLModel

from clinic.columns import enum_column, utc_column, utcnow


class InvoiceStatus(enum.StrEnum):
    ISSUED = "issued"
    CREDITED = "credited"


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
    issued_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    currency: str = Field(default="EUR", max_length=3)
    subtotal_cents: int = 0
    vat_cents: int = 0
    total_cents: int = 0
    status: InvoiceStatus = Field(
        default=InvoiceStatus.ISSUED,
        sa_column=enum_column(InvoiceStatus, "status", default=InvoiceStatus.ISSUED),
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
