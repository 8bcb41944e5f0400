"""Preferences that bend: when nothing keeps every booking rule, proposals bend the patient's preferences
the least (hard rules never), say so in plain words, and booking one records what it bends."""

import dataclasses
import datetime as dt
import html
import shutil
from pathlib import Path

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.booking import services as booking
from clinic.errors import SeedError, ValidationError
from clinic.unit import booking_rules as br
from clinic.unit.models import Pathway, PathwayStep, PathwayStepDependency, ResourceKind
from clinic.visits.models import Visit
from tests.factories import make_patient, make_resource, make_step_type, make_unit

UNIT = make_unit(tz="Europe/Amsterdam")
TODAY = dt.date(2026, 11, 30)  # a Monday
DECEMBER = booking.Availability(
    earliest=dt.date(2026, 12, 1), latest=dt.date(2026, 12, 31), weekdays=frozenset(range(5))
)
SEED = Path(__file__).resolve().parents[3] / "seed_data"


def _hours(opens: tuple[int, int], closes: tuple[int, int]) -> tuple:
    return tuple((wd, dt.time(*opens), dt.time(*closes)) for wd in range(5))


def demo_like_unit(session: Session) -> Pathway:
    """The demo's oncology rooms and people (desk, lab, two oncologists, chairs and beds, checkout) and its
    oncology infusion day: registration, blood draw, 45 min for the results, the oncologist, 30 min for
    the drugs, three hours in a chair, checkout: 310 minutes at the least."""
    make_resource(session, code="desk-1", name="Registration desk 1", kind=ResourceKind.REGISTRATION,
                  attributes=["wheelchair"], hours=_hours((7, 30), (18, 30)))
    make_resource(session, code="lab", name="Laboratory", kind=ResourceKind.LAB, capacity=3,
                  attributes=["wheelchair"], hours=_hours((7, 30), (16, 0)))
    make_resource(session, code="dr-jansen", name="Dr. Jansen", kind=ResourceKind.CONSULT, attributes=["wheelchair"])
    make_resource(session, code="dr-devries", name="Dr. De Vries", kind=ResourceKind.CONSULT)
    make_resource(session, code="chairs", name="Treatment chairs", kind=ResourceKind.CHAIR, capacity=16,
                  hours=_hours((8, 0), (18, 30)))
    make_resource(session, code="beds", name="Treatment beds", kind=ResourceKind.CHAIR, capacity=4,
                  attributes=["wheelchair"], hours=_hours((8, 0), (18, 30)))
    make_resource(session, code="checkout-1", name="Checkout desk 1", kind=ResourceKind.CHECKOUT,
                  attributes=["wheelchair"], hours=_hours((8, 0), (19, 0)))
    specs = [
        ("reg", ResourceKind.REGISTRATION, 10, "Registration"),
        ("lab", ResourceKind.LAB, 15, "Blood draw"),
        ("cons", ResourceKind.CONSULT, 20, "Consultation"),
        ("treat", ResourceKind.CHAIR, 180, "Infusion treatment"),
        ("out", ResourceKind.CHECKOUT, 10, "Checkout"),
    ]
    steps = [
        PathwayStep(code=code, sequence=n, step_type=make_step_type(session, kind=kind, minutes=minutes, name=name))
        for n, (code, kind, minutes, name) in enumerate(specs, start=1)
    ]
    pathway = Pathway(code="onco-infusion", name="Oncology infusion day", max_visit_minutes=480, steps=steps)
    session.add(pathway)
    session.flush()
    edges = {"lab": ("reg", 0, None), "cons": ("lab", 45, None), "treat": ("cons", 30, 120), "out": ("treat", 0, 60)}
    by_code = {s.code: s for s in steps}
    for code, (before, gap, most) in edges.items():
        by_code[code].dependencies = [PathwayStepDependency(depends_on=by_code[before], min_gap=gap, max_gap=most)]
    session.commit()
    return pathway


def far_senior(session: Session, **kw):
    """74 in December 2026, living 180 km away."""
    return make_patient(session, birth_date=dt.date(1952, 3, 14), distance_km=180.0, **kw)


def propose(session: Session, patient, pathway: Pathway, **kw) -> booking.Proposals:
    return booking.propose_visits(
        session=session, patient_id=patient.id, pathway_id=pathway.id, unit=kw.pop("unit", UNIT),
        availability=kw.pop("availability", DECEMBER), today=TODAY, **kw,
    )


