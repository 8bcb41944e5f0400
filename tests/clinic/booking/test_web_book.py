"""The Book screens over HTTP: search, register (messages next to the field), proposals, booking,
"just taken", nothing fits -> waitlist, roles and CSRF, and a hypothesis fuzz that never gets a 500."""

import datetime as dt
import html
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from clinic.audit.models import AuditEvent
from clinic.booking import services as booking
from clinic.patients.models import Patient, PatientCreate
from clinic.refill.models import WaitlistEntry
from clinic.unit.models import Pathway
from clinic.visits.models import Visit
from tests.clinic.booking.test_services_booking import chair_unit, heart_pathway, lab_pathway, unit
from tests.factories import make_patient, make_unit

UNIT = make_unit()

CHOICE = re.compile(r'name="choice" value="([^"]+)"')
BOOK_ACTION = re.compile(r'action="(/book/patient/\d+/book[^"]*)"')
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def count(session: Session, model) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def plan_url(patient: Patient, pathway_id: int, **extra) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"pathway": pathway_id, **extra}.items())
    return f"/book/patient/{patient.id}?{query}"


def register_data(**overrides) -> dict:
    data = {
        "mrn": "N000777",
        "given_name": "Noor",
        "family_name": "Nieuw",
        "birth_date": "1951-04-02",
        "phone": "06 1234 5678",
        "email": "",
        "language": "nl",
        "channel": "sms",
        "address_line": "Dorpsstraat 1",
        "postcode": "3511 AA",
        "city": "Utrecht",
        "distance_km": "12.5",
        "consent": "y",
    }
    data.update(overrides)
    return data


def test_only_the_desk_roles_may_book(client, desk_client, session) -> None:
    page = desk_client.get("/board").get_data(as_text=True)
    assert 'href="/book"' in page and ">Book</a>" in page
    assert desk_client.get("/book").status_code == 200


def test_volunteers_and_strangers_are_kept_out(client, volunteer_client) -> None:
    assert volunteer_client.get("/book").status_code == 403
    assert volunteer_client.get("/book/register").status_code == 403
    anonymous = client.application.test_client()
    response = anonymous.get("/book")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_search_by_name_birth_date_and_phone(desk_client, session: Session) -> None:
    greet = make_patient(session, given_name="Greet", family_name="Jansen", birth_date=dt.date(1948, 2, 3))
    make_patient(session, given_name="Karel", family_name="Jansen", birth_date=dt.date(1970, 1, 1))
    by_name = desk_client.get("/book?q=jansen").get_data(as_text=True)
    assert "Greet Jansen" in by_name and "Karel Jansen" in by_name
    by_birth = desk_client.get("/book?q=03-02-1948").get_data(as_text=True)
    assert "Greet Jansen" in by_birth and "Karel Jansen" not in by_birth
    both = desk_client.get("/book?q=jansen+1948-02-03").get_data(as_text=True)
    assert "Greet Jansen" in both and "Karel Jansen" not in both
    national = "0" + greet.phone.removeprefix("+31")
    assert "Greet Jansen" in desk_client.get(f"/book?q={national}").get_data(as_text=True)
    assert f'href="/book/patient/{greet.id}"' in by_name
    nobody = desk_client.get("/book?q=zzzz")
    assert nobody.status_code == 200 and "No patient found" in nobody.get_data(as_text=True)
    assert desk_client.get("/book?q=" + "x" * 300).status_code == 400


