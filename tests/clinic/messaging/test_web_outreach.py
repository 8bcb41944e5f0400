"""Outreach screens: the outbox with filters, the rules editor (a bad file is rejected whole), the preview."""

import datetime as dt
import io
import re

from sqlmodel import select

from clinic.app import reconfigure
from clinic.messaging import outreach, rules_file
from clinic.messaging.models import OutboxMessage, OutboxStatus, OutreachRuleSet
from clinic.users.models import Role
from tests.factories import make_pathway, make_patient, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)


def planned_visit(session, *, day_offset=10, **patient_fields):
    now = dt.datetime.now(dt.UTC)
    start = (now + dt.timedelta(days=day_offset)).replace(hour=9, minute=0, second=0, microsecond=0)
    patient = make_patient(session, **patient_fields)
    visit = make_visit(session, patient=patient, pathway=make_pathway(session), day=start.date(), start=start)
    visit.booked_at = now
    session.add(visit)
    session.commit()
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=now, unit=UNIT)
    return visit


def test_outbox_lists_every_message_with_its_status(desk_client, session):
    visit = planned_visit(session, given_name="Olga", distance_km=80)
    html = desk_client.get("/outbox").get_data(as_text=True)
    assert "Olga" in html and "Booking confirmation" in html and "Coffee voucher" in html and "Queued" in html
    assert 'href="/outbox"' in html  # in the header navigation
    row = session.exec(select(OutboxMessage).where(OutboxMessage.action == "reminder")).one()
    row.status = OutboxStatus.FAILED
    row.on_call_list = True
    session.add(row)
    session.commit()
    filtered = desk_client.get("/outbox?status=failed").get_data(as_text=True)
    assert f'id="message-{row.id}"' in filtered and "Call the patient" in filtered
    assert "Coffee voucher" not in filtered.split("<tbody>")[1]
    call_list = desk_client.get("/outbox?call_list=y").get_data(as_text=True)
    assert f'id="message-{row.id}"' in call_list
    assert visit.id


def test_an_unknown_outcome_is_shown_filtered_and_on_the_call_list(desk_client, session):
    planned_visit(session, given_name="Olga")
    row = session.exec(select(OutboxMessage).where(OutboxMessage.action == "reminder")).one()
    row.status, row.on_call_list = OutboxStatus.UNKNOWN, True
    session.add(row)
    session.commit()
    filtered = desk_client.get("/outbox?status=unknown").get_data(as_text=True)
    assert f'id="message-{row.id}"' in filtered and "Outcome unknown" in filtered
    assert 'value="unknown"' in filtered  # a filter option
    assert "Booking confirmation" not in filtered.split("<tbody>")[1]
    assert f'id="message-{row.id}"' in desk_client.get("/outbox?call_list=y").get_data(as_text=True)


def test_outbox_filters_refuse_nonsense_without_a_500(desk_client):
    assert desk_client.get("/outbox?status=exploded").status_code == 400
    assert desk_client.get("/outbox?day=31-31-2026").status_code == 400
    assert desk_client.get("/outbox?channel=pigeon&day=").status_code == 400


def test_outbox_and_rules_need_the_right_role(client, volunteer_client):
    assert volunteer_client.get("/outbox").status_code == 403
    assert volunteer_client.get("/outreach/rules").status_code == 403


def test_the_front_desk_cannot_edit_rules(desk_client):
    assert desk_client.get("/outreach/rules").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/outbox")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_coordinator_sees_and_replaces_the_rules(coordinator_client, session, post_form):
    html = coordinator_client.get("/outreach/rules").get_data(as_text=True)
    assert "regional-reminder-call" in html and "region = regional" in html and "7d before the visit" in html
    text = rules_file.rules_in_force(session=session).text.replace("offset: -2d", "offset: -3d")
    response = post_form(coordinator_client, "/outreach/rules", {"text": text})
    assert response.status_code == 302
    html = coordinator_client.get("/outreach/rules").get_data(as_text=True)
    assert "Version 1" in html and "3d before the visit" in html
    row = session.exec(select(OutreachRuleSet)).one()
    assert row.version == 1 and row.created_by is not None


