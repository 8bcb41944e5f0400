"""After a dispatcher died between claiming a row and recording its outcome: ``recover_stale`` asks the
channel's provider whether the message went out (``lookup(SentLookup)``: Twilio's message and call lists,
matched on number, sender, time since the claim, the text, and sids no other row holds). Sent rows are
marked sent with the provider's id, unsent ones are queued again. When the channel cannot look up or the
provider does not answer, the row goes to the call list instead of risking a second message.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

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
    list (the channel has no ``lookup`` or the provider does not answer).

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
            finish(row, OutboxStatus.FAILED, now, error)
        session.add(row)
        session.commit()
        recovered += 1
    return recovered

