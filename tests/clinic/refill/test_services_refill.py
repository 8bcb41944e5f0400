"""Cancel, rank the waitlist for the freed place, offer in waves, first acceptance wins."""

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, NotFound, ValidationError
from clinic.planning import check_day
from clinic.refill import services as refill
from clinic.refill.models import OfferStatus, WaitlistEntry, WaitlistStatus
from clinic.refill.waitlist import add_to_waitlist, list_waitlist, set_priority
from clinic.unit.models import ResourceHours, ResourceKind
from clinic.visits import dayrules
from clinic.visits.models import Visit, VisitStatus
from tests.factories import make_pathway, make_patient, make_resource, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
DAY = dt.date(2026, 12, 2)  # a Wednesday
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)  # two days before: every notice is met


def _small_day(session: Session) -> dict:
    """Resources open 09:00-09:40 only, so the day holds exactly one visit of the 40-minute pathway."""
    hours = tuple((wd, dt.time(9), dt.time(9, 40)) for wd in range(5))
    resources = {
        kind: make_resource(session, kind=kind, hours=hours)
        for kind in (ResourceKind.REGISTRATION, ResourceKind.CONSULT, ResourceKind.CHECKOUT)
    }
    pathway = make_pathway(session)
    visit = make_visit(
        session,
        pathway=pathway,
        day=DAY,
        start=dt.datetime.combine(DAY, dt.time(9), ZONE),
        resources=resources,
    )
    return {"pathway": pathway, "visit": visit, "resources": resources}


def _wait(session: Session, pathway, *, days: int = 5, **kw) -> WaitlistEntry:
    entry = add_to_waitlist(
        session=session,
        patient_id=kw.pop("patient_id", None) or make_patient(session).id,
        pathway_id=pathway.id,
        earliest_date=DAY - dt.timedelta(days=3),
        latest_date=DAY + dt.timedelta(days=10),
        actor_id=None,
        **kw,
    )
    entry.added_at = NOW - dt.timedelta(days=days)
    session.add(entry)
    session.commit()
    return entry


def _cancel(session: Session, visit: Visit, **kw) -> Visit:
    return refill.cancel_visit(session=session, visit_id=visit.id, reason="ill", now=NOW, **kw)


def test_cancel_needs_a_reason_and_a_cancellable_visit(session: Session) -> None:
    day = _small_day(session)
    with pytest.raises(ValidationError) as info:
        refill.cancel_visit(session=session, visit_id=day["visit"].id, reason="  ", now=NOW)
    assert info.value.field == "reason"
    with pytest.raises(NotFound):
        refill.cancel_visit(session=session, visit_id=999_999, reason="x", now=NOW)
    with pytest.raises(Conflict):  # not freed yet: nothing to refill
        refill.rank_candidates(session=session, visit_id=day["visit"].id, now=NOW, unit=UNIT)

    with pytest.raises(Conflict) as early:  # two days ahead: the patient may still come
        refill.cancel_visit(session=session, visit_id=day["visit"].id, reason="flu", now=NOW, no_show=True, unit=UNIT)
    assert early.value.code == "arrival_not_passed"
    window_end = dayrules.arrival_window_end(day["visit"], UNIT.tz)
    assert window_end == min(s.planned_start for s in day["visit"].steps) + dt.timedelta(minutes=30)
    with pytest.raises(Conflict):
        refill.cancel_visit(
            session=session, visit_id=day["visit"].id, reason="flu", now=window_end - dt.timedelta(minutes=1),
            no_show=True, unit=UNIT,
        )
    visit = refill.cancel_visit(
        session=session, visit_id=day["visit"].id, reason="flu", now=window_end, no_show=True, unit=UNIT
    )
    assert visit.status == VisitStatus.NO_SHOW and visit.cancelled_reason == "flu"
    with pytest.raises(Conflict) as again:
        _cancel(session, visit)
    assert again.value.code == "bad_transition"
    events = session.exec(select(AuditEvent).where(AuditEvent.entity == "visit")).all()
    assert [e.action for e in events] == ["visit.no_show"]


def test_ranking_follows_priority_then_days_waited_and_skips_what_cannot_fit(session: Session) -> None:
    day = _small_day(session)
    low = _wait(session, day["pathway"], priority=2, days=40)
    old = _wait(session, day["pathway"], priority=4, days=20)
    new = _wait(session, day["pathway"], priority=4, days=3)
    wheelchair = make_patient(session, needs_wheelchair=True)  # no resource has the attribute: cannot fit
    _wait(session, day["pathway"], priority=5, patient_id=wheelchair.id)
    _cancel(session, day["visit"])

    ranked = refill.rank_candidates(session=session, visit_id=day["visit"].id, now=NOW, unit=UNIT)
    assert [c.entry.id for c in ranked] == [old.id, new.id, low.id]
    assert [c.rank for c in ranked] == [1, 2, 3]
    assert ranked[0].days_waited == 20
    assert ranked[0].arrival == dt.datetime.combine(DAY, dt.time(9), ZONE)