def test_a_rule_file_with_an_error_is_rejected_whole_with_file_rule_and_field(coordinator_client, session,
                                                                              form_token):
    text = rules_file.rules_in_force(session=session).text.replace("channel: voice", "channel: pigeon", 1)
    token = form_token(coordinator_client, "/outreach/rules")
    response = coordinator_client.post(
        "/outreach/rules",
        data={"csrf_token": token, "text": "", "upload": (io.BytesIO(text.encode()), "clinic-rules.yaml")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "clinic-rules.yaml: rule regional-reminder-call: field channel: must be one of" in html
    assert session.exec(select(OutreachRuleSet)).all() == []
    assert rules_file.rules_in_force(session=session).version is None


def test_rules_form_survives_junk(coordinator_client, form_token, session):
    token = form_token(coordinator_client, "/outreach/rules")
    for data in (
        {"text": ""},
        {"text": "{{{{ not yaml"},
        {"text": "- just\n- a list"},
        {"text": "version: 1\nrules: []"},
        {"upload": (io.BytesIO(b"\xff\xfe\x00bad"), "binary.yaml")},
        {"text": "version: 1\nrules:\n  - id: 2026-13-45"},
        {"text": "[" * 5000},
    ):
        response = coordinator_client.post(
            "/outreach/rules", data={"csrf_token": token, **data}, content_type="multipart/form-data"
        )
        assert response.status_code == 400, data
    dated = coordinator_client.post("/outreach/rules", content_type="multipart/form-data",
                                    data={"csrf_token": token, "text": "version: 1\nrules:\n  - id: 2026-13-45"})
    assert "outreach_rules.yaml: line 3, column 9: not valid YAML (&#39;2026-13-45&#39;: month must be in 1..12)" in dated.get_data(as_text=True)
    assert coordinator_client.post("/outreach/rules", data={"text": "x"}).status_code == 400  # no CSRF token
    assert session.exec(select(OutreachRuleSet)).all() == []


def test_preview_for_a_date_and_for_a_patient(coordinator_client, session):
    visit = planned_visit(session, given_name="Piet", birth_date=dt.date(1940, 3, 3), distance_km=30)
    html = coordinator_client.get(f"/outreach/preview?day={visit.date.isoformat()}").get_data(as_text=True)
    assert "Piet" in html and "regional-reminder-call" in html and "region regional = regional" in html
    assert "replaces senior-reminder-call" in html and "replaces senior-reminder-call, basic-reminder" not in html
    patient = visit.patient
    html = coordinator_client.get(f"/outreach/preview?patient={patient.mrn}").get_data(as_text=True)
    assert "Piet" in html and "Transport and help at home offer" in html
    assert coordinator_client.get("/outreach/preview?patient=NOPE").status_code == 404
    assert coordinator_client.get("/outreach/preview?day=yesterday").status_code == 400


def test_the_cli_has_an_outreach_run_command(app):
    result = app.test_cli_runner().invoke(args=["outreach", "run", "--help"])
    assert result.exit_code == 0 and "dispatcher" in result.output


def test_nav_shows_rules_to_the_coordinator_only(client, signed_in, session):
    signed_in(client, Role.COORDINATOR, username="coord")
    html = client.get("/outbox").get_data(as_text=True)
    assert 'href="/outreach/rules"' in html and 'href="/outreach/preview"' in html


def test_new_rules_replan_the_upcoming_visits(coordinator_client, session, post_form):
    visit = planned_visit(session)
    before = {r.action: r.due_at for r in session.exec(select(OutboxMessage)) if r.status == OutboxStatus.QUEUED}
    text = rules_file.rules_in_force(session=session).text.replace("offset: -2d", "offset: -3d")
    response = post_form(coordinator_client, "/outreach/rules", {"text": text}, follow_redirects=True)
    assert "re-planned for 1 upcoming visits" in response.get_data(as_text=True)
    session.expire_all()
    after = {r.action: r.due_at for r in session.exec(select(OutboxMessage)) if r.status == OutboxStatus.QUEUED}
    assert after["reminder"] == before["reminder"] - dt.timedelta(days=1)
    assert visit.id


def test_the_cli_plans_every_upcoming_visit(app, session):
    visit = planned_visit(session)
    session.exec(select(OutboxMessage)).all()
    for row in session.exec(select(OutboxMessage)):
        session.delete(row)
    session.commit()
    result = app.test_cli_runner().invoke(args=["outreach", "plan"])
    assert result.exit_code == 0 and "Outreach planned for 1 upcoming visits." in result.output
    assert {r.action for r in session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit.id))} == {
        "confirmation",
        "reminder",
    }


