"""Sending what is due: the dispatcher's claim / send / record cycle over the outbox.

``dispatch_due`` claims due rows (status ``sending`` + owner, committed) before calling the channel, so two
dispatchers never send the same row; it re-checks the visit at send time, keeps quiet hours in the
patient's time zone (from their phone number), retries with backoff, falls back to the other channel, then
puts the patient on the front desk's call list. A row planned with its SMS wording goes by e-mail in the
e-mail's own words, with a link to its answer page (``clinic.messaging.answers``; e-mail replies are not
read).
"""

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clinic.columns import Channel, OutboxChannel, utcnow
from clinic.messaging import answers as email_answers
from clinic.messaging import calendar, inbound
from clinic.messaging.lease import acquire_lease
from clinic.messaging.links import NO_LINKS, Links
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.messaging.outreach import CALENDAR_CANCEL, SENDABLE_VISITS, recipient_for
from clinic.messaging.texts import voucher_code
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.visits.models import Visit
from outreach.channels.base import OutgoingMessage, SendResult, SentLookup
from outreach.quiet_hours import next_allowed
from outreach.time_zones import zone_for_phone

MAX_ATTEMPTS = 3
BACKOFF = dt.timedelta(minutes=5)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    fell_back: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    postponed: int = 0
    lost_claims: int = 0
    recovered: int = 0
    lease_lost: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return (
            self.sent + self.retried + self.fell_back + self.failed + self.unknown + self.skipped + self.postponed
        )


def message_key(row: OutboxMessage) -> str:
    """The outbox row's unique key as text, handed to the channel so a retry is recognisable."""
    return f"visit-{row.visit_id}-{row.action}-{row.due_at.astimezone(dt.UTC):%Y%m%dT%H%MZ}"


def outgoing_message(row: OutboxMessage, recipient: str) -> OutgoingMessage:
    return OutgoingMessage(
        key=message_key(row),
        channel=row.channel.value,
        to=recipient,
        body=row.body,
        language=row.language.value,
        subject="OneVisit" if row.channel.value == "email" else None,
        metadata={"outbox_id": str(row.id), "visit_id": str(row.visit_id), "action": row.action},
    )


def _email(
    session: Session, row: OutboxMessage, visit: Visit, patient: Patient, recipient: str, *, links: Links, tz: str,
    unit: Unit | None,
) -> OutgoingMessage:
    """The e-mail that carries ``row``: its own words (the row holds the SMS wording), its answer page's link and,
    for the booking confirmation and the calendar's updates, the visit's calendar file."""
    subject, body = email_answers.email_words(
        patient=patient, action=row.action, day=visit.date, start=inbound.visit_start(session=session, visit=visit),
        pathway=visit.pathway.name_in(patient.language) if visit.pathway else "", voucher=voucher_code(visit.id),
        link=links.answer_url(row.id), tz=tz, note=row.body,
    )
    attachment = calendar.attachment_for(row, visit, unit) if unit is not None else None
    return replace(outgoing_message(row, recipient), subject=subject, body=body,
                   attachments=(attachment,) if attachment is not None else ())


def sent_whatever_the_visit(row: OutboxMessage) -> bool:
    """Rows that go out whatever became of the visit: the SIU feed (it reports a cancellation too) and the
    calendar file that takes a cancelled visit out of the patient's calendar."""
    return row.channel == OutboxChannel.HL7 or row.action == CALENDAR_CANCEL


def _earlier_hl7(session: Session, row: OutboxMessage) -> OutboxMessage | None:
    """An SIU message of the same visit queued before ``row`` and not settled yet: the receiver gets them in order."""
    return session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.visit_id == row.visit_id,
            OutboxMessage.channel == OutboxChannel.HL7,
            col(OutboxMessage.id) < row.id,
            col(OutboxMessage.status).in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
        )
        .order_by(col(OutboxMessage.id))
    ).first()


def quiet_zone(patient: Patient | None, tz: str) -> str:
    """Where quiet hours are kept for ``patient``: their phone number's zone, else the clinic's."""
    return zone_for_phone(patient.phone if patient is not None else None, tz)


