"""Booking with re-arranging: a new visit may move the internal step times of visits that have not
started, never their announced arrival (beyond the tolerance), never telling those patients anything."""

import datetime as dt
import html
import re

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from clinic import events, planning
from clinic.audit.models import AuditEvent
from clinic.booking import services as booking
from clinic.errors import Conflict
from clinic.messaging.models import OutboxMessage
from clinic.unit.models import Pathway, PathwayStep, PathwayStepDependency, ResourceKind
from clinic.visits.models import StepStatus, Visit, VisitCheckin, VisitStep
from tests.conftest import empty_all_tables
from tests.factories import make_patient, make_resource, make_step_type, make_unit

UNIT = make_unit()
_ahead = dt.date.today() + dt.timedelta(days=10)
DAY = _ahead + dt.timedelta(days=(1 - _ahead.weekday()) % 7)  # a Tuesday at least ten days ahead
TODAY = DAY - dt.timedelta(days=8)
ONLY_DAY = booking.Availability(earliest=DAY, latest=DAY)
CHOICE = re.compile(r'name="choice" value="([^"]+)"')
BOOK_ACTION = re.compile(r'action="(/book/patient/\d+/book[^"]*)"')


def chair_morning(session: Session, opens: int = 9) -> Pathway:
    """Registration (10 min), then one hour in the only chair within the hour; the chair is open on
    Tuesdays 09:00-11:00 (or from ``opens`` o'clock for two hours): two treatments, if the first starts
    when it opens."""
    make_resource(session, code="desk", kind=ResourceKind.REGISTRATION)
    make_resource(
        session,
        code="chair",
        kind=ResourceKind.CHAIR,
        capacity=1,
        hours=((1, dt.time(opens), dt.time(opens + 2)),),
    )
    reg = make_step_type(session, kind=ResourceKind.REGISTRATION, minutes=10, name="Registration")
    treat = make_step_type(session, kind=ResourceKind.CHAIR, minutes=60, name="Infusion")
    pathway = Pathway(code="chair-morning", name="Chair morning")
    first = PathwayStep(code="reg", sequence=1, step_type=reg)
    second = PathwayStep(code="treat", sequence=2, step_type=treat)
    pathway.steps = [first, second]
    session.add(pathway)
    session.flush()
    second.dependencies = [PathwayStepDependency(depends_on=first, min_gap=0, max_gap=60)]
    session.commit()
    return pathway


def book(session: Session, patient_id: int, pathway: Pathway, choice: str) -> Visit:
    return booking.book_proposal(
        session=session,
        patient_id=patient_id,
        pathway_id=pathway.id,
        choice=choice,
        unit=UNIT,
        actor_id=None,
        today=TODAY,
        availability=ONLY_DAY,
    )


def propose(session: Session, patient_id: int, pathway: Pathway, **kw) -> booking.Proposals:
    return booking.propose_visits(
        session=session,
        patient_id=patient_id,
        pathway_id=pathway.id,
        unit=UNIT,
        availability=ONLY_DAY,
        today=TODAY,
        **kw,
    )


def late_first(session: Session, pathway: Pathway, *, actor_session: Session | None = None) -> Visit:
    """A visit arriving 08:50 whose infusion was put at 09:30-10:30: it blocks the chair's second hour."""
    patient = make_patient(session, given_name="Anna")
    return book(
        actor_session or session,
        patient.id,
        pathway,
        f"{DAY.isoformat()}|reg@desk@530-540|treat@chair@570-630",
    )


def steps_of(session: Session, visit_id: int) -> dict[str, tuple[dt.datetime, dt.datetime, int]]:
    session.expire_all()
    rows = session.exec(select(VisitStep).where(VisitStep.visit_id == visit_id)).all()
    return {s.pathway_step.code: (s.planned_start, s.planned_end, s.resource_id) for s in rows}


def count(session: Session, model) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def at(minutes: int) -> dt.datetime:
    return planning.instant_at(DAY, minutes, UNIT.tz)


