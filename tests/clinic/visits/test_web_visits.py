"""The visit page over HTTP: steps with planned and actual times, check-in with flags, start and finish."""

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from clinic.audit.models import AuditEvent
from clinic.billing.models import Invoice
from clinic.service.models import Volunteer
from clinic.web.clock import clinic_today
from tests.clinic.visits.test_board import _anchor, _open_resources
from tests.factories import make_pathway, make_patient, make_visit

#: Visits start minutes before now on the clinic's clock: at 14:00 there, whatever the hour of the run.
pytestmark = pytest.mark.usefixtures("clock")


def _visit(session, app, *, day=None, minutes_ago=5, **patient):
    with app.app_context():
        today = clinic_today()
    return make_visit(
        session,
        patient=make_patient(session, given_name="Vera", family_name="Visit", **patient),
        pathway=make_pathway(session, name="Oncology day"),
        day=day or today,
        start=_anchor(app, minutes_ago) + ((day - today) if day else dt.timedelta(0)),
        resources=_open_resources(session),
    )


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_visit_page_shows_steps_and_the_check_in_flags(desk_client, session, app):
    visit = _visit(session, app, distance_km=140, needs_interpreter=True)
    html = _text(desk_client.get(f"/visits/{visit.id}"))
    assert "Visit of Vera Visit" in html and "Oncology day" in html
    assert "Long distance: give a free coffee voucher" in html and "Interpreter needed" in html
    assert 'for="volunteer_id"' in html and 'for="notes"' in html and "Transport home is booked" in html
    assert html.count("<tr class=\"step step--planned\"") == 3
    assert f'href="/patients/{visit.patient_id}"' in html


def test_check_in_then_start_and_finish_a_step(desk_client, session, app):
    volunteer = Volunteer(name="Vic Helper", phone="+31612345670")
    session.add(volunteer)
    session.commit()
    visit = _visit(session, app, distance_km=140)
    page = desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
    response = desk_client.post(
        f"/visits/{visit.id}/check-in",
        data={"csrf_token": _token(page), "transport_booked": "y", "volunteer_id": str(volunteer.id), "notes": "taxi"},
    )
    assert response.status_code == 303 and response.headers["Location"] == f"/visits/{visit.id}"
    html = _text(desk_client.get(f"/visits/{visit.id}"))
    voucher = re.search(r"Coffee voucher: (C[0-9]+-[0-9A-F]{5})", html)
    assert voucher and "Checked in at" in html and "Transport booked" in html and "Volunteer: Vic Helper" in html
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "visit.checked_in")).all()
    assert event.actor_id is not None and event.entity_id == visit.id

    step_id = visit.steps[0].id
    token = _token(html)
    assert f'action="/visits/{visit.id}/steps/{step_id}"' in html and "Start Reg" in html
    started = desk_client.post(f"/visits/{visit.id}/steps/{step_id}", data={"csrf_token": token, "action": "start", "next": "/board"})
    assert started.status_code == 303 and started.headers["Location"] == "/board"
    html = _text(desk_client.get(f"/visits/{visit.id}"))
    assert "Finish Reg" in html and "In progress" in html and "…" in html
    again = desk_client.post(f"/visits/{visit.id}/steps/{step_id}", data={"csrf_token": token, "action": "start"})
    assert again.status_code == 409 and "current state" in again.get_data(as_text=True)
    finished = desk_client.post(f"/visits/{visit.id}/steps/{step_id}", data={"csrf_token": token, "action": "finish"})
    assert finished.status_code == 303
    html = _text(desk_client.get(f"/visits/{visit.id}"))
    assert "Start Cons" in html and 'class="step step--done"' in html


def test_check_out_and_cancel_links_only_when_those_pages_exist(desk_client, session, app):
    visit = _visit(session, app)
    html = desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
    if "refill.cancel" in app.view_functions:
        assert "Cancel or no-show" in html
    else:
        assert "Cancel or no-show" not in html
    assert "Check out" not in html  # booked, not yet under way


def test_tomorrows_visit_has_no_check_in_and_a_forced_post_gets_a_message(desk_client, session, app):
    with app.app_context():
        tomorrow = clinic_today() + dt.timedelta(days=1)
    visit = _visit(session, app, day=tomorrow)
    html = desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
    assert 'id="check-in"' not in html
    response = desk_client.post(f"/visits/{visit.id}/check-in", data={"csrf_token": _token(html)})
    assert response.status_code == 409 and "only on the visit&#39;s day" in response.get_data(as_text=True)


