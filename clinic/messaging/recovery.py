"""After a dispatcher died between claiming a row and recording its outcome: ``recover_stale`` asks the
channel's provider whether the message went out (``lookup(SentLookup)``: Twilio's message and call lists,
matched on number, sender, time since the claim, the text, and sids no other row holds). Sent rows are
marked sent with the provider's id, unsent ones are queued again. When the channel cannot look up, the row
goes to the call list (failed) instead of risking a second message; when the provider does not answer, the
row is marked ``unknown`` (on the call list, never sent again) and ``settle_unknown`` asks again on the
dispatcher's next ticks: found, it is sent (and off the call list); not found, failed (still on it).
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

from clinic.columns import OutboxChannel
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.messaging.outreach import recipient_for
from clinic.messaging.sending import (
    DispatchReport,
    after_failure,
    finish,
    known_provider_ids,
    outgoing_message,
    quiet_zone,
)
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from outreach.channels.base import SendResult, SentLookup


def recover_stale(
    *,
    session: Session,
    channels: Mapping[str, Any],
    owner: str,
    now: dt.datetime,
    stale_after: dt.timedelta = dt.timedelta(minutes=2),
    unit: Unit,
) -> int:
    """Rows another (dead) dispatcher claimed and never finished: sent after all (the channel's
    ``lookup`` finds the message at the provider), queued again (it does not), or put on the call
    list: failed when the channel has no ``lookup``, ``unknown`` when the provider does not answer.

    A message the provider has but reports failed goes the retry / fall-back way of a refused send."""
    table = OutboxMessage.__table__
    stale = list(
        session.exec(
            select(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.SENDING,
                col(OutboxMessage.claimed_by) != owner,
                col(OutboxMessage.claimed_at) < now - stale_after,
            ).order_by(col(OutboxMessage.claimed_at), col(OutboxMessage.id))
        )
    )
    session.commit()
    recovered = 0
    for row in stale:
        claimed_at = row.claimed_at or now - stale_after
        # take the row over atomically from the dead owner first
        taken = session.execute(
            table.update()
            .where(table.c.id == row.id, table.c.status == "sending", table.c.claimed_by == row.claimed_by)
            .values(claimed_by=owner, claimed_at=now)
        ).rowcount
        session.commit()
        if taken != 1:
            continue
        session.refresh(row)
        if row.channel == OutboxChannel.HL7:  # sent again with the same control id (MSH-10): a repeat the receiver knows
            row.next_attempt_at = now
            finish(row, OutboxStatus.QUEUED, now, "dispatcher stopped while sending; queued again (same control id)")
            session.add(row)
            session.commit()
            recovered += 1
            continue
        lookup = getattr(channels.get(row.channel.value), "lookup", None)
        found: SendResult | None = None
        why = "the channel cannot say what it sent"
        known = False
        if callable(lookup):
            patient = session.get(Patient, row.patient_id)
            recipient = recipient_for(patient, row.channel.value) if patient is not None else row.recipient
            query = SentLookup(
                message=outgoing_message(row, recipient),
                claimed_at=claimed_at,
                known_ids=known_provider_ids(session, row, recipient),
            )
            session.commit()  # no transaction held open while the provider answers
            try:
                found = lookup(query)
                known = True
            except Exception as exc:  # noqa: BLE001 - no answer is treated as "cannot tell"
                why = f"no answer from the provider ({type(exc).__name__}: {exc})"
        if known and found is not None and found.ok:
            row.provider_id = (found.provider_id or "")[:80] or None
            row.sent_at = now
            row.attempts += 1
            row.last_error = None
            finish(row, OutboxStatus.SENT, now, "sent before the dispatcher stopped")
        elif known and found is not None and found.provider_id:
            row.provider_id = found.provider_id[:80]
            row.attempts += 1
            zone = quiet_zone(session.get(Patient, row.patient_id), unit.tz)
            after_failure(row, found, now=now, tz=zone, report=DispatchReport())
        elif known:
            row.next_attempt_at = now
            finish(row, OutboxStatus.QUEUED, now, "dispatcher stopped before sending; queued again")
        else:
            row.on_call_list = True
            error = f"dispatcher stopped while sending; outcome unknown ({why}), please call"
            if callable(lookup):  # asked again later (``settle_unknown``), from the dead dispatcher's claim
                row.claimed_at = claimed_at
                finish(row, OutboxStatus.UNKNOWN, now, error)
            else:
                finish(row, OutboxStatus.FAILED, now, error)
        session.add(row)
        session.commit()
        recovered += 1
    return recovered



SETTLE_WITHIN = dt.timedelta(days=2)
"""Unknown rows younger than this (since their claim) are asked about again; older ones stay unknown."""
SETTLE_BATCH = 20
"""At most this many unknown rows are asked about per dispatcher tick."""


def settle_unknown(
    *,
    session: Session,
    channels: Mapping[str, Any],
    now: dt.datetime,
    within: dt.timedelta = SETTLE_WITHIN,
    limit: int = SETTLE_BATCH,
) -> int:
    """Ask the provider again about ``unknown`` rows (the oldest first, up to ``limit``, claimed within
    ``within``): found and accepted, the row is sent with the provider's id and off the call list; found
    but failed, or not found, it is failed and stays on the call list (never sent again: the desk may
    already have called); still no answer, it stays unknown. Returns how many rows were settled."""
    table = OutboxMessage.__table__
    rows = list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.UNKNOWN, col(OutboxMessage.claimed_at) >= now - within)
            .order_by(col(OutboxMessage.claimed_at), col(OutboxMessage.id))
            .limit(limit)
        )
    )
    session.commit()
    settled = 0
    for row in rows:
        lookup = getattr(channels.get(row.channel.value), "lookup", None)
        if not callable(lookup):
            continue
        patient = session.get(Patient, row.patient_id)
        recipient = recipient_for(patient, row.channel.value) if patient is not None else row.recipient
        query = SentLookup(
            message=outgoing_message(row, recipient or row.recipient),
            claimed_at=row.claimed_at or now - within,
            known_ids=known_provider_ids(session, row, recipient or row.recipient),
        )
        session.commit()  # no transaction held open while the provider answers
        try:
            found: SendResult | None = lookup(query)
        except Exception:  # noqa: BLE001 - still no answer: it stays unknown
            continue
        if found is not None and found.ok:
            values = {
                "status": OutboxStatus.SENT.value, "provider_id": (found.provider_id or "")[:80] or None,
                "sent_at": now, "on_call_list": False, "last_error": None,
            }
        else:
            reason = "the provider does not have it"
            if found is not None:
                reason = f"the provider reports it {found.error or 'failed'}"
            if found is not None and found.provider_id:
                reason += f" ({found.provider_id[:80]})"
            values = {
                "status": OutboxStatus.FAILED.value, "on_call_list": True,
                "last_error": f"outcome was unknown; {reason}; not sent again, please call"[:500],
            }
        # only if a delivery callback did not settle it meanwhile
        changed = session.execute(
            table.update()
            .where(table.c.id == row.id, table.c.status == OutboxStatus.UNKNOWN.value)
            .values(updated_at=now, **values)
        ).rowcount
        session.commit()
        settled += changed
    return settled
