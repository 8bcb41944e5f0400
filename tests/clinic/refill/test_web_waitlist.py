"""The waitlist screen: add with server-side validation, prioritise, days waited and notice, remove."""

import datetime as dt
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.refill.models import WaitlistEntry, WaitlistStatus
from clinic.refill.waitlist import add_to_waitlist
from tests.factories import make_pathway, make_patient

TODAY = dt.date.today()


def _form(who, path_way, **kw) -> dict:
    values = {
        "patient": who.mrn,
        "pathway": str(path_way.id),
        "priority": "4",
        "earliest_date": (TODAY + dt.timedelta(days=1)).isoformat(),
        "latest_date": (TODAY + dt.timedelta(days=20)).isoformat(),
        "min_notice_hours": "48",
        "notes": "prefers mornings",
    }
    values.update(kw)
    return values


def test_waitlist_is_in_the_nav_for_the_desk_only(desk_client, session: Session) -> None:
    html = desk_client.get("/waitlist").get_data(as_text=True)
    assert re.search(r'<a href="/waitlist"\s+aria-current="page">Waitlist</a>', html)


def test_volunteers_may_not_see_the_waitlist(volunteer_client) -> None:
    assert volunteer_client.get("/waitlist").status_code == 403


def test_add_prioritise_and_remove(desk_client, post_form, session: Session) -> None:
    pathway = make_pathway(session, name="Oncology infusion")
    patient = make_patient(session, given_name="Willem", family_name="Wachter")
    response = post_form(desk_client, "/waitlist", _form(patient, pathway, patient=patient.mrn.lower()))
    assert response.status_code == 302
    entry = session.exec(select(WaitlistEntry)).one()
    assert (entry.priority, entry.min_notice_hours, entry.notes) == (4, 48, "prefers mornings")
    entry.added_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=12)
    session.add(entry)
    session.commit()

    html = desk_client.get("/waitlist").get_data(as_text=True)
    row = re.search(rf'<tr id="entry-{entry.id}">.*?</tr>', html, re.S).group(0)
    assert "Willem Wachter" in row and "Oncology infusion" in row
    assert '<td data-label="Days waited">12</td>' in row and "48 hours" in row

    again = post_form(desk_client, "/waitlist", _form(patient, pathway))
    assert again.status_code == 409 and "already waiting for this pathway" in again.get_data(as_text=True)

    response = post_form(
        desk_client, f"/waitlist/{entry.id}/priority", {"priority": "5"}, form_page="/waitlist"
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(WaitlistEntry, entry.id).priority == 5
    bad = post_form(desk_client, f"/waitlist/{entry.id}/priority", {"priority": "9"}, form_page="/waitlist")
    assert bad.status_code == 400 and "Choose a priority from 1 to 5." in bad.get_data(as_text=True)

    response = post_form(desk_client, f"/waitlist/{entry.id}/remove", {}, form_page="/waitlist")
    assert response.status_code == 302
    session.expire_all()
    assert session.get(WaitlistEntry, entry.id).status == WaitlistStatus.REMOVED
    assert f'id="entry-{entry.id}"' not in desk_client.get("/waitlist").get_data(as_text=True)
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert actions == ["waitlist.added", "waitlist.prioritised", "waitlist.removed"]
    assert post_form(desk_client, "/waitlist/999999/remove", {}, form_page="/waitlist").status_code == 404


def test_errors_are_shown_next_to_their_fields(desk_client, post_form, session: Session) -> None:
    pathway = make_pathway(session)
    patient = make_patient(session)
    cases = [
        ({"patient": "P999999"}, "patient", "No patient with this record number."),
        ({"patient": ""}, "patient", "Enter the patient's record number."),
        ({"latest_date": TODAY.isoformat(), "earliest_date": (TODAY + dt.timedelta(days=3)).isoformat()},
         "latest_date", "The latest date must not be before the earliest date."),
        ({"min_notice_hours": "-1"}, "min_notice_hours", "Between 0 and 720 hours."),
        ({"earliest_date": "31-12-2026"}, "earliest_date", ""),
        ({"pathway": "424242"}, "pathway", ""),
    ]  # fmt: skip
    for change, field, message in cases:
        response = post_form(desk_client, "/waitlist", _form(patient, pathway, **change))
        html = response.get_data(as_text=True)
        assert response.status_code == 400, change
        error = re.search(rf'id="{field}-error"[^>]*>(.*?)</p>', html, re.S)
        assert error is not None, change
        assert message in error.group(1)
    assert session.exec(select(WaitlistEntry)).all() == []


def test_offered_entries_show_their_status(desk_client, session: Session) -> None:
    pathway = make_pathway(session)
    entry = add_to_waitlist(
        session=session, patient_id=make_patient(session).id, pathway_id=pathway.id,
        earliest_date=TODAY, latest_date=TODAY + dt.timedelta(days=3), actor_id=None, accepts_short_notice=True,
    )  # fmt: skip
    entry.status = WaitlistStatus.OFFERED
    session.add(entry)
    session.commit()
    html = desk_client.get("/waitlist").get_data(as_text=True)
    assert "Offer out" in html and "Short notice is fine" in html


text = st.text(max_size=200)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    patient=text,
    pathway=st.one_of(text, st.integers(min_value=-(2**70), max_value=2**70).map(str)),
    priority=st.one_of(text, st.integers(min_value=-10, max_value=10).map(str)),
    earliest=st.one_of(text, st.dates().map(str)),
    latest=st.one_of(text, st.dates().map(str)),
    notice=st.one_of(text, st.integers(min_value=-(2**70), max_value=2**70).map(str)),
    short=st.sampled_from(["", "y", "on", "\x00"]),
    notes=st.text(max_size=1200),
    entry_id=st.integers(min_value=0, max_value=2**70),
)
def test_fuzzed_waitlist_forms_never_fail(
    desk_client,
    form_token,
    session: Session,
    patient,
    pathway,
    priority,
    earliest,
    latest,
    notice,
    short,
    notes,
    entry_id,
) -> None:
    token = form_token(desk_client, "/waitlist")
    data = {
        "csrf_token": token, "patient": patient, "pathway": pathway, "priority": priority, "earliest_date": earliest,
        "latest_date": latest, "min_notice_hours": notice, "accepts_short_notice": short, "notes": notes,
    }  # fmt: skip
    for path, body in [
        ("/waitlist", data),
        (f"/waitlist/{entry_id}/priority", {"csrf_token": token, "priority": priority}),
        (f"/waitlist/{entry_id}/remove", {"csrf_token": token}),
    ]:
        response = desk_client.post(path, data=body)
        assert response.status_code < 500, response.get_data(as_text=True)[:500]


def test_a_record_number_registered_in_lower_case_is_found(desk_client, post_form, session: Session) -> None:
    from clinic.patients.services import create_patient

    pathway = make_pathway(session, name="Oncology infusion")
    patient = create_patient(session=session, actor_id=None, data={
        "mrn": "p004711", "given_name": "Lotte", "family_name": "Klein", "birth_date": "1950-05-05",
        "phone": "0612345678", "address_line": "Dorpsstraat 2", "postcode": "3511 AB", "city": "Utrecht",
        "distance_km": 3,
    })
    for typed in ("p004711", "P004711"):
        response = post_form(desk_client, "/waitlist", _form(patient, pathway, patient=typed))
        assert response.status_code in (302, 409), response.get_data(as_text=True)
    assert session.exec(select(WaitlistEntry)).one().patient_id == patient.id
