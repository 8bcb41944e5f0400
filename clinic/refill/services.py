"""Cancel or no-show, then refill: the freed capacity goes to the engine's ranking of waiting patients,
offers go out in waves (by phone from the front desk, or by SMS from outreach), first acceptance wins.

A candidate is placed by the booking function (``scheduling.book.book`` through
``scheduling.refill.rank_refill_booked``) beside the day's bookings: visits that have not started may
be re-arranged inside their announced arrival + tolerance (their patients are told nothing; nobody's
arrival time changes). The offer's itinerary lists those re-arrangements; accepting it re-checks the
whole day and stores the new visit and the re-arranged steps in one transaction under the day's lock.

Every function is keyword-only, commits (or rolls back) as one transaction and audits what it changes.
Offers and answers for a freed slot take the day's booking lock first (``booking.lock_day``: a row lock
on PostgreSQL, the database write lock on SQLite), the same lock every booking of that day takes, so
two patients saying yes at the same moment never both get the place (the second gets
``Conflict("taken")`` and stays on the waitlist) and a clerk's booking cannot slip in between the
re-check and the insert.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic import events, planning
from clinic.audit import record as audit
from clinic.booking.services import home_before_dark_rule, lock_day, store_rearranged
from clinic.errors import Conflict, NotFound, ValidationError, get_or_raise
from clinic.refill.models import OfferChannel, OfferStatus, WaitlistEntry, WaitlistOffer, WaitlistStatus
from clinic.refill.waitlist import DAY_OPENS, candidates_for, notice_hours
from clinic.unit.context import Unit
from clinic.unit.models import Pathway
from clinic.visits import services as visits
from clinic.visits.models import ACTIVE_VISIT_STATUSES, Visit, VisitStatus
from scheduling import instance as engine
from scheduling.check import check, objective
from scheduling.refill import Candidate, rank_refill_booked

MAX_REASON = 300
FREED_STATUSES = frozenset({VisitStatus.CANCELLED, VisitStatus.NO_SHOW})
CLOSED_OFFER_STATUSES = frozenset(set(OfferStatus) - {OfferStatus.OPEN})
REFILL_KEY = "refill"
SHORT_NOTICE_MINUTES = 60
"""Even a patient who accepts short notice needs time to get here: no offer starts sooner than this."""
BOOK_SECONDS = 0.5
"""The booking function's budget per candidate (``scheduling.book.book``: re-arranging is tried only when
the candidate does not fit, or waits, beside the day as it stands)."""


@dataclass(frozen=True)
class RankedCandidate:
    """A waiting patient the engine can place in the freed day, with what ranked them."""

    entry: WaitlistEntry
    rank: int
    days_waited: int
    arrival: dt.datetime
    leave: dt.datetime
    wait_minutes: int
    explanation: str
    visit: engine.Visit
    #: Other patients' not-started visits this offer re-arranges (new placement; their arrival stands).
    rearranged: tuple[engine.Visit, ...] = ()


# --- cancel ---------------------------------------------------------------------------------------


def _freed_status(no_show: bool) -> VisitStatus:
    return VisitStatus.NO_SHOW if no_show else VisitStatus.CANCELLED


def may_cancel(status: VisitStatus, *, no_show: bool = False) -> bool:
    """Whether a visit in ``status`` may still be cancelled (or marked a no-show) by ``cancel_visit``."""
    return visits.can_become(status, _freed_status(no_show))


def cancel_visit(
    *,
    session: Session,
    visit_id: int,
    reason: str,
    now: dt.datetime,
    actor_id: int | None = None,
    no_show: bool = False,
    unit: Unit | None = None,
    override_reason: str | None = None,
    commit: bool = True,
) -> Visit:
    """Cancel a visit (or mark it a no-show) with a required reason; its capacity is free at once.

    A no-show only once the patient's arrival window has passed, unless a coordinator overrides with a
    reason (``clinic.visits.dayrules``). ``commit=False`` leaves the change to the caller's transaction
    (a treatment series' cycles)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("give a reason", code="reason_required", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(
            f"the reason is longer than {MAX_REASON} characters", code="too_long", field="reason"
        )
    return visits.change_status(
        session=session, visit_id=visit_id, status=_freed_status(no_show), actor_id=actor_id, reason=reason, now=now,
        unit=unit, override_reason=override_reason, commit=commit,
    )


