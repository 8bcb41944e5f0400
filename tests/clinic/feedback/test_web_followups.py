"""The Follow-ups screens, the tablet at checkout, the e-mailed answer page and the survey call's webhooks."""

import datetime as dt
from xml.etree import ElementTree

import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from clinic.feedback import followups, surveys
from clinic.feedback.models import (
    FollowUp,
    FollowUpEvent,
    FollowUpStatus,
    Survey,
    SurveyChannel,
    SurveyStatus,
    SurveyTrigger,
)
from clinic.messaging import links
from clinic.users.models import Role
from clinic.visits.models import VisitStatus
from tests.conftest import DEMO_PASSWORD, TEST_SECRET_KEY
from tests.factories import make_patient, make_unit, make_user, make_visit

UNIT = make_unit()

AUTH_TOKEN = "test-auth-token"
PUBLIC = "https://onevisit.example.org"
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def app_config(app_config):
    return {**app_config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": PUBLIC, "MESSAGING_NOW": lambda: NOW}


def signed_post(client, path, data):
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, data)
    return client.post(path, data=data, headers={"X-Twilio-Signature": signature})


def twiml(response) -> ElementTree.Element:
    assert response.status_code == 200 and response.mimetype == "text/xml", response.get_data(as_text=True)
    return ElementTree.fromstring(response.get_data(as_text=True))


def text(response) -> str:
    return response.get_data(as_text=True)


def pending_survey(session, patient, *, channel=SurveyChannel.SMS, trigger=SurveyTrigger.INBOUND, ref="t:1") -> Survey:
    survey = Survey(patient_id=patient.id, trigger=trigger, source_ref=ref, channel=channel, language=patient.language,
                    next_attempt_at=NOW, asked_at=NOW, attempts=1, created_at=NOW)
    session.add(survey)
    session.commit()
    return survey


def opened_follow_up(session, *, language="en", **patient) -> FollowUp:
    person = make_patient(session, language=language, given_name="Noor", family_name="Nee", **patient)
    survey = pending_survey(session, person)
    _, follow_up = surveys.record_answer(session=session, survey_id=survey.id, got_what_needed=False, good_job=True,
                                         comment="waited an hour", now=NOW, unit=UNIT)
    return follow_up


def test_only_desk_staff_see_the_board(client, volunteer_client, session):
    assert volunteer_client.get("/follow-ups/").status_code == 403
    assert "Follow-ups" not in text(volunteer_client.get("/volunteer"))


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/follow-ups/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_the_board_shows_open_follow_ups_with_owner_due_and_markers(desk_client, session):
    follow_up = opened_follow_up(session)
    follow_up.due_at = NOW - dt.timedelta(hours=1)
    follow_up.escalated_at = NOW
    session.add(follow_up)
    session.commit()
    html = text(desk_client.get("/follow-ups/"))
    assert 'href="/follow-ups/"' in html  # the header entry
    assert "Noor Nee" in html and "Dana Desk" in html and "Overdue" in html and "Escalated" in html
    assert "needed: no, good job: yes" in html
    assert "Noor Nee" in text(desk_client.get("/follow-ups/?show=escalated"))
    assert "Noor Nee" not in text(desk_client.get("/follow-ups/?show=closed"))
    assert desk_client.get("/follow-ups/?show=nonsense").status_code == 200


def test_a_note_a_call_and_a_new_owner_from_the_follow_up_page(desk_client, session, post_form):
    follow_up = opened_follow_up(session)
    coord = make_user(session, username="coord", role=Role.COORDINATOR, display_name="Cor Coordinator")
    page = f"/follow-ups/{follow_up.id}"
    html = text(desk_client.get(page))
    assert "Follow-up for Noor Nee" in html and "waited an hour" in html
    response = post_form(desk_client, f"{page}/note", {"kind": "called", "note": "apologised"}, form_page=page)
    assert response.status_code == 302
    response = post_form(desk_client, f"{page}/note", {"kind": "note", "note": ""}, form_page=page)
    assert response.status_code == 400 and "Write a note." in text(response)
    response = post_form(desk_client, f"{page}/owner", {"owner": str(coord.id)}, form_page=page)
    assert response.status_code == 302
    response = post_form(desk_client, f"{page}/owner", {"owner": "999999"}, form_page=page)
    assert response.status_code == 400
    session.refresh(follow_up)
    assert follow_up.owner_id == coord.id
    events = [e.kind for e in session.exec(select(FollowUpEvent).where(FollowUpEvent.follow_up_id == follow_up.id))]
    assert events == ["opened", "called", "reassigned"]
    assert "apologised" in text(desk_client.get(page))
    assert desk_client.get("/follow-ups/999999").status_code == 404


