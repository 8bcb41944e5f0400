"""The page an outreach e-mail links to, over HTTP: no sign-in, the patient's language, nothing done by opening
it, each choice a POST with its CSRF token; and the Outbox showing an e-mail's words and page."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from clinic.messaging import links
from clinic.messaging.models import InboundMessage, OutboxStatus
from clinic.visits.models import VisitStatus
from tests.clinic.messaging.test_services_email_answers import emailed
from tests.conftest import TEST_SECRET_KEY

ZONE = ZoneInfo("Europe/Amsterdam")


def coming_day() -> dt.date:
    return dt.datetime.now(dt.UTC).astimezone(ZONE).date() + dt.timedelta(days=5)


def page_of(row) -> str:
    return links.ANSWER_PATH + links.answer_token(TEST_SECRET_KEY, row.id)


def test_the_page_speaks_the_patients_language_and_opening_it_changes_nothing(client, session: Session) -> None:
    _patient, visit, row = emailed(session, "reminder", language="nl", day=coming_day())
    response = client.get(page_of(row))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'lang="nl"' in html and "Laat ons weten of u komt." in html
    assert 'value="confirm"' in html and "Ja, ik kom" in html and "Mijn bezoek annuleren" in html
    assert "Niet-essentiële berichten stoppen" in html and 'value="transport_yes"' not in html
    session.refresh(visit)
    assert visit.status == VisitStatus.BOOKED
    assert session.exec(select(InboundMessage)).first() is None


def test_a_forged_or_foreign_link_is_not_found(client, session: Session) -> None:
    _patient, _visit, row = emailed(session, "reminder", day=coming_day())
    assert client.get(links.ANSWER_PATH + links.answer_token("another key", row.id)).status_code == 404
    assert client.get(links.ANSWER_PATH + "not-a-token").status_code == 404
    assert client.get(links.ANSWER_PATH + links.answer_token(TEST_SECRET_KEY, row.id + 999)).status_code == 404


def test_confirming_on_the_page(client, session: Session, post_form) -> None:
    _patient, visit, row = emailed(session, "reminder", language="fr", day=coming_day())
    path = page_of(row)
    assert client.post(path, data={"choice": "confirm"}).status_code == 400  # no CSRF token
    response = post_form(client, path, {"choice": "confirm"})
    assert response.status_code == 303 and response.headers["Location"].endswith(path)
    html = client.get(path).get_data(as_text=True)
    assert "Merci, votre visite du" in html and "est confirmée." in html
    assert "Votre visite est confirmée. Merci !" in html and 'value="confirm"' not in html
    session.refresh(visit)
    assert visit.status == VisitStatus.CONFIRMED


def test_a_choice_the_page_no_longer_offers_changes_nothing(client, session: Session, post_form) -> None:
    _patient, visit, row = emailed(session, "reminder", day=coming_day())
    path = page_of(row)
    assert post_form(client, path, {"choice": "cancel"}).status_code == 303
    session.refresh(visit)
    assert visit.status == VisitStatus.CANCELLED
    html = client.get(path).get_data(as_text=True)
    assert "This visit is cancelled." in html and 'value="cancel"' not in html
    again = post_form(client, path, {"choice": "confirm"})
    assert again.status_code == 303
    assert "That can no longer be done here." in client.get(path).get_data(as_text=True)
    session.refresh(visit)
    assert visit.status == VisitStatus.CANCELLED
    assert post_form(client, path, {"choice": "anything"}).status_code == 303
    assert [m.outcome for m in session.exec(select(InboundMessage))] == ["cancelled"]


def test_the_outbox_shows_an_emails_words_and_its_answer_page(desk_client, session: Session) -> None:
    _patient, _visit, row = emailed(session, "transport_offer", status=OutboxStatus.SENT, day=coming_day())
    html = desk_client.get("/outbox").get_data(as_text=True)
    assert "We can arrange transport and help at home for your visit on" in html
    assert "the SMS wording" not in html  # the row keeps what it was planned with; the e-mail says its own
    [href] = re.findall(r'href="([^"]*/answer/[^"]+)"', html)
    assert href.startswith("http://localhost/answer/")
    page = desk_client.get(href.removeprefix("http://localhost")).get_data(as_text=True)
    assert 'value="transport_yes"' in page


def test_a_staff_session_may_look_but_not_answer_as_the_patient(desk_client, session: Session, post_form) -> None:
    """Staff opening the link from the Outbox would be audited as the patient: the page refuses them."""
    from clinic.audit.models import AuditEvent

    _patient, visit, row = emailed(session, "reminder", day=coming_day())
    path = page_of(row)
    html = desk_client.get(path).get_data(as_text=True)
    assert "You are signed in as staff." in html
    assert re.search(r'<fieldset class="answer-page__all" disabled>', html)
    response = post_form(desk_client, path, {"choice": "cancel"})
    assert response.status_code == 403
    session.refresh(visit)
    assert visit.status == VisitStatus.BOOKED
    assert session.exec(select(InboundMessage)).first() is None
    assert session.exec(select(AuditEvent).where(AuditEvent.entity == "visit")).first() is None


def test_the_patient_without_a_session_still_answers(client, session: Session, post_form) -> None:
    _patient, visit, row = emailed(session, "reminder", day=coming_day())
    html = client.get(page_of(row)).get_data(as_text=True)
    assert "signed in as staff" not in html and 'class="answer-page__all">' in html
    assert post_form(client, page_of(row), {"choice": "cancel"}).status_code == 303
    session.refresh(visit)
    assert visit.status == VisitStatus.CANCELLED
