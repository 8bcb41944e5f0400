"""The volunteers' screens: the volunteer's own phone list with Met / Not met, the coordinator's day (re-run,
override, printable list), the desk's "ask for a volunteer", the Outbox's volunteer notices, and the handler
that re-matches after a change of visit."""

import datetime as dt
import logging
import re

import pytest
from sqlmodel import select

from clinic.bootstrap import of_app
from clinic.service import volunteer_notices
from clinic.service import volunteers as service
from clinic.service.models import AssignmentSource, MeetingOutcome, VolunteerAssignment, VolunteerNotice
from clinic.users.models import Role
from clinic.visits.models import VisitStatus
from tests.factories import make_unit
from tests.volunteer_factories import TZ, make_day_visit, make_volunteer

UNIT = make_unit()


def _today(app) -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(dt.UTC).astimezone(ZoneInfo(of_app(app).unit.tz)).date()


def _match(session, day):
    return service.match_day(session=session, day=day, unit=UNIT, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))


def _rows(session):
    session.expire_all()
    return {r.visit_id: r for r in session.exec(select(VolunteerAssignment))}


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def day_with_two_volunteers(app, session):
    today = _today(app)
    vera = make_volunteer(session, "Vera Visser", languages=("nl", "en"))
    henk = make_volunteer(session, "Henk Mulder", languages=("nl",))
    mine = make_day_visit(session, today, 10, given_name="Johanna", family_name="Zwart", needs_wheelchair=True)
    later = make_day_visit(session, today + dt.timedelta(days=1), 11, given_name="Kees", family_name="Kok")
    _match(session, today)
    _match(session, today + dt.timedelta(days=1))
    return {"today": today, "vera": vera, "henk": henk, "mine": mine, "later": later}


def _sign_in_as(client, signed_in, volunteer, username):
    return signed_in(client, Role.VOLUNTEER, username=username, display_name=volunteer.name, volunteer_id=volunteer.id)


def test_the_volunteer_sees_only_their_own_list_and_only_allowed_fields(client, session, signed_in,
                                                                        day_with_two_volunteers):
    d = day_with_two_volunteers
    rows = _rows(session)
    owner = d["vera"] if rows[d["mine"].id].volunteer_id == d["vera"].id else d["henk"]
    _sign_in_as(client, signed_in, owner, "owner")
    page = _text(client.get("/volunteer/"))
    assert "Johanna Z." in page and "Wheelchair" in page and "Main entrance" in page
    patient = d["mine"].patient
    for forbidden in (patient.mrn, patient.phone, "Zwart", patient.address_line, d["mine"].pathway.name):
        assert forbidden not in page
    assert ">Met<" in page and ">Not met<" in page
    others = [r for r in rows.values() if r.volunteer_id != owner.id]
    for row in others:
        assert _text(client.get("/volunteer/")).count(f'id="patient-{row.id}"') == 0


def test_met_is_recorded_for_todays_own_patient_only(client, session, signed_in, post_form, day_with_two_volunteers):
    d = day_with_two_volunteers
    rows = _rows(session)
    today_row = rows[d["mine"].id]
    owner = d["vera"] if today_row.volunteer_id == d["vera"].id else d["henk"]
    _sign_in_as(client, signed_in, owner, "owner")
    response = post_form(client, f"/volunteer/assignments/{today_row.id}/outcome", {"outcome": "met"},
                         form_page="/volunteer/")
    assert response.status_code == 303
    assert _rows(session)[d["mine"].id].outcome == MeetingOutcome.MET
    assert "marked as met" in _text(client.get("/volunteer/"))
    bad = post_form(client, f"/volunteer/assignments/{today_row.id}/outcome", {"outcome": "perhaps"},
                    form_page="/volunteer/")
    assert bad.status_code == 303 and _rows(session)[d["mine"].id].outcome == MeetingOutcome.MET
    tomorrow_row = rows[d["later"].id]
    if tomorrow_row.volunteer_id == owner.id:
        post_form(client, f"/volunteer/assignments/{tomorrow_row.id}/outcome", {"outcome": "met"}, form_page="/volunteer/")
        assert _rows(session)[d["later"].id].outcome is None
    else:
        refused = post_form(client, f"/volunteer/assignments/{tomorrow_row.id}/outcome", {"outcome": "met"},
                            form_page="/volunteer/")
        assert refused.status_code == 403


