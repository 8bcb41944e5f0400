"""The access log: which staff member opened which patient's record (page, export), and when."""

import datetime as dt
import enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clinic.columns import enum_column, utc_column, utcnow


class AccessKind(enum.StrEnum):
    PAGE = "page"
    EXPORT_JSON = "export_json"
    EXPORT_PDF = "export_pdf"


class AccessLog(SQLModel, table=True):
    """Ids only (never names), so the log survives a patient's erasure without holding personal data."""

    __tablename__ = "access_log"
    __table_args__ = (
        sa.Index("ix_access_log_patient_at", "patient_id", "at"),
        sa.Index("ix_access_log_user_at", "user_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    user_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE")
    kind: AccessKind = Field(sa_column=enum_column(AccessKind, "kind"))