def test_register_shows_messages_next_to_the_fields(desk_client, session: Session, post_form) -> None:
    response = post_form(
        desk_client,
        "/book/register",
        register_data(phone="12", birth_date="2999-01-01", given_name="", distance_km="-3"),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    for name in ("phone", "birth_date", "given_name", "distance_km"):
        assert f'id="{name}-error"' in page, name
        assert re.search(rf'id="{name}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{name}"', page), (
            name
        )
    assert "Enter a valid phone number" in page and "cannot be in the future" in page
    assert count(session, Patient) == 0


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@pytest.mark.parametrize(
    ("born", "problem"),
    [
        (lambda today: today, None),
        (lambda today: _years_before(today, 120), None),
        (lambda today: _years_before(today, 121) + dt.timedelta(days=1), None),
        (lambda today: _years_before(today, 121), "older than 120"),
        (lambda today: today + dt.timedelta(days=1), "cannot be in the future"),
    ],
    ids=["today", "120-today", "day-before-121", "121-today", "tomorrow"],
)
def test_the_form_and_the_model_judge_a_birth_date_alike(
    desk_client, session: Session, post_form, born, problem
) -> None:
    """The form used to refuse anyone born more than 120 * 365 + 29 days ago, the model only from 121."""
    birth_date = born(dt.date.today())
    model_message = ""
    try:
        PatientCreate.model_validate({**register_data(), "birth_date": birth_date, "consent": True})
    except ValueError as error:
        model_message = error.errors()[0]["msg"].removeprefix("Value error, ")
    response = post_form(desk_client, "/book/register", register_data(birth_date=birth_date.isoformat()))
    page = html.unescape(response.get_data(as_text=True))
    if problem is None:
        assert model_message == "" and response.status_code == 302
    else:
        assert problem in model_message and response.status_code == 400
        assert model_message in page and 'id="birth_date-error"' in page


def test_register_then_book_a_proposal(desk_client, session: Session, post_form) -> None:
    u = unit(session)
    response = post_form(desk_client, "/book/register", register_data())
    assert response.status_code == 302
    patient = session.exec(select(Patient).where(Patient.mrn == "N000777")).one()
    assert patient.phone == "+31612345678" and patient.distance_km == 12.5 and patient.consent
    assert response.headers["Location"].endswith(f"/book/patient/{patient.id}")
    start = desk_client.get(f"/book/patient/{patient.id}")
    assert start.status_code == 200 and "Find itineraries" in start.get_data(as_text=True)

    url = plan_url(patient, u["pathway"].id, weekdays=1, part="morning")
    page = desk_client.get(url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    choices = [html.unescape(c) for c in CHOICE.findall(text)]
    assert choices and all(dt.date.fromisoformat(c.split("|")[0]).weekday() == 1 for c in choices)
    assert "Arrive at" in text and "expected to leave at" in text and "minute" in text
    action = html.unescape(BOOK_ACTION.search(text).group(1))
    assert "weekdays=1" in action and "part=morning" in action
    response = post_form(desk_client, action, {"choice": choices[0]}, form_page=url)
    assert response.status_code == 302
    visit = session.exec(select(Visit).where(Visit.patient_id == patient.id)).one()
    assert visit.date.weekday() == 1 and len(visit.steps) == 3
    from clinic.messaging.models import OutboxMessage

    actions = {
        m.action for m in session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit.id))
    }
    assert "confirmation" in actions  # booking planned the visit's outreach
    location = response.headers["Location"]
    assert f"/visits/{visit.id}" in location or "/board" in location
    actors = {e.actor_id for e in session.exec(select(AuditEvent)).all()}
    assert actors and None not in actors


def test_a_slot_taken_meanwhile_shows_the_next_options(desk_client, session: Session, post_form) -> None:
    """One chair slot a week: re-arranging the rival's visit cannot make room, so the slot is taken."""
    pathway = chair_unit(session)
    patient, rival = make_patient(session), make_patient(session)
    url = plan_url(patient, pathway.id)
    text = desk_client.get(url).get_data(as_text=True)
    first = html.unescape(CHOICE.findall(text)[0])
    action = html.unescape(BOOK_ACTION.search(text).group(1))
    booking.book_proposal(
        session=session, patient_id=rival.id, pathway_id=pathway.id, choice=first, unit=UNIT, actor_id=None
    )
    response = post_form(desk_client, action, {"choice": first}, form_page=url)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Just taken" in page and "Next options" in page
    assert first not in [html.unescape(c) for c in CHOICE.findall(page)]
    assert count(session, Visit) == 1


ENGINE_WORDS = ("arrival window", "leave-by", "The scheduler says", "no room for", "fully booked when needed")


def engine_wording(text: str) -> list[str]:
    return [words for words in ENGINE_WORDS if words.lower() in text.lower()]


