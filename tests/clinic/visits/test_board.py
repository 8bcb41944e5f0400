"""The day board over HTTP: phases, markers, timeline, the live fragment and re-planning the rest of today."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from clinic.audit.models import AuditEvent
from clinic.bootstrap import of_app
from clinic.unit.models import ResourceKind
from clinic.visits import journey
from clinic.visits.models import VisitStep
from clinic.web.clock import clinic_today
from tests.factories import make_pathway, make_patient, make_resource, make_visit

ALWAYS_OPEN = tuple((wd, dt.time(0, 0), dt.time(23, 59)) for wd in range(7))


def _anchor(app, minutes_ago: int) -> dt.datetime:
    """A start ``minutes_ago`` minutes back on the clinic's clock; with the ``clock`` fixture it is 14:00
    there, so the start is today and the rest of the day has room whatever the hour of the run."""
    now = dt.datetime.now(ZoneInfo(of_app(app).unit.tz))
    start = (now - dt.timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
    assert start.date() == now.date(), "this start fell on another day: use the clock fixture"
    return start


def _open_resources(session):
    return {
        kind: make_resource(session, kind=kind, hours=ALWAYS_OPEN)
        for kind in (ResourceKind.REGISTRATION, ResourceKind.CONSULT, ResourceKind.CHECKOUT)
    }


def _today_visits(session, app, n=2, minutes_ago=30, **patient):
    with app.app_context():
        today = clinic_today()
    pathway = make_pathway(session, name="Diabetes day")
    resources = _open_resources(session)
    return [
        make_visit(
            session,
            patient=make_patient(session, given_name=f"Pat{i}", family_name="Board", **patient),
            pathway=pathway,
            day=today,
            start=_anchor(app, minutes_ago - 40 * i),
            resources=resources,
        )
        for i in range(n)
    ]


def _start_first_step(session, app, visit, at=None) -> None:
    """Check the patient in (today, on the clinic's clock) and start their first step at ``at``."""
    unit = of_app(app).unit
    journey.check_in(session=session, visit_id=visit.id, actor_id=None, unit=unit)
    journey.step_action(
        session=session, visit_id=visit.id, visit_step_id=visit.steps[0].id, action="start", actor_id=None,
        unit=unit, at=at,
    )


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@pytest.mark.usefixtures("clock")
def test_board_shows_phases_markers_timeline_and_the_live_script(desk_client, session, app):
    late, later = _today_visits(session, app, minutes_ago=30)
    html = _text(desk_client.get("/board"))
    assert 'src="/static/js/board.js"' in html and 'data-live-url="/board/live?day=' in html
    assert "<script>" not in html  # CSP: no inline script
    assert "Expected" in html and "Where patients are" in html
    assert "Timeline per resource" in html and 'class="chip chip--planned' in html
    assert f'action="/visits/{late.id}/check-in"' in html
    assert f'href="/patients/{late.patient_id}"' in html and f'href="/visits/{later.id}"' in html
    assert "Late 30 min" in html or "Late 29 min" in html or "Late 31 min" in html
    assert "Re-plan the rest of the day" in html


@pytest.mark.usefixtures("clock")
def test_live_fragment_follows_the_day_without_the_page_around_it(desk_client, session, app):
    visit, _other = _today_visits(session, app)
    first = desk_client.get("/board/live")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    body = first.get_data(as_text=True)
    assert "<html" not in body and "Updated at" in body and "Pat0 Board" in body
    _start_first_step(session, app, visit)
    assert "In step: Reg" in _text(desk_client.get("/board/live"))
    other_day = desk_client.get("/board/live?day=2020-01-01")
    assert other_day.status_code == 200 and "No visits on this day." in other_day.get_data(as_text=True)


def test_bad_parameters_never_give_a_500(desk_client):
    assert desk_client.get("/board/live?day=garbage").status_code == 400
    assert desk_client.get("/board/live?day=2026-13-45").status_code == 400
    for query in ("visit=abc", "visit=-3&expected=10:00", "visit=5", "expected=25:99", "expected=10:00"):
        response = desk_client.get(f"/board/replan?{query}")
        assert response.status_code == 400, query
    assert desk_client.get("/board/replan?visit=999999&expected=10:00").status_code in (200, 409)


def test_volunteers_get_403_and_strangers_sign_in(volunteer_client, app):
    for path in ("/board", "/board/live", "/board/replan"):
        assert volunteer_client.get(path).status_code == 403, path
    assert volunteer_client.post("/board/replan", data={}).status_code in (400, 403)
    anonymous = app.test_client()
    assert anonymous.get("/board/live").status_code == 302


@pytest.mark.usefixtures("clock")
def test_replan_page_shows_moves_and_the_clerk_applies_them(desk_client, session, app, post_form):
    app.config["REPLAN_SECONDS"] = 0.5
    visit, _other = _today_visits(session, app, minutes_ago=45)
    _start_first_step(session, app, visit, at=visit.steps[0].planned_start)
    page = desk_client.get("/board/replan")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Re-plan the rest of the day" in html
    assert "Apply the re-plan" in html  # the other visit started 5 minutes ago and nobody is there
    assert "What moves" in html and "<del>" in html and "<ins>" in html
    moves = re.search(r'name="moves"[^>]*value="([^"]*)"', html).group(1).replace("&#34;", '"').replace("&quot;", '"')
    fingerprint = re.search(r'name="fingerprint"[^>]*value="([^"]*)"', html).group(1)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    before = {s.id: s.planned_start for s in session.exec(select(VisitStep)).all()}
    response = desk_client.post("/board/replan", data={"moves": moves, "fingerprint": fingerprint, "csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/board"
    assert "Re-plan applied" in desk_client.get("/board").get_data(as_text=True)
    session.expire_all()
    after = {s.id: s.planned_start for s in session.exec(select(VisitStep)).all()}
    assert after != before
    assert any(e.action == "visit.replanned" and e.actor_id for e in session.exec(select(AuditEvent)).all())
    again = desk_client.post("/board/replan", data={"moves": moves, "fingerprint": fingerprint, "csrf_token": token})
    assert again.status_code == 409 and "The day changed" in again.get_data(as_text=True)


def test_apply_with_garbage_or_without_csrf_is_refused(desk_client, form_token):
    token = form_token(desk_client, "/board")
    assert desk_client.post("/board/replan", data={"moves": "[[1]]", "fingerprint": "x", "csrf_token": token}).status_code == 400
    assert desk_client.post("/board/replan", data={"moves": "", "fingerprint": "", "csrf_token": token}).status_code == 400
    assert desk_client.post("/board/replan", data={"moves": "[]", "fingerprint": "x"}).status_code == 400


def test_the_boards_time_formatter_matches_babel_in_every_language(app):
    from clinic.i18n import format_time
    from clinic.visits.board_views import _time_formatter

    day = dt.date(2026, 3, 29)  # the clocks go forward in Amsterdam
    instants = [dt.datetime(2026, 3, 28, 22, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=7 * i) for i in range(220)]
    for language in ("en", "nl", "fr"):
        with app.test_request_context("/board", headers={"Accept-Language": language}):
            hm = _time_formatter()
            assert [hm(t) for t in instants] == [format_time(t) for t in instants], language
            assert hm(None) == ""
    assert day.isoformat() == "2026-03-29"


@pytest.mark.usefixtures("clock")
def test_visit_page_of_a_late_patient_offers_a_replan_with_a_new_arrival(desk_client, session, app):
    late, _other = _today_visits(session, app, minutes_ago=45)
    html = _text(desk_client.get(f"/visits/{late.id}"))
    assert "The patient is 45 minutes late." in html or "The patient is 44 minutes late." in html
    assert 'action="/board/replan"' in html and f'name="visit" value="{late.id}"' in html