def test_a_visit_that_only_fits_by_rearranging_is_proposed_and_booked(session: Session) -> None:
    pathway = chair_morning(session)
    anna = late_first(session, pathway)
    assert anna.announced_at == at(530)
    newcomer = make_patient(session, given_name="Bert")
    frozen = propose(session, newcomer.id, pathway, rearrange=False)
    assert frozen.options == [], "the day as booked has no hour left in the chair"
    proposals = propose(session, newcomer.id, pathway)
    assert proposals.options and proposals.options[0].day == DAY
    option = proposals.options[0]
    assert option.moves == 1 and option.wait_minutes == 0

    visit = book(session, newcomer.id, pathway, option.choice)

    assert visit.announced_at == option.arrives_at
    session.expire_all()
    anna = session.get(Visit, anna.id)
    assert anna.announced_at == at(530), "another booking never changes an announced arrival"
    moved = steps_of(session, anna.id)
    assert moved["reg"][0] == at(530) and moved["treat"][:2] == (at(540), at(600))
    first = min(start for start, _end, _r in moved.values())
    assert at(530) <= first <= at(530 + UNIT.arrival_tolerance_minutes)
    assert planning.check_day(session=session, day=DAY, unit=UNIT) == []
    rearranged = session.exec(select(AuditEvent).where(AuditEvent.action == "visit.rearranged")).all()
    assert [(e.entity, e.entity_id) for e in rearranged] == [("visit", anna.id)]
    assert rearranged[0].details["for_visit"] == visit.id
    assert [m["step"] for m in rearranged[0].details["moves"]] == ["treat"]
    booked = session.exec(
        select(AuditEvent).where(AuditEvent.action == "visit.booked", AuditEvent.entity_id == visit.id)
    ).one()
    assert booked.details["rearranged"] == [anna.id]


def test_the_moved_patients_are_told_nothing(handled_session: Session, bus) -> None:
    """Anna was told 09:05; the newcomer's booking moves her registration to 09:20 and her infusion to
    10:00: her messages (times in them included) stay exactly as they were."""
    session = handled_session
    pathway = chair_morning(session)
    patient = make_patient(session, given_name="Anna")
    anna = book(session, patient.id, pathway, f"{DAY.isoformat()}|reg@desk@545-555|treat@chair@585-645")
    session.expire_all()
    outbox = select(OutboxMessage).where(OutboxMessage.visit_id == anna.id)
    before = {(m.action, m.due_at, m.body, m.status) for m in session.exec(outbox)}
    assert before, "booking planned the first patient's outreach"
    newcomer = make_patient(session, given_name="Bert")
    option = propose(session, newcomer.id, pathway).options[0]
    assert option.moves == 1
    visit = book(session, newcomer.id, pathway, option.choice)
    session.expire_all()
    assert steps_of(session, anna.id)["reg"][0] == at(560), "her first step moved within the tolerance"
    assert session.get(Visit, anna.id).announced_at == at(545)
    after = {(m.action, m.due_at, m.body, m.status) for m in session.exec(outbox)}
    assert after == before
    assert session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit.id)).first() is not None
    assert events.VisitRearranged not in bus.handlers, "outreach must not act on a re-arrangement"


def test_a_stale_choice_is_taken_and_nothing_is_written(session: Session) -> None:
    pathway = chair_morning(session)
    anna = late_first(session, pathway)
    bert, carla = make_patient(session, given_name="Bert"), make_patient(session, given_name="Carla")
    option = propose(session, bert.id, pathway).options[0]
    assert propose(session, carla.id, pathway).options[0].choice == option.choice
    book(session, carla.id, pathway, option.choice)
    before = (count(session, Visit), count(session, VisitStep), count(session, AuditEvent))
    anna_steps = steps_of(session, anna.id)
    with pytest.raises(booking.SlotTaken):
        book(session, bert.id, pathway, option.choice)
    assert (count(session, Visit), count(session, VisitStep), count(session, AuditEvent)) == before
    assert steps_of(session, anna.id) == anna_steps
    assert propose(session, bert.id, pathway).options == []


def test_a_visit_that_has_started_is_never_rearranged(session: Session) -> None:
    pathway = chair_morning(session)
    anna = late_first(session, pathway)
    session.add(VisitCheckin(visit_id=anna.id))
    session.commit()
    bday = planning.booking_day(session=session, day=DAY, unit=UNIT, tolerance=15)
    assert [v.request for v in bday.instance.booked] == [planning.request_key(anna)]
    assert bday.instance.requests == ()
    assert propose(session, make_patient(session).id, pathway).options == []


