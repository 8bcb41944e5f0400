"""Column types and helpers every table uses: aware UTC datetimes on every database, enum and JSON
columns, the constraint naming convention, and the vocabulary shared by several domains.

Tables do not validate on construction (SQLModel), so input from people and files goes through the
``*Create`` models first. The database enforces what a database should: unique keys, foreign keys,
non-null columns and CHECK constraints on enum values and ranges, identically on SQLite and PostgreSQL.

Times: every instant is an aware UTC ``datetime`` (``UTCDateTime`` makes SQLite behave like
PostgreSQL); a ``Visit.date`` is the local date in the clinic's time zone; opening hours are local
wall-clock ``time`` values.
"""

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


SQLModel.metadata.naming_convention = NAMING_CONVENTION


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


def enum_column(
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


def json_column(*, nullable: bool = False) -> sa.Column:
    return sa.Column(sa.JSON(), nullable=nullable)


def utc_column(*, nullable: bool = False, default: Any = None) -> sa.Column:
    return sa.Column(UTCDateTime(), nullable=nullable, default=default)


class Language(enum.StrEnum):
    EN = "en"
    NL = "nl"
    FR = "fr"


class Channel(enum.StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"


class OutboxChannel(enum.StrEnum):
    """How an outbox row goes out: a patient's channel, or ``hl7`` (the SIU feed to another hospital system,
    ``clinic.messaging.siu``), which is never a patient's."""

    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    HL7 = "hl7"
