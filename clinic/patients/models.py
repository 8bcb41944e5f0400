"""Patients: the table and the create/read models that validate what people and files type in.
"""

import datetime as dt
import re

import phonenumbers
import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import AutoString, Field, SQLModel

from clinic.columns import Channel, Language, UTCDateTime, enum_column, utc_column, utcnow
from clinic.patients.segments import age_on
from clinic.translatable import N_

DEFAULT_PHONE_REGION = "NL"


MAX_AGE_YEARS = 120


MAX_DISTANCE_KM = 1000


EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


BIRTH_DATE_IN_FUTURE = N_("The date of birth cannot be in the future.")
BIRTH_DATE_TOO_OLD = N_("Check the date of birth: that makes the patient older than %(years)s.")


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


class BirthDateError(ValueError):
    """An implausible date of birth; ``template`` and ``params`` let a form show it translated."""

    def __init__(self, template: str, **params: object):
        super().__init__(template % params if params else template)
        self.template = template
        self.params = params


def check_birth_date(value: dt.date, today: dt.date | None = None) -> dt.date:
    """``value`` when it is not in the future and makes the patient at most ``MAX_AGE_YEARS`` old."""
    today = today or dt.date.today()
    if value > today:
        raise BirthDateError(BIRTH_DATE_IN_FUTURE)
    if age_on(value, today) > MAX_AGE_YEARS:
        raise BirthDateError(BIRTH_DATE_TOO_OLD, years=MAX_AGE_YEARS)
    return value


class PatientBase(SQLModel):
    """The patient's fields, with the limits both the input models and the table columns use."""

    mrn: str = Field(min_length=1, max_length=20, unique=True, description="Hospital record number, e.g. P000123")
    given_name: str = Field(min_length=1, max_length=80)
    family_name: str = Field(min_length=1, max_length=80)
    birth_date: dt.date
    phone: str = Field(sa_type=AutoString(20), description="E.164")
    email: str | None = Field(default=None, sa_type=AutoString(254))
    language: Language = Field(default=Language.NL, sa_column=enum_column(Language, "language"))
    channel: Channel = Field(default=Channel.SMS, sa_column=enum_column(Channel, "channel"))
    address_line: str = Field(min_length=1, max_length=160)
    postcode: str = Field(min_length=1, max_length=12)
    city: str = Field(min_length=1, max_length=80)
    distance_km: float = Field(ge=0, le=MAX_DISTANCE_KM)
    needs_wheelchair: bool = False
    needs_interpreter: bool = False
    needs_hearing: bool = False
    consent: bool = False
    opted_out: bool = False


class Patient(PatientBase, table=True):
    __table_args__ = (sa.CheckConstraint("distance_km >= 0", name="distance_not_negative"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    updated_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_column=sa.Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow),
    )

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class PatientChecks:
    """The checks every patient input shares (the desk's ``PatientCreate``, the hospital's ``PatientRecord``):
    phone to E.164 (default region NL), e-mail, plausible birth date, record number in capitals."""

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
        return check_birth_date(value)

    @field_validator("mrn")
    @classmethod
    def _capitals(cls, value: str) -> str:
        """Record numbers compare case-insensitively (p000123 is P000123), so they are stored in capitals."""
        return value.upper()


class PatientCreate(PatientChecks, PatientBase):
    """Validated input for a new patient (``PatientChecks``), with no blank name or address."""

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


class PatientMerge(SQLModel, table=True):
    """A record number merged into another patient (HL7 A40): the merged row is gone, its data moved to
    ``patient_id``; this row keeps the old number so a repeated merge is a no-op and the number is not
    registered again as a new person."""

    __tablename__ = "patient_merge"

    id: int | None = Field(default=None, primary_key=True)
    merged_mrn: str = Field(max_length=20, unique=True)
    merged_patient_id: int = Field(description="the removed patient row's id, as the audit trail knows it")
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE", index=True)
    source: str = Field(max_length=40)
    merged_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