def test_booking_day_narrows_each_not_started_visit_to_its_announced_arrival(session: Session) -> None:
    pathway = chair_morning(session)
    anna = late_first(session, pathway)
    bday = planning.booking_day(session=session, day=DAY, unit=UNIT, tolerance=15)
    (request,) = bday.instance.requests
    assert request.must_place and request.arrival == (530, 545)
    assert request.leave_by == 630 + 15
    assert bday.current[0].steps == tuple(sorted(bday.current[0].steps, key=lambda s: s.start))
    assert bday.visits[request.id].id == anna.id and bday.announced[request.id] == 530
    step = session.exec(select(VisitStep).where(VisitStep.visit_id == anna.id)).first()
    step.status = StepStatus.IN_PROGRESS
    session.commit()
    assert planning.booking_day(session=session, day=DAY, unit=UNIT, tolerance=15).instance.requests == ()


def test_the_book_screen_says_how_many_visits_move_and_books_it(
    desk_client, session: Session, post_form
) -> None:
    pathway = chair_morning(session)
    anna = late_first(session, pathway)
    newcomer = make_patient(session, given_name="Bert")
    url = f"/book/patient/{newcomer.id}?pathway={pathway.id}&earliest={DAY.isoformat()}&latest={DAY.isoformat()}"
    page = desk_client.get(url).get_data(as_text=True)
    assert "changes the step times or rooms of 1 other visit; that patient still arrives" in page
    assert "must_place" not in page and "movable" not in page
    choice = html.unescape(CHOICE.search(page).group(1))
    action = html.unescape(BOOK_ACTION.search(page).group(1))
    response = post_form(desk_client, action, {"choice": choice}, form_page=url)
    assert response.status_code == 302
    assert count(session, Visit) == 2
    assert session.get(Visit, anna.id).announced_at == at(530)
    visit_page = desk_client.get(f"/visits/{anna.id}").get_data(as_text=True).replace("\u202f", " ")
    assert re.search(r"arrives at 0?8:50", visit_page), "the visit page shows the announced arrival"
    assert re.search(r"0?9:00–10:00", visit_page), "and the infusion at its new time"
    assert not re.search(r"0?9:30–10:30", visit_page)


def test_build_instances_builds_each_day_as_build_instance_does(session: Session) -> None:
    pathway = chair_morning(session)
    late_first(session, pathway)
    other = make_patient(session)
    book(session, other.id, pathway, propose(session, other.id, pathway).options[0].choice)
    days = [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=7)]
    built = planning.build_instances(session=session, days=days, unit=UNIT)
    assert built[DAY].booked and len(built[DAY].booked) == 2
    for day in days:
        assert built[day] == planning.build_instance(session=session, day=day, unit=UNIT)


def test_the_day_board_shows_the_new_internal_times_and_the_announced_arrival(session: Session) -> None:
    from clinic.visits.services import day_board

    pathway = chair_morning(session)
    patient = make_patient(session, given_name="Anna")
    anna = book(session, patient.id, pathway, f"{DAY.isoformat()}|reg@desk@545-555|treat@chair@585-645")
    newcomer = make_patient(session, given_name="Bert")
    book(session, newcomer.id, pathway, propose(session, newcomer.id, pathway).options[0].choice)
    session.expire_all()
    board = day_board(session=session, day=DAY, unit=UNIT, now=at(0))
    row = next(r for r in board.rows if r.visit_id == anna.id)
    assert row.first_start == at(545), "the board's arrival is the one the patient was told"
    assert [(s.name, s.planned_start) for s in row.steps] == [
        ("Registration", at(560)),
        ("Infusion", at(600)),
    ]
    chips = [s for lane in board.lanes for cell in lane.cells for s in cell if s.visit_id == anna.id]
    assert sorted(s.planned_start for s in chips) == [at(560), at(600)]


