"""Treatment series over HTTP: bad series input gives clear form errors (never a 500), the Book screen
previews and books a series, the patient page lists it, and moving or cancelling goes through a preview."""

import datetime as dt
import html
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from clinic.booking.models import SeriesStatus, TreatmentSeries
from clinic.patients.models import Patient
from clinic.visits.models import Visit, VisitStatus
from tests.clinic.booking.test_services_series import close_clinic
from tests.factories import make_patient

CHOICE = re.compile(r'name="choice" value="([^"]+)"')
LATER = re.compile(r'name="(later-\d+)" value="([^"]+)"')
SERIES = {"series": "y", "cycles": "4", "interval": "21", "tolerance": "2", "weekdays": "0"}




def url(patient, infusion, **fields) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"pathway": infusion.id, **SERIES, **fields}.items())
    return f"/book/patient/{patient.id}?{query}"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cycles": "0"}, "Enter a number of cycles from 2 to 24."),
        ({"cycles": "100"}, "Enter a number of cycles from 2 to 24."),
        ({"cycles": "abc"}, "Enter a number of cycles from 2 to 24."),
        ({"interval": "-21"}, "Enter an interval from 1 to 120 days."),
        ({"tolerance": "30"}, "Enter a tolerance from 0 to 14 days."),
        ({"tolerance": "11"}, "The tolerance must be less than half the interval"),
        ({"cycles": ""}, "Enter a number of cycles from 2 to 24."),
    ],
)
def test_bad_series_input_gives_a_clear_form_error(clock, desk_client, session, infusion, fields, message) -> None:
    response = desk_client.get(url(make_patient(session), infusion, **fields))
    assert response.status_code == 400
    assert message in text(response) and "field__error" in text(response)


def test_series_fields_are_ignored_without_the_series_box(clock, desk_client, session, infusion) -> None:
    response = desk_client.get(url(make_patient(session), infusion, series="", cycles="", tolerance="99"))
    assert response.status_code == 200 and "Proposed itineraries" in text(response)


def test_a_series_that_does_not_fit_names_the_cycle(clock, desk_client, session, infusion) -> None:
    first = dt.date(2026, 12, 7)  # the first Monday after the clock's Wednesday
    for offset in range(-2, 3):
        close_clinic(session, first + dt.timedelta(days=42 + offset))
    page = text(desk_client.get(url(make_patient(session), infusion, earliest="2026-12-07", latest="2026-12-07")))
    assert "The series does not fit" in page and "Cycle 3 cannot be placed between" in page
    assert "Book the series" not in page


def book_series(desk_client, post_form, patient, infusion) -> None:
    page = desk_client.get(url(patient, infusion))
    assert page.status_code == 200 and "Proposed series: 4 cycles every 21 days" in text(page)
    choices = CHOICE.findall(page.get_data(as_text=True))
    assert len(choices) == 4
    action = re.search(r'action="(/book/patient/\d+/series[^"]*)"', page.get_data(as_text=True)).group(1)
    response = post_form(desk_client, html.unescape(action), {"choice": choices}, form_page=url(patient, infusion))
    assert response.status_code == 302 and f"/patients/{patient.id}" in response.headers["Location"]


def test_book_a_series_then_the_patient_page_lists_it(clock, desk_client, post_form, session, infusion) -> None:
    patient = make_patient(session)
    book_series(desk_client, post_form, patient, infusion)
    series = session.exec(select(TreatmentSeries)).one()
    visits = session.exec(select(Visit).where(Visit.series_id == series.id).order_by(Visit.cycle)).all()
    assert [v.cycle for v in visits] == [1, 2, 3, 4] and all(v.date.weekday() == 0 for v in visits)
    page = text(desk_client.get(f"/patients/{patient.id}"))
    assert "Treatment series" in page and "4 cycles every 21 days (± 2)" in page
    for visit in visits:
        assert f'href="/visits/{visit.id}"' in page and f'href="/visits/{visit.id}/move"' in page
    assert f'href="/series/{series.id}/cancel"' in page
    visit_page = text(desk_client.get(f"/visits/{visits[1].id}"))
    assert f'href="/visits/{visits[1].id}/move"' in visit_page and "Cancel cycle 2" in visit_page