def rules_with(**changes: dict) -> br.BookingRules:
    """The rule file's rules with some rules' fields changed (``home_before_dark={"kind": "hard", "bend": None}``)."""
    data = UNIT.booking_rules.model_dump()
    for rule, fields in changes.items():
        data["rules"][rule].update(fields)
    return br.BookingRules.model_validate(data)


def test_a_far_away_senior_gets_proposals_that_bend_the_least(session: Session) -> None:
    pathway = demo_like_unit(session)
    patient = far_senior(session)
    result = propose(session, patient, pathway)
    assert result.why is not None and result.why.code == "window-too-short"
    assert result.why.window == (10 * 60, 13 * 60 + 30) and result.why.minutes == 310
    assert result.bent and len(result.options) == 5 and result.never is None
    keys = [(len(p.bends), sum(b.minutes for b in p.bends), p.wait_minutes, p.day, p.arrival) for p in result.options]
    assert keys == sorted(keys)
    best = result.options[0]
    assert [b.rule for b in best.bends] == [br.HOME_BEFORE_DARK], "one preference bent beats two"
    dark = best.bends[0]
    assert dark.preferred == booking.home_before_dark(patient, best.day, UNIT.tz)
    assert dark.actual == best.leave and dark.minutes == best.leave - dark.preferred
    assert dark.minutes <= UNIT.booking_rules.rules.home_before_dark.bend.max_minutes
    assert best.arrival >= 10 * 60, "the arrival is not bent when bending the way home is enough"
    assert set(best.support) == {"transport", "volunteer", "reminder_call"}
    assert ";home_before_dark=" in best.choice


def test_the_least_bend_is_taken_when_several_are_needed(session: Session) -> None:
    pathway = demo_like_unit(session)
    patient = far_senior(session)
    an_hour = {"bend": {"step_minutes": 30, "max_minutes": 60}}
    rules = rules_with(long_distance_earliest=an_hour, home_before_dark=an_hour)
    result = propose(session, patient, pathway, unit=dataclasses.replace(UNIT, booking_rules=rules))
    assert result.bent and result.options
    for p in result.options:
        bent = {b.rule: b for b in p.bends}
        assert set(bent) == {br.LONG_DISTANCE_EARLIEST, br.HOME_BEFORE_DARK}, "neither alone makes room"
        assert bent[br.HOME_BEFORE_DARK].minutes <= 60 and bent[br.LONG_DISTANCE_EARLIEST].minutes <= 60
        assert p.arrival == 10 * 60 - bent[br.LONG_DISTANCE_EARLIEST].minutes
    best = {b.rule: b.minutes for b in result.options[0].bends}
    assert best == {br.LONG_DISTANCE_EARLIEST: 60, br.HOME_BEFORE_DARK: 40}, "09:00 to 14:10: 310 minutes"


def test_fewer_bends_rank_before_an_earlier_date(session: Session) -> None:
    from clinic.unit.models import Resource, ResourceClosure

    pathway = demo_like_unit(session)
    thursday = dt.date(2026, 12, 3)
    for code in ("chairs", "beds"):  # the chairs close at 14:00 on Thursday: an earlier arrival as well
        chair = session.exec(select(Resource).where(Resource.code == code)).one()
        session.add(ResourceClosure(resource_id=chair.id, date=thursday, starts=dt.time(14), ends=dt.time(18, 30), reason="Maintenance"))
    session.commit()
    two_days = booking.Availability(earliest=thursday, latest=thursday + dt.timedelta(days=1))
    result = propose(session, far_senior(session), pathway, availability=two_days)
    counts = [(p.day, len(p.bends)) for p in result.options]
    assert (thursday, 2) in counts and (thursday + dt.timedelta(days=1), 1) in counts, counts
    assert [n for _, n in counts] == sorted(n for _, n in counts), "one bend first, though Thursday is sooner"


def test_hard_rules_never_bend(session: Session) -> None:
    pathway = demo_like_unit(session)
    wheelchair = far_senior(session, needs_wheelchair=True)
    result = propose(session, wheelchair, pathway)
    assert result.bent and result.options
    used = {s.resource for p in result.options for s in p.steps}
    assert used <= {"desk-1", "lab", "dr-jansen", "beds", "checkout-1"}, used
    hard = rules_with(
        long_distance_earliest={"kind": "hard", "bend": None}, home_before_dark={"kind": "hard", "bend": None}
    )
    unbending = propose(session, wheelchair, pathway, unit=dataclasses.replace(UNIT, booking_rules=hard))
    assert unbending.options == [] and not unbending.waitlist
    assert unbending.never is not None and unbending.never.code == "window-too-short"


