"""Staff accounts and their roles.
"""

import datetime as dt
import enum
import re

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from clinic.columns import Language, enum_column, utc_column, utcnow


class Role(enum.StrEnum):
    FRONT_DESK = "front_desk"
    COORDINATOR = "coordinator"
    VOLUNTEER = "volunteer"
    ADMIN = "admin"


class UserBase(SQLModel):
    username: str = Field(max_length=40, unique=True)
    display_name: str = Field(max_length=120)
    role: Role = Field(sa_column=enum_column(Role, "role"))
    language: Language | None = Field(
        default=None, sa_column=enum_column(Language, "language", nullable=True)
    )
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", ondelete="SET NULL")
    active: bool = True


class User(UserBase, table=True):
    __tablename__ = "user_account"
    __table_args__ = (sa.UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_user_account_oidc"),)

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=255)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    #: Copied into each session at sign-in; raising it (sign-out, a new password, disabling) ends them all.
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: Set by a reset (a one-time password): the next sign-in must choose a new password before anything else.
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    #: The password was chosen under the password policy, which refuses the published demo passwords; the
    #: start-up check (``accounts_with_demo_password``) only needs to look at the others.
    password_meets_policy: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    #: An account that signs in through the hospital's identity provider (OpenID Connect): the provider's
    #: issuer and its ``sub`` for the person; both None for a local password account.
    oidc_issuer: str | None = Field(default=None, max_length=255)
    oidc_subject: str | None = Field(default=None, max_length=255)


class SignInFailure(SQLModel, table=True):
    """A wrong password (or one being checked) for an account or from an address, for throttling.

    ``key`` is ``account:<user name>`` or ``address:<client address>``; rows older than the throttle's
    window are deleted as new ones come in."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (sa.Index("ix_sign_in_failure_key_at", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=120)
    at: dt.datetime = Field(sa_column=utc_column())


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