def _claim(session: Session, row_ids: list[int], owner: str, now: dt.datetime) -> list[OutboxMessage]:
    """Claim the queued rows among ``row_ids`` for ``owner`` in one committed transaction; the rows won."""
    table = OutboxMessage.__table__
    session.execute(
        table.update()
        .where(table.c.id.in_(row_ids), table.c.status == OutboxStatus.QUEUED.value)
        .values(status=OutboxStatus.SENDING.value, claimed_by=owner, claimed_at=now, updated_at=now)
    )
    session.commit()
    won = session.exec(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(row_ids),
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.claimed_by == owner,
        )
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .execution_options(populate_existing=True)
    ).all()
    return list(won)


def finish(row: OutboxMessage, status: OutboxStatus, now: dt.datetime, error: str | None = None) -> None:
    """End the row's claim in ``status``; ``error`` becomes its ``last_error``."""
    row.status = status
    row.claimed_by = None
    row.updated_at = now
    if error is not None:
        row.last_error = error[:500]


def after_failure(
    row: OutboxMessage, result: SendResult, *, now: dt.datetime, tz: str, report: DispatchReport
) -> None:
    """A send that failed: queued again with backoff while retryable, else on the fallback channel, else
    on the front desk's call list."""
    error = (result.error or "refused")[:500]
    if row.channel == OutboxChannel.HL7 and not (result.retryable and row.attempts < MAX_ATTEMPTS):
        finish(row, OutboxStatus.FAILED, now, error)  # an interface's failure: the Outbox shows it, nobody calls
        report.failed += 1
    elif result.retryable and row.attempts < MAX_ATTEMPTS:
        delay = BACKOFF * (2 ** (row.attempts - 1))
        row.next_attempt_at = next_allowed(now + delay, row.channel.value, tz)
        finish(row, OutboxStatus.QUEUED, now, error)
        report.retried += 1
    elif row.fallback_channel is not None:
        row.channel = row.fallback_channel
        row.fallback_channel = None
        row.attempts = 0
        row.next_attempt_at = next_allowed(now, row.channel.value, tz)
        finish(row, OutboxStatus.QUEUED, now, f"{error}; falling back to {row.channel.value}")
        report.fell_back += 1
    else:
        row.on_call_list = True
        finish(row, OutboxStatus.FAILED, now, f"{error}; on the front desk's call list")
        report.failed += 1


def _send_one(
    session: Session,
    row: OutboxMessage,
    channels: Mapping[str, Any],
    *,
    now: dt.datetime,
    tz: str,
    report: DispatchReport,
    links: Links = NO_LINKS,
    unit: Unit | None = None,
) -> None:
    visit = session.get(Visit, row.visit_id)
    if visit is not None:
        session.expire(visit)  # as it is now: another session may have moved it since this one last read it
    patient = session.get(Patient, row.patient_id)
    if visit is None or (visit.status not in SENDABLE_VISITS and not sent_whatever_the_visit(row)):
        status = visit.status.value if visit is not None else "gone"
        finish(row, OutboxStatus.WITHDRAWN, now, f"not sent: the visit is {status}")
        report.skipped += 1
        return
    if patient.opted_out and not row.essential:
        finish(row, OutboxStatus.SKIPPED, now, "not sent: the patient opted out")
        report.skipped += 1
        return
    clinic_tz, tz = tz, quiet_zone(patient, tz)
    allowed = next_allowed(now, row.channel.value, tz)
    if allowed > now:
        row.next_attempt_at = allowed
        finish(row, OutboxStatus.QUEUED, now)
        report.postponed += 1
        return
    if row.channel == OutboxChannel.HL7:
        earlier = _earlier_hl7(session, row)
        if earlier is not None:
            row.next_attempt_at = max(earlier.next_attempt_at, now) + dt.timedelta(microseconds=1)
            finish(row, OutboxStatus.QUEUED, now, f"waits for the visit's earlier SIU message (outbox {earlier.id})")
            report.postponed += 1
            return
        recipient = str(getattr(channels.get("hl7"), "address", "") or row.recipient)
    else:
        recipient = recipient_for(patient, row.channel.value)
    if not recipient:
        after_failure(row, SendResult(ok=False, error="no address for this channel"), now=now, tz=tz, report=report)
        return
    if row.channel == Channel.EMAIL:
        message = _email(session, row, visit, patient, recipient, links=links, tz=clinic_tz, unit=unit)
    else:
        message = outgoing_message(row, recipient)
    row.recipient = recipient[:254]
    channel = channels.get(row.channel.value)
    row.attempts += 1
    if channel is None:
        result = SendResult(ok=False, error=f"no {row.channel.value} channel configured")
    else:
        try:
            result = channel.send(message)
        except Exception as exc:  # noqa: BLE001 - a broken channel must not stop the batch
            result = SendResult(ok=False, error=f"{type(exc).__name__}: {exc}", retryable=True)
    if not result.ok and result.answer_lost:
        _after_lost_answer(session, row, channel, message, result, now=now, tz=tz, report=report)
    elif result.ok:
        row.provider_id = (result.provider_id or "")[:80] or None
        row.sent_at = now
        row.last_error = None
        finish(row, OutboxStatus.SENT, now)
        if message.attachments:
            calendar.calendar_sent(visit, row)
            session.add(visit)
        report.sent += 1
    else:
        after_failure(row, result, now=now, tz=tz, report=report)