def test_moving_a_cycle_previews_the_later_cycles_then_moves_them(clock, desk_client, post_form, session, infusion) -> None:
    patient = make_patient(session)
    book_series(desk_client, post_form, patient, infusion)
    visits = session.exec(select(Visit).where(Visit.patient_id == patient.id).order_by(Visit.cycle)).all()
    second = visits[1]
    new_day = second.date + dt.timedelta(days=7)
    move_page = f"/visits/{second.id}/move?earliest={new_day}&latest={new_day}"
    page = desk_client.get(move_page)
    assert page.status_code == 200
    choice = CHOICE.findall(page.get_data(as_text=True))[0]
    preview = post_form(desk_client, f"/visits/{second.id}/move?earliest={new_day}&latest={new_day}",
                        {"choice": html.unescape(choice)}, form_page=move_page)
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Later cycles" in body
    later = dict((k, html.unescape(v)) for k, v in LATER.findall(body))
    assert len(later) == 2
    done = post_form(desk_client, f"/visits/{second.id}/move",
                     {"choice": html.unescape(choice), "confirmed": "yes", **later}, form_page=move_page)
    assert done.status_code == 303
    session.expire_all()
    after = session.exec(select(Visit).where(Visit.patient_id == patient.id).order_by(Visit.cycle)).all()
    assert after[1].date == new_day
    for k, visit in enumerate(after[2:], start=1):
        assert abs((visit.date - (new_day + dt.timedelta(days=21 * k))).days) <= 2


def test_bad_move_and_cancel_input_is_refused_without_a_500(clock, desk_client, post_form, session, infusion) -> None:
    patient = make_patient(session)
    book_series(desk_client, post_form, patient, infusion)
    visit = session.exec(select(Visit).where(Visit.patient_id == patient.id, Visit.cycle == 2)).one()
    move_page = f"/visits/{visit.id}/move"
    assert desk_client.get(move_page + "?earliest=not-a-date").status_code == 400
    assert desk_client.get(move_page + "?earliest=2026-12-10&latest=2027-12-10").status_code == 400
    bad = post_form(desk_client, move_page, {"choice": "garbage|x"}, form_page=move_page)
    assert bad.status_code == 400 and "cannot be booked" in text(bad)
    empty = post_form(desk_client, move_page, {"choice": ""}, form_page=move_page)
    assert empty.status_code == 400
    cancel_page = f"/visits/{visit.id}/cancel-cycle"
    assert desk_client.get(cancel_page).status_code == 200
    no_reason = post_form(desk_client, cancel_page, {"reason": ""}, form_page=cancel_page)
    assert no_reason.status_code == 400 and "Give a reason." in text(no_reason)
    assert desk_client.get("/series/999999/cancel").status_code == 404
    assert desk_client.get("/visits/999999/move").status_code == 404


def test_cancel_the_series_from_its_page(clock, desk_client, post_form, session, infusion) -> None:
    patient = make_patient(session)
    book_series(desk_client, post_form, patient, infusion)
    series = session.exec(select(TreatmentSeries)).one()
    page = f"/series/{series.id}/cancel"
    response = post_form(desk_client, page, {"reason": "treatment stopped"})
    assert response.status_code == 303
    session.expire_all()
    assert session.get(TreatmentSeries, series.id).status == SeriesStatus.CANCELLED
    visits = session.exec(select(Visit).where(Visit.series_id == series.id)).all()
    assert all(v.status == VisitStatus.CANCELLED for v in visits)


NUMBERS = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12).map(str),
    st.sampled_from(["", " ", "abc", "1.5", "1e9", "-0", "٣", "x" * 300]),
    st.text(max_size=12),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cycles=NUMBERS, interval=NUMBERS, tolerance=NUMBERS, earliest=st.sampled_from(["", "2026-12-07", "9999-12-31", "x"]))
def test_fuzz_series_request_never_500(clock, desk_client, session, infusion, cycles, interval, tolerance, earliest) -> None:
    patient = session.exec(select(Patient)).first() or make_patient(session)
    response = desk_client.get(
        f"/book/patient/{patient.id}",
        query_string={"pathway": infusion.id, "series": "y", "cycles": cycles, "interval": interval,
                      "tolerance": tolerance, "earliest": earliest, "weekdays": "0"},
    )
    assert response.status_code in (200, 400), response.status_code


def test_tampered_series_posts_are_refused_without_a_500(clock, desk_client, post_form, session, infusion) -> None:
    patient = make_patient(session)
    page = url(patient, infusion)
    choices = CHOICE.findall(desk_client.get(page).get_data(as_text=True))
    action = f"/book/patient/{patient.id}/series?pathway={infusion.id}&series=y&cycles=4&interval=21&tolerance=2&weekdays=0"
    for bad in ([], choices[:3], ["garbage"] * 4, [choices[0]] * 4, ["x" * 3000] * 4):
        response = post_form(desk_client, action, {"choice": [html.unescape(c) for c in bad]}, form_page=page)
        assert response.status_code in (400, 409), (bad, response.status_code)
    wrong_shape = post_form(desk_client, action.replace("cycles=4", "cycles=0"),
                            {"choice": [html.unescape(c) for c in choices]}, form_page=page)
    assert wrong_shape.status_code == 400
    assert session.exec(select(TreatmentSeries)).all() == []
    assert desk_client.post(action, data={"choice": choices}).status_code == 400, "no CSRF token"
