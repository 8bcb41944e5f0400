"""The per-day booking lock.
"""

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clinic.columns import utc_column, utcnow


class BookingLock(SQLModel, table=True):
    """One row per clinic day, updated first thing by every booking of that day: the row lock
    (PostgreSQL) or the write lock it takes (SQLite) serialises the capacity re-check and the insert."""

    __tablename__ = "booking_lock"
    __table_args__ = (sa.CheckConstraint("version >= 0", name="version_not_negative"),)

    day: dt.date = Field(primary_key=True)
    version: int = 0
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
