"""Waitlist offers by SMS: job-callable functions that send a wave of offers for a freed place and, when
offers expire or everyone declined, the next wave.

``send_offer_wave`` asks the refill service for the next wave (``make_offers(..., channel="sms")``,
which ranks with the engine and records each offer with the time since the cancellation) and texts each
patient "A place opened on Tue 3 Dec at 10:30; reply YES within 30 minutes" in their language. The
answers come back through ``/twilio/sms`` (``clinic.messaging.inbound``): the first YES books, later
ones hear the place is taken. Patients who sent STOP are not offered anything.
"""

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, DomainError
from clinic.messaging.texts import offer_sms
from clinic.patients.models import Patient
from clinic.refill import services as refill
from clinic.refill.models import OfferStatus, WaitlistEntry, WaitlistOffer, WaitlistStatus
from clinic.unit.context import Unit
from clinic.visits import optimise
from clinic.visits.models import Visit, VisitStep
from outreach.channels.base import Channel, OutgoingMessage, SendResult
from outreach.quiet_hours import next_allowed
from outreach.time_zones import zone_for_phone

log = logging.getLogger(__name__)
OFFER_TTL = dt.timedelta(minutes=30)
WAVE_SIZE = 3
MAX_WAVES = 6
OWED_WITHIN = dt.timedelta(hours=24)
"""``advance_offers`` keeps offering a place for this long after its cancellation."""
NONE_LEFT = "offer.none_left"
HELD_QUIET = "offer.held_quiet"
"""Audited once per wave that waits because every candidate is in their quiet hours (details: ``until``,
the earliest moment one can be texted, and ``in_time``, whether that is before the place starts)."""
RANK_MORE = 20
"""Candidates ranked beyond the wave's size, so a wave can pass over those in their quiet hours."""


@dataclass(frozen=True)
class SentOffer:
    offer_id: int
    patient_id: int
    to: str
    body: str
    result: SendResult


def _opted_out_waiting(session: Session) -> set[int]:
    return set(
        session.exec(
            select(WaitlistEntry.id)
            .join(Patient, col(Patient.id) == col(WaitlistEntry.patient_id))
            .where(col(WaitlistEntry.status).in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
                   col(Patient.opted_out).is_(True))
        )
    )


def _patient_zones(session: Session) -> dict[int, str | None]:
    """The phone of each waiting or offered entry's patient, by entry id."""
    return dict(
        session.exec(
            select(WaitlistEntry.id, Patient.phone)
            .join(Patient, col(Patient.id) == col(WaitlistEntry.patient_id))
            .where(col(WaitlistEntry.status).in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]))
        ).all()
    )


def send_offer_wave(
    *,
    session: Session,
    visit_id: int,
    now: dt.datetime,
    channels: Mapping[str, Channel],
    unit: Unit,
    wave_size: int = WAVE_SIZE,
    ttl: dt.timedelta = OFFER_TTL,
    status_callback: str | None = None,
) -> list[SentOffer]:
    """Offer the place freed by ``visit_id`` to the next ``wave_size`` candidates by SMS; ``[]`` when the
    place is filled or nobody else fits. Sending failures are logged and audited; the offer stays open.

    Quiet hours (20:00-09:00) are each patient's, in their phone number's zone (else the unit's), as for
    every other message: a patient in theirs is passed over for now and can be offered the place later.
    When every candidate is, nothing is sent and ``HELD_QUIET`` is audited (once per wave) for the refill
    screen; ``advance_offers`` sends the wave once someone can be texted."""
    try:
        excluded = _opted_out_waiting(session)
        ranked = refill.rank_candidates(session=session, visit_id=visit_id, now=now, unit=unit,
                                        limit=wave_size + len(excluded) + RANK_MORE)
        phones = _patient_zones(session)
        reachable_at = {
            c.entry.id: next_allowed(now, "sms", zone_for_phone(phones.get(c.entry.id), unit.tz))
            for c in ranked if c.entry.id not in excluded
        }
        entry_ids = [entry_id for entry_id, at in reachable_at.items() if at <= now][:wave_size]
        if not entry_ids and reachable_at:
            _hold_for_quiet_hours(session, visit_id, min(reachable_at.values()), now)
            return []
        if not entry_ids and ranked:
            return []
        offers = refill.make_offers(session=session, visit_id=visit_id, now=now, wave_size=wave_size,
                                    channel="sms", ttl=ttl, unit=unit, entry_ids=entry_ids or None)
    except Conflict as exc:
        log.info("no offers for visit %s: %s", visit_id, exc)
        session.rollback()
        return []
    if not offers:
        event = audit.record(session=session, actor_id=None, action=NONE_LEFT, entity="visit", entity_id=visit_id)
        event.at = now  # compared with offers' ``sent_at``, which are on the same clock
        session.commit()
        return []
    sent: list[SentOffer] = []
    sms = channels["sms"]
    for offer in offers:
        entry = session.get(WaitlistEntry, offer.entry_id)
        patient = session.get(Patient, entry.patient_id)
        language = str(patient.language)
        body = offer_sms(language=language, slot_start=offer.slot_start, expires_at=offer.expires_at,
                         sent_at=offer.sent_at, tz=unit.tz)
        message = OutgoingMessage(key=f"offer-{offer.id}", channel="sms", to=patient.phone, body=body,
                                  language=language, status_callback=status_callback,
                                  metadata={"offer_id": str(offer.id)})
        try:
            result = sms.send(message)
        except Exception as exc:  # noqa: BLE001 - a channel must not stop the wave
            result = SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500], retryable=True)
        audit.record(
            session=session, actor_id=None,
            action="offer.sms_sent" if result.ok else "offer.sms_failed",
            entity="waitlist_offer", entity_id=offer.id,
            details={"provider_id": result.provider_id, "error": result.error, "channel": getattr(sms, "name", "sms")},
        )
        session.commit()
        sent.append(SentOffer(offer.id, patient.id, patient.phone, body, result))
    return sent