def test_another_volunteers_patient_is_refused(client, session, signed_in, post_form, day_with_two_volunteers):
    d = day_with_two_volunteers
    row = _rows(session)[d["mine"].id]
    stranger = make_volunteer(session, "Stranger")
    _sign_in_as(client, signed_in, stranger, "stranger")
    assert "Johanna" not in _text(client.get("/volunteer/"))
    response = post_form(client, f"/volunteer/assignments/{row.id}/outcome", {"outcome": "met"}, form_page="/volunteer/")
    assert response.status_code == 403
    assert _rows(session)[d["mine"].id].outcome is None
    assert client.get(f"/volunteers/{row.volunteer_id}/print").status_code == 403
    assert client.get("/volunteers/").status_code == 403


def test_an_outcome_post_without_csrf_is_refused(client, session, signed_in, day_with_two_volunteers):
    d = day_with_two_volunteers
    row = _rows(session)[d["mine"].id]
    owner = d["vera"] if row.volunteer_id == d["vera"].id else d["henk"]
    _sign_in_as(client, signed_in, owner, "owner")
    assert client.post(f"/volunteer/assignments/{row.id}/outcome", data={"outcome": "met"}).status_code == 400
    assert _rows(session)[d["mine"].id].outcome is None


def test_the_coordinator_sees_the_day_with_reasons_and_overrides(coordinator_client, session, post_form,
                                                                  day_with_two_volunteers):
    d = day_with_two_volunteers
    today = d["today"]
    lonely = make_day_visit(session, today, 10, 5, given_name="Lotte", family_name="Laat")
    late = make_day_visit(session, today, 20, given_name="Nina", family_name="Nacht")
    _match(session, today)
    page = _text(coordinator_client.get(f"/volunteers/?day={today.isoformat()}"))
    assert "Johanna Zwart" in page and "Lotte Laat" in page and "Nina Nacht" in page
    assert "Nobody is available for the whole stay" in page  # Nina's stay is after everyone's hours
    assert "Printable list of Vera Visser" in page
    rows = _rows(session)
    target = rows[d["mine"].id]
    other = d["henk"] if target.volunteer_id == d["vera"].id else d["vera"]
    response = post_form(coordinator_client, f"/volunteers/assignments/{target.id}/override",
                         {"volunteer_id": str(other.id)}, form_page=f"/volunteers/?day={today.isoformat()}")
    assert response.status_code == 303
    changed = _rows(session)[d["mine"].id]
    assert (changed.volunteer_id, changed.source) == (other.id, AssignmentSource.OVERRIDE)
    assert "Chosen by the coordinator" in _text(coordinator_client.get(f"/volunteers/?day={today.isoformat()}"))
    bad = post_form(coordinator_client, f"/volunteers/assignments/{target.id}/override", {"volunteer_id": "x1"},
                    form_page="/volunteers/", follow_redirects=True)
    assert "Choose a volunteer from the list." in _text(bad)
    assert rows[late.id].volunteer_id is None and rows[lonely.id] is not None


def test_rerun_matching_and_bad_day(coordinator_client, session, post_form, day_with_two_volunteers):
    today = day_with_two_volunteers["today"]
    extra = make_day_visit(session, today, 15)
    assert extra.id not in _rows(session)
    response = post_form(coordinator_client, "/volunteers/match", {"day": today.isoformat()},
                         form_page="/volunteers/", follow_redirects=True)
    assert "Matching done" in _text(response)
    assert _rows(session)[extra.id].volunteer_id is not None
    bad = coordinator_client.get("/volunteers/?day=31-02-2026")
    assert bad.status_code == 400 and "YYYY-MM-DD" in _text(bad)


def test_the_printable_list_shows_the_volunteers_patients_without_contact_data(coordinator_client, session,
                                                                              day_with_two_volunteers):
    d = day_with_two_volunteers
    row = _rows(session)[d["mine"].id]
    page = _text(coordinator_client.get(f"/volunteers/{row.volunteer_id}/print?day={d['today'].isoformat()}"))
    assert "Johanna Z." in page and "css/volunteers.css" in page
    assert d["mine"].patient.mrn not in page and d["mine"].patient.phone not in page
    assert coordinator_client.get("/volunteers/999999/print").status_code == 404