def test_bad_ids_and_params_never_give_a_500(desk_client, session, app):
    visit = _visit(session, app)
    other = _visit(session, app)
    token = _token(desk_client.get(f"/visits/{visit.id}").get_data(as_text=True))
    assert desk_client.get("/visits/999999").status_code == 404
    assert desk_client.get("/visits/abc").status_code == 404
    assert desk_client.post("/visits/999999/check-in", data={"csrf_token": token}).status_code == 404
    assert desk_client.post(f"/visits/{visit.id}/steps/{other.steps[0].id}", data={"csrf_token": token, "action": "start"}).status_code == 404
    assert desk_client.post(f"/visits/{visit.id}/steps/999999", data={"csrf_token": token, "action": "start"}).status_code == 404
    assert desk_client.post("/visits/999999/steps/1", data={"csrf_token": token, "action": "start"}).status_code == 404
    assert desk_client.post(f"/visits/{visit.id}/steps/{visit.steps[0].id}", data={"csrf_token": token, "action": "explode"}).status_code == 400
    bad_volunteer = desk_client.post(f"/visits/{visit.id}/check-in", data={"csrf_token": token, "volunteer_id": "77"})
    assert bad_volunteer.status_code == 400 and 'id="volunteer_id-error"' in bad_volunteer.get_data(as_text=True)
    assert desk_client.post(f"/visits/{visit.id}/check-in", data={}).status_code == 400  # no CSRF token


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    transport=st.sampled_from(["", "y", "on", "\x00", "1" * 300]),
    volunteer=st.one_of(st.text(max_size=12), st.integers(-5, 10**12).map(str)),
    notes=st.text(max_size=600),
    next_url=st.text(max_size=40),
)
def test_check_in_form_fuzz_never_gives_a_500(desk_client, session, app, transport, volunteer, notes, next_url):
    visit = _visit(session, app)
    token = _token(desk_client.get(f"/visits/{visit.id}").get_data(as_text=True))
    response = desk_client.post(
        f"/visits/{visit.id}/check-in",
        data={"csrf_token": token, "transport_booked": transport, "volunteer_id": volunteer, "notes": notes, "next": next_url},
    )
    assert response.status_code in (303, 400, 409)
    if response.status_code == 303:
        assert response.headers["Location"].startswith("/")


def test_volunteers_get_403(volunteer_client, session, app):
    visit = _visit(session, app)
    assert volunteer_client.get(f"/visits/{visit.id}").status_code == 403
    assert volunteer_client.post(f"/visits/{visit.id}/check-in", data={}).status_code in (400, 403)
    assert session.exec(select(Invoice)).all() == []


def test_pages_render_in_dutch_and_french(desk_client, session, app):
    visit = _visit(session, app, distance_km=140)
    for language in ("nl", "fr"):
        headers = {"Accept-Language": language}
        for path in (f"/visits/{visit.id}", f"/patients/{visit.patient_id}", "/board", "/board/live"):
            response = desk_client.get(path, headers=headers)
            assert response.status_code == 200, (language, path)
            assert f'lang="{language}"' in response.get_data(as_text=True) or path == "/board/live"


def test_the_board_offers_the_clerks_own_undo_and_refuses_someone_elses(desk_client, session, app, signed_in):
    visit = _visit(session, app)
    page = desk_client.get(f"/visits/{visit.id}").get_data(as_text=True)
    desk_client.post(f"/visits/{visit.id}/check-in", data={"csrf_token": _token(page)})
    board = _text(desk_client.get("/board"))
    assert "Your last action: check-in for Vera Visit" in board and 'id="undo-button"' in board
    audit_id = re.search(r'name="audit_id" value="(\d+)"', board).group(1)

    other = app.test_client()
    from clinic.users.models import Role

    signed_in(other, Role.FRONT_DESK, username="desk2", display_name="Other Desk")
    other_page = other.get(f"/visits/{visit.id}").get_data(as_text=True)
    assert 'id="undo-button"' not in other_page  # not their action
    refused = other.post(f"/visits/{visit.id}/undo", data={"csrf_token": _token(other_page), "audit_id": audit_id})
    assert refused.status_code == 409 and "You can only undo your own action." in _text(refused)

    undone = desk_client.post(f"/visits/{visit.id}/undo", data={"csrf_token": _token(board), "audit_id": audit_id,
                                                                "next": "/board"})  # fmt: skip
    assert undone.status_code == 303 and undone.headers["Location"] == "/board"
    assert "Undone: check-in." in _text(desk_client.get("/board"))
    session.refresh(visit)
    assert visit.status.value == "booked"