def test_nothing_fits_explains_and_offers_the_waitlist(clock, desk_client, session: Session, post_form) -> None:
    pathway = chair_unit(session)  # one chair slot a week, Tuesdays 09:00-10:00
    patient, rival = make_patient(session), make_patient(session)
    tuesday = dt.date(2026, 12, 8)
    only = booking.propose_visits(
        session=session, patient_id=rival.id, pathway_id=pathway.id, unit=UNIT,
        availability=booking.Availability(earliest=tuesday, latest=tuesday), today=dt.date(2026, 12, 2),
    ).options[0]
    booking.book_proposal(
        session=session, patient_id=rival.id, pathway_id=pathway.id, choice=only.choice, unit=UNIT, actor_id=None
    )
    url = plan_url(patient, pathway.id, earliest="2026-12-08", latest="2026-12-08")
    page = desk_client.get(url)
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and "Nothing fits" in text
    assert "On Tuesday 8 December 2026: The day is full between 08:50 and 10:00." in text  # the unit's formats
    assert engine_wording(text) == []
    assert "Put on the waitlist" in text
    action = html.unescape(re.search(r'action="(/book/patient/\d+/waitlist[^"]*)"', text).group(1))
    response = post_form(desk_client, action, {"priority": "4", "notes": "prefers Tuesdays"}, form_page=url)
    assert response.status_code == 302
    entry = session.exec(select(WaitlistEntry)).one()
    assert entry.patient_id == patient.id and entry.priority == 4 and entry.notes == "prefers Tuesdays"
    again = post_form(desk_client, action, {"priority": "4"}, form_page=url)
    assert again.status_code == 409 and "already on the waitlist" in again.get_data(as_text=True)


def test_no_waitlist_where_the_patient_can_never_fit(desk_client, session: Session) -> None:
    pathway = chair_unit(session, chair_hours=())  # the only chair never opens
    page = desk_client.get(plan_url(make_patient(session), pathway.id))
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and "Nothing fits" in text
    assert "Not even bending every preference" in text and "Chair is not open for “Infusion”" in text
    assert "were open longer on the days the patient can come" in text
    assert "Put on the waitlist" not in text and engine_wording(text) == []


def test_request_errors_show_next_to_the_field(desk_client, session: Session) -> None:
    u = unit(session)
    patient = make_patient(session)
    pid = u["pathway"].id
    bad_dates = desk_client.get(
        plan_url(patient, pid, earliest="2026-12-10", latest="2026-12-01", weekdays=1)
    )
    assert bad_dates.status_code == 400 and 'id="latest-error"' in bad_dates.get_data(as_text=True)
    any_day = desk_client.get(plan_url(patient, pid))
    assert any_day.status_code == 200 and CHOICE.search(
        any_day.get_data(as_text=True)
    )  # none ticked: any day
    garbage = desk_client.get(f"/book/patient/{patient.id}?pathway=abc&weekdays=9&earliest=x")
    assert garbage.status_code == 400
    assert desk_client.get("/book/patient/999999").status_code == 404
    far = desk_client.get(plan_url(patient, pid, earliest="9999-12-31"))
    assert far.status_code == 400 and 'id="earliest-error"' in far.get_data(as_text=True)


def test_posts_need_the_csrf_token(desk_client, session: Session) -> None:
    u = unit(session)
    patient = make_patient(session)
    assert desk_client.post("/book/register", data=register_data()).status_code == 400
    response = desk_client.post(
        f"/book/patient/{patient.id}/book?pathway={u['pathway'].id}",
        data={"choice": "2026-12-01|reg@desk@480-490"},
    )
    assert response.status_code == 400
    assert (
        desk_client.post(f"/book/patient/{patient.id}/waitlist?pathway={u['pathway'].id}").status_code == 400
    )
    assert count(session, Patient) == 1 and count(session, Visit) == 0 and count(session, WaitlistEntry) == 0


text_or_junk = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "0", "-1", "1e9", "2026-02-30", "x" * 300, "9999-12-31", "0001-01-01"]),
)


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {
            name: text_or_junk
            for name in (
                "mrn",
                "given_name",
                "birth_date",
                "phone",
                "email",
                "language",
                "distance_km",
                "city",
            )
        }
    )
)
def test_fuzz_register_never_500(desk_client, session: Session, form_token, fields: dict) -> None:
    token = form_token(desk_client, "/book/register")
    response = desk_client.post(
        "/book/register", data={**register_data(mrn=f"F{len(fields)}"), **fields, "csrf_token": token}
    )
    assert response.status_code in (302, 400, 409), response.status_code


