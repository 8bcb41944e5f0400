"""The Gestures screens: granting from the patient page (within the limit, refused above it), the month with
totals per person, the coordinator's queue, contacts logged by hand, and the patient's contacts partial."""

import datetime as dt
import re

import pytest
from sqlmodel import Session, select

from clinic.service import recovery
from clinic.service.models import GestureStatus, RecoveryGesture, TouchPoint
from clinic.users.models import Role
from clinic.visits.models import VisitCheckin
from tests.factories import make_patient, make_unit, make_user, make_visit

UNIT = make_unit()


def _grant_data(patient, **kw) -> dict:
    values = {"gesture-patient_id": str(patient.id), "gesture-kind": "meal_voucher", "gesture-cost": "",
              "gesture-visit_id": "", "gesture-reason": "Waited two hours"}  # fmt: skip
    values.update({f"gesture-{k}": v for k, v in kw.items()})
    return values


def _page(client, patient) -> str:
    return client.get(f"/patients/{patient.id}").get_data(as_text=True)


def test_gestures_are_in_the_nav_for_staff(desk_client) -> None:
    html = desk_client.get("/gestures").get_data(as_text=True)
    assert re.search(r'<a href="/gestures"\s+aria-current="page">Gestures</a>', html)


def test_volunteers_cannot_open_grant_or_log(volunteer_client, session: Session) -> None:
    patient = make_patient(session)
    assert volunteer_client.get("/gestures").status_code == 403
    assert volunteer_client.get(f"/gestures/new?patient_id={patient.id}").status_code == 403
    assert volunteer_client.get(f"/gestures/contacts/{patient.id}").status_code == 403


def test_the_patient_page_shows_contacts_and_gestures(desk_client, session: Session) -> None:
    patient = make_patient(session, given_name="Gerda", family_name="Gebaar")
    visit = make_visit(session, patient=patient)
    session.add(VisitCheckin(visit_id=visit.id, checked_in_at=dt.datetime.now(dt.UTC), late_minutes=40))
    session.commit()
    html = _page(desk_client, patient)
    contacts = html[html.index('id="contacts"') :]
    assert "Check-in" in contacts and "Expectation not met" in contacts and "Walk-in" in contacts
    assert "No gestures yet." in contacts
    assert 'name="gesture-kind"' in contacts and "Meal voucher (€12.50)" in contacts
    assert 'name="contact-purpose"' in contacts and ">Complaint<" in contacts


def test_a_desk_clerk_grants_within_the_limit_then_is_refused_above_it(
    desk_client, post_form, session: Session
) -> None:
    patient = make_patient(session, given_name="Gerda", family_name="Gebaar")
    page = f"/patients/{patient.id}"
    response = post_form(desk_client, "/gestures/new", _grant_data(patient, kind="taxi_home", cost="60,00"),
                         form_page=page)  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/patients/{patient.id}#contacts"
    )
    html = _page(desk_client, patient)
    assert "Taxi home of €60.00 granted to Gerda Gebaar. €15.00 of your monthly limit left." in html
    assert "Granted" in html[html.index('id="gestures-heading"') :]

    response = post_form(
        desk_client, "/gestures/new", _grant_data(patient), form_page=page
    )  # 60 + 12.50: still within
    assert response.status_code == 302
    response = post_form(desk_client, "/gestures/new", _grant_data(patient, kind="parking_refund", cost="7.50"),
                         form_page=page)  # fmt: skip
    assert response.status_code == 302
    html = _page(desk_client, patient)
    assert ("Refused: €7.50 is above your monthly limit of €75.00 (€72.50 used, €2.50 left). "
            "The request for Parking refund is waiting for the coordinator&#39;s approval.") in html  # fmt: skip
    assert "Waiting for approval" in html[html.index('id="gestures-heading"') :]
    statuses = [g.status for g in session.exec(select(RecoveryGesture).order_by(RecoveryGesture.id))]
    assert statuses == [GestureStatus.GRANTED, GestureStatus.GRANTED, GestureStatus.PENDING]

    month = desk_client.get("/gestures").get_data(as_text=True)
    assert "€2.50" in month[month.index('id="budget-remaining"') :][:200]
    pending = month[month.index('id="pending"') : month.index('id="people-heading"')]
    assert "Gerda Gebaar" in pending and "€7.50" in pending
    assert "Approve" not in pending  # a clerk sees the queue but does not decide


