"""The demo clinic loads in one go and every seeded day is feasible on the shared resources."""

import datetime as dt

from sqlalchemy import func
from sqlmodel import Session, select

from clinic import planning
from clinic.bootstrap import of_app
from clinic.demo import seed
from clinic.patients.models import Patient
from clinic.refill.models import WaitlistEntry
from clinic.service.models import Volunteer
from clinic.unit.models import Pathway, Resource, ResourceClosure, StepType
from clinic.users.models import Role, User
from clinic.users.services import authenticate
from clinic.visits.models import ACTIVE_VISIT_STATUSES, Visit, VisitStatus
from tests.clinic.conftest import SEED_DIR
from tests.factories import make_unit

UNIT = make_unit()


def _count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_demo_counts(demo: dict, demo_session: Session) -> None:
    s = demo_session
    assert _count(s, Patient) == 300
    assert _count(s, Resource) == 19
    assert _count(s, Pathway) >= 5
    assert _count(s, Volunteer) == 8
    assert _count(s, WaitlistEntry) == demo["summary"]["waitlist entries"] == 20
    assert {u.role for u in s.exec(select(User))} == set(Role)
    assert _count(s, Visit) == demo["summary"]["visits"] >= 150
    assert demo["summary"]["unplaced visit wishes"] <= demo["summary"]["visits"] // 10


def test_demo_sign_ins_work(demo_session: Session) -> None:
    for user in seed.read_users(SEED_DIR):
        assert (
            authenticate(session=demo_session, username=user.username, password="onevisit-demo").role
            is user.role
        )
    volunteers = demo_session.exec(select(User).where(User.role == Role.VOLUNTEER)).all()
    assert {v.username for v in volunteers} >= {"volunteer", "henk", "marie"}
    assert all(v.volunteer_id is not None for v in volunteers)


def test_visits_cover_two_weeks_of_weekdays_around_today(demo: dict, demo_session: Session) -> None:
    today = demo["today"]
    days = set(demo_session.exec(select(Visit.date).distinct()))
    assert days, "no visits"
    assert min(days) >= today - dt.timedelta(days=7)
    assert max(days) <= today + dt.timedelta(days=7)
    assert all(d.weekday() < 5 for d in days)
    expected = {
        today + dt.timedelta(days=n) for n in range(-7, 8) if (today + dt.timedelta(days=n)).weekday() < 5
    }
    closed = set(demo_session.exec(select(ResourceClosure.date).where(ResourceClosure.resource_id == None)))  # noqa: E711
    assert days == expected - closed


def test_statuses_follow_the_calendar(demo: dict, demo_session: Session) -> None:
    today = demo["today"]
    rows = demo_session.exec(select(Visit.date, Visit.status)).all()
    past = {status for day, status in rows if day < today}
    future = {status for day, status in rows if day > today}
    assert past <= {VisitStatus.COMPLETED, VisitStatus.NO_SHOW, VisitStatus.CANCELLED}
    assert VisitStatus.COMPLETED in past
    assert future <= {VisitStatus.BOOKED, VisitStatus.CONFIRMED}


def test_every_seeded_day_is_feasible_for_the_engine_checker(demo: dict, demo_session: Session) -> None:
    days = sorted(set(demo_session.exec(select(Visit.date).distinct())))
    for day in days:
        assert planning.check_day(session=demo_session, day=day, unit=UNIT) == [], day
    placed = demo_session.exec(
        select(func.count()).select_from(Visit).where(Visit.status.in_(list(ACTIVE_VISIT_STATUSES)))  # type: ignore[attr-defined]
    ).one()
    assert placed > 100


def test_seed_commands_on_a_loaded_database(demo: dict, demo_session: Session, database_url: str) -> None:
    from clinic import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    runner = app.test_cli_runner()
    before = _count(demo_session, Patient), _count(demo_session, Visit)

    result = runner.invoke(args=["seed", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "nothing loaded" in result.output

    result = runner.invoke(args=["seed"])
    assert result.exit_code == 1
    assert "already holds clinic data" in result.output
    assert "Traceback" not in result.output

    result = runner.invoke(args=["demo-sign-ins"])
    assert result.exit_code == 0
    assert "coordinator" in result.output and "onevisit-demo" in result.output
    of_app(app).engine.dispose()
    assert (_count(demo_session, Patient), _count(demo_session, Visit)) == before


def test_the_same_day_and_seed_give_the_same_plan(
    demo: dict, demo_session: Session, scratch_url: str
) -> None:
    from clinic.db import make_engine, upgrade

    def plan(session: Session) -> list[tuple]:
        rows = session.exec(select(Visit).order_by(Visit.date, Visit.id)).all()
        return [
            (
                v.date,
                v.patient.mrn,
                v.pathway.code,
                v.status,
                tuple((s.planned_start, s.resource.code) for s in v.steps),
            )
            for v in rows
        ]

    upgrade(scratch_url)
    other = make_engine(scratch_url)
    try:
        with Session(other) as session:
            seed.load_demo(session=session, directory=SEED_DIR, unit=UNIT, now=demo["now"])
            assert plan(session) == plan(demo_session)
    finally:
        other.dispose()


def test_the_demo_pathways_and_step_types_have_dutch_and_french_names(demo, demo_session: Session) -> None:
    diabetes = demo_session.exec(select(Pathway).where(Pathway.code == "diabetes-day")).one()
    assert diabetes.names == {"nl": "Diabetesdag", "fr": "Journée diabète"}
    assert (diabetes.name_in("nl"), diabetes.name_in("en"), diabetes.name_in("fr")) == (
        "Diabetesdag", "Diabetes day", "Journée diabète")
    echo = demo_session.exec(select(StepType).where(StepType.code == "echo")).one()
    assert echo.name_in("fr") == "Échocardiographie" and echo.name_in("en") == "Echocardiogram"
    assert all(set(p.names) == {"nl", "fr"} for p in demo_session.exec(select(Pathway)))


def test_demo_steps_needing_skills_are_on_resources_having_them(demo: dict, demo_session: Session) -> None:
    from clinic.booking.services import Availability, propose_visits
    from clinic.unit.models import PathwayStep
    from clinic.visits.models import VisitStep

    oncologists = {"dr-jansen", "dr-devries"}
    onco = demo_session.exec(select(Pathway).where(Pathway.code == "onco-infusion")).one()
    assert {s.code: s.skills for s in onco.steps}["cons"] == ["oncology"]
    stored = [s for s in demo_session.exec(select(VisitStep).join(PathwayStep)).all() if s.pathway_step.skills]
    assert stored
    for step in stored:
        assert set(step.pathway_step.skills) <= set(step.resource.skills), (step.pathway_step.code, step.resource.code)
    onco_consults = {s.resource.code for s in stored if s.pathway_step.pathway_id == onco.id and s.pathway_step.code == "cons"}
    assert onco_consults and onco_consults <= oncologists
    patient = demo_session.exec(select(Patient).order_by(Patient.id)).first()
    proposals = propose_visits(
        session=demo_session, patient_id=patient.id, pathway_id=onco.id, unit=UNIT,
        availability=Availability(earliest=demo["today"]), today=demo["today"], k=8, per_day=4,
    )
    assert proposals.options
    assert {s.resource for p in proposals.options for s in p.steps if s.code == "cons"} <= oncologists