def _after_lost_answer(
    session: Session,
    row: OutboxMessage,
    channel: Any,
    message: OutgoingMessage,
    result: SendResult,
    *,
    now: dt.datetime,
    tz: str,
    report: DispatchReport,
) -> None:
    """The provider's answer was lost (time-out, connection closed): it may have the message. Ask it
    (``lookup``, as recovery after a crash does) and retry only when it does not; when it does not
    answer, the row is not retried but marked ``unknown`` and put on the call list (a later tick asks
    again: ``recovery.settle_unknown``); a channel that cannot look up fails it onto the call list."""
    lookup = getattr(channel, "lookup", None)
    why = "the channel cannot say what it sent"
    if callable(lookup):
        query = SentLookup(
            message=message,
            claimed_at=row.claimed_at or now,
            known_ids=known_provider_ids(session, row, message.to),
        )
        try:
            found = lookup(query)
        except Exception as exc:  # noqa: BLE001 - no answer is "cannot tell"
            why = f"no answer from the provider ({type(exc).__name__}: {exc})"
        else:
            if found is None:  # the provider never got it: a retry sends it once
                after_failure(row, result, now=now, tz=tz, report=report)
            elif found.ok:
                row.provider_id = (found.provider_id or "")[:80] or None
                row.sent_at = now
                row.last_error = None
                finish(row, OutboxStatus.SENT, now)
                report.sent += 1
            else:  # it has it, and reports it failed
                row.provider_id = (found.provider_id or "")[:80] or None
                after_failure(row, found, now=now, tz=tz, report=report)
            return
    row.on_call_list = True
    if callable(lookup):  # the provider did not answer: ``recovery.settle_unknown`` asks again later
        finish(row, OutboxStatus.UNKNOWN, now, f"{result.error}; outcome unknown ({why}), please call")
        report.unknown += 1
    else:
        finish(row, OutboxStatus.FAILED, now, f"{result.error}; outcome unknown ({why}), please call")
        report.failed += 1


def known_provider_ids(session: Session, row: OutboxMessage, recipient: str) -> frozenset[str]:
    """Provider ids the outbox holds for this patient or number (this row's own earlier attempt
    included): a message the provider has under one of them is another row's, not this one's."""
    ids = session.exec(
        select(OutboxMessage.provider_id).where(
            col(OutboxMessage.provider_id).is_not(None),
            sa.or_(OutboxMessage.patient_id == row.patient_id, OutboxMessage.recipient == recipient),
        )
    ).all()
    return frozenset(provider_id for provider_id in ids if provider_id)