def test_re_ask_sends_the_questions_at_once_by_the_patients_channel(desk_client, session, post_form):
    follow_up = opened_follow_up(session)
    page = f"/follow-ups/{follow_up.id}"
    response = post_form(desk_client, f"{page}/re-ask", {"where": "channel"}, form_page=page)
    assert response.status_code == 302
    survey = session.exec(select(Survey).where(Survey.trigger == SurveyTrigger.FOLLOW_UP)).one()
    assert survey.asked_at == NOW and survey.attempts == 1 and survey.channel == SurveyChannel.SMS
    assert "The two questions were sent to the patient." in text(desk_client.get(response.headers["Location"]))


def test_re_ask_on_the_tablet_then_yes_to_both_closes_it(desk_client, session, post_form, form_token):
    follow_up = opened_follow_up(session, language="fr")
    page = f"/follow-ups/{follow_up.id}"
    response = post_form(desk_client, f"{page}/re-ask", {"where": "tablet"}, form_page=page)
    assert response.status_code == 302 and "/follow-ups/tablet/" in response.headers["Location"]
    tablet = response.headers["Location"]
    html = text(desk_client.get(tablet))
    assert 'lang="fr"' in html
    bad = post_form(desk_client, tablet, {"got_what_needed": "yes"})
    assert bad.status_code == 400
    token = form_token(desk_client, tablet)  # the answered page is a kiosk's: no staff forms (nor tokens) on it
    done = post_form(desk_client, tablet, {"got_what_needed": "yes", "good_job": "yes", "comment": "merci"})
    assert done.status_code == 200
    session.refresh(follow_up)
    assert follow_up.status == FollowUpStatus.CLOSED
    survey = session.get(Survey, follow_up.closing_survey_id)
    assert (survey.channel, survey.comment) == (SurveyChannel.TABLET, "merci")
    again = desk_client.post(tablet, data={"got_what_needed": "no", "good_job": "no", "csrf_token": token})
    assert again.status_code == 200  # already answered: nothing changes
    session.refresh(survey)
    assert survey.good_job is True


def test_the_tablet_at_checkout_asks_about_the_visit(desk_client, session, form_token):
    make_user(session, username="desk2", role=Role.FRONT_DESK)
    visit = make_visit(session, patient=make_patient(session, language="nl"), status=VisitStatus.COMPLETED)
    token = form_token(desk_client, "/follow-ups/")
    response = desk_client.post(f"/follow-ups/tablet/visit/{visit.id}", data={"csrf_token": token})
    assert response.status_code == 302
    survey = session.exec(select(Survey)).one()
    assert (survey.trigger, survey.channel, survey.visit_id) == (SurveyTrigger.VISIT, SurveyChannel.TABLET, visit.id)
    assert desk_client.post(f"/follow-ups/tablet/visit/{visit.id}", data={}).status_code == 400
    tablet = response.headers["Location"]
    answered = desk_client.post(tablet, data={"csrf_token": token, "got_what_needed": "no", "good_job": "yes",
                                              "comment": "te lang gewacht"})
    assert answered.status_code == 200
    follow_up = session.exec(select(FollowUp)).one()
    assert follow_up.visit_id == visit.id and follow_up.status == FollowUpStatus.OPEN
    # the job will not ask about this visit again
    assert surveys.create_visit_surveys(session=session, now=dt.datetime.now(dt.UTC), unit=UNIT) == []


def test_the_e_mailed_link_opens_the_questions_without_sign_in(client, session, form_token):
    person = make_patient(session, language="en", channel="email", email="anna@example.org")
    survey = pending_survey(session, person, channel=SurveyChannel.EMAIL)
    path = "/survey/" + links.email_token(TEST_SECRET_KEY, survey.id)
    assert "Did you get what you needed?" in text(client.get(path))
    token = form_token(client, path)
    response = client.post(path, data={"csrf_token": token, "got_what_needed": "yes", "good_job": "no"})
    assert response.status_code == 200 and "will contact you" in text(response)
    session.refresh(survey)
    assert (survey.status, survey.channel, survey.good_job) == (SurveyStatus.ANSWERED, SurveyChannel.EMAIL, False)
    assert client.get("/survey/" + links.email_token("another-key", survey.id)).status_code == 404
    assert client.get("/survey/garbage").status_code == 404


def test_the_patient_page_shows_surveys_and_follow_ups(desk_client, session):
    follow_up = opened_follow_up(session)
    html = text(desk_client.get(f"/patients/{follow_up.patient_id}"))
    assert "waited an hour" in html and f"/follow-ups/{follow_up.id}" in html and "Answered no" in html
    other = make_patient(session)
    assert "No feedback yet." in text(desk_client.get(f"/patients/{other.id}"))


# --- the survey call ----------------------------------------------------------------------------------


