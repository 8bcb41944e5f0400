"""Treatment series without HTTP: every cycle inside its tolerance, booked in one transaction or not at all,
later cycles re-proposed after a move or a cancellation, the whole series cancelled like ordinary visits,
and any visit moved (never one that has started)."""

import datetime as dt

import pytest
from sqlmodel import Session, func, select

from clinic.audit.models import AuditEvent
from clinic.booking import moves, series
from clinic.booking import services as booking
from clinic.booking.models import SeriesStatus, TreatmentSeries
from clinic.errors import Conflict, ValidationError
from clinic.messaging.models import OutboxMessage
from clinic.refill.offers_sms import owed_waves
from clinic.unit.models import ResourceClosure
from clinic.visits.models import Visit, VisitStatus
from clinic.visits.services import change_status
from tests.factories import make_patient, make_unit

UNIT = make_unit()
TODAY = dt.date(2026, 12, 2)  # the clock fixture's Wednesday
NOW = dt.datetime(2026, 12, 2, 13, 0, tzinfo=dt.UTC)
SIX = {"cycles": 6, "interval_days": 21, "tolerance_days": 2}
WEEKDAYS = booking.Availability(earliest=TODAY, weekdays=frozenset(range(5)))




def propose(session: Session, patient, infusion, **kw) -> series.SeriesProposal:
    return series.propose_series(
        session=session, patient_id=patient.id, pathway_id=infusion.id, unit=UNIT,
        availability=kw.pop("availability", WEEKDAYS), today=TODAY, **{**SIX, **kw},
    )


def book(session: Session, patient, infusion, plan: series.SeriesProposal, **kw) -> TreatmentSeries:
    return series.book_series(
        session=session, patient_id=patient.id, pathway_id=infusion.id,
        choices=[c.proposal.choice for c in plan.cycles], unit=UNIT, actor_id=None,
        availability=kw.pop("availability", WEEKDAYS), today=TODAY, **{**SIX, **kw},
    )


def cycles_of(session: Session, series_id: int) -> list[Visit]:
    session.expire_all()
    return list(session.exec(select(Visit).where(Visit.series_id == series_id).order_by(Visit.cycle)))


def count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def close_clinic(session: Session, day: dt.date) -> None:
    session.add(ResourceClosure(resource_id=None, date=day, reason="closed"))
    session.commit()


def test_six_cycles_every_21_days_each_inside_its_tolerance(session: Session, infusion) -> None:
    first = dt.date(2026, 12, 3)
    close_clinic(session, first + dt.timedelta(days=42))  # cycle 3's nominal day: it must move, within 2 days
    patient = make_patient(session)
    plan = propose(session, patient, infusion)
    assert plan.ok and [c.cycle for c in plan.cycles] == [1, 2, 3, 4, 5, 6]
    assert plan.cycles[0].day == first
    for n, cycle in enumerate(plan.cycles):
        nominal = first + dt.timedelta(days=21 * n)
        assert cycle.nominal == nominal
        assert abs((cycle.day - nominal).days) <= 2 and cycle.day.weekday() < 5
    assert plan.cycles[2].day != plan.cycles[2].nominal and abs(plan.cycles[2].off_by) == 1
    booked = book(session, patient, infusion, plan)
    visits = cycles_of(session, booked.id)
    assert [(v.cycle, v.date, v.status) for v in visits] == [
        (c.cycle, c.day, VisitStatus.BOOKED) for c in plan.cycles
    ]
    assert booked.status == SeriesStatus.ACTIVE and booked.weekdays == "0,1,2,3,4"
    actions = session.exec(select(AuditEvent.action)).all()
    assert actions.count("visit.booked") == 6 and actions.count("series.booked") == 1


