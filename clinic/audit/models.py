"""The audit trail: who changed what, and when.
"""

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clinic.columns import json_column, utc_column, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_entity", "entity", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    action: str = Field(max_length=60)
    entity: str = Field(max_length=60)
    entity_id: int
    at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    details: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