def test_waves_answers_and_first_acceptance_wins(session: Session) -> None:
    day = _small_day(session)
    entries = [_wait(session, day["pathway"], priority=5 - i) for i in range(4)]
    source = _cancel(session, day["visit"])
    later = NOW + dt.timedelta(minutes=3)

    wave1 = refill.make_offers(session=session, visit_id=source.id, now=later, wave_size=2, unit=UNIT)
    assert [o.entry_id for o in wave1] == [entries[0].id, entries[1].id]
    assert {o.wave for o in wave1} == {1} and all(o.status == OfferStatus.OPEN for o in wave1)
    assert refill.first_offer_delay(session=session, visit_id=source.id) == dt.timedelta(minutes=3)
    assert wave1[0].seconds_after_cancel == 180
    session.refresh(entries[0])
    assert entries[0].status == WaitlistStatus.OFFERED

    refill.decline_offer(session=session, offer_id=wave1[0].id, now=later)
    with pytest.raises(Conflict):
        refill.decline_offer(session=session, offer_id=wave1[0].id, now=later)
    session.refresh(entries[0])
    assert entries[0].status == WaitlistStatus.WAITING

    expired = refill.expire_offers(session=session, now=later + dt.timedelta(minutes=31))
    assert [o.id for o in expired] == [wave1[1].id]
    with pytest.raises(Conflict) as late:
        refill.accept_offer(session=session, offer_id=wave1[1].id, now=later + dt.timedelta(minutes=32), unit=UNIT)
    assert late.value.code == "answered"

    wave2 = refill.make_offers(session=session, visit_id=source.id, now=later + dt.timedelta(minutes=33), unit=UNIT)
    assert [o.entry_id for o in wave2] == [entries[2].id, entries[3].id]  # already offered: skipped
    assert {o.wave for o in wave2} == {2}

    visit = refill.accept_offer(session=session, offer_id=wave2[1].id, now=later + dt.timedelta(minutes=34), unit=UNIT)
    assert visit.status == VisitStatus.BOOKED and visit.patient_id == entries[3].patient_id
    assert check_day(session=session, day=DAY, unit=UNIT) == []
    with pytest.raises(Conflict) as taken:
        refill.accept_offer(session=session, offer_id=wave2[0].id, now=later + dt.timedelta(minutes=35), unit=UNIT)
    assert taken.value.code == "taken"
    offers = {o.id: o for o in refill.offers_for(session=session, visit_id=source.id)}
    assert (
        offers[wave2[1].id].status == OfferStatus.ACCEPTED and offers[wave2[1].id].booked_visit_id == visit.id
    )
    assert offers[wave2[0].id].status == OfferStatus.TAKEN
    session.expire_all()
    assert session.get(WaitlistEntry, entries[3].id).status == WaitlistStatus.BOOKED
    assert session.get(WaitlistEntry, entries[2].id).status == WaitlistStatus.WAITING  # stays on the list
    with pytest.raises(Conflict) as filled:
        refill.make_offers(session=session, visit_id=source.id, now=later + dt.timedelta(minutes=36), unit=UNIT)
    assert filled.value.code == "filled"


def test_acceptance_rechecks_the_day(session: Session) -> None:
    day = _small_day(session)
    entry = _wait(session, day["pathway"])
    source = _cancel(session, day["visit"])
    (offer,) = refill.make_offers(session=session, visit_id=source.id, now=NOW, wave_size=1, unit=UNIT)
    # meanwhile someone else is booked into the freed chair time
    make_visit(
        session, pathway=day["pathway"], day=DAY, start=dt.datetime.combine(DAY, dt.time(9), ZONE),
        resources=day["resources"],
    )  # fmt: skip
    before = len(session.exec(select(Visit)).all())
    with pytest.raises(Conflict) as info:
        refill.accept_offer(session=session, offer_id=offer.id, now=NOW + dt.timedelta(minutes=1), unit=UNIT)
    assert info.value.code == "no_longer_fits"
    session.expire_all()
    assert len(session.exec(select(Visit)).all()) == before
    assert session.get(WaitlistEntry, entry.id).status == WaitlistStatus.WAITING