def due_ids(*, session: Session, now: dt.datetime, limit: int) -> list[int]:
    return [row_id for row_id, _channel in _due(session, now, limit)]


def _due(session: Session, now: dt.datetime, limit: int) -> list[tuple[int, str]]:
    statement = (
        select(OutboxMessage.id, OutboxMessage.channel)
        .where(OutboxMessage.status == OutboxStatus.QUEUED, col(OutboxMessage.next_attempt_at) <= now)
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    due = [(row_id, str(getattr(channel, "value", channel))) for row_id, channel in session.exec(statement)]
    session.commit()
    return due


def _claim_chunks(due: list[tuple[int, str]], channels: Mapping[str, Any], size: int) -> list[list[int]]:
    """Due rows in claiming order, grouped up to ``size`` while every row's channel can ``lookup`` what
    it sent; a row whose channel cannot is claimed alone, so a crash leaves at most that one row with
    an unknown outcome (the call list)."""
    chunks: list[list[int]] = []
    batching = False  # the last chunk holds rows whose channels can tell
    for row_id, channel in due:
        can_tell = callable(getattr(channels.get(channel), "lookup", None))
        if can_tell and batching and len(chunks[-1]) < size:
            chunks[-1].append(row_id)
        else:
            chunks.append([row_id])
        batching = can_tell
    return chunks


def dispatch_due(
    *,
    session: Session,
    channels: Mapping[str, Any],
    owner: str,
    now: dt.datetime | None = None,
    unit: Unit,
    limit: int = 100,
    claim_batch: int = 10,
    clock: Callable[[], dt.datetime] | None = None,
    lease_ttl: dt.timedelta | None = None,
    links: Links = NO_LINKS,
) -> DispatchReport:
    """Send what is due: claim up to ``claim_batch`` rows at a time (committed), then send each and
    commit its outcome before the next. With ``lease_ttl`` the lease is renewed as it goes (checked
    before every send, renewed once a third of it has passed) and the batch stops when it is lost,
    handing its unsent claims back: a dispatcher that stalled past its lease never sends a row the new
    lease holder may already have recovered. A crash leaves at most ``claim_batch`` rows in
    ``sending`` for ``recover_stale`` (one, when its channel cannot ``lookup`` what it sent). ``links``:
    where e-mails' answer pages are (``PUBLIC_BASE_URL``) and the key that signs them."""
    report = DispatchReport()
    current = (lambda: now) if now is not None else (clock or utcnow)
    renewed: dt.datetime | None = None  # the lease is confirmed before the first claim

    def leased(moment: dt.datetime) -> bool:
        nonlocal renewed
        if lease_ttl is None or (renewed is not None and moment - renewed <= lease_ttl / 3):
            return True
        if not acquire_lease(session=session, owner=owner, now=moment, ttl=lease_ttl):
            report.lease_lost = True
            return False
        renewed = moment
        return True

    due = _due(session, current(), limit)
    for chunk in _claim_chunks(due, channels, max(1, claim_batch)):
        moment = current()
        if not leased(moment):
            break
        won = _claim(session, chunk, owner, moment)
        report.lost_claims += len(chunk) - len(won)
        for index, row in enumerate(won):
            moment = current()
            if not leased(moment):
                _unclaim(session, [r.id for r in won[index:]], owner, moment)
                return report
            try:
                _send_one(session, row, channels, now=moment, tz=unit.tz, report=report, links=links, unit=unit)
                session.add(row)
                session.commit()
            except Exception as exc:
                session.rollback()
                report.errors.append(f"outbox {row.id}: {type(exc).__name__}: {exc}")
                raise
    return report


def _unclaim(session: Session, row_ids: list[int], owner: str, now: dt.datetime) -> None:
    """Hand claimed rows that were never sent back to the queue (committed)."""
    table = OutboxMessage.__table__
    session.execute(
        table.update()
        .where(table.c.id.in_(row_ids), table.c.status == OutboxStatus.SENDING.value, table.c.claimed_by == owner)
        .values(status=OutboxStatus.QUEUED.value, claimed_by=None, updated_at=now)
    )
    session.commit()
