"""Create models validate input; stored instants come back as aware UTC on every database."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from clinic.billing.models import Invoice
from clinic.columns import Channel, Language
from clinic.patients.models import Patient, PatientCreate
from clinic.visits.models import VisitStep
from tests.factories import make_patient, make_visit

VALID = {
    "mrn": "P1",
    "given_name": "Anna",
    "family_name": "de Vries",
    "birth_date": "1950-03-01",
    "phone": "06 1234 5678",
    "email": "anna@example.org",
    "language": "nl",
    "channel": "sms",
    "address_line": "Lindelaan 3",
    "postcode": "3511 AB",
    "city": "Utrecht",
    "distance_km": 12.5,
}


def _errors(**changes) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        PatientCreate.model_validate({**VALID, **changes})
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


def test_valid_patient_is_normalised() -> None:
    patient = PatientCreate.model_validate({**VALID, "given_name": "  Anna ", "email": ""})
    assert patient.phone == "+31612345678"
    assert patient.email is None
    assert patient.given_name == "Anna"
    assert patient.language is Language.NL and patient.channel is Channel.SMS


def test_foreign_numbers_keep_their_country() -> None:
    assert PatientCreate.model_validate({**VALID, "phone": "+32 470 12 34 56"}).phone == "+32470123456"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("phone", "12345", "not a valid phone number"),
        ("phone", "call me", "not a phone number"),
        ("email", "anna@", "not an e-mail address"),
        ("birth_date", (dt.date.today() + dt.timedelta(days=1)).isoformat(), "future"),
        ("birth_date", "1890-01-01", "older than 120"),
        ("language", "de", "Input should be"),
        ("channel", "fax", "Input should be"),
        ("distance_km", -1, "greater than or equal to 0"),
        ("given_name", "   ", "blank"),
    ],
)
def test_bad_patient_fields_are_named(field: str, value: object, words: str) -> None:
    errors = _errors(**{field: value})
    assert field in errors, errors
    assert words in errors[field]


def test_datetimes_round_trip_as_aware_utc(session: Session) -> None:
    local = dt.datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))  # just after the DST jump
    visit = make_visit(session, day=local.date(), start=local)
    session.expire_all()
    step = session.get(VisitStep, visit.steps[0].id)
    assert step.planned_start.tzinfo is not None
    assert step.planned_start.utcoffset() == dt.timedelta(0)
    assert step.planned_start == local
    assert step.planned_start.hour == 1


def test_naive_datetimes_are_refused(session: Session) -> None:
    patient = make_patient(session)
    patient.created_at = dt.datetime(2026, 1, 1, 12, 0)
    session.add(patient)
    with pytest.raises(Exception, match="naive datetime"):
        session.commit()
    session.rollback()


def test_patient_timestamps_are_set(session: Session) -> None:
    patient = make_patient(session)
    session.expire_all()
    stored = session.get(Patient, patient.id)
    assert stored.created_at.tzinfo is not None
    assert abs(stored.updated_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_invoice_number_is_year_and_sequence() -> None:
    assert Invoice(year=2026, seq=123, patient_id=1).number == "2026-000123"
