"""A step that needs skills is only given by a resource having them: in proposals, when booking a day, when
re-checking a picked itinerary, and the Book screen says in plain words when nobody has them."""

import datetime as dt

import pytest
from sqlmodel import Session, func, select

from clinic import planning
from clinic.booking import services as booking
from clinic.errors import Conflict, ValidationError
from clinic.unit.models import Pathway, ResourceClosure, ResourceKind
from clinic.visits.models import Visit
from tests.factories import make_pathway, make_patient, make_resource, make_unit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
TODAY = dt.date(2026, 11, 30)  # a Monday
TUESDAY = dt.date(2026, 12, 1)
AFTERNOONS = tuple((wd, dt.time(13), dt.time(17)) for wd in range(5))


def oncology_unit(session: Session, *, oncologist_hours=None) -> dict:
    """A desk, an oncologist, a rheumatologist (open all day) and a checkout; an oncology review pathway
    whose consult needs ``oncology``, and a plain check-up pathway anyone may give."""
    make_resource(session, code="desk", kind=ResourceKind.REGISTRATION)
    onc = make_resource(session, code="onc", kind=ResourceKind.CONSULT, skills=["oncology"], hours=oncologist_hours)
    rheum = make_resource(session, code="rheum", kind=ResourceKind.CONSULT, skills=["rheumatology"])
    make_resource(session, code="out", kind=ResourceKind.CHECKOUT)
    return {
        "onc": onc,
        "rheum": rheum,
        "oncology": make_pathway(session, name="Oncology review", skills={"cons": ["oncology"]}),
        "plain": make_pathway(session, name="Check-up"),
    }


def propose(session: Session, pathway: Pathway, **kw) -> booking.Proposals:
    return booking.propose_visits(
        session=session,
        patient_id=make_patient(session).id,
        pathway_id=pathway.id,
        unit=UNIT,
        availability=booking.Availability(earliest=TODAY, weekdays=frozenset(range(5))),
        today=TODAY,
        **kw,
    )


def book_day(session: Session, pathway: Pathway) -> Visit:
    return booking.book_visit(
        session=session, patient_id=make_patient(session).id, pathway_id=pathway.id, day=TUESDAY, unit=UNIT,
        actor_id=None,
    )


def visits(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Visit)).one()


def consult_resource(visit: Visit) -> str:
    return next(s.resource.code for s in visit.steps if s.pathway_step.code == "cons")


def test_engine_steps_restrict_a_skilled_step_to_the_active_resources_having_the_skills(session: Session) -> None:
    u = oncology_unit(session)
    second = make_resource(session, code="onc2", kind=ResourceKind.CONSULT, skills=["oncology", "rheumatology"])
    make_resource(session, code="onc-gone", kind=ResourceKind.CONSULT, skills=["oncology"], active=False)
    staff = planning.load_staff(session=session)
    steps = {s.id: s for s in planning.engine_steps(u["oncology"], staff=staff)}
    assert steps["cons"].resources == ("onc", "onc2")
    assert steps["reg"].resources is None and steps["out"].resources is None
    assert planning.engine_steps(u["plain"], staff=staff)[1].resources is None
    assert planning.engine_steps(u["oncology"])[1].resources == ("onc", "onc2"), "without staff: the pathway's session"

    cons = next(s for s in u["oncology"].steps if s.code == "cons")
    cons.skills = ["oncology", "rheumatology"]
    assert planning.step_resources(cons, staff) == ("onc2",)
    cons.resource = second
    assert planning.step_resources(cons, staff) == ("onc2",)  # its own resource, which has the skills
    cons.resource, cons.skills = u["onc"], ["oncology", "rheumatology"]
    assert planning.step_resources(cons, staff) == ()  # its own resource lacks rheumatology: nobody
    [missing] = planning.unqualified_steps(u["oncology"], staff)
    assert (missing.step, missing.resource, missing.skills) == ("cons", "onc", ("oncology", "rheumatology"))
    session.rollback()


def test_proposals_never_put_an_oncology_consult_on_the_rheumatologist(session: Session) -> None:
    u = oncology_unit(session, oncologist_hours=AFTERNOONS)  # the rheumatologist is free all morning
    result = propose(session, u["oncology"], k=8, per_day=4)
    assert result.options
    consults = [s for p in result.options for s in p.steps if s.code == "cons"]
    assert {s.resource for s in consults} == {"onc"}
    assert all(s.start >= 13 * 60 for s in consults)
    plain = propose(session, u["plain"], k=8, per_day=4)
    assert "rheum" in {s.resource for p in plain.options for s in p.steps}, "the rheumatologist was free"


def test_booking_a_day_refuses_when_only_a_consultant_without_the_skill_is_free(session: Session) -> None:
    u = oncology_unit(session)
    session.add(ResourceClosure(resource_id=u["onc"].id, date=TUESDAY, reason="Congress"))
    session.commit()
    with pytest.raises(Conflict) as info:
        book_day(session, u["oncology"])
    assert info.value.code == "no_room"
    assert visits(session) == 0
    assert consult_resource(book_day(session, u["plain"])) == "rheum"  # the room was free for a plain consult


def test_a_picked_itinerary_moved_to_a_consultant_without_the_skill_is_refused(session: Session) -> None:
    u = oncology_unit(session)
    patient = make_patient(session)
    proposal = booking.propose_visits(
        session=session, patient_id=patient.id, pathway_id=u["oncology"].id, unit=UNIT,
        availability=booking.Availability(earliest=TODAY), today=TODAY,
    ).options[0]
    assert "@onc@" in proposal.choice
    with pytest.raises(ValidationError) as info:
        booking.book_proposal(
            session=session, patient_id=patient.id, pathway_id=u["oncology"].id,
            choice=proposal.choice.replace("@onc@", "@rheum@"), unit=UNIT, actor_id=None, today=TODAY,
        )
    assert info.value.code == "bad_choice" and "rheum" in info.value.message
    assert visits(session) == 0
    visit = booking.book_proposal(
        session=session, patient_id=patient.id, pathway_id=u["oncology"].id, choice=proposal.choice, unit=UNIT,
        actor_id=None, today=TODAY,
    )
    assert consult_resource(visit) == "onc"


def test_a_skill_nobody_has_is_said_in_plain_words(session: Session) -> None:
    u = oncology_unit(session)
    pathway = make_pathway(session, name="Cardiology check", skills={"cons": ["cardiology"]})
    result = propose(session, pathway)
    assert result.options == [] and result.reason_code == "no-skill"
    assert [(m.step, m.skills) for m in result.unqualified] == [("cons", ("cardiology",))]
    assert result.reason == "no consult resource has the skills cardiology that step Cons needs"
    with pytest.raises(Conflict) as info:
        book_day(session, pathway)
    assert info.value.code == "no_skill"
    assert visits(session) == 0
    assert propose(session, u["oncology"]).options, "the other pathways still book"


def test_the_book_screen_says_nobody_has_the_skill(desk_client, session: Session) -> None:
    oncology_unit(session)
    pathway = make_pathway(session, name="Cardiology check", skills={"cons": ["cardiology"]})
    patient = make_patient(session)
    page = desk_client.get(f"/book/patient/{patient.id}?pathway={pathway.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Nothing fits" in text
    assert "Nobody at the unit has the skills Cons needs (cardiology)" in text
    assert "The scheduler says" not in text and "does not work on this day" not in text
