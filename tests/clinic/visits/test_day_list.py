"""The desk's printable day list (one page per day: arrival, patient, pathway, steps with rooms, transport,
volunteer) and the patient's appointment slip (in the patient's language, with the unit's address)."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from clinic.errors import Conflict, NotFound
from clinic.service.models import TouchChannel, TransportRequest, Volunteer, VolunteerAssignment
from clinic.visits.day_list import appointment_slip, day_list
from clinic.visits.models import VisitStatus
from tests.factories import make_pathway, make_patient, make_visit

ZONE = ZoneInfo("Europe/Amsterdam")
DAY = dt.date(2026, 12, 10)


def _at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), ZONE)


def _visits(session):
    pathway = make_pathway(session, name="Heart check", names={"nl": "Hartcontrole", "fr": "Contrôle cardiaque"})
    early = make_visit(session, patient=make_patient(session, given_name="Ada", family_name="Early", needs_wheelchair=True),
                       pathway=pathway, day=DAY, start=_at(8, 30))  # fmt: skip
    late = make_visit(session, patient=make_patient(session, given_name="Bob", family_name="Late", language="fr"),
                      pathway=pathway, day=DAY, start=_at(11))  # fmt: skip
    make_visit(session, pathway=pathway, day=DAY, start=_at(9), status=VisitStatus.CANCELLED)
    session.add(TransportRequest(visit_id=late.id, patient_id=late.patient_id, wanted=True,
                                 channel=TouchChannel.SMS, answered_at=_at(7, day=DAY - dt.timedelta(days=3))))  # fmt: skip
    volunteer = Volunteer(name="Vera Volunteer", phone="+31612345678", languages=["nl"])
    session.add(volunteer)
    session.flush()
    session.add(VolunteerAssignment(visit_id=early.id, day=DAY, volunteer_id=volunteer.id, reason="long_distance",
                                    meet_at=_at(8, 15), leave_at=_at(10)))  # fmt: skip
    session.commit()
    return early, late


def test_day_list_orders_held_visits_by_arrival_with_steps_transport_and_volunteer(session):
    early, late = _visits(session)
    rows = day_list(session=session, day=DAY)
    assert [r.visit_id for r in rows] == [early.id, late.id]  # the cancelled visit is left out
    first, second = rows
    assert first.arrival == _at(8, 30) and first.volunteer == "Vera Volunteer" and first.transport is None
    assert first.wheelchair and [s.name for s in first.steps] == ["Reg", "Cons", "Out"]
    assert all(s.room for s in first.steps)
    assert second.transport == "to_arrange" and second.volunteer is None
    assert day_list(session=session, day=DAY + dt.timedelta(days=1)) == []


def test_slip_in_the_patients_language_for_a_booked_visit_only(session):
    _early, late = _visits(session)
    slip = appointment_slip(session=session, visit_id=late.id)
    assert slip.language == "fr" and slip.pathway_name == "Contrôle cardiaque"
    assert slip.arrival == _at(11) and slip.minutes == 40 and len(slip.steps) == 3
    late.status = VisitStatus.CHECKED_IN
    session.add(late)
    session.commit()
    with pytest.raises(Conflict):
        appointment_slip(session=session, visit_id=late.id)
    with pytest.raises(NotFound):
        appointment_slip(session=session, visit_id=999999)


def test_list_and_slip_give_the_announced_arrival_when_re_arranging_moved_the_steps_later(session):
    early, _late = _visits(session)
    early.announced_at = _at(8, 30)
    for step in early.steps:  # re-arranged inside the 15-minute tolerance: the patient still comes at 08:30
        step.planned_start += dt.timedelta(minutes=10)
        step.planned_end += dt.timedelta(minutes=10)
        session.add(step)
    session.add(early)
    session.commit()
    row = day_list(session=session, day=DAY)[0]
    assert row.arrival == _at(8, 30) and row.steps[0].starts == _at(8, 40)
    slip = appointment_slip(session=session, visit_id=early.id)
    assert slip.arrival == _at(8, 30) and slip.steps[0].starts == _at(8, 40) and slip.minutes == 50


def test_the_printed_list_names_pathways_and_steps_in_the_readers_language(client, signed_in, session):
    from clinic.users.models import Role

    early, _late = _visits(session)
    step_type = early.steps[1].pathway_step.step_type
    step_type.names = {"nl": "Spreekuur"}
    session.add(step_type)
    session.commit()
    signed_in(client, Role.FRONT_DESK, username="balie", language="nl")
    body = re.sub(r"\s+", " ", client.get(f"/board/print?day={DAY}").get_data(as_text=True))
    row = body.split(f'id="list-visit-{early.id}"')[1].split("</tr>")[0]
    assert "Hartcontrole" in row and "Spreekuur" in row and "Heart check" not in row


def test_printed_day_list_one_section_per_day(desk_client, session):
    early, late = _visits(session)
    page = desk_client.get(f"/board/print?day={DAY}&days=3")
    body = re.sub(r"\s+", " ", page.get_data(as_text=True))
    assert page.status_code == 200
    assert body.count('class="print-day"') == 3 and "desk-print.css" in body
    assert body.index("Ada Early") < body.index("Bob Late")
    row = body.split(f'id="list-visit-{late.id}"')[1].split("</tr>")[0]
    assert "11:00" in row and "To arrange" in row and "Heart check" in row
    assert "Vera Volunteer" in body.split(f'id="list-visit-{early.id}"')[1].split("</tr>")[0]
    assert "No visits on this day." in body


def test_print_css_puts_each_day_on_its_own_page():
    from pathlib import Path

    css = (Path(__file__).resolve().parents[3] / "clinic/static/css/desk-print.css").read_text()
    printing = css.split("@media print")[1]
    assert ".print-day { break-after: page" in printing and ".site-header" in printing


@pytest.mark.parametrize("query", ["day=garbage", "days=0", "days=15", "days=abc", "day=2026-02-30", "day=9999-12-31&days=14", "day=0001-01-01"])
def test_bad_day_list_input_is_a_400(desk_client, query):
    response = desk_client.get(f"/board/print?{query}")
    assert response.status_code == 400 and "Day list" in response.get_data(as_text=True)


def test_slip_page_is_in_the_patients_language_with_the_units_address(desk_client, session, app):
    from clinic.app import reconfigure

    reconfigure(app, UNIT_NAME="Dagbehandeling Zuid", UNIT_ADDRESS="Ziekenhuisweg 1, 1234 AB Zuid",
                DESK_PHONE="+31301234567")  # fmt: skip
    early, late = _visits(session)
    page = desk_client.get(f"/visits/{late.id}/slip")
    body = re.sub(r"\s+", " ", page.get_data(as_text=True))
    assert page.status_code == 200
    assert "Votre rendez-vous" in body and "Contrôle cardiaque" in body and "Ce qu" in body
    assert "Dagbehandeling Zuid" in body and "Ziekenhuisweg 1, 1234 AB Zuid" in body and "+31 30 123 4567" in body
    assert "11:00" in body and "40 minutes" in body
    dutch = re.sub(r"\s+", " ", desk_client.get(f"/visits/{early.id}/slip").get_data(as_text=True))
    assert "Uw afspraak" in dutch and "Hartcontrole" in dutch and "rolstoel" in dutch
    assert f'href="/visits/{early.id}/slip"' in desk_client.get(f"/visits/{early.id}").get_data(as_text=True)


def test_no_slip_for_a_visit_that_started_or_does_not_exist(desk_client, session):
    visit = make_visit(session, pathway=make_pathway(session), day=DAY, start=_at(9), status=VisitStatus.IN_PROGRESS)
    response = desk_client.get(f"/visits/{visit.id}/slip")
    assert response.status_code == 303
    assert "no appointment slip" in desk_client.get(response.headers["Location"]).get_data(as_text=True)
    unplanned = make_visit(session, day=DAY)
    assert desk_client.get(f"/visits/{unplanned.id}/slip").status_code == 303
    assert desk_client.get("/visits/999999/slip").status_code == 404
    assert f'href="/visits/{visit.id}/slip"' not in desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
