"""The header's patient search: on every staff page, by name, date of birth, record number or phone, with
links to the patient pages; bad input is a 400 with the field's message, never a 500."""

import datetime as dt
import re

from tests.factories import make_patient


def _rows(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in html else ""


def test_every_staff_page_has_the_search_box(desk_client):
    for path in ("/board", "/outbox", "/transport", "/book"):
        html = desk_client.get(path).get_data(as_text=True)
        assert 'action="/patients/search"' in html and 'id="site-patient-search"' in html, path


def test_volunteers_have_no_search_box(volunteer_client):
    html = volunteer_client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Vera" in html and 'action="/patients/search"' not in html


def test_search_by_name_birth_date_record_number_and_phone(desk_client, session):
    anna = make_patient(session, given_name="Anna", family_name="Zwart", birth_date=dt.date(1951, 2, 3),
                        mrn="P900001", phone="+31612345678")  # fmt: skip
    other = make_patient(session, given_name="Bram", family_name="Wit", birth_date=dt.date(1970, 1, 1))
    for query in ("zwart", "Anna Zwart", "03-02-1951", "1951-02-03", "P900001", "06 1234 5678", "+31 6 12345678"):
        html = desk_client.get("/patients/search", query_string={"q": query}).get_data(as_text=True)
        rows = _rows(html)
        assert f'href="/patients/{anna.id}"' in rows, query
        assert f'href="/patients/{other.id}"' not in rows, query
        assert f'href="/book/patient/{anna.id}"' in rows
    html = desk_client.get("/patients/search", query_string={"q": "nobody-like-this"}).get_data(as_text=True)
    assert "No patient found" in html


def test_bad_input_is_a_clear_400(desk_client):
    response = desk_client.get("/patients/search", query_string={"q": "x" * 300})
    assert response.status_code == 400
    body = re.sub(r"\s+", " ", response.get_data(as_text=True))
    assert 'class="field__error"' in body and "100 characters" in body
    assert desk_client.get("/patients/search", query_string={"q": "%'\"<script>"}).status_code == 200
    assert desk_client.get("/patients/search", query_string={"q": "a\x00b"}).status_code == 400  # refused app-wide
    assert desk_client.get("/patients/search").status_code == 200


def test_volunteers_cannot_search(volunteer_client):
    assert volunteer_client.get("/patients/search?q=anna").status_code == 403


def test_search_in_dutch_and_french(client, signed_in, session):
    from clinic.users.models import Role

    signed_in(client, Role.FRONT_DESK, username="nina", language="nl")
    make_patient(session, family_name="Zwart")
    html = client.get("/patients/search?q=zwart").get_data(as_text=True)
    assert "Patiënt zoeken" in html and "Gevonden patiënten" in html