def test_a_cycle_that_fits_nowhere_in_its_tolerance_is_named_and_nothing_proposed(session: Session, infusion) -> None:
    first = dt.date(2026, 12, 3)
    for offset in range(-2, 3):  # cycle 4's whole window
        close_clinic(session, first + dt.timedelta(days=63 + offset))
    plan = propose(session, make_patient(session), infusion, availability=booking.Availability(
        earliest=TODAY, latest=first, weekdays=frozenset(range(5))))
    assert not plan.ok and plan.failed_cycle == 4
    assert plan.failed_window == (first + dt.timedelta(days=61), first + dt.timedelta(days=65))
    assert plan.reason and plan.reason_code
    assert [c.cycle for c in plan.cycles] == [1, 2, 3]


def test_a_clash_on_cycle_4_books_nothing_and_names_the_cycle(session: Session, infusion) -> None:
    patient = make_patient(session)
    plan = propose(session, patient, infusion)
    other = make_patient(session)
    booking.book_proposal(
        session=session, patient_id=other.id, pathway_id=infusion.id, choice=plan.cycles[3].proposal.choice,
        unit=UNIT, actor_id=None, today=TODAY,
    )
    with pytest.raises(booking.SlotTaken) as taken:
        book(session, patient, infusion, plan)
    assert taken.value.params["cycle"] == 4 and "cycle 4" in str(taken.value)
    assert count(session, TreatmentSeries) == 0
    assert session.exec(select(Visit).where(Visit.patient_id == patient.id)).all() == []