@FUZZ
@given(
    choice=st.one_of(
        text_or_junk,
        st.sampled_from(
            [
                "2026-12-01|reg@desk@480-490",
                "2026-12-01|a@b@1-2|c@d@3-4",
                "9999-12-31|x@y@0-1440",
                "TOMORROW|reg@desk@480-490|cons@doc@490-510|out@out@510-520",
            ]
        ),
    ),
    pathway=st.one_of(st.just("REAL"), text_or_junk),
    weekdays=st.lists(st.one_of(st.sampled_from(["0", "1", "4", "6", "7"]), text_or_junk), max_size=3),
    part=st.one_of(st.sampled_from(["any", "morning", "afternoon", "3"]), text_or_junk),
    earliest=text_or_junk,
)
def test_fuzz_book_never_500(
    desk_client, session: Session, form_token, choice, pathway, weekdays, part, earliest
) -> None:
    patient = session.exec(select(Patient)).first() or make_patient(session)
    real = session.exec(select(Pathway)).first() or unit(session)["pathway"]
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    pathway = str(real.id) if pathway == "REAL" else pathway
    choice = choice.replace("TOMORROW", tomorrow.isoformat())
    token = form_token(desk_client, "/book/register")
    query = {"pathway": pathway, "weekdays": weekdays, "part": part, "earliest": earliest}
    response = desk_client.post(
        f"/book/patient/{patient.id}/book", query_string=query, data={"choice": choice, "csrf_token": token}
    )
    assert response.status_code in (302, 400, 409), response.status_code
    assert desk_client.get(f"/book/patient/{patient.id}", query_string=query).status_code in (200, 400)
    waitlisted = desk_client.post(
        f"/book/patient/{patient.id}/waitlist",
        query_string=query,
        data={"priority": part, "csrf_token": token},
    )
    assert waitlisted.status_code in (302, 400, 409), waitlisted.status_code


def test_proposals_show_a_pause_the_pathway_asks_for_apart_from_waiting(
    desk_client, session: Session
) -> None:
    pathway = lab_pathway(session)
    patient = make_patient(session)
    text = desk_client.get(plan_url(patient, pathway.id)).get_data(as_text=True)
    first = text.split('class="card proposal"')[1]
    assert "0 minutes waiting" in first
    assert re.search(
        r'class="proposal__pause"><td class="time">45 min</td>\s*<td colspan="2">Pause the pathway asks for before cons<',
        first,
    )
    assert "Waiting before" not in first
    dutch = desk_client.get(plan_url(patient, pathway.id), headers={"Accept-Language": "nl"}).get_data(
        as_text=True
    )
    assert "Pauze die het zorgpad vraagt vóór cons" in dutch


def test_proposals_count_as_waiting_only_what_the_patient_waits(desk_client, session: Session) -> None:
    text = desk_client.get(plan_url(make_patient(session), heart_pathway(session).id)).get_data(as_text=True)
    first = text.split('class="card proposal"')[1]
    assert "0 minutes waiting" in first and "proposal__pause" not in first


def test_a_full_search_says_more_may_match(desk_client, session: Session) -> None:
    from clinic.booking.views import SEARCH_LIMIT

    for n in range(SEARCH_LIMIT):
        make_patient(session, given_name=f"Anna{n:02d}", family_name="Vollenhoven")
    full = re.sub(r"\s+", " ", desk_client.get("/book?q=vollenhoven").get_data(as_text=True))
    assert f"{SEARCH_LIMIT} patients · the first {SEARCH_LIMIT} only: type more of the name" in full
    one = re.sub(r"\s+", " ", desk_client.get("/book?q=anna07").get_data(as_text=True))
    assert "1 patient</caption>" in one and "only: type more" not in one
    assert 'href="/book/patient/' in one and 'aria-label="Book for Anna07 Vollenhoven"' in one
