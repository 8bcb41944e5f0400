"""The provider's status callback for a message it sent: delivered, or failed after all (then the retry /
fall-back / call-list way of a refused send); a reminder call the patient picked up is followed by the two
questions (``clinic.feedback.surveys``)."""

import datetime as dt

from sqlmodel import Session, select

from clinic.columns import Channel, utcnow
from clinic.errors import DomainError
from clinic.feedback import surveys
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.messaging.sending import DispatchReport, after_failure, quiet_zone
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from outreach.channels.base import SendResult

_DELIVERED = {"delivered", "read", "completed", "answered"}
_FAILED = {"failed", "undelivered", "busy", "no-answer", "canceled", "cancelled"}


def record_delivery(
    *, session: Session, provider_id: str, status: str, now: dt.datetime | None = None, unit: Unit
) -> OutboxMessage | None:
    """Apply a provider's status callback; ``None`` when no outbox row has that provider id.

    Delivered (or a completed call) marks the row delivered; a failed delivery (or no answer) goes the
    retry / fall-back / call-list way like a refused send. Interim statuses (queued, ringing) change nothing.
    """
    now = now or utcnow()
    row = session.exec(select(OutboxMessage).where(OutboxMessage.provider_id == provider_id)).first()
    if row is None:
        session.rollback()
        return None
    value = (status or "").strip().lower()
    if row.status not in (OutboxStatus.SENT, OutboxStatus.DELIVERED):
        session.rollback()
        return row
    if value in _DELIVERED:
        row.status = OutboxStatus.DELIVERED
        row.updated_at = now
    elif value in _FAILED and row.status == OutboxStatus.SENT:
        after_failure(
            row, SendResult(ok=False, error=f"provider reported {value}", retryable=True), now=now,
            tz=quiet_zone(session.get(Patient, row.patient_id), unit.tz), report=DispatchReport(),
        )
    else:
        session.rollback()
        return row
    session.add(row)
    session.commit()
    return row


def record_status_callback(
    *, session: Session, provider_id: str, status: str, now: dt.datetime, unit: Unit
) -> bool:
    """The status webhook: ``record_delivery``, then the two questions after a completed reminder call.
    ``False`` when no message has that provider id."""
    row = record_delivery(session=session, provider_id=provider_id, status=status, now=now, unit=unit)
    if row is not None and status == "completed":
        _survey_after_call(session, row, now)
    return row is not None


def _survey_after_call(session: Session, row: OutboxMessage, now: dt.datetime) -> None:
    """A reminder call the patient picked up (Twilio's ``completed``) is followed by the two questions."""
    if row.channel != Channel.VOICE or row.status != OutboxStatus.DELIVERED:
        return
    try:
        surveys.ask_after_call(session=session, outbox_id=row.id, now=now)
    except DomainError:
        session.rollback()