def test_a_survey_call_asks_both_questions_by_key_press(client, session):
    make_user(session, username="desk1", role=Role.FRONT_DESK)
    person = make_patient(session, language="nl", channel="voice")
    survey = pending_survey(session, person, channel=SurveyChannel.VOICE)
    key = links.survey_key(TEST_SECRET_KEY, survey.id)
    call = twiml(signed_post(client, f"/twilio/survey/{key}", {"CallSid": "CA1"}))
    gather = call.find("Gather")
    assert gather.get("action") == f"{PUBLIC}/twilio/survey/{key}/1" and gather.get("numDigits") == "1"
    assert gather.find("Say").get("language") == "nl-NL"
    wrong = twiml(signed_post(client, f"/twilio/survey/{key}/1", {"CallSid": "CA1", "Digits": "7"}))
    assert wrong.find("Gather").get("action") == f"{PUBLIC}/twilio/survey/{key}/1"
    second = twiml(signed_post(client, f"/twilio/survey/{key}/1", {"CallSid": "CA1", "Digits": "2"}))
    action = second.find("Gather").get("action")
    assert action == f"{PUBLIC}/twilio/survey/{key}/2?first=2"
    done = twiml(signed_post(client, action.removeprefix(PUBLIC), {"CallSid": "CA1", "Digits": "1"}))
    assert done.find("Hangup") is not None
    session.refresh(survey)
    assert (survey.status, survey.got_what_needed, survey.good_job) == (SurveyStatus.ANSWERED, False, True)
    assert session.exec(select(FollowUp)).one().survey_id == survey.id


def test_survey_call_webhooks_check_the_signature_and_the_key(client, session):
    person = make_patient(session, language="en", channel="voice")
    survey = pending_survey(session, person, channel=SurveyChannel.VOICE)
    key = links.survey_key(TEST_SECRET_KEY, survey.id)
    assert client.post(f"/twilio/survey/{key}/2?first=2", data={"Digits": "2"}).status_code == 403
    forged = links.survey_key("not-the-secret", survey.id)
    assert signed_post(client, f"/twilio/survey/{forged}", {"CallSid": "CA1"}).status_code == 404
    assert signed_post(client, f"/twilio/survey/{key}/2?first=9", {"Digits": "1"}).status_code == 404
    session.refresh(survey)
    assert survey.status == SurveyStatus.PENDING


def test_an_sms_no_through_the_webhook_opens_a_follow_up(client, session):
    make_user(session, username="desk1", role=Role.FRONT_DESK)
    person = make_patient(session, language="fr")
    survey = pending_survey(session, person)
    form = {"From": person.phone, "Body": "oui non trop d'attente", "MessageSid": "SM9"}
    reply = twiml(signed_post(client, "/twilio/sms", form))
    assert reply.find("Message").text == surveys.thanks("fr", surveys.Answer(True, False))
    session.refresh(survey)
    assert survey.comment == "trop d'attente"
    follow_up = followups.open_for_patient(session=session, patient_id=person.id)
    assert follow_up is not None and follow_up.survey_id == survey.id


def test_the_tablet_is_a_kiosk_left_only_with_a_staff_password(desk_client, session, form_token):
    visit = make_visit(session, patient=make_patient(session, language="nl"), status=VisitStatus.COMPLETED)
    token = form_token(desk_client, "/follow-ups/")
    tablet = desk_client.post(f"/follow-ups/tablet/visit/{visit.id}", data={"csrf_token": token}).headers["Location"]
    html = text(desk_client.get(tablet))
    assert "Sign out" not in html and "Follow-ups" not in html and 'class="site-nav"' not in html
    assert 'class="kiosk"' in html
    for path in ("/board", "/follow-ups/", f"/visits/{visit.id}", "/audit"):
        response = desk_client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith(tablet), path
    out = desk_client.post("/sign-out", data={"csrf_token": token})
    assert out.status_code == 302 and out.headers["Location"].endswith(tablet)  # still signed in, still a kiosk
    exit_page = "/follow-ups/tablet/exit"
    wrong = desk_client.post(exit_page, data={"csrf_token": form_token(desk_client, exit_page), "username": "desk",
                                              "password": "guess"})  # fmt: skip
    assert wrong.status_code == 400 and "Wrong user name or password." in text(wrong)
    assert desk_client.get("/board").status_code == 302
    right = desk_client.post(exit_page, data={"csrf_token": form_token(desk_client, exit_page), "username": "desk",
                                              "password": DEMO_PASSWORD})  # fmt: skip
    assert right.status_code == 303 and f"/patients/{visit.patient_id}" in right.headers["Location"]
    board = desk_client.get("/board")
    assert board.status_code == 200 and "Sign out" in text(board)
