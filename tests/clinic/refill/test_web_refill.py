"""The cancel and refill screens: reason required, ranked candidates, offers by phone, answers recorded."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.refill.models import OfferStatus, WaitlistOffer
from clinic.refill.waitlist import add_to_waitlist
from clinic.unit.models import ResourceKind
from clinic.visits.models import Visit, VisitStatus
from tests.factories import make_pathway, make_patient, make_resource, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)


def future_weekday(days: int = 3) -> dt.date:
    day = dt.datetime.now(dt.UTC).astimezone(ZONE).date() + dt.timedelta(days=days)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def small_day(session: Session, *, waiting: int = 2) -> dict:
    """A day that holds one 40-minute visit (booked), and ``waiting`` patients on the waitlist for it."""
    day = future_weekday()
    hours = tuple((wd, dt.time(9), dt.time(9, 40)) for wd in range(5))
    resources = {
        kind: make_resource(session, kind=kind, hours=hours)
        for kind in (ResourceKind.REGISTRATION, ResourceKind.CONSULT, ResourceKind.CHECKOUT)
    }
    pathway = make_pathway(session, name="Check-up")
    visit = make_visit(
        session, pathway=pathway, day=day, start=dt.datetime.combine(day, dt.time(9), ZONE), resources=resources,
        patient=make_patient(session, given_name="Cas", family_name="Cancel"),
    )  # fmt: skip
    entries = [
        add_to_waitlist(
            session=session,
            patient_id=make_patient(session, given_name="Wendy", family_name=f"Wait{i}").id,
            pathway_id=pathway.id,
            earliest_date=day - dt.timedelta(days=1),
            latest_date=day + dt.timedelta(days=7),
            actor_id=None,
            priority=5 - i,
            min_notice_hours=2,
        )
        for i in range(waiting)
    ]
    return {"day": day, "visit": visit, "entries": entries, "pathway": pathway}


def test_only_desk_roles_may_cancel(client, volunteer_client, session: Session) -> None:
    data = small_day(session, waiting=0)
    response = volunteer_client.get(f"/visits/{data['visit'].id}/cancel")
    assert response.status_code == 403


def test_anonymous_is_sent_to_sign_in(client, session: Session) -> None:
    data = small_day(session, waiting=0)
    response = client.get(f"/visits/{data['visit'].id}/cancel")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_cancel_needs_a_reason_next_to_the_field(desk_client, post_form, session: Session) -> None:
    data = small_day(session)
    path = f"/visits/{data['visit'].id}/cancel"
    page = desk_client.get(path)
    assert page.status_code == 200 and "Cas Cancel" in page.get_data(as_text=True)
    response = post_form(desk_client, path, {"action": "cancel", "reason": "   "})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'id="reason-error"[^>]*>\s*Give a reason\.', html)
    session.expire_all()
    assert session.get(Visit, data["visit"].id).status == VisitStatus.BOOKED
    assert desk_client.get("/visits/999999/cancel").status_code == 404


def test_cancel_offers_only_what_the_visit_may_still_become(desk_client, post_form, session: Session) -> None:
    data = small_day(session, waiting=0)
    visit = data["visit"]
    path = f"/visits/{visit.id}/cancel"
    assert 'value="no_show"' in desk_client.get(path).get_data(as_text=True)

    visit.status = VisitStatus.CHECKED_IN
    session.add(visit)
    session.commit()
    html = desk_client.get(path).get_data(as_text=True)
    assert 'value="cancel"' in html and 'value="no_show"' not in html

    visit.status = VisitStatus.COMPLETED
    session.add(visit)
    session.commit()
    page = desk_client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<form" not in html.split("<main", 1)[-1].split("</main>", 1)[0]
    assert "This visit is completed: it can no longer be cancelled or marked as a no-show." in html
    response = post_form(desk_client, path, {"action": "cancel", "reason": "typed the address"})
    assert response.status_code == 409
    session.refresh(visit)
    assert visit.status is VisitStatus.COMPLETED and visit.cancelled_reason is None


def test_cancel_refill_offer_and_accept(desk_client, post_form, form_token, session: Session) -> None:
    from clinic.messaging.models import OutboxMessage
    from clinic.messaging.outreach import plan_visit_outreach

    data = small_day(session)
    visit_id = data["visit"].id
    plan_visit_outreach(session=session, visit_id=visit_id, unit=UNIT)
    planned = session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit_id)).all()
    assert planned, "the booked visit has reminders planned"
    response = post_form(
        desk_client, f"/visits/{visit_id}/cancel", {"action": "no_show", "reason": "did not come"}
    )
    assert response.status_code == 409  # a visit still ahead cannot be a no-show
    assert "The patient may still arrive: a no-show can be recorded from" in response.get_data(as_text=True)
    response = post_form(
        desk_client, f"/visits/{visit_id}/cancel", {"action": "cancel", "reason": "called to cancel"}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/visits/{visit_id}/refill")

    session.expire_all()
    statuses = {
        m.status.value for m in session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit_id))
    }
    assert "queued" not in statuses and "withdrawn" in statuses  # cancelling withdrew the reminders

    page = desk_client.get(f"/visits/{visit_id}/refill")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.index("Wendy Wait0") < html.index("Wendy Wait1")  # ranked: priority 5 before 4
    assert "09:00" in html or "9:00" in html

    top = data["entries"][0]
    token = form_token(desk_client, f"/visits/{visit_id}/refill")
    response = desk_client.post(f"/visits/{visit_id}/offers", data={"csrf_token": token, "entry_id": top.id})
    assert response.status_code == 302
    offer = session.exec(select(WaitlistOffer).where(WaitlistOffer.entry_id == top.id)).one()
    assert offer.channel.value == "phone" and offer.status == OfferStatus.OPEN
    html = desk_client.get(f"/visits/{visit_id}/refill").get_data(as_text=True)
    assert "Waiting for an answer" in html and "First offer after" in html

    bad = desk_client.post(f"/offers/{offer.id}/answer", data={"csrf_token": token, "answer": "maybe"})
    assert bad.status_code == 400 and "Choose accepted or declined." in bad.get_data(as_text=True)

    response = desk_client.post(
        f"/offers/{offer.id}/answer", data={"csrf_token": token, "answer": "accepted"}
    )
    assert response.status_code == 302
    html = desk_client.get(f"/visits/{visit_id}/refill").get_data(as_text=True)
    assert "Filled: Wendy Wait0 accepted." in html
    booked = session.exec(select(Visit).where(Visit.status == VisitStatus.BOOKED)).all()
    assert [v.patient_id for v in booked] == [top.patient_id]
    new_rows = session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == booked[0].id)).all()
    assert new_rows, "the visit booked from the waitlist has its confirmation and reminders planned"

    again = desk_client.post(f"/offers/{offer.id}/answer", data={"csrf_token": token, "answer": "accepted"})
    assert again.status_code == 409 and "already been answered" in again.get_data(as_text=True)
    actions = {e.action for e in session.exec(select(AuditEvent)).all()}
    assert {"visit.cancelled", "offer.sent", "offer.accepted", "visit.booked", "waitlist.booked"} <= actions


def test_a_second_acceptance_is_told_it_was_taken(desk_client, form_token, session: Session) -> None:
    data = small_day(session)
    visit_id = data["visit"].id
    token = form_token(desk_client, f"/visits/{visit_id}/cancel")
    desk_client.post(
        f"/visits/{visit_id}/cancel", data={"csrf_token": token, "action": "cancel", "reason": "ill"}
    )
    response = desk_client.post(f"/visits/{visit_id}/offers", data={"csrf_token": token, "wave_size": "2"})
    assert response.status_code == 302
    first, second = session.exec(select(WaitlistOffer).order_by(WaitlistOffer.id)).all()
    assert (
        desk_client.post(
            f"/offers/{second.id}/answer", data={"csrf_token": token, "answer": "accepted"}
        ).status_code
        == 302
    )
    response = desk_client.post(
        f"/offers/{first.id}/answer", data={"csrf_token": token, "answer": "accepted"}
    )
    assert response.status_code == 409
    assert "Just taken" in response.get_data(as_text=True)


def test_refill_of_a_visit_still_booked_goes_to_cancel(desk_client, session: Session) -> None:
    data = small_day(session, waiting=0)
    response = desk_client.get(f"/visits/{data['visit'].id}/refill")
    assert response.status_code == 302 and response.headers["Location"].endswith("/cancel")


text = st.text(max_size=400)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    action=st.one_of(text, st.sampled_from(["cancel", "no_show"])),
    reason=text,
    entry_id=st.one_of(text, st.integers(min_value=-(2**70), max_value=2**70).map(str)),
    wave_size=st.one_of(text, st.integers(min_value=-(2**40), max_value=2**40).map(str)),
    answer=st.one_of(text, st.sampled_from(["accepted", "declined"])),
    offer_id=st.integers(min_value=0, max_value=2**70),
)
def test_fuzzed_refill_forms_never_fail(
    desk_client, form_token, session: Session, action, reason, entry_id, wave_size, answer, offer_id
) -> None:
    visit = session.exec(select(Visit)).first()
    if visit is None:
        visit = small_day(session)["visit"]
    token = form_token(desk_client, "/waitlist")
    responses = [
        desk_client.post(
            f"/visits/{visit.id}/cancel", data={"csrf_token": token, "action": action, "reason": reason}
        ),
        desk_client.post(
            f"/visits/{visit.id}/offers",
            data={"csrf_token": token, "entry_id": entry_id, "wave_size": wave_size},
        ),
        desk_client.post(f"/offers/{offer_id}/answer", data={"csrf_token": token, "answer": answer}),
    ]
    for response in responses:
        assert response.status_code < 500, response.get_data(as_text=True)[:500]


def test_a_wave_held_by_the_patients_quiet_hours_is_shown(desk_client, session: Session) -> None:
    from clinic.refill import offers_sms
    from clinic.refill import services as refill

    data = small_day(session)
    visit_id = data["visit"].id
    refill.cancel_visit(session=session, visit_id=visit_id, reason="ill", now=dt.datetime.now(dt.UTC))
    assert "held-wave" not in desk_client.get(f"/visits/{visit_id}/refill").get_data(as_text=True)
    too_late = dt.datetime.combine(data["day"], dt.time(10), ZONE)  # after the 09:00 place
    offers_sms._hold_for_quiet_hours(session, visit_id, too_late, dt.datetime.now(dt.UTC))
    html = desk_client.get(f"/visits/{visit_id}/refill").get_data(as_text=True)
    assert 'id="held-wave"' in html and "No one on the waitlist can be texted before this place starts" in html