def test_nothing_fits_a_wheelchair_user_where_no_chair_has_access(session: Session) -> None:
    pathway = demo_like_unit(session)
    from clinic.unit.models import Resource

    beds = session.exec(select(Resource).where(Resource.code == "beds")).one()
    beds.attributes = []
    session.add(beds)
    session.commit()
    result = propose(session, far_senior(session, needs_wheelchair=True), pathway)
    assert result.options == [] and not result.waitlist
    assert result.never is not None and result.never.code == "missing-attribute"
    assert result.never.step == "Infusion treatment" and result.never.attribute == "wheelchair"


def test_booking_a_bent_proposal_records_what_it_bends(session: Session) -> None:
    pathway = demo_like_unit(session)
    patient = far_senior(session)
    best = propose(session, patient, pathway).options[0]
    visit = booking.book_proposal(
        session=session, patient_id=patient.id, pathway_id=pathway.id, choice=best.choice, unit=UNIT,
        actor_id=None, availability=DECEMBER, today=TODAY,
    )
    assert visit.date == best.day and len(visit.steps) == 5
    stored = session.get(Visit, visit.id)
    assert stored.notes.startswith("Bends preferences: Home before dark (")
    event = session.exec(select(AuditEvent).where(AuditEvent.entity_id == visit.id)).one()
    assert event.details["bent"] == {br.HOME_BEFORE_DARK: best.bends[0].minutes}


def test_a_choice_may_not_bend_more_than_the_rules_allow(session: Session) -> None:
    pathway = demo_like_unit(session)
    patient = far_senior(session)
    best = propose(session, patient, pathway).options[0]
    unbent = best.choice.replace(best.choice.split("|")[0], best.day.isoformat())
    for bad in (
        unbent,  # the same itinerary without its bend breaks home before dark
        best.choice.replace("home_before_dark=", "wheelchair=").split("|")[0] + "|" + best.choice.split("|", 1)[1],
        best.choice.replace("home_before_dark=120", "home_before_dark=150"),
        best.choice.replace("home_before_dark=120", "home_before_dark=100"),
        best.choice.replace(";home_before_dark=", ";home_before_dark=x"),
    ):
        with pytest.raises(ValidationError) as info:
            booking.book_proposal(
                session=session, patient_id=patient.id, pathway_id=pathway.id, choice=bad, unit=UNIT,
                actor_id=None, today=TODAY,
            )
        assert info.value.field == "choice", bad
    near = make_patient(session, distance_km=5)
    with pytest.raises(ValidationError):  # the rule does not apply to a local patient: nothing to bend
        booking.book_proposal(
            session=session, patient_id=near.id, pathway_id=pathway.id, choice=best.choice, unit=UNIT,
            actor_id=None, today=TODAY,
        )
    assert session.exec(select(Visit)).all() == []


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / br.FILENAME
    path.write_text(text, encoding="utf-8")
    return path


def test_the_rule_file_is_refused_with_file_and_key(tmp_path: Path) -> None:
    good = (SEED / br.FILENAME).read_text(encoding="utf-8")
    assert br.load_booking_rules(SEED / br.FILENAME).rules.senior_max_wait.minutes == 90
    cases = {
        "rules.wheelchair.kind": good.replace("kind: hard\n    attribute", "kind: preference\n    attribute"),
        "rules.home_before_dark.kind": good.replace("kind: preference\n    travel_kmh", "kind: soft\n    travel_kmh"),
        "rules.rush_hour": good.replace("rules:\n", "rules:\n  rush_hour:\n    kind: preference\n"),
        "rules.senior_max_wait.minutes": good.replace("minutes: 90", "minutes: -5"),
        "rules.long_distance_earliest.earliest": good.replace('earliest: "10:00"', 'earliest: "25:00"'),
        "rules.senior_max_wait.bend": good.replace(
            "minutes: 90\n    bend: {step_minutes: 30, max_minutes: 120}", "minutes: 90\n    bend: {step_minutes: 30, max_minutes: 100}"
        ),
    }
    for key, text in cases.items():
        assert text != good, key
        with pytest.raises(SeedError) as info:
            br.load_booking_rules(_write(tmp_path, text))
        assert any(p.startswith(f"booking_rules.yaml: {key}") for p in info.value.problems), (key, info.value.problems)


def test_a_bad_rule_file_stops_the_app_naming_file_and_key(tmp_path: Path) -> None:
    from clinic.bootstrap import unit_from
    from clinic.settings import ConfigError, load_settings

    good = (SEED / br.FILENAME).read_text(encoding="utf-8")
    _write(tmp_path, good.replace("kind: hard", "kind: sometimes"))
    with pytest.raises(ConfigError) as info:
        unit_from(load_settings({"TESTING": True, "SEED_DIR": str(tmp_path)}))
    assert "booking_rules.yaml: rules.wheelchair.kind" in str(info.value)