@pytest.mark.parametrize(
    ("shape", "field"),
    [
        ({"cycles": 0}, "cycles"),
        ({"cycles": 100}, "cycles"),
        ({"interval_days": -21}, "interval_days"),
        ({"tolerance_days": 30}, "tolerance_days"),
        ({"tolerance_days": 11}, "tolerance_days"),
    ],
)
def test_bad_series_shapes_are_refused(session: Session, infusion, shape: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        propose(session, make_patient(session), infusion, **shape)
    assert error.value.field == field


def test_moving_cycle_2_re_proposes_3_to_6_inside_their_rules(session: Session, infusion) -> None:
    patient = make_patient(session)
    booked = book(session, patient, infusion, propose(session, patient, infusion))
    visits = cycles_of(session, booked.id)
    second = visits[1]
    new_day = second.date + dt.timedelta(days=7)
    options = booking.propose_visits(
        session=session, patient_id=patient.id, pathway_id=infusion.id, unit=UNIT, today=TODAY,
        availability=booking.Availability(earliest=new_day, latest=new_day), ignore_visits=[second.id],
    )
    choice = options.options[0].choice
    later = series.propose_later_cycles(session=session, visit_id=second.id, unit=UNIT, today=TODAY, new_day=new_day)
    assert later.ok and [c.cycle for c in later.cycles] == [3, 4, 5, 6]
    for k, cycle in enumerate(later.cycles, start=1):
        nominal = new_day + dt.timedelta(days=21 * k)
        assert cycle.nominal == nominal and cycle.proposal is not None
        assert abs((cycle.day - nominal).days) <= 2
    moved = series.move_cycle(
        session=session, visit_id=second.id, choice=choice,
        later_choices={c.visit_id: c.proposal.choice for c in later.changes}, unit=UNIT, actor_id=None, today=TODAY,
    )
    assert len(moved) == 5
    after = cycles_of(session, booked.id)
    assert after[0].date == visits[0].date and after[1].date == new_day
    assert [v.date for v in after[2:]] == [c.day for c in later.cycles]
    assert all(v.status == VisitStatus.BOOKED for v in after)
    assert session.exec(select(func.count()).where(AuditEvent.action == "visit.moved")).one() == 5


def test_cancelling_a_cycle_moves_the_later_ones_up(session: Session, infusion) -> None:
    patient = make_patient(session)
    booked = book(session, patient, infusion, propose(session, patient, infusion))
    visits = cycles_of(session, booked.id)
    later = series.propose_later_cycles(session=session, visit_id=visits[2].id, unit=UNIT, today=TODAY, new_day=None)
    assert [c.cycle for c in later.cycles] == [4, 5, 6]
    for k, cycle in enumerate(later.cycles, start=1):
        assert abs((cycle.day - (visits[1].date + dt.timedelta(days=21 * k))).days) <= 2
    series.cancel_cycle(
        session=session, visit_id=visits[2].id, reason="unwell", now=NOW,
        later_choices={c.visit_id: c.proposal.choice for c in later.changes}, unit=UNIT, actor_id=None, today=TODAY,
    )
    after = cycles_of(session, booked.id)
    assert after[2].status == VisitStatus.CANCELLED and after[2].cancelled_reason == "unwell"
    assert [v.date for v in after[3:]] == [c.day for c in later.cycles]


def test_cancelling_the_series_cancels_every_future_cycle_and_refill_follows(session: Session, infusion) -> None:
    patient = make_patient(session)
    booked = book(session, patient, infusion, propose(session, patient, infusion))
    visits = cycles_of(session, booked.id)
    change_status(session=session, visit_id=visits[0].id, status=VisitStatus.CONFIRMED, actor_id=None)
    cancelled = series.cancel_series(session=session, series_id=booked.id, reason="treatment stopped", now=NOW,
                                      actor_id=None, today=TODAY)
    assert sorted(v.id for v in cancelled) == sorted(v.id for v in visits)
    after = cycles_of(session, booked.id)
    assert all(v.status == VisitStatus.CANCELLED and v.cancelled_at == NOW for v in after)
    assert session.get(TreatmentSeries, booked.id).status == SeriesStatus.CANCELLED
    assert set(owed_waves(session=session, now=NOW, unit=UNIT)) == {v.id for v in visits}
    assert session.exec(select(func.count()).where(AuditEvent.action == "visit.cancelled")).one() == 6
    with pytest.raises(Conflict):
        series.cancel_series(session=session, series_id=booked.id, reason="again", now=NOW, actor_id=None, today=TODAY)


def test_outreach_is_planned_for_every_cycle(clock, handled_session: Session, infusion) -> None:
    patient = make_patient(handled_session, consent=True)
    booked = book(handled_session, patient, infusion, propose(handled_session, patient, infusion))
    visits = cycles_of(handled_session, booked.id)
    planned = set(handled_session.exec(select(OutboxMessage.visit_id)).all())
    assert {v.id for v in visits} <= planned


def test_a_visit_moves_to_another_day_and_a_started_one_does_not(session: Session, infusion) -> None:
    patient = make_patient(session)
    options = booking.propose_visits(
        session=session, patient_id=patient.id, pathway_id=infusion.id, unit=UNIT, availability=WEEKDAYS, today=TODAY
    )
    visit = booking.book_proposal(session=session, patient_id=patient.id, pathway_id=infusion.id,
                                  choice=options.options[0].choice, unit=UNIT, actor_id=None, today=TODAY)
    later = booking.propose_visits(
        session=session, patient_id=patient.id, pathway_id=infusion.id, unit=UNIT, today=TODAY,
        availability=booking.Availability(earliest=visit.date, latest=visit.date), ignore_visits=[visit.id], k=3,
    )
    other_time = next(p for p in later.options if p.arrival != options.options[0].arrival)
    moved = moves.move_visit(session=session, visit_id=visit.id, choice=other_time.choice, unit=UNIT, actor_id=None,
                             today=TODAY)
    assert moved.date == visit.date and min(s.planned_start for s in moved.steps) == other_time.arrives_at
    next_week = booking.propose_visits(
        session=session, patient_id=patient.id, pathway_id=infusion.id, unit=UNIT, today=TODAY,
        availability=booking.Availability(earliest=visit.date + dt.timedelta(days=7)), ignore_visits=[visit.id],
    ).options[0]
    moved = moves.move_visit(session=session, visit_id=visit.id, choice=next_week.choice, unit=UNIT, actor_id=None,
                             today=TODAY)
    assert moved.date == next_week.day and count(session, Visit) == 1
    started = session.get(Visit, visit.id)
    started.status = VisitStatus.CHECKED_IN  # check-in itself only works on the visit's day
    session.commit()
    with pytest.raises(Conflict) as refused:
        moves.move_visit(session=session, visit_id=visit.id, choice=options.options[0].choice, unit=UNIT,
                         actor_id=None, today=TODAY)
    assert refused.value.code == "visit_started"
    session.expire_all()
    assert session.get(Visit, visit.id).date == next_week.day


def test_a_moved_visit_s_reminders_follow_it(clock, handled_session: Session, infusion) -> None:
    from clinic.messaging.models import OutboxStatus

    patient = make_patient(handled_session)
    first = booking.propose_visits(
        session=handled_session, patient_id=patient.id, pathway_id=infusion.id, unit=UNIT, today=TODAY,
        availability=booking.Availability(earliest=dt.date(2026, 12, 14), latest=dt.date(2026, 12, 14)),
    ).options[0]
    visit = booking.book_proposal(session=handled_session, patient_id=patient.id, pathway_id=infusion.id,
                                  choice=first.choice, unit=UNIT, actor_id=None, today=TODAY)

    def pending() -> set[dt.date]:
        handled_session.expire_all()
        rows = handled_session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit.id)).all()
        return {r.due_at.date() for r in rows if r.status == OutboxStatus.QUEUED and r.action == "reminder" and r.channel.value == "sms"}

    assert pending() == {dt.date(2026, 12, 12)}, "the SMS reminder two days before"
    later = booking.propose_visits(
        session=handled_session, patient_id=patient.id, pathway_id=infusion.id, unit=UNIT, today=TODAY,
        availability=booking.Availability(earliest=dt.date(2026, 12, 21), latest=dt.date(2026, 12, 21)),
        ignore_visits=[visit.id],
    ).options[0]
    moves.move_visit(session=handled_session, visit_id=visit.id, choice=later.choice, unit=UNIT, actor_id=None,
                     today=TODAY)
    assert pending() == {dt.date(2026, 12, 19)}


