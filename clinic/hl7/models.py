"""Every HL7 message the listener received, with the acknowledgement it answered."""

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clinic.columns import utc_column, utcnow

APPLIED = "AA"


class Hl7Inbound(SQLModel, table=True):
    """One framed message and its ACK. At most one applied (AA) row per sender and control id (MSH-3,
    MSH-4, MSH-10): a message sent again is answered with the stored ``ack`` and changes nothing. Rejected
    messages (AE, AR) may repeat: a corrected message sent with the same control id is applied."""

    __tablename__ = "hl7_inbound"
    __table_args__ = (sa.Index("ix_hl7_inbound_received_at", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    received_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    sending_application: str = Field(default="", max_length=227)
    sending_facility: str = Field(default="", max_length=227)
    control_id: str | None = Field(default=None, max_length=199)
    trigger: str | None = Field(default=None, max_length=20, description="e.g. ADT^A04")
    ack_code: str = Field(max_length=2)
    error: str | None = Field(default=None, sa_type=sa.Text)
    ack: str = Field(sa_type=sa.Text, description="the ACK answered, ER7")


sa.Index(
    "ux_hl7_inbound_applied",
    Hl7Inbound.__table__.c.sending_application,  # type: ignore[attr-defined]
    Hl7Inbound.__table__.c.sending_facility,  # type: ignore[attr-defined]
    Hl7Inbound.__table__.c.control_id,  # type: ignore[attr-defined]
    unique=True,
    sqlite_where=sa.text(f"ack_code = '{APPLIED}'"),
    postgresql_where=sa.text(f"ack_code = '{APPLIED}'"),
)
"""At most one applied message per sender and control id."""
