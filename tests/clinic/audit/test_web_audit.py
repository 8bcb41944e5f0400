"""The audit log screen: coordinators and administrators only, filters by record type, user and date."""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from clinic.audit.models import AuditEvent
from tests.factories import make_user

AT = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def events(session: Session) -> tuple:
    clara = make_user(session, username="clara", display_name="Clara Clerk")
    bob = make_user(session, username="bob", display_name="Bob Booker")
    session.add_all([
        AuditEvent(actor_id=clara.id, action="invoice.issued", entity="invoice", entity_id=7, at=AT,
                   details={"number": "2026-000007"}),
        AuditEvent(actor_id=bob.id, action="visit.cancelled", entity="visit", entity_id=3,
                   at=AT + dt.timedelta(days=2), details={"reason": "ill", "steps": ["lab", "cons"]}),
        AuditEvent(actor_id=None, action="visit.completed", entity="visit", entity_id=4, at=AT - dt.timedelta(days=5)),
    ])  # fmt: skip
    session.commit()
    return clara, bob


def text(response) -> str:
    return response.get_data(as_text=True)


def test_front_desk_is_refused_and_sees_no_link(desk_client):
    assert desk_client.get("/audit").status_code == 403
    assert 'href="/audit"' not in text(desk_client.get("/board"))


def test_volunteer_is_refused(volunteer_client):
    assert volunteer_client.get("/audit").status_code == 403


def test_admin_sees_the_log(admin_client, session):
    events(session)
    assert admin_client.get("/audit").status_code == 200


def test_coordinator_filters_by_entity_user_and_date(coordinator_client, session):
    clara, bob = events(session)
    html = text(coordinator_client.get("/audit"))
    assert 'href="/audit"' in html and "3 events" in html
    assert html.index("visit.cancelled") < html.index("invoice.issued") < html.index("visit.completed")
    assert "Clara Clerk" in html and "System" in html and "number: 2026-000007" in html
    assert 'href="/invoices/7"' in html  # the invoice page links back
    assert "steps: lab, cons" in html

    only_invoices = text(coordinator_client.get("/audit?entity=invoice"))
    assert "invoice.issued" in only_invoices and "visit.cancelled" not in only_invoices

    by_bob = text(coordinator_client.get(f"/audit?user={bob.id}"))
    assert "visit.cancelled" in by_bob and "invoice.issued" not in by_bob

    one_day = text(coordinator_client.get("/audit?date_from=2026-12-01&date_to=2026-12-01"))
    assert "1 event" in one_day and "invoice.issued" in one_day

    record = text(coordinator_client.get("/audit?entity=visit&entity_id=4"))
    assert "visit.completed" in record and "visit.cancelled" not in record

    nothing = text(coordinator_client.get("/audit?date_from=2030-01-01"))
    assert "No event matches these filters." in nothing


def test_bad_filters_get_messages_next_to_the_field(coordinator_client, session):
    events(session)
    backwards = coordinator_client.get("/audit?date_from=2026-12-02&date_to=2026-12-01")
    assert backwards.status_code == 400
    assert 'id="date_to-error"' in text(backwards) and "before the start date" in text(backwards)
    assert coordinator_client.get("/audit?page=0").status_code == 200  # the first page
    for query in ("entity=teleporter", "user=abc", "entity_id=-3", "date_from=yesterday"):
        response = coordinator_client.get(f"/audit?{query}")
        assert response.status_code == 400, query
        assert 'class="field__error"' in text(response), query


def test_pages_of_fifty(coordinator_client, session):
    session.add_all(
        AuditEvent(action="visit.note", entity="visit", entity_id=n, at=AT + dt.timedelta(minutes=n))
        for n in range(1, 56)
    )
    session.commit()
    first = text(coordinator_client.get("/audit"))
    assert "55 events" in first and "page 1 of 2" in first and "Older" in first
    second = text(coordinator_client.get("/audit?page=2"))
    assert "page 2 of 2" in second and "Newer" in second and "Visit 1<" in second


QUERY = st.dictionaries(
    st.sampled_from(["entity", "entity_id", "user", "date_from", "date_to", "page", "other"]),
    st.one_of(
        st.text(max_size=60), st.integers(min_value=-(10**12), max_value=10**12).map(str), st.dates().map(str)
    ),  # fmt: skip
    max_size=5,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERY)
def test_fuzzed_filters_never_fail(coordinator_client, query):
    response = coordinator_client.get("/audit", query_string=query)
    assert response.status_code in (200, 400), (query, response.status_code)


@pytest.mark.parametrize("blank", [" ", "\r", "\n\t"])
def test_a_blank_filter_means_everyone(coordinator_client, blank):
    assert coordinator_client.get("/audit", query_string={"user": blank, "entity": blank}).status_code == 200