def test_tampered_series_choices_are_refused_and_book_nothing(session: Session, infusion) -> None:
    patient = make_patient(session)
    plan = propose(session, patient, infusion)
    choices = [c.proposal.choice for c in plan.cycles]
    shifted = choices[:2] + [choices[3]] + choices[3:]  # cycle 3 on cycle 4's day: far outside its tolerance
    for bad, code in ((choices[:5], "bad_choice"), (shifted, "outside_tolerance"), (["x"] * 6, "bad_choice")):
        with pytest.raises(ValidationError) as refused:
            series.book_series(session=session, patient_id=patient.id, pathway_id=infusion.id, choices=bad, unit=UNIT,
                               actor_id=None, availability=WEEKDAYS, today=TODAY, **SIX)
        assert refused.value.code == code
    assert count(session, TreatmentSeries) == 0 and count(session, Visit) == 0


def test_a_series_running_past_the_calendar_is_refused(session: Session, infusion) -> None:
    far = dt.date(9999, 6, 1)
    long = {"cycles": 24, "interval_days": 120, "tolerance_days": 2}
    with pytest.raises(ValidationError) as refused:
        propose(session, make_patient(session), infusion, availability=booking.Availability(earliest=far), **long)
    assert refused.value.code == "too_far_ahead"
    choice = f"{far.isoformat()}|reg@desk@480-490|cons@doc@490-510|out@out@510-520"
    with pytest.raises(ValidationError) as refused:
        series.book_series(session=session, patient_id=make_patient(session).id, pathway_id=infusion.id,
                           choices=[choice] * 24, unit=UNIT, actor_id=None, availability=WEEKDAYS, today=TODAY, **long)
    assert refused.value.code == "too_far_ahead"
