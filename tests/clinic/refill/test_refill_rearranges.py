"""The refill after a cancellation goes through the booking function: a waiting patient who only fits
when a not-started visit's internal times move is offered the place, and accepting stores the new visit
and the re-arranged steps together; nobody's announced arrival changes."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic import planning
from clinic.audit import record as audit
from clinic.audit.models import AuditEvent
from clinic.errors import Conflict
from clinic.planning import check_day
from clinic.refill import services as refill
from clinic.refill.models import OfferStatus
from clinic.refill.offers_sms import NONE_LEFT, owed_waves
from clinic.refill.waitlist import add_to_waitlist
from clinic.unit.models import Pathway, PathwayStep, PathwayStepDependency, ResourceKind
from clinic.visits import journey, optimise
from clinic.visits.models import Visit, VisitStep
from scheduling.refill import Candidate, rank_refill
from tests.factories import make_pathway, make_patient, make_resource, make_step_type, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
DAY = dt.date(2026, 12, 2)  # a Wednesday
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), ZONE)


def _place(visit: Visit, *starts: dt.datetime) -> None:
    for step, start in zip(visit.steps, starts, strict=True):
        step.planned_end = start + (step.planned_end - step.planned_start)
        step.planned_start = start


def _long_consult(session: Session) -> Pathway:
    """Registration (10) -> a 40-minute consult (0-60 min later) -> checkout (10)."""
    pathway = Pathway(code="long-consult", name="Long consult")
    steps = [
        PathwayStep(code=code, sequence=n, step_type=make_step_type(session, kind=kind, minutes=minutes, name=code))
        for n, (code, kind, minutes) in enumerate(
            [("reg", ResourceKind.REGISTRATION, 10), ("cons", ResourceKind.CONSULT, 40), ("out", ResourceKind.CHECKOUT, 10)],
            start=1,
        )
    ]
    pathway.steps = steps
    session.add(pathway)
    session.flush()
    steps[1].dependencies = [PathwayStepDependency(depends_on=steps[0], min_gap=0, max_gap=60)]
    steps[2].dependencies = [PathwayStepDependency(depends_on=steps[1], min_gap=0)]
    session.commit()
    return pathway


@pytest.fixture
def day(session: Session) -> dict:
    """Open 09:00-10:30. M (told 09:00) waits 20 minutes for its consult at 09:30; C (to be cancelled) has
    the consult at 09:50. Once C is gone the consult room is free 09:00-09:30 and 09:50-10:30: a
    40-minute consult fits only if M's consult moves, and then M's patient still arrives at 09:00."""
    hours = tuple((wd, dt.time(9), dt.time(10, 30)) for wd in range(5))
    resources = {
        kind: make_resource(session, kind=kind, hours=hours)
        for kind in (ResourceKind.REGISTRATION, ResourceKind.CONSULT, ResourceKind.CHECKOUT)
    }
    pathway = make_pathway(session)
    m = make_visit(session, pathway=pathway, day=DAY, start=_at(9), resources=resources)
    _place(m, _at(9), _at(9, 30), _at(9, 50))
    c = make_visit(session, pathway=pathway, day=DAY, start=_at(9, 20), resources=resources)
    _place(c, _at(9, 20), _at(9, 50), _at(10, 10))
    session.add_all([m, c])
    session.commit()
    assert check_day(session=session, day=DAY, unit=UNIT) == []
    entry = add_to_waitlist(
        session=session, patient_id=make_patient(session).id, pathway_id=_long_consult(session).id,
        earliest_date=DAY, latest_date=DAY, actor_id=None,
    )
    refill.cancel_visit(session=session, visit_id=c.id, reason="ill", now=NOW)
    return {"c": c, "m": m, "entry": entry}


def _m_steps(session: Session, m: Visit) -> list[tuple]:
    session.expire_all()
    return [(s.planned_start, s.resource_id) for s in session.exec(select(VisitStep).where(VisitStep.visit_id == m.id))]


def test_the_waiting_patient_who_only_fits_by_rearranging_gets_the_offer_and_the_day_is_stored_whole(
    session: Session, day: dict
) -> None:
    m = day["m"]
    before = _m_steps(session, m)
    entry = day["entry"]
    wish = planning.VisitWish(key="w", patient=entry.patient, pathway=planning.load_pathway(
        session=session, pathway_id=entry.pathway_id))
    frozen = planning.build_instance(session=session, day=DAY, unit=UNIT, wishes=[wish])
    assert rank_refill(frozen, [Candidate(frozen.requests[0])], now=0) == []  # every booking fixed: no room
    [ranked] = refill.rank_candidates(session=session, visit_id=day["c"].id, now=NOW, unit=UNIT)
    assert ranked.entry.id == day["entry"].id
    [moved] = ranked.rearranged
    assert moved.request == f"v-{m.id}"
    [offer] = refill.make_offers(session=session, visit_id=day["c"].id, now=NOW, wave_size=1, unit=UNIT)
    assert [item["request"] for item in offer.itinerary["rearranged"]] == [f"v-{m.id}"]
    assert _m_steps(session, m) == before  # an offer changes nobody's plan

    visit = refill.accept_offer(session=session, offer_id=offer.id, now=NOW + dt.timedelta(minutes=5), unit=UNIT)
    assert check_day(session=session, day=DAY, unit=UNIT) == []
    after = _m_steps(session, m)
    assert after != before
    stored_m = session.get(Visit, m.id)
    assert stored_m.announced_at == _at(9)  # M's patient was told 09:00 and still is
    assert _at(9) <= min(start for start, _ in after) <= _at(9, 15)
    assert visit.announced_at == min(s.planned_start for s in visit.steps)
    actions = {(e.action, e.entity_id) for e in session.exec(select(AuditEvent)).all()}
    assert ("visit.rearranged", m.id) in actions and ("visit.booked", visit.id) in actions
    assert session.get(type(offer), offer.id).status == OfferStatus.ACCEPTED


def test_accepting_after_the_rearranged_visit_started_books_nothing(session: Session, day: dict) -> None:
    m = day["m"]
    [offer] = refill.make_offers(session=session, visit_id=day["c"].id, now=NOW, wave_size=1, unit=UNIT)
    journey.check_in(session=session, visit_id=m.id, actor_id=None, unit=UNIT, now=_at(8, 55))
    journey.step_action(session=session, visit_id=m.id, visit_step_id=m.steps[0].id, action="start", actor_id=None,
                        unit=UNIT, at=_at(9))
    before = _m_steps(session, m)
    with pytest.raises(Conflict) as refused:
        refill.accept_offer(session=session, offer_id=offer.id, now=NOW + dt.timedelta(minutes=5), unit=UNIT)
    assert refused.value.code == "no_longer_fits"
    assert _m_steps(session, m) == before
    assert session.exec(select(Visit).where(Visit.patient_id == day["entry"].patient_id)).all() == []


def test_a_place_nobody_fitted_is_offered_again_once_its_day_is_optimised(session: Session, day: dict) -> None:
    c = day["c"]
    event = audit.record(session=session, actor_id=None, action=NONE_LEFT, entity="visit", entity_id=c.id)
    event.at = NOW + dt.timedelta(minutes=1)  # as ``send_offer_wave`` records a wave nobody could be offered
    session.commit()
    assert owed_waves(session=session, now=NOW + dt.timedelta(minutes=2), unit=UNIT) == []
    preview = optimise.preview_optimisation(session=session, day=DAY, unit=UNIT, now=NOW, time_limit=1.0)
    assert preview.wait_after < preview.wait_before
    optimise.apply_optimisation(
        session=session, day=DAY, unit=UNIT, moves=optimise.decode_moves(preview.encoded_moves()),
        version=preview.version, actor_id=None, now=NOW,
    )
    assert owed_waves(session=session, now=NOW + dt.timedelta(minutes=3), unit=UNIT) == [c.id]