def test_make_offers_validates_input(session: Session) -> None:
    day = _small_day(session)
    entry = _wait(session, day["pathway"])
    source = _cancel(session, day["visit"])
    with pytest.raises(ValidationError):
        refill.make_offers(session=session, visit_id=source.id, now=NOW, channel="pigeon", unit=UNIT)
    with pytest.raises(ValidationError):
        refill.make_offers(session=session, visit_id=source.id, now=NOW, wave_size=0, unit=UNIT)
    with pytest.raises(Conflict) as info:
        refill.make_offers(session=session, visit_id=source.id, now=NOW, entry_ids=[entry.id + 1000], unit=UNIT)
    assert info.value.code == "not_a_candidate"
    (offer,) = refill.make_offers(
        session=session, visit_id=source.id, now=NOW, entry_ids=[entry.id], channel="sms", unit=UNIT
    )
    assert offer.channel.value == "sms"
    with pytest.raises(NotFound):
        refill.accept_offer(session=session, offer_id=offer.id + 1000, now=NOW, unit=UNIT)


def test_waitlist_listing_and_priority(session: Session) -> None:
    pathway = make_pathway(session)
    a = _wait(session, pathway, priority=2)
    b = _wait(session, pathway, priority=3)
    assert [e.id for e in list_waitlist(session=session)] == [b.id, a.id]
    set_priority(session=session, entry_id=a.id, priority=5, actor_id=None)
    assert [e.id for e in list_waitlist(session=session)] == [a.id, b.id]
    with pytest.raises(ValidationError):
        set_priority(session=session, entry_id=a.id, priority=9, actor_id=None)


@pytest.mark.parametrize("threads", [12])
def test_concurrent_acceptances_book_exactly_one_visit(session: Session, clean_db, threads: int) -> None:
    day = _small_day(session)
    entries = [_wait(session, day["pathway"], priority=3) for _ in range(threads)]
    source = _cancel(session, day["visit"])
    offers = refill.make_offers(session=session, visit_id=source.id, now=NOW, wave_size=threads, unit=UNIT)
    assert len(offers) == threads
    barrier = threading.Barrier(threads)
    results: list[object] = []
    lock = threading.Lock()

    def accept(offer_id: int) -> None:
        with Session(clean_db, expire_on_commit=False) as own:
            barrier.wait()
            try:
                visit = refill.accept_offer(session=own, offer_id=offer_id, now=NOW + dt.timedelta(minutes=1), unit=UNIT)
                outcome: object = visit.id
            except Conflict as error:
                outcome = error.code
            except Exception as error:  # noqa: BLE001 - reported below
                outcome = repr(error)
        with lock:
            results.append(outcome)

    workers = [threading.Thread(target=accept, args=(o.id,)) for o in offers]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    booked = [r for r in results if isinstance(r, int)]
    assert len(booked) == 1, results
    assert sorted(r for r in results if not isinstance(r, int)) == ["taken"] * (threads - 1)
    session.expire_all()
    new = session.exec(select(Visit).where(Visit.date == DAY, col(Visit.status) == VisitStatus.BOOKED)).all()
    assert [v.id for v in new] == booked
    statuses = sorted(session.get(WaitlistEntry, e.id).status.value for e in entries)
    assert statuses == ["booked"] + ["waiting"] * (threads - 1)
    assert check_day(session=session, day=DAY, unit=UNIT) == []


def test_short_notice_still_leaves_time_to_travel(session: Session) -> None:
    day = _small_day(session)
    for resource in day["resources"].values():  # open until noon: room after the cancelled 09:00 visit
        resource.hours = [ResourceHours(weekday=wd, opens=dt.time(9), closes=dt.time(12)) for wd in range(5)]
        session.add(resource)
    session.commit()
    short = _wait(session, day["pathway"], min_notice_hours=48, accepts_short_notice=True)
    _wait(session, day["pathway"], min_notice_hours=2, priority=5)  # needs notice: not on the day itself
    _cancel(session, day["visit"])
    now = dt.datetime.combine(DAY, dt.time(9, 30), ZONE)  # a same-day cancellation
    (cand,) = refill.rank_candidates(session=session, visit_id=day["visit"].id, now=now, unit=UNIT)
    assert cand.entry.id == short.id
    assert cand.arrival >= now + dt.timedelta(minutes=refill.SHORT_NOTICE_MINUTES)
    later = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(8), ZONE)
    assert refill.rank_candidates(session=session, visit_id=day["visit"].id, now=later, unit=UNIT) == []


def test_may_cancel_follows_the_visit_life_cycle() -> None:
    from clinic.refill.services import may_cancel

    assert may_cancel(VisitStatus.BOOKED) and may_cancel(VisitStatus.BOOKED, no_show=True)
    assert may_cancel(VisitStatus.CHECKED_IN) and not may_cancel(VisitStatus.CHECKED_IN, no_show=True)
    for done in (VisitStatus.COMPLETED, VisitStatus.CANCELLED, VisitStatus.NO_SHOW):
        assert not may_cancel(done) and not may_cancel(done, no_show=True)