def test_outbox_shows_the_two_questions_sent_by_each_channel(desk_client, session):
    from clinic.feedback.models import Survey, SurveyChannel, SurveyTrigger

    asked = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for name, channel in (("Sam", SurveyChannel.SMS), ("Vic", SurveyChannel.VOICE), ("Eve", SurveyChannel.EMAIL),
                          ("Tom", SurveyChannel.TABLET)):
        person = make_patient(session, given_name=name, email=f"{name.lower()}@example.org", language="en")
        session.add(Survey(patient_id=person.id, trigger=SurveyTrigger.INBOUND, source_ref=f"t:{name}",
                           channel=channel, language=person.language, next_attempt_at=asked, attempts=1,
                           asked_at=asked))
    session.commit()
    html = desk_client.get("/outbox").get_data(as_text=True)
    section = html.split('id="surveys-heading"')[1]
    assert "Sam" in section and "Reply with two answers" in section
    assert "Vic" in section and "Press 1 for yes" in section
    assert "Eve" in section and "eve@example.org" in section and "Two questions from the day-care unit" in section
    assert "Tom" not in section  # asked on the tablet, not sent anywhere


def test_outbox_shows_the_newest_rows_and_links_to_older_ones(desk_client, session, monkeypatch):
    from clinic.messaging import outbox_views as outbox_view

    planned_visit(session, given_name="Olga", distance_km=80)
    monkeypatch.setattr(outbox_view, "OUTBOX_ROWS", 2)
    html = desk_client.get("/outbox").get_data(as_text=True)
    table = html.split("<tbody>")[1].split("</tbody>")[0]
    assert table.count('id="message-') == 2
    assert "Older messages" in html and 'href="/outbox?page=2"' in html
    monkeypatch.setattr(outbox_view, "OUTBOX_ROWS", 200)
    assert "Older messages" not in desk_client.get("/outbox").get_data(as_text=True)


def test_without_twilio_staff_answer_a_sent_sms_or_call_as_the_patient(desk_client, session, post_form):
    from clinic.columns import Channel
    from clinic.service.models import TransportRequest
    from clinic.visits.models import VisitStatus

    visit = planned_visit(session, given_name="Wim", birth_date=dt.date(1944, 3, 2), language="en")
    offer = session.exec(select(OutboxMessage).where(OutboxMessage.action == "transport_offer")).one()
    assert offer.channel == Channel.SMS
    offer.status, offer.sent_at = OutboxStatus.SENT, dt.datetime.now(dt.UTC)
    session.add(offer)
    session.commit()
    page = desk_client.get("/outbox").get_data(as_text=True)
    assert f'action="/outbox/{offer.id}/reply"' in page and "Development channel" in page
    response = post_form(desk_client, f"/outbox/{offer.id}/reply", {"body": "yes"}, form_page="/outbox")
    assert response.status_code == 303
    assert "Taken as transport_wanted" in desk_client.get("/outbox").get_data(as_text=True)
    assert session.exec(select(TransportRequest)).one().wanted is True

    offer.channel = Channel.VOICE
    session.add(offer)
    session.commit()
    text = desk_client.get("/outbox").get_data(as_text=True).split(f'id="message-{offer.id}"')[1].split("</tr>")[0]
    assert "We can arrange transport and help at home" in text and "Press 1 if you would like this" in text
    assert "Reply YES" not in text  # the call's own words, not the SMS text
    post_form(desk_client, f"/outbox/{offer.id}/reply", {"digits": "2"}, form_page="/outbox")
    session.expire_all()
    assert session.exec(select(TransportRequest)).one().wanted is False
    session.refresh(visit)
    assert visit.status == VisitStatus.BOOKED  # 2 in the transport call is "no", not "cancel"

    empty = post_form(desk_client, f"/outbox/{offer.id}/reply", {"digits": "7"}, form_page="/outbox")
    assert empty.status_code == 303
    assert "choose the key" in desk_client.get("/outbox").get_data(as_text=True)
    queued = session.exec(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.QUEUED)).first()
    assert post_form(desk_client, f"/outbox/{queued.id}/reply", {"body": "yes"}, form_page="/outbox").status_code == 404