ENGINE_WORDS = ("arrival window", "leave-by", "The scheduler says", "no room for", "minutes of steps")


def _page(client, url: str, language: str = "en") -> str:
    response = client.get(url, headers={"Accept-Language": language})
    assert response.status_code == 200
    text = html.unescape(response.get_data(as_text=True)).replace("\u202f", " ").replace("\xa0", " ")
    assert [w for w in ENGINE_WORDS if w.lower() in text.lower()] == [], "engine wording on the Book page"
    return text


def test_the_book_page_labels_what_each_proposal_bends(clock, desk_client, session: Session) -> None:
    pathway = demo_like_unit(session)
    patient = far_senior(session)
    url = f"/book/patient/{patient.id}?pathway={pathway.id}&earliest=2026-12-03&latest=2026-12-31"
    english = _page(desk_client, url)
    assert "Nothing fits every preference of this patient." in english
    assert "The steps take at least 5 hours and 10 minutes, but the patient can only be here from 10:00 to 13:30." in english
    assert (
        "Home after dark: leaves at 15:10, an hour and 40 minutes later than 13:30, the latest to be home before dark."
        in english
    )
    assert "The unit can add: a volunteer who meets the patient at the entrance, a reminder call and transport." in english
    assert "Put on the waitlist" not in english, "it never fits as the rules stand: no waitlist"
    dutch = _page(desk_client, url, "nl")
    assert "Niets past bij alle voorkeuren van deze patiënt." in dutch
    assert (
        "Thuis na het donker: vertrekt om 15:10, een uur en 40 minuten later dan 13:30, "
        "het laatste moment om voor het donker thuis te zijn." in dutch
    )
    assert "De afdeling kan toevoegen: een vrijwilliger die de patiënt bij de ingang opvangt" in dutch


def test_the_rule_file_decides_how_far_each_preference_bends(clock, app, desk_client, session: Session, tmp_path) -> None:
    from clinic.app import reconfigure

    seed = tmp_path / "seed"
    shutil.copytree(SEED, seed)
    text = (seed / br.FILENAME).read_text(encoding="utf-8")
    text = text.replace("max_minutes: 120}\n    label:\n      en: Home", "max_minutes: 60}\n    label:\n      en: Home")
    text = text.replace("bend: {step_minutes: 30, max_minutes: 120}\n    label:\n      en: Arrive",
                        "bend: {step_minutes: 30, max_minutes: 60}\n    label:\n      en: Arrive")
    (seed / br.FILENAME).write_text(text, encoding="utf-8")
    assert reconfigure(app, SEED_DIR=str(seed)).unit.booking_rules.rules.home_before_dark.bend.max_minutes == 60
    pathway = demo_like_unit(session)
    patient = far_senior(session)
    url = f"/book/patient/{patient.id}?pathway={pathway.id}&earliest=2026-12-03&latest=2026-12-31"
    english = _page(desk_client, url)
    assert "Arrives at 09:00, an hour earlier than preferred for a long journey." in english
    assert "Home after dark: leaves at 14:10, 40 minutes later than 13:30" in english
    dutch = _page(desk_client, url, "nl")
    assert "Komt om 09:00, een uur eerder dan gewenst bij een lange reis." in dutch
    assert "Thuis na het donker: vertrekt om 14:10, 40 minuten later dan 13:30" in dutch


def test_the_book_page_says_plainly_when_nothing_can_ever_fit(clock, app, desk_client, session: Session) -> None:
    pathway = demo_like_unit(session)
    from clinic.unit.models import Resource

    beds = session.exec(select(Resource).where(Resource.code == "beds")).one()
    beds.attributes = []
    session.add(beds)
    session.commit()
    patient = far_senior(session, needs_wheelchair=True)
    url = f"/book/patient/{patient.id}?pathway={pathway.id}&earliest=2026-12-03&latest=2026-12-31"
    english = _page(desk_client, url)
    assert "Not even bending every preference of the patient makes it fit on any day." in english
    assert "No room or person for “Infusion treatment” has wheelchair access." in english
    assert "It would fit if a room for “Infusion treatment” had wheelchair access." in english
    assert "Put on the waitlist" not in english and "Book this itinerary" not in english
    dutch = _page(desk_client, url, "nl")
    assert "Het zou passen als een ruimte voor “Infusion treatment” rolstoeltoegankelijkheid had." in dutch