def test_bad_grant_input_is_shown_next_to_the_field(desk_client, post_form, session: Session) -> None:
    patient = make_patient(session)
    page = f"/patients/{patient.id}"
    for data, message in [
        (_grant_data(patient, cost="twelve"), "Enter an amount such as 12,50."),
        (_grant_data(patient, cost="0"), "Enter an amount above 0 and at most 1000."),
        (_grant_data(patient, reason="  "), "Give the reason for the gesture."),
        (_grant_data(patient, kind="spa"), "Not a valid choice."),
        (
            _grant_data(patient, visit_id=str(make_visit(session).id)),
            "Choose one of this patient&#39;s visits.",
        ),
    ]:
        response = post_form(desk_client, "/gestures/new", data, form_page=page)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True)
    assert (
        post_form(
            desk_client, "/gestures/new", _grant_data(patient, patient_id="x"), form_page=page
        ).status_code
        == 400
    )
    assert (
        post_form(
            desk_client, "/gestures/new", _grant_data(patient, patient_id="999999"), form_page=page
        ).status_code
        == 404
    )
    assert session.exec(select(RecoveryGesture)).all() == []
    assert desk_client.get(f"/gestures/new?patient_id={patient.id}&visit_id=abc").status_code == 404
    assert desk_client.get("/gestures/new").status_code == 404
    assert desk_client.get(f"/gestures/new?patient_id={patient.id}").status_code == 200