def freed_visit(*, session: Session, visit_id: int) -> Visit:
    """The cancelled or no-show visit whose capacity is being refilled (``Conflict`` if it still holds it)."""
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    if visit.status not in FREED_STATUSES:
        raise Conflict("the visit still holds its place: cancel it first", code="not_freed", field="visit_id")
    return visit


# --- ranking --------------------------------------------------------------------------------------


def _local(now: dt.datetime, tz: str) -> dt.datetime:
    if now.tzinfo is None:
        raise ValidationError("now must be an aware datetime", field="now")
    return now.astimezone(ZoneInfo(tz))


def days_waited(entry: WaitlistEntry, now: dt.datetime, tz: str) -> int:
    return max((_local(now, tz).date() - _local(entry.added_at, tz).date()).days, 0)


def notice_minutes(entry: WaitlistEntry) -> int:
    """The notice the engine must respect: the entry's own, or at most ``SHORT_NOTICE_MINUTES`` (time to
    travel) for patients who accept short notice."""
    wanted = entry.min_notice_hours * 60
    return min(wanted, SHORT_NOTICE_MINUTES) if entry.accepts_short_notice else wanted


def _offered_entry_ids(session: Session, visit_id: int) -> set[int]:
    return set(session.exec(select(WaitlistOffer.entry_id).where(WaitlistOffer.source_visit_id == visit_id)))


def _waiting_for(*, session: Session, day: dt.date, tz: str, now: dt.datetime) -> list[WaitlistEntry]:
    """``waitlist.candidates_for`` (notice counted to the unit's opening); once the day has begun (a
    same-day cancellation) every entry waiting for it, and the engine keeps each visit at least
    ``notice_minutes`` after ``now``."""
    if notice_hours(day, now, tz) >= 0:
        return candidates_for(session=session, day=day, tz=tz, now=now)
    if _local(now, tz).date() > day:
        return []
    before_opening = dt.datetime.combine(day, DAY_OPENS, ZoneInfo(tz)) - dt.timedelta(days=30)
    return candidates_for(session=session, day=day, tz=tz, now=before_opening)


def rank_candidates(
    *,
    session: Session,
    visit_id: int,
    now: dt.datetime,
    unit: Unit,
    limit: int = 10,
    time_limit: float = BOOK_SECONDS,
) -> list[RankedCandidate]:
    """Waiting patients the booking function can place in the day of the freed visit, best first (the
    engine's ranking, ``scheduling.refill.rank_refill_booked``): beside the day's bookings, whose
    not-started visits may be re-arranged inside their announced arrival + tolerance (never shifted:
    no other patient's arrival time changes); ``time_limit`` is the budget per candidate.

    Entries already offered this place (whatever their answer) are left out: the next wave goes further down.
    """
    source = freed_visit(session=session, visit_id=visit_id)
    day = source.date
    offered = _offered_entry_ids(session, visit_id)
    entries = [
        e
        for e in _waiting_for(session=session, day=day, tz=unit.tz, now=now)
        if e.id not in offered and e.patient_id != source.patient_id
    ]
    if not entries:
        return []
    pathways: dict[int, Pathway | None] = {}
    staff = planning.load_staff(session=session)
    wishes, candidates, by_key = [], [], {}
    for entry in entries:
        if entry.pathway_id not in pathways:
            pathways[entry.pathway_id] = planning.load_pathway(session=session, pathway_id=entry.pathway_id)
        pathway = pathways[entry.pathway_id]
        if pathway is None or not pathway.active or not pathway.steps:
            continue
        key = f"w-{entry.id}"
        wish = planning.VisitWish(key=key, patient=entry.patient, pathway=pathway, priority=entry.priority)
        wishes.append(wish)
        by_key[key] = entry
        candidates.append(
            Candidate(
                request=planning.engine_request(wish=wish, day=day, unit=unit, staff=staff),
                priority=entry.priority,
                days_waited=days_waited(entry, now, unit.tz),
                min_notice_minutes=notice_minutes(entry),
                accepts_short_notice=entry.accepts_short_notice,
            )
        )
    bday = refill_day(session=session, day=day, unit=unit, now=now)
    offers = rank_refill_booked(
        bday.instance, candidates, current=bday.current, now=_local(now, unit.tz), limit=limit, time_limit=time_limit
    )
    out = []
    for offer in offers:
        entry = by_key[offer.request]
        first = min(s.start for s in offer.visit.steps)
        last = max(s.end for s in offer.visit.steps)
        out.append(
            RankedCandidate(
                entry=entry,
                rank=offer.rank,
                days_waited=days_waited(entry, now, unit.tz),
                arrival=planning.instant_at(day, first, unit.tz),
                leave=planning.instant_at(day, last, unit.tz),
                wait_minutes=offer.wait_minutes,
                explanation=offer.explanation,
                visit=offer.visit,
                rearranged=offer.rearranged,
            )
        )
    return out