def test_with_twilio_configured_there_is_no_reply_as_the_patient(desk_client, app, session, post_form):
    visit = planned_visit(session, given_name="Wim", birth_date=dt.date(1944, 3, 2))
    offer = session.exec(select(OutboxMessage).where(OutboxMessage.action == "transport_offer")).one()
    offer.status = OutboxStatus.SENT
    session.add(offer)
    session.commit()
    token = desk_client.get("/outbox")
    reconfigure(app, TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="secret", TWILIO_FROM_NUMBER="+3197000000")
    page = desk_client.get("/outbox").get_data(as_text=True)
    assert "/reply" not in page and "Development channel" not in page
    from tests.conftest import csrf_token_from

    response = desk_client.post(
        f"/outbox/{offer.id}/reply", data={"body": "yes", "csrf_token": csrf_token_from(token.get_data(as_text=True))}
    )
    assert response.status_code == 404
    assert visit.id


def test_outbox_filters_by_patient_and_pages_past_the_newest_200(desk_client, session):
    from clinic.columns import Channel, Language

    first, second = make_patient(session), make_patient(session)
    visit = make_visit(session, patient=first)
    other = make_visit(session, patient=second)
    base = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    for n in range(205):
        session.add(OutboxMessage(
            visit_id=visit.id, patient_id=first.id, action="reminder", rule_id="basic.reminder",
            due_at=base + dt.timedelta(minutes=n), next_attempt_at=base + dt.timedelta(hours=n // 10),
            status=OutboxStatus.QUEUED,
            channel=Channel.SMS, language=Language.NL, recipient=first.phone, body=f"n{n}",
        ))  # fmt: skip
    session.add(OutboxMessage(
        visit_id=other.id, patient_id=second.id, action="confirmation", rule_id="basic.confirmation", due_at=base,
        next_attempt_at=base, status=OutboxStatus.QUEUED, channel=Channel.SMS, language=Language.NL,
        recipient=second.phone, body="second",
    ))  # fmt: skip
    session.commit()
    ids = lambda html: [int(i) for i in re.findall(r'id="message-(\d+)"', html)]  # noqa: E731
    page1 = desk_client.get("/outbox").get_data(as_text=True)
    page2_url = re.search(r'href="([^"]*page=2[^"]*)"', page1).group(1).replace("&amp;", "&")
    page2 = desk_client.get(page2_url).get_data(as_text=True)
    assert len(ids(page1)) == 200 and len(ids(page2)) == 6
    assert set(ids(page1)).isdisjoint(ids(page2))
    every = session.exec(select(OutboxMessage.id)).all()
    assert sorted(ids(page1) + ids(page2)) == sorted(every)
    assert 'rel="prev"' in page2 and 'rel="next"' not in page2

    mine = desk_client.get(f"/outbox?patient={second.mrn}").get_data(as_text=True)
    assert len(ids(mine)) == 1 and second.display_name in mine
    filtered = desk_client.get(f"/outbox?patient={first.mrn}&page=2").get_data(as_text=True)
    assert len(ids(filtered)) == 5 and f"patient={first.mrn}" in filtered.split('rel="prev"')[0].rsplit("href=", 1)[1]

    unknown = desk_client.get("/outbox?patient=NOPE123")
    assert unknown.status_code == 400 and "No patient has this record number." in unknown.get_data(as_text=True)
    for bad in ("page=0", "page=-3", "page=abc", "page=99999999999"):
        assert desk_client.get(f"/outbox?{bad}").status_code == 400, bad