def test_the_coordinator_approves_and_declines_from_the_queue(
    client, signed_in, post_form, session: Session
) -> None:
    desk = make_user(session, username="desk-x", role=Role.FRONT_DESK, display_name="Dirk Desk")
    patient = make_patient(session, given_name="Piet", family_name="Pending")
    now = dt.datetime.now(dt.UTC)
    kw = dict(session=session, actor=desk, patient_id=patient.id, visit_id=None, kind="taxi_home", reason="late taxi",
              now=now)  # fmt: skip
    recovery.grant(cost_cents=7000, **kw, unit=UNIT)
    first = recovery.grant(cost_cents=4500, **kw, unit=UNIT).gesture
    second = recovery.grant(cost_cents=4000, **kw, unit=UNIT).gesture
    assert first.status == second.status == GestureStatus.PENDING

    coordinator = signed_in(client, Role.COORDINATOR, username="coordinator", display_name="Cor Coordinator")
    html = client.get("/gestures").get_data(as_text=True)
    row = re.search(rf'<tr id="pending-{first.id}">.*?</tr>', html, re.S).group(0)
    assert "Piet Pending" in row and "Dirk Desk" in row and "€45.00" in row and "Approve" in row
    response = post_form(client, f"/gestures/{first.id}/approve", {}, form_page="/gestures")
    assert response.status_code == 302
    response = post_form(
        client, f"/gestures/{second.id}/decline", {"note": "not our fault"}, form_page="/gestures"
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(RecoveryGesture, first.id).status == GestureStatus.GRANTED
    assert session.get(RecoveryGesture, first.id).decided_by == coordinator.id
    assert session.get(RecoveryGesture, second.id).status == GestureStatus.DECLINED
    html = client.get("/gestures").get_data(as_text=True)
    assert "Nothing is waiting for approval." in html
    people = {m.group(1): m.group(0) for m in re.finditer(r'<tr id="person-(\d+)">.*?</tr>', html, re.S)}
    assert "€45.00" in people[str(coordinator.id)] and "€955.00" in people[str(coordinator.id)]
    assert "€70.00" in people[str(desk.id)] and "€5.00" in people[str(desk.id)]
    again = post_form(
        client, f"/gestures/{first.id}/approve", {}, form_page="/gestures", follow_redirects=True
    )
    assert "This request has already been decided." in again.get_data(as_text=True)
    assert post_form(client, "/gestures/999999/approve", {}, form_page="/gestures").status_code == 404


def test_a_desk_clerk_cannot_decide(desk_client, post_form, session: Session) -> None:
    assert post_form(desk_client, "/gestures/1/approve", {}, form_page="/gestures").status_code == 403


def test_month_navigation_and_bad_months(desk_client) -> None:
    html = desk_client.get("/gestures?month=2026-01").get_data(as_text=True)
    assert "January 2026" in html and "month=2025-12" in html and "month=2026-02" in html
    assert "No gestures this month." in html
    for bad in ("2026-13", "26-01", "2026-1x"):
        assert desk_client.get(f"/gestures?month={bad}").status_code == 404


def test_log_a_contact_by_hand(desk_client, post_form, session: Session) -> None:
    patient = make_patient(session)
    page = f"/patients/{patient.id}"
    data = {"contact-channel": "phone", "contact-direction": "inbound", "contact-purpose": "complaint",
            "contact-met": "no", "contact-visit_id": "", "contact-note": "Parking machine broken"}  # fmt: skip
    response = post_form(desk_client, f"/gestures/contacts/{patient.id}", data, form_page=page)
    assert response.status_code == 302
    touch = session.exec(select(TouchPoint)).one()
    assert (touch.channel, touch.direction, touch.purpose, touch.expectation_met, touch.note) == (
        "phone", "inbound", "complaint", False, "Parking machine broken",
    )  # fmt: skip
    html = _page(desk_client, patient)
    assert "Contact logged for" in html and "Parking machine broken" in html and "by Dana Desk" in html

    bad = post_form(
        desk_client, f"/gestures/contacts/{patient.id}", {**data, "contact-channel": "sms"}, form_page=page
    )
    assert bad.status_code == 400 and "Not a valid choice." in bad.get_data(as_text=True)
    bad = post_form(
        desk_client, f"/gestures/contacts/{patient.id}", {**data, "contact-note": "x" * 501}, form_page=page
    )
    assert bad.status_code == 400 and 'id="contact-note-error"' in bad.get_data(as_text=True)
    assert post_form(desk_client, "/gestures/contacts/999999", data, form_page=page).status_code == 404
    assert len(session.exec(select(TouchPoint)).all()) == 1


def test_the_expectations_page_shows_every_purpose_and_the_limits(desk_client) -> None:
    html = desk_client.get("/gestures/expectations").get_data(as_text=True)
    for text in ("Check-in", "Checked in at most 15 minutes after the planned arrival.", "Yes to both questions.",
                 "Taxi home", "€45.00", "€75.00", "€1,000.00"):  # fmt: skip
        assert text in html, text


def test_a_bad_settings_file_stops_the_app_with_file_and_key(app_config, tmp_path) -> None:
    import shutil
    from pathlib import Path

    from clinic import create_app
    from clinic.settings import ConfigError

    seed = Path(__file__).resolve().parents[3] / "seed_data"
    for name in ("touchpoints.yaml", "service_recovery.yaml", "booking_rules.yaml"):
        shutil.copy(seed / name, tmp_path / name)
    text = (tmp_path / "service_recovery.yaml").read_text(encoding="utf-8")
    (tmp_path / "service_recovery.yaml").write_text(
        text.replace("front_desk: 75", "front_desk: lots"), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        create_app({**app_config, "SEED_DIR": str(tmp_path)})
    assert "service_recovery.yaml: monthly_limits.front_desk: " in str(info.value.message)