def refill_day(*, session: Session, day: dt.date, unit: Unit, now: dt.datetime) -> planning.BookingDay:
    """The day as the booking function sees it (``planning.booking_day``), visits due by ``now`` fixed."""
    bday = planning.booking_day(
        session=session, day=day, unit=unit, tolerance=unit.arrival_tolerance_minutes,
        leave_by=home_before_dark_rule(unit), name=f"refill-{day.isoformat()}",
    )
    return planning.fix_due(bday, now, unit.tz)


# --- offers ---------------------------------------------------------------------------------------


def _lock_slot(session: Session, visit_id: int, now: dt.datetime) -> None:
    """Serialise every change to the offers of one freed slot, and with every booking of its day: the
    day's booking lock (``booking.lock_day``) is the transaction's first write (see the module doc)."""
    day = session.exec(select(Visit.date).where(Visit.id == visit_id)).first()
    if day is None:
        raise NotFound(f"visit {visit_id} does not exist", field="visit_id")
    lock_day(session=session, day=day)
    session.expire_all()


def _steps(visit: engine.Visit) -> list[dict]:
    return [{"step": s.id, "resource": s.resource, "start": s.start, "end": s.end} for s in visit.steps]


def _itinerary(visit: engine.Visit, rearranged: Sequence[engine.Visit] = ()) -> dict:
    """The offer's itinerary and, under ``rearranged``, the other visits it re-arranges (by request key)."""
    itinerary: dict = {"steps": _steps(visit)}
    if rearranged:
        itinerary["rearranged"] = [{"request": v.request, "steps": _steps(v)} for v in rearranged]
    return itinerary


def _read_steps(raw) -> tuple[engine.PlacedStep, ...]:
    return tuple(engine.PlacedStep(str(s["step"]), str(s["resource"]), int(s["start"]), int(s["end"])) for s in raw)


def _placed(offer: WaitlistOffer) -> engine.Visit:
    try:
        steps = _read_steps(offer.itinerary["steps"])
    except (KeyError, TypeError, ValueError):
        raise ValidationError("the offer's itinerary is unreadable", field="itinerary") from None
    return engine.Visit(REFILL_KEY, steps)


def _rearranged(offer: WaitlistOffer) -> dict[str, engine.Visit]:
    """The other visits the offer re-arranges, by request key (empty for an offer that moves nobody)."""
    try:
        return {
            str(item["request"]): engine.Visit(str(item["request"]), _read_steps(item["steps"]))
            for item in offer.itinerary.get("rearranged", ())
        }
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ValidationError("the offer's itinerary is unreadable", field="itinerary") from None


def _set_entry(
    session: Session, entry: WaitlistEntry, status: WaitlistStatus, actor_id: int | None, **details
) -> None:
    if entry.status == status:
        return
    previous = entry.status
    entry.status = status
    session.add(entry)
    audit.record(
        session=session,
        actor_id=actor_id,
        action=f"waitlist.{status.value}",
        entity="waitlist_entry",
        entity_id=entry.id,
        details={"from": previous.value, **details},
    )


