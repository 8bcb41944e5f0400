"""The Outbox screen's queries: the outbox rows (filtered, a page at a time), one row, their counts by status,
a patient looked up by record number; and the messages of a patient's visits for the patient page."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.patients.models import Patient
from clinic.unit.context import Unit


@dataclass(frozen=True)
class OutboxFilter:
    status: str | None = None
    channel: str | None = None
    day: dt.date | None = None
    patient_id: int | None = None
    call_list: bool = False


def list_outbox(
    *, session: Session, filters: OutboxFilter = OutboxFilter(), unit: Unit, limit: int = 500, offset: int = 0
) -> list[tuple[OutboxMessage, Patient]]:
    """Outbox rows newest first (by next attempt, then id: a stable order, so ``offset`` pages never skip or
    repeat a row while nothing is added)."""
    statement = select(OutboxMessage, Patient).join(Patient, col(Patient.id) == OutboxMessage.patient_id)
    if filters.status:
        statement = statement.where(OutboxMessage.status == OutboxStatus(filters.status))
    if filters.channel:
        statement = statement.where(OutboxMessage.channel == filters.channel)
    if filters.patient_id:
        statement = statement.where(OutboxMessage.patient_id == filters.patient_id)
    if filters.call_list:
        statement = statement.where(col(OutboxMessage.on_call_list).is_(True))
    if filters.day:
        zone = ZoneInfo(unit.tz)
        start = dt.datetime.combine(filters.day, dt.time(0), zone).astimezone(dt.UTC)
        end = dt.datetime.combine(filters.day + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.UTC)
        statement = statement.where(col(OutboxMessage.due_at) >= start, col(OutboxMessage.due_at) < end)
    statement = statement.order_by(col(OutboxMessage.next_attempt_at).desc(), col(OutboxMessage.id).desc())
    statement = statement.limit(limit).offset(max(0, offset))
    return [(row, patient) for row, patient in session.exec(statement)]


def messages_by_visit(*, session: Session, visit_ids: Sequence[int]) -> dict[int, list[OutboxMessage]]:
    """Each visit's outreach messages, planned and sent (withdrawn ones too: the desk sees what was dropped),
    in the order they are or were due."""
    if not visit_ids:
        return {}
    rows = session.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.visit_id).in_(list(visit_ids)))
        .order_by(col(OutboxMessage.due_at), col(OutboxMessage.id))
    )
    out: dict[int, list[OutboxMessage]] = {}
    for row in rows:
        out.setdefault(row.visit_id, []).append(row)
    return out


def get_outbox_message(*, session: Session, message_id: int) -> OutboxMessage | None:
    """The outbox row ``message_id``, or None (ids outside PostgreSQL's ``integer`` range are not looked up)."""
    return session.get(OutboxMessage, message_id) if 0 < message_id < 2**31 else None


def outbox_counts(*, session: Session) -> dict[str, int]:
    rows = session.exec(select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status))
    return {str(getattr(status, "value", status)): count for status, count in rows}


def find_patient(*, session: Session, query: str) -> Patient | None:
    """A patient by record number (exact, case-insensitive) or id."""
    text = (query or "").strip()
    if not text:
        return None
    patient = session.exec(select(Patient).where(sa.func.upper(Patient.mrn) == text.upper())).first()
    if patient is None and text.isdigit() and len(text) < 10:
        patient = session.get(Patient, int(text))
    return patient
