"""The main staff screens in Dutch and French, on the demo clinic with history: no English left over.

Each entry of ``LEFTOVERS`` is English the app once printed on a Dutch or French page (a reason, a
summary, an audit code, a step name, a decimal point); the scan fails naming the page and the words.
"""

import datetime as dt
import html
import re

import pytest
from sqlmodel import Session, col, select

from clinic.audit.models import AuditEvent
from clinic.demo.seed import load_demo
from clinic.feedback.models import FollowUp
from clinic.patients.models import Patient
from clinic.visits.models import Visit, VisitStatus
from tests.clinic.conftest import SEED_DIR
from tests.factories import make_unit

UNIT = make_unit()
LEFTOVERS = (
    "every patient (basic service)", "age ", "region ", "needs ", "replaced by", "the visit is",
    "only when the visit is cancelled", "needed: ", "good job:", "survey ", "opted out", "booked too late",
    "not sent", "no longer planned", "visit cancelled", "the day has passed", "could only go out",
    "visit.", "step.", "gesture.", "offer.", "waitlist.", "invoice.", "transport_",
    "Blood draw", "Infusion treatment", "Oncology infusion day", "Rheumatology infusion",
    "Diabetes day", " AM", " PM",
)
AUDITED = (
    ("visit.no_show", "visit"), ("visit.cancelled", "visit"), ("visit.booked", "visit"), ("step.start", "visit"),
    ("offer.accepted", "waitlist_offer"), ("gesture.granted", "recovery_gesture"), ("transport_arranged", "visit"),
    ("invoice.issued", "invoice"), ("waitlist.added", "waitlist_entry"), ("volunteer.not_met", "visit"),
)
DECIMAL_POINT = re.compile(r"\b\d+\.\d+ km")
STEP_NAME = re.compile(r"\bRegistration\b(?! desk)")  # the step type; "Registration desk 1" is a resource


def visible_text(page: str) -> str:
    body = page.split("<main", 1)[-1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r'<(\w+)\b[^>]*\slang="[^"]*"[^>]*>.*?</\1>', " ", body, flags=re.S)  # the patient's own language
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", html.unescape(body))


def leftovers(text: str) -> list[str]:
    found = [words for words in LEFTOVERS if re.search(r"(?<!\w)" + re.escape(words), text)]
    return found + DECIMAL_POINT.findall(text) + STEP_NAME.findall(text)


@pytest.fixture
def demo_pages(app, session: Session) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    load_demo(session=session, directory=SEED_DIR, unit=UNIT, now=now, history_weeks=2)
    today = now.astimezone(UNIT.zone).date()
    in_history = session.exec(
        select(Visit).where(Visit.status == VisitStatus.COMPLETED).order_by(col(Visit.date).desc())
    ).first()
    far = session.exec(select(Patient).order_by(col(Patient.distance_km).desc())).first()
    follow_up = session.exec(select(FollowUp).order_by(col(FollowUp.id))).first()
    assert in_history and far and follow_up, "the demo history should have completed visits and follow-ups"
    session.add_all(
        AuditEvent(action=code, entity=entity, entity_id=in_history.id, at=now - dt.timedelta(minutes=n))
        for n, (code, entity) in enumerate(AUDITED)
    )
    session.commit()
    pages = {
        "board": "/board",
        "outbox": "/outbox",
        "outbox, skipped and withdrawn": "/outbox?status=skipped",
        "outbox, withdrawn": "/outbox?status=withdrawn",
        "outreach preview": f"/outreach/preview?day={today + dt.timedelta(days=7)}",
        "follow-ups": "/follow-ups/?show=all",
        "follow-up": f"/follow-ups/{follow_up.id}",
        "audit log": f"/audit?date_from={today - dt.timedelta(days=1)}&date_to={today}",
        "visit": f"/visits/{in_history.id}",
        "patient": f"/patients/{far.id}",
        "checkout": "/checkout",
        "waitlist": "/waitlist",
    }
    return pages


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_main_staff_screens_have_no_english_leftovers(client, post_form, session, demo_pages, language):
    assert post_form(client, "/sign-in", {"username": "coordinator", "password": "onevisit-demo"}).status_code == 302
    client.post("/language", data={"language": language, "next": "/", "csrf_token": _token(client)})
    found, shown = {}, {}
    for name, path in demo_pages.items():
        response = client.get(path)
        assert response.status_code == 200, (name, path, response.status_code)
        shown[name] = response.get_data(as_text=True)
        text = visible_text(shown[name])
        assert f'lang="{language}"' in shown[name]
        words = leftovers(text)
        if words:
            found[name] = words
    assert not found, f"English on {language} pages: {found}"
    assert 'title="visit.no_show"' in shown["audit log"]  # the rows are there, each action named in words


def _token(client) -> str:
    from tests.conftest import csrf_token_from

    return csrf_token_from(client.get("/board").get_data(as_text=True))
