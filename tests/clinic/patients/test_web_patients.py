"""The patient page over HTTP: details, segment badges, visits past and coming, invoices."""

import datetime as dt
import re

from clinic.billing.models import Invoice
from clinic.web.clock import clinic_today
from tests.factories import make_pathway, make_patient, make_visit


def test_patient_page_shows_details_badges_visits_and_invoices(desk_client, session, app):
    with app.app_context():
        today = clinic_today()
    patient = make_patient(
        session, given_name="Piet", family_name="Verre", birth_date=dt.date(1940, 3, 3), distance_km=75,
        needs_wheelchair=True,
    )
    pathway = make_pathway(session, name="Cardiology check")
    coming = make_visit(session, patient=patient, pathway=pathway, day=today + dt.timedelta(days=3))
    past = make_visit(session, patient=patient, pathway=pathway, day=today - dt.timedelta(days=40))
    session.add(Invoice(year=2026, seq=7, patient_id=patient.id, visit_id=past.id, subtotal_cents=10000, vat_cents=2100, total_cents=12100))
    session.commit()

    html = re.sub(r"\s+", " ", desk_client.get(f"/patients/{patient.id}").get_data(as_text=True))
    assert "<h1>Piet Verre</h1>" in html and patient.mrn in html and patient.phone in html
    assert '<span class="badge badge--segment">Long distance</span>' in html
    assert '<span class="badge badge--segment">70+</span>' in html and '<span class="badge">Wheelchair</span>' in html
    assert f'href="/visits/{coming.id}"' in html and f'href="/visits/{past.id}"' in html
    assert html.index("Coming visits") < html.index(f'/visits/{coming.id}"') < html.index("Past visits") < html.index(f'/visits/{past.id}"')
    assert "2026-000007" in html and "121.00" in html
    assert "Contacts and gestures" in html and "Checkout and invoice" in html and "Feedback" in html and "No feedback yet." in html


def test_regional_patient_without_visits(desk_client, session):
    patient = make_patient(session, distance_km=30)
    html = desk_client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert '<span class="badge badge--segment">Regional</span>' in html
    assert "No visits planned." in html and "No earlier visits." in html and "No invoices yet." in html


def test_unknown_patients(desk_client):
    assert desk_client.get("/patients/999999").status_code == 404
    assert desk_client.get("/patients/x").status_code == 404


def test_volunteers_get_403(volunteer_client, session):
    patient = make_patient(session)
    assert volunteer_client.get(f"/patients/{patient.id}").status_code == 403


def test_language_and_contact_channel_are_named_in_the_language_of_the_page(desk_client, session, form_token):
    patient = make_patient(session, language="fr", channel="voice", email=None)
    english = re.sub(r"\s+", " ", desk_client.get(f"/patients/{patient.id}").get_data(as_text=True))
    assert "<dt>Language</dt><dd>French</dd>" in english
    assert "<dt>Contact by</dt><dd>Phone call</dd>" in english

    token = form_token(desk_client, f"/patients/{patient.id}")
    desk_client.post("/language", data={"language": "nl", "next": "/board", "csrf_token": token})
    dutch = re.sub(r"\s+", " ", desk_client.get(f"/patients/{patient.id}").get_data(as_text=True))
    assert "<dd>Frans</dd>" in dutch and "<dd>Telefoongesprek</dd>" in dutch


def test_the_desk_sees_that_the_patient_opted_out_of_messages(desk_client, session):
    quiet = make_patient(session, opted_out=True)
    html = re.sub(r"\s+", " ", desk_client.get(f"/patients/{quiet.id}").get_data(as_text=True))
    assert ('<span class="badge badge--flag" title="Only the booking confirmation and visit reminders are sent">'
            "Opted out of messages</span>") in html
    listening = make_patient(session)
    assert "Opted out of messages" not in desk_client.get(f"/patients/{listening.id}").get_data(as_text=True)


def test_patient_page_lists_each_visits_messages_planned_and_sent(desk_client, session, app):
    from clinic.columns import Channel, Language
    from clinic.messaging.models import OutboxMessage, OutboxStatus

    with app.app_context():
        today = clinic_today()
    patient = make_patient(session, given_name="Mia")
    visit = make_visit(session, patient=patient, day=today + dt.timedelta(days=5))
    other = make_visit(session, patient=patient, day=today + dt.timedelta(days=30))
    due = dt.datetime.now(dt.UTC)
    for action, status, sent in (("confirmation", OutboxStatus.SENT, due), ("reminder", OutboxStatus.QUEUED, None)):
        session.add(OutboxMessage(
            visit_id=visit.id, patient_id=patient.id, action=action, rule_id=f"basic.{action}", due_at=due,
            next_attempt_at=due, status=status, channel=Channel.SMS, language=Language.NL, recipient=patient.phone,
            body="x", sent_at=sent,
        ))  # fmt: skip
        due += dt.timedelta(days=1)
    session.commit()
    html = re.sub(r"\s+", " ", desk_client.get(f"/patients/{patient.id}").get_data(as_text=True))
    section = html.split('id="messages-heading"')[1].split("</section>")[0]
    block = section.split(f'id="messages-visit-{visit.id}"')[1]
    assert block.index("Booking confirmation") < block.index("Reminder")
    assert "Sent" in block and "Queued" in block
    assert f'id="messages-visit-{other.id}"' not in section
    assert f'href="/outbox?patient={patient.mrn}"' in section
    empty = make_patient(session)
    assert "No messages planned or sent." in desk_client.get(f"/patients/{empty.id}").get_data(as_text=True)