def test_the_desk_asks_for_a_volunteer_from_the_visit_page(desk_client, session, post_form, app):
    today = _today(app)
    vera = make_volunteer(session, "Vera Visser")
    visit = make_day_visit(session, today, 11, far=False)
    page = _text(desk_client.get(f"/visits/{visit.id}"))
    assert "Ask for a volunteer" in page and f"/volunteers/visits/{visit.id}/flag" in page
    response = post_form(desk_client, f"/volunteers/visits/{visit.id}/flag", {}, form_page=f"/visits/{visit.id}",
                         follow_redirects=True)
    assert "Vera Visser will meet the patient" in _text(response)
    assert _rows(session)[visit.id].volunteer_id == vera.id
    assert desk_client.get("/volunteers/").status_code == 403
    missing = post_form(desk_client, "/volunteers/visits/999999/flag", {}, form_page=f"/visits/{visit.id}")
    assert missing.status_code == 404


def test_the_outbox_shows_volunteer_notices(desk_client, session, day_with_two_volunteers):
    d = day_with_two_volunteers
    tomorrow = d["today"] + dt.timedelta(days=1)
    volunteer_notices.queue_notices(session=session, day=tomorrow, now=dt.datetime.now(dt.UTC), tz=TZ)
    notice = session.exec(select(VolunteerNotice)).one()
    page = _text(desk_client.get("/outbox"))
    assert "Volunteers&#39; lists by SMS" in page or "Volunteers' lists by SMS" in page
    assert f'id="volunteer-notice-{notice.id}"' in page and "Kees K." in page


def test_the_handlers_rematch_after_a_cancellation_and_never_break_it(session, handled_session, caplog,
                                                                     monkeypatch, day_with_two_volunteers):
    from clinic import events

    d = day_with_two_volunteers
    visit = d["mine"]
    visit.status = VisitStatus.CANCELLED
    session.add(visit)
    session.commit()
    events.record(handled_session, events.VisitCancelled(visit_id=visit.id))
    handled_session.commit()
    assert visit.id not in _rows(session)

    def broken(**_kw):
        raise RuntimeError("matcher down")

    monkeypatch.setattr(service, "match_visit_day", broken)
    with caplog.at_level(logging.ERROR):
        events.record(handled_session, events.VisitMoved(visit_id=d["later"].id))
        handled_session.commit()
    assert re.search(r"match_volunteers after VisitMoved\(visit_id=\d+.*\) failed", caplog.text)


def test_the_visit_page_shows_the_matched_volunteer_and_check_in_defaults_to_them(desk_client, session,
                                                                                 day_with_two_volunteers):
    d = day_with_two_volunteers
    visit = d["mine"]
    assigned = _rows(session)[visit.id].volunteer_id
    name = {d["vera"].id: "Vera Visser", d["henk"].id: "Henk Mulder"}[assigned]
    page = _text(desk_client.get(f"/visits/{visit.id}"))
    assert f"Volunteer meeting this patient: {name}" in page
    chosen = re.search(r'<option[^>]*selected[^>]*value="(\d+)"|<option[^>]*value="(\d+)"[^>]*selected', page)
    assert chosen is not None and int(chosen.group(1) or chosen.group(2)) == assigned


def test_patients_who_left_are_off_the_volunteers_list(session, day_with_two_volunteers):
    d = day_with_two_volunteers
    visit = d["mine"]
    volunteer_id = _rows(session)[visit.id].volunteer_id
    assert [r.first_name for r in service.volunteer_list(session=session, volunteer_id=volunteer_id,
                                                         days=[d["today"]])] == ["Johanna"]  # fmt: skip
    visit.status = VisitStatus.COMPLETED  # checked out: gone home
    session.add(visit)
    session.commit()
    assert service.volunteer_list(session=session, volunteer_id=volunteer_id, days=[d["today"]]) == []


def test_the_boards_one_tap_check_in_keeps_the_matched_volunteer(desk_client, session, form_token,
                                                                 day_with_two_volunteers):
    from clinic.visits.models import VisitCheckin

    d = day_with_two_volunteers
    visit = d["mine"]
    assigned = _rows(session)[visit.id].volunteer_id
    token = form_token(desk_client, "/board")
    response = desk_client.post(f"/visits/{visit.id}/check-in", data={"csrf_token": token})
    assert response.status_code == 303
    checkin = session.exec(select(VisitCheckin).where(VisitCheckin.visit_id == visit.id)).one()
    assert checkin.volunteer_id == assigned is not None