def _close_offer(
    session: Session,
    offer: WaitlistOffer,
    status: OfferStatus,
    now: dt.datetime,
    actor_id: int | None,
    *,
    answered: bool,
) -> bool:
    """Move an OPEN offer to ``status`` (conditional update: a concurrent change wins); the entry goes back
    to waiting unless it has another open offer. ``False`` when the offer was no longer open."""
    values: dict = {"status": status}
    if answered:
        values["answered_at"] = now
    result = session.execute(
        sa.update(WaitlistOffer)
        .where(col(WaitlistOffer.id) == offer.id, col(WaitlistOffer.status) == OfferStatus.OPEN)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(offer)
    audit.record(
        session=session,
        actor_id=actor_id,
        action=f"offer.{status.value}",
        entity="waitlist_offer",
        entity_id=offer.id,
        details={"entry": offer.entry_id, "source_visit": offer.source_visit_id},
    )
    entry = session.get(WaitlistEntry, offer.entry_id)
    still_open = session.exec(
        select(WaitlistOffer.id).where(
            WaitlistOffer.entry_id == offer.entry_id, WaitlistOffer.status == OfferStatus.OPEN
        )
    ).first()
    if entry is not None and entry.status == WaitlistStatus.OFFERED and still_open is None:
        _set_entry(session, entry, WaitlistStatus.WAITING, actor_id, offer=offer.id)
    return True


def _accepted(session: Session, visit_id: int) -> WaitlistOffer | None:
    return session.exec(
        select(WaitlistOffer).where(
            WaitlistOffer.source_visit_id == visit_id, WaitlistOffer.status == OfferStatus.ACCEPTED
        )
    ).first()


def _expire_open(
    session: Session, now: dt.datetime, actor_id: int | None, visit_id: int | None = None
) -> list:
    statement = select(WaitlistOffer).where(
        WaitlistOffer.status == OfferStatus.OPEN, col(WaitlistOffer.expires_at) <= now
    )
    if visit_id is not None:
        statement = statement.where(WaitlistOffer.source_visit_id == visit_id)
    expired = []
    for offer in session.exec(statement.order_by(col(WaitlistOffer.id))).all():
        if _close_offer(session, offer, OfferStatus.EXPIRED, now, actor_id, answered=False):
            expired.append(offer)
    return expired


def make_offers(
    *,
    session: Session,
    visit_id: int,
    now: dt.datetime,
    wave_size: int = 3,
    channel: OfferChannel | str = "phone",
    ttl: dt.timedelta = dt.timedelta(minutes=30),
    unit: Unit,
    entry_ids: list[int] | None = None,
    actor_id: int | None = None,
) -> list[WaitlistOffer]:
    """The next wave of offers for the place freed by ``visit_id``: the best ``wave_size`` candidates not
    offered it before (or exactly ``entry_ids``, if given), each with its proposed itinerary.

    Open offers past their time expire first. ``Conflict("filled")`` once someone accepted the place.
    """
    if not 1 <= wave_size <= 20:
        raise ValidationError("a wave has 1 to 20 offers", field="wave_size")
    if ttl <= dt.timedelta(0):
        raise ValidationError("an offer must stay open for some time", field="ttl")
    try:
        channel = OfferChannel(channel)
    except ValueError:
        raise ValidationError(f"unknown channel {channel!r}", field="channel") from None
    source = freed_visit(session=session, visit_id=visit_id)
    _lock_slot(session, visit_id, now)
    try:
        source = freed_visit(session=session, visit_id=visit_id)
        if _accepted(session, visit_id) is not None:
            raise Conflict("the place has been filled", code="filled", field="visit_id")
        _expire_open(session, now, actor_id, visit_id)
        ranked = rank_candidates(session=session, visit_id=visit_id, now=now, unit=unit, limit=max(wave_size, 10))
        if entry_ids is not None:
            wanted = set(entry_ids)
            ranked = [c for c in ranked if c.entry.id in wanted]
            if {c.entry.id for c in ranked} != wanted:
                raise Conflict(
                    "that patient can no longer be offered this place",
                    code="not_a_candidate",
                    field="entry_id",
                )
        chosen = ranked[:wave_size]
        last_wave = session.exec(
            select(sa.func.max(WaitlistOffer.wave)).where(WaitlistOffer.source_visit_id == visit_id)
        ).first()
        wave = (last_wave or 0) + 1
        since = int((now - source.cancelled_at).total_seconds()) if source.cancelled_at else None
        offers = []
        for cand in chosen:
            offer = WaitlistOffer(
                entry_id=cand.entry.id,
                source_visit_id=visit_id,
                day=source.date,
                slot_start=cand.arrival,
                itinerary=_itinerary(cand.visit, cand.rearranged),
                channel=channel,
                wave=wave,
                sent_at=now,
                expires_at=now + ttl,
                status=OfferStatus.OPEN,
                seconds_after_cancel=max(since, 0) if since is not None else None,
            )
            session.add(offer)
            session.flush()
            audit.record(
                session=session,
                actor_id=actor_id,
                action="offer.sent",
                entity="waitlist_offer",
                entity_id=offer.id,
                details={
                    "entry": cand.entry.id,
                    "source_visit": visit_id,
                    "wave": wave,
                    "channel": channel.value,
                    "rank": cand.rank,
                    "seconds_after_cancel": offer.seconds_after_cancel,
                },
            )
            _set_entry(session, cand.entry, WaitlistStatus.OFFERED, actor_id, offer=offer.id)
            offers.append(offer)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return offers


def _finish_refused(session: Session, error: Conflict) -> None:
    session.commit()
    raise error


def accept_offer(
    *,
    session: Session,
    offer_id: int,
    now: dt.datetime,
    actor_id: int | None = None,
    unit: Unit,
) -> Visit:
    """Book the offer's patient into the freed place with the proposed itinerary, re-checked against the
    day as it is now. First acceptance wins: later ones get ``Conflict("taken")`` and stay on the list."""
    source_id = _lock_offer_slot(session, offer_id, now)
    try:
        offer = get_or_raise(session, WaitlistOffer, offer_id, what="offer")
        winner = _accepted(session, source_id)
        if winner is not None and winner.id != offer.id:
            _close_offer(session, offer, OfferStatus.TAKEN, now, actor_id, answered=True)
            _finish_refused(
                session,
                Conflict("the place has just been taken; the patient stays on the waitlist", code="taken"),
            )
        if offer.status != OfferStatus.OPEN:
            code = "taken" if offer.status == OfferStatus.TAKEN else "answered"
            raise Conflict(f"the offer is already {offer.status.value}", code=code, status=offer.status.value)
        if now >= offer.expires_at:
            _close_offer(session, offer, OfferStatus.EXPIRED, now, actor_id, answered=False)
            _finish_refused(session, Conflict("the offer has expired", code="expired"))
        entry = session.get(WaitlistEntry, offer.entry_id)
        if entry is None or entry.status not in (WaitlistStatus.OFFERED, WaitlistStatus.WAITING):
            _close_offer(session, offer, OfferStatus.WITHDRAWN, now, actor_id, answered=False)
            _finish_refused(
                session, Conflict("the patient is no longer on the waitlist", code="entry_closed")
            )
        pathway = planning.load_pathway(session=session, pathway_id=entry.pathway_id)
        wish = planning.VisitWish(
            key=REFILL_KEY, patient=entry.patient, pathway=pathway, priority=entry.priority
        )
        placed = _placed(offer)
        rearranged = _rearranged(offer)
        bday = refill_day(session=session, day=offer.day, unit=unit, now=now)
        problems = _fit_problems(
            session=session, wish=wish, placed=placed, rearranged=rearranged, bday=bday, day=offer.day,
            unit=unit, now=now,
        )
        if problems:
            _close_offer(session, offer, OfferStatus.WITHDRAWN, now, actor_id, answered=True)
            _finish_refused(
                session,
                Conflict(
                    "the place no longer fits: " + problems[0], code="no_longer_fits", reason=problems[0]
                ),
            )
        visit = planning.store_visit(session=session, wish=wish, placed=placed, day=offer.day, tz=unit.tz)
        current = {v.request: v for v in bday.current}
        moved = {k: v for k, v in rearranged.items() if set(v.steps) != set(current[k].steps)}
        if moved:
            store_rearranged(session=session, bday=bday, moved=moved, tz=unit.tz, actor_id=actor_id, for_visit=visit)
        audit.record(
            session=session,
            actor_id=actor_id,
            action="visit.booked",
            entity="visit",
            entity_id=visit.id,
            details={
                "day": offer.day.isoformat(),
                "pathway": pathway.code,
                "refill_of": source_id,
                "offer": offer.id,
            },
        )
        offer.status = OfferStatus.ACCEPTED
        offer.answered_at = now
        offer.booked_visit_id = visit.id
        session.add(offer)
        audit.record(
            session=session,
            actor_id=actor_id,
            action="offer.accepted",
            entity="waitlist_offer",
            entity_id=offer.id,
            details={"entry": entry.id, "source_visit": source_id, "visit": visit.id},
        )
        _set_entry(session, entry, WaitlistStatus.BOOKED, actor_id, offer=offer.id, visit=visit.id)
        others = session.exec(
            select(WaitlistOffer).where(
                WaitlistOffer.source_visit_id == source_id,
                WaitlistOffer.status == OfferStatus.OPEN,
                WaitlistOffer.id != offer.id,
            )
        ).all()
        for other in others:
            _close_offer(session, other, OfferStatus.TAKEN, now, actor_id, answered=False)
        events.record(session, events.VisitBooked(visit_id=visit.id, actor_id=actor_id))
        events.record(
            session,
            events.OfferAccepted(offer_id=offer.id, source_visit_id=source_id, visit_id=visit.id, actor_id=actor_id),
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return visit


def _fit_problems(
    *,
    session: Session,
    wish: planning.VisitWish,
    placed: engine.Visit,
    rearranged: dict[str, engine.Visit],
    bday: planning.BookingDay,
    day: dt.date,
    unit: Unit,
    now: dt.datetime,
) -> list[str]:
    """Why ``placed`` cannot be booked on ``day`` now, with the other visits it re-arranges placed as the
    offer said (empty: it fits; the whole day checked by the engine's validator, counting only what the
    offer adds to what was already wrong)."""
    if wish.pathway is None or not wish.pathway.active:
        return ["the pathway is no longer offered"]
    coming = session.exec(
        select(Visit.id).where(
            Visit.patient_id == wish.patient.id,
            Visit.date == day,
            col(Visit.status).in_(list(ACTIVE_VISIT_STATUSES)),
        )
    ).first()
    if coming is not None:
        return ["the patient already has a visit that day"]
    if placed.steps and planning.instant_at(day, min(s.start for s in placed.steps), unit.tz) <= now:
        return ["the proposed time has passed"]
    gone = sorted(set(rearranged) - set(bday.visits))
    if gone:
        return [f"a visit it re-arranges ({', '.join(gone)}) has started or changed"]
    current = {v.request: v for v in bday.current}
    before = {v.message for v in _day_problems(bday.instance, list(current.values()))}
    whole = replace(
        bday.instance, requests=(*bday.instance.requests, planning.engine_request(wish=wish, day=day, unit=unit))
    )
    visits = [rearranged.get(key, visit) for key, visit in current.items()] + [placed]
    return [v.message for v in _day_problems(whole, visits) if v.message not in before]


def _day_problems(instance: engine.Instance, visits: Sequence[engine.Visit]) -> list:
    schedule = engine.Schedule(
        instance=instance.name,
        status=engine.FEASIBLE,
        visits=tuple(visits),
        unscheduled=(),
        objective=objective(instance, visits),
    )
    return check(instance, schedule)


def _lock_offer_slot(session: Session, offer_id: int, now: dt.datetime) -> int:
    """Take the lock of the freed place an offer is for (answers to one place are serialised); its visit id."""
    source_id = session.exec(
        select(WaitlistOffer.source_visit_id).where(WaitlistOffer.id == offer_id)
    ).first()
    if source_id is None:
        raise NotFound(f"offer {offer_id} does not exist", field="offer_id")
    _lock_slot(session, source_id, now)
    return source_id


def decline_offer(
    *, session: Session, offer_id: int, now: dt.datetime, actor_id: int | None = None
) -> WaitlistOffer:
    """Record a "no": the offer closes and the patient stays on the waitlist."""
    _lock_offer_slot(session, offer_id, now)
    try:
        offer = get_or_raise(session, WaitlistOffer, offer_id, what="offer")
        if not _close_offer(session, offer, OfferStatus.DECLINED, now, actor_id, answered=True):
            raise Conflict(
                f"the offer is already {offer.status.value}", code="answered", status=offer.status.value
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return offer


def expire_offers(*, session: Session, now: dt.datetime, actor_id: int | None = None) -> list[WaitlistOffer]:
    """Close every open offer whose time is up (its patient goes back to waiting); returns them."""
    try:
        expired = _expire_open(session, now, actor_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return expired


def offers_for(*, session: Session, visit_id: int) -> list[WaitlistOffer]:
    """Every offer of the place freed by ``visit_id``, by wave then id, with entry and patient loaded."""
    return list(
        session.exec(
            select(WaitlistOffer)
            .where(WaitlistOffer.source_visit_id == visit_id)
            .options(selectinload(WaitlistOffer.entry).selectinload(WaitlistEntry.patient))  # type: ignore[arg-type]
            .order_by(col(WaitlistOffer.wave), col(WaitlistOffer.id))
        )
    )


def first_offer_delay(*, session: Session, visit_id: int) -> dt.timedelta | None:
    """Time from the cancellation to the first offer of its place (``None`` before any offer)."""
    source = session.get(Visit, visit_id)
    first = session.exec(
        select(sa.func.min(WaitlistOffer.sent_at)).where(WaitlistOffer.source_visit_id == visit_id)
    ).first()
    if source is None or source.cancelled_at is None or first is None:
        return None
    if first.tzinfo is None:
        first = first.replace(tzinfo=dt.UTC)
    return first - source.cancelled_at