@st.composite
def bookings(draw) -> list[tuple[int, int | str]]:
    """Who books, in order: (patient index, index of the proposal taken, or an itinerary typed by hand
    that a proposal could have shown: infusion 09:00-10:00 ... 10:00-11:00, registration up to an hour before)."""
    out: list[tuple[int, int | str]] = []
    for _ in range(draw(st.integers(2, 6))):
        who = draw(st.integers(0, 5))
        if draw(st.booleans()):
            treat = draw(st.sampled_from([540, 555, 570, 585, 600]))
            reg = treat - 10 - draw(st.sampled_from([0, 15, 30, 50]))
            out.append((who, f"{DAY.isoformat()}|reg@desk@{reg}-{reg + 10}|treat@chair@{treat}-{treat + 60}"))
        else:
            out.append((who, draw(st.integers(0, 2))))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=bookings(), tolerance=st.sampled_from([0, 10, 15, 30]))
def test_bookings_never_move_an_announced_arrival_nor_lose_a_visit(
    session: Session, engine, plan: list[tuple[int, int | str]], tolerance: int
) -> None:
    """Through the services, small busy mornings booked one patient after another: every earlier visit
    stays booked with its announced arrival, its first step within the tolerance, the day clean."""
    empty_all_tables(engine)
    session.expire_all()
    unit = make_unit(arrival_tolerance_minutes=tolerance)
    pathway = chair_morning(session)
    patients = [make_patient(session).id for _ in range(6)]
    announced: dict[int, dt.datetime] = {}
    moves = 0
    for who, pick in plan:
        proposals = booking.propose_visits(
            session=session,
            patient_id=patients[who],
            pathway_id=pathway.id,
            unit=unit,
            availability=ONLY_DAY,
            today=TODAY,
        )
        if isinstance(pick, str):
            choice = pick
        elif proposals.options:
            choice = proposals.options[min(pick, len(proposals.options) - 1)].choice
        else:
            continue
        try:
            visit = booking.book_proposal(
                session=session,
                patient_id=patients[who],
                pathway_id=pathway.id,
                choice=choice,
                unit=unit,
                actor_id=None,
                today=TODAY,
                availability=ONLY_DAY,
            )
        except (booking.SlotTaken, Conflict):
            continue
        moves += session.exec(select(func.count()).where(AuditEvent.action == "visit.rearranged")).one()
        announced[visit.id] = visit.announced_at
        session.expire_all()
        for visit_id, told in announced.items():
            stored = session.get(Visit, visit_id)
            assert stored is not None and stored.status.value == "booked", "a booked visit is never lost"
            assert stored.announced_at == told, "a booking never changes an announced arrival"
            first = min(s.planned_start for s in stored.steps)
            assert told <= first <= told + dt.timedelta(minutes=tolerance)
        assert planning.check_day(session=session, day=DAY, unit=unit) == []
    note(f"re-arranged visits: {moves}")


def test_the_volunteers_list_keeps_the_meeting_time_and_shows_the_new_leave_time(
    handled_session: Session,
) -> None:
    """A long-distance patient told 10:05 is met at 09:55 before and after a booking re-arranges her visit;
    her volunteer's list shows the new time she leaves."""
    from clinic.service.volunteers import volunteer_list
    from tests.volunteer_factories import FAR_KM, make_volunteer

    session = handled_session
    pathway = chair_morning(session, opens=10)
    vera = make_volunteer(session, "Vera")
    far = make_patient(session, given_name="Anna", distance_km=FAR_KM)
    anna = book(session, far.id, pathway, f"{DAY.isoformat()}|reg@desk@605-615|treat@chair@645-705")
    (before,) = volunteer_list(session=session, volunteer_id=vera.id, days=[DAY])
    assert (before.meet_at, before.leave_at) == (at(595), at(705))
    newcomer = make_patient(session, given_name="Bert")
    option = propose(session, newcomer.id, pathway).options[0]
    assert option.moves == 1
    book(session, newcomer.id, pathway, option.choice)
    session.expire_all()
    assert steps_of(session, anna.id)["treat"][:2] == (at(660), at(720))
    (after,) = volunteer_list(session=session, volunteer_id=vera.id, days=[DAY])
    assert after.meet_at == at(595), "met when she was told to come"
    assert after.leave_at == at(720), "the list shows when she now leaves"
