"""API clients of the FHIR API, their bearer tokens (hashes only), used assertion ids and the call log."""

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clinic.columns import json_column, utc_column, utcnow


class ApiClient(SQLModel, table=True):
    """A named system of the hospital (an EHR, a referral portal) allowed to call the API with ``scopes``.

    ``jwks`` is its public key set (``{"keys": [...]}``) for SMART backend services; without one it only
    uses tokens an administrator issues. A deactivated client keeps its row (the audit trail names it)."""

    __tablename__ = "api_client"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, unique=True)
    #: Space-separated SMART scopes (``system/Appointment.read system/Patient.read``).
    scopes: str = Field(max_length=1000)
    active: bool = True
    jwks: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ApiToken(SQLModel, table=True):
    """A bearer token: only its SHA-256 is kept, so a database dump gives no working token."""

    __tablename__ = "api_token"
    __table_args__ = (sa.Index("ix_api_token_client_id", "client_id"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_client.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    #: The token's first characters, so an administrator can tell tokens apart on screen.
    hint: str = Field(max_length=12)
    scopes: str = Field(max_length=1000)
    #: ``admin`` (issued by an administrator) or ``smart`` (the client's signed assertion).
    source: str = Field(max_length=10)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    expires_at: dt.datetime = Field(sa_column=utc_column())
    revoked_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class UsedAssertion(SQLModel, table=True):
    """A client assertion's ``jti``, kept until the assertion expires so it cannot be replayed."""

    __tablename__ = "api_used_assertion"
    __table_args__ = (sa.UniqueConstraint("client_id", "jti", name="uq_api_used_assertion_client_jti"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_client.id", ondelete="CASCADE")
    jti: str = Field(max_length=255)
    expires_at: dt.datetime = Field(sa_column=utc_column())


class ApiCall(SQLModel, table=True):
    """One FHIR request, allowed or refused: which client (None: no valid token), method, path, status."""

    __tablename__ = "api_call"
    __table_args__ = (sa.Index("ix_api_call_client_at", "client_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    client_id: int | None = Field(default=None, foreign_key="api_client.id", ondelete="SET NULL")
    method: str = Field(max_length=10)
    path: str = Field(max_length=255)
    status: int
