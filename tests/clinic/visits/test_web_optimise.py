"""``/optimise`` over HTTP: the coordinator previews and applies; clerks get 403; bad input is a message."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from clinic.audit.models import AuditEvent
from clinic.users.models import Role
from clinic.visits.models import VisitStep
from tests.factories import make_pathway, make_visit

TZ = "Europe/Amsterdam"
DAY = dt.date(2026, 12, 3)  # the day after the clock fixture's Wednesday afternoon

pytestmark = pytest.mark.usefixtures("clock")


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), ZoneInfo(TZ))


def _waiting_visit(session):
    visit = make_visit(session, pathway=make_pathway(session, name="Check-up"), day=DAY, start=_at(8))
    _reg, cons, out = visit.steps
    for step, start in ((cons, _at(8, 50)), (out, _at(9, 10))):
        step.planned_end = start + (step.planned_end - step.planned_start)
        step.planned_start = start
        session.add(step)
    session.commit()
    return cons


def _field(html: str, name: str) -> str:
    value = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)
    return value.replace("&#34;", '"').replace("&quot;", '"').replace("&#43;", "+")


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@pytest.fixture
def coordinator_client(client, signed_in, app):
    app.config["OPTIMISE_SECONDS"] = 1.0
    signed_in(client, Role.COORDINATOR, username="coord", display_name="Cora Coordinator")
    return client


def test_the_coordinator_previews_and_applies_and_the_board_shows_the_new_times(coordinator_client, session):
    cons = _waiting_visit(session)
    board = coordinator_client.get(f"/board?day={DAY.isoformat()}")
    assert "Optimise this day" in board.get_data(as_text=True)
    page = coordinator_client.get(f"/optimise?day={DAY.isoformat()}")
    assert page.status_code == 200
    text = _text(page)
    assert "arrives at 08:00 (unchanged), waits 40 → 0 min" in text
    assert "<del>08:50–09:10</del>" in text and "<ins>08:10–08:30</ins>" in text
    html = page.get_data(as_text=True)
    form = {name: _field(html, name) for name in ("day", "moves", "version", "csrf_token")}
    response = coordinator_client.post("/optimise", data=form)
    assert response.status_code == 303 and response.headers["Location"] == f"/board?day={DAY.isoformat()}"
    board = _text(coordinator_client.get(response.headers["Location"]))
    assert "Day optimised: 2 steps moved." in board
    session.expire_all()
    assert session.get(VisitStep, cons.id).planned_start == _at(8, 10)
    assert any(e.action == "day.optimised" and e.actor_id for e in session.exec(select(AuditEvent)).all())

    stale = coordinator_client.post("/optimise", data=form)  # the same preview again: the day changed since
    assert stale.status_code == 409 and "The day changed since this preview was made" in _text(stale)


def test_clerks_get_403_on_the_page_and_on_apply(client, signed_in, session, form_token):
    _waiting_visit(session)
    signed_in(client, Role.FRONT_DESK, username="desk")
    assert client.get(f"/optimise?day={DAY.isoformat()}").status_code == 403
    token = form_token(client, "/board")
    response = client.post("/optimise", data={"day": DAY.isoformat(), "moves": "[]", "version": "x", "csrf_token": token})
    assert response.status_code == 403
    assert "Optimise this day" not in client.get(f"/board?day={DAY.isoformat()}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("2026-13-45", "“2026-13-45” is not a date."),
        ("", "Give the day as a date"),
        ("2026-12-01", "A day that has passed cannot be optimised."),
    ],
)
def test_bad_days_are_clear_messages_never_a_500(coordinator_client, day, message):
    response = coordinator_client.get(f"/optimise?day={day}")
    assert response.status_code == 400
    assert message in _text(response)


def test_a_garbled_apply_is_a_message(coordinator_client, form_token):
    token = form_token(coordinator_client, "/board")
    for data in (
        {"day": "yesterday", "moves": "[]", "version": "x"},
        {"day": DAY.isoformat(), "moves": "[[1]]", "version": "x"},
        {"day": DAY.isoformat(), "moves": "", "version": ""},
    ):
        response = coordinator_client.post("/optimise", data={**data, "csrf_token": token})
        assert response.status_code in (400, 409), data
        assert "The preview could not be read" in _text(response) or "The day changed" in _text(response)


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        ("nl", ("Een dag optimaliseren", "komt om 08:00 (ongewijzigd), wacht 40 → 0 min", "Optimalisatie toepassen",
                ">Spreekuur</th>")),
        ("fr", ("Optimiser une journée", "arrive à 08:00 (inchangé), attend 40 → 0 min", "Appliquer l’optimisation",
                ">Consultation médicale</th>")),
    ],
)
def test_the_page_speaks_dutch_and_french(client, signed_in, app, session, language, phrases):
    app.config["OPTIMISE_SECONDS"] = 1.0
    step_type = _waiting_visit(session).pathway_step.step_type
    step_type.names = {"nl": "Spreekuur", "fr": "Consultation médicale"}
    session.add(step_type)
    session.commit()
    signed_in(client, Role.COORDINATOR, username=f"coord-{language}", language=language)
    text = _text(client.get(f"/optimise?day={DAY.isoformat()}"))
    for phrase in phrases:
        assert phrase in text


def test_the_day_picker_starts_on_tomorrow(coordinator_client):
    page = coordinator_client.get("/optimise")
    assert page.status_code == 200
    assert re.search(r'name="day"[^>]*value="2026-12-03"', page.get_data(as_text=True))