def _hold_for_quiet_hours(session: Session, visit_id: int, until: dt.datetime, now: dt.datetime) -> None:
    """Audit, once since the place's last offer, that its wave waits for the candidates' quiet hours."""
    last_offer = session.exec(
        select(func.max(WaitlistOffer.sent_at)).where(WaitlistOffer.source_visit_id == visit_id)
    ).first()
    held = session.exec(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.entity == "visit", AuditEvent.entity_id == visit_id, AuditEvent.action == HELD_QUIET
        )
    ).first()
    if held is not None and (last_offer is None or _aware(held) >= _aware(last_offer)):
        session.rollback()
        return
    starts = session.exec(select(func.min(VisitStep.planned_start)).where(VisitStep.visit_id == visit_id)).first()
    in_time = starts is None or until < _aware(starts)
    log.info("offers for visit %s wait for the patients' quiet hours until %s", visit_id, until)
    event = audit.record(session=session, actor_id=None, action=HELD_QUIET, entity="visit", entity_id=visit_id,
                         details={"until": until.astimezone(dt.UTC).isoformat(), "in_time": in_time})
    event.at = now
    session.commit()


def held_wave(*, session: Session, visit_id: int) -> dict | None:
    """The place's wave waiting for the candidates' quiet hours, if it still is (no offer since):
    ``{"until": aware datetime, "in_time": bool}``; for the refill screen."""
    event = session.exec(
        select(AuditEvent)
        .where(AuditEvent.entity == "visit", AuditEvent.entity_id == visit_id, AuditEvent.action == HELD_QUIET)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    ).first()
    if event is None or not event.details:
        return None
    last_offer = session.exec(
        select(func.max(WaitlistOffer.sent_at)).where(WaitlistOffer.source_visit_id == visit_id)
    ).first()
    if last_offer is not None and _aware(last_offer) > _aware(event.at):
        return None
    return {"until": dt.datetime.fromisoformat(event.details["until"]), "in_time": bool(event.details["in_time"])}


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def owed_waves(*, session: Session, now: dt.datetime, unit: Unit) -> list[int]:
    """Freed places (cancelled in the last ``OWED_WITHIN``, day not past) with no open or accepted offer,
    fewer than ``MAX_WAVES`` waves, and candidates left as far as the last attempt knew, or their day
    optimised since that attempt (``clinic.visits.optimise``: the re-arranged day may fit someone now)."""
    today = now.astimezone(ZoneInfo(unit.tz)).date()
    freed = session.exec(
        select(Visit.id, Visit.date).where(
            col(Visit.status).in_(list(refill.FREED_STATUSES)),
            col(Visit.cancelled_at) >= now - OWED_WITHIN,
            Visit.date >= today,
        ).order_by(col(Visit.id))
    ).all()
    owed = []
    for visit_id, day in freed:
        offers = session.exec(select(WaitlistOffer).where(WaitlistOffer.source_visit_id == visit_id)).all()
        if any(o.status in (OfferStatus.OPEN, OfferStatus.ACCEPTED) for o in offers):
            continue
        if len({o.wave for o in offers}) >= MAX_WAVES:
            continue
        last_offer = max((o.sent_at for o in offers), default=None)
        none_left = session.exec(
            select(func.max(AuditEvent.at)).where(
                AuditEvent.entity == "visit", AuditEvent.entity_id == visit_id, AuditEvent.action == NONE_LEFT
            )
        ).first()
        if none_left is not None and (last_offer is None or none_left >= last_offer):
            optimised = session.exec(
                select(func.max(AuditEvent.at)).where(
                    AuditEvent.entity == "day",
                    AuditEvent.entity_id == optimise.day_entity_id(day),
                    AuditEvent.action == optimise.DAY_OPTIMISED,
                )
            ).first()
            if optimised is None or optimised <= none_left:
                continue  # nobody fitted, and the day has not been re-arranged since
        owed.append(visit_id)
    return owed


def advance_offers(
    *,
    session: Session,
    now: dt.datetime,
    channels: Mapping[str, Channel],
    unit: Unit,
    wave_size: int = WAVE_SIZE,
    ttl: dt.timedelta = OFFER_TTL,
    status_callback: str | None = None,
) -> dict[int, list[SentOffer]]:
    """The periodic job (every minute or so): expire offers whose time is up, then send the next wave for
    every freed place that is owed one (``owed_waves``: after expiries, the quiet hours, or a cancellation
    made without offers). Returns what was sent per place."""
    refill.expire_offers(session=session, now=now)
    waves: dict[int, list[SentOffer]] = {}
    for visit_id in owed_waves(session=session, now=now, unit=unit):
        try:
            sent = send_offer_wave(session=session, visit_id=visit_id, now=now, channels=channels,
                                   unit=unit, wave_size=wave_size, ttl=ttl, status_callback=status_callback)
        except DomainError as exc:
            session.rollback()
            log.warning("next wave for visit %s failed: %s", visit_id, exc)
            continue
        if sent:
            waves[visit_id] = sent
    return waves
