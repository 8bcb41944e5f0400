"""Checkout and invoice screens over HTTP: roles, messages next to the action, invoices in the patient's language."""

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from clinic.billing.models import Invoice, InvoiceStatus
from clinic.visits.models import StepStatus, Visit, VisitStatus
from tests.clinic.billing.test_services_checkout import DAY, START, infusion_pathway, set_steps
from tests.factories import make_patient, make_visit

TZ = "Europe/Amsterdam"


def checked_in_visit(session: Session, *, language: str = "nl", status=VisitStatus.IN_PROGRESS, **steps):
    patient = make_patient(session, given_name="Greet", family_name="Jansen", language=language)
    visit = make_visit(session, patient=patient, pathway=infusion_pathway(session), day=DAY, start=START,
                       status=status)  # fmt: skip
    set_steps(
        session, visit, steps or {"reg": StepStatus.DONE, "lab": StepStatus.DONE, "cons": StepStatus.DONE}
    )
    return visit


def text(response) -> str:
    """The page with Babel's no-break spaces as plain spaces (``€\xa024,50`` -> ``€ 24,50``)."""
    return response.get_data(as_text=True).replace("\xa0", " ").replace("\u202f", " ")


def test_anonymous_visitors_are_sent_to_sign_in(client, session):
    visit = checked_in_visit(session)
    for path in (f"/visits/{visit.id}/checkout", "/invoices/1", "/invoices/1.pdf", "/checkout", "/audit"):
        response = client.get(path)
        assert response.status_code == 302 and "/sign-in" in response.headers["Location"], path


def test_volunteers_may_not_check_out_or_see_invoices(volunteer_client, session):
    visit = checked_in_visit(session)
    for path in (f"/visits/{visit.id}/checkout", "/invoices/1", "/invoices/1.pdf", "/checkout"):
        assert volunteer_client.get(path).status_code == 403, path
    assert volunteer_client.post(f"/visits/{visit.id}/checkout", data={}).status_code in (400, 403)
    assert "Checkout" not in text(volunteer_client.get("/volunteer"))


def test_checkout_preview_then_invoice_in_the_patients_language(desk_client, post_form, session):
    visit = checked_in_visit(session, language="nl")
    page = desk_client.get(f"/visits/{visit.id}/checkout")
    assert page.status_code == 200
    html = text(page)
    for name in ("Registration", "Blood draw", "Consultation", "Infusion treatment", "Checkout"):
        assert name in html
    assert "Not performed: not charged" in html  # the infusion was never started
    assert "€165.86" in html  # 24.50 + 2.21 VAT + 115.00 + 24.15 VAT = 165.86, in the clerk's English

    response = post_form(desk_client, f"/visits/{visit.id}/checkout", {"expected_total": "16586"})
    assert response.status_code == 302
    invoice = session.exec(select(Invoice).where(Invoice.visit_id == visit.id)).one()
    assert response.headers["Location"].endswith(f"/invoices/{invoice.id}")
    assert invoice.total_cents == 16586

    shown = desk_client.get(response.headers["Location"])
    html = text(shown)
    assert shown.status_code == 200 and invoice.number in html
    assert "Checked out. Invoice" in html  # the clerk's flash message
    document = html[html.index('<article class="invoice"') : html.index("</article>")]
    assert 'lang="nl"' in document
    assert "€ 24,50" in document and "€ 115,00" in document and "€ 165,86" in document  # Dutch amounts
    assert "december 2026" in document  # Dutch visit date
    assert "Infusion treatment" not in document  # not performed, not on the invoice
    assert f'href="/invoices/{invoice.id}.pdf"' in html
    assert "css/print.css" in html

    session.expire_all()
    assert session.get(Visit, visit.id).status is VisitStatus.COMPLETED


def test_french_patient_gets_french_amounts(desk_client, post_form, session):
    visit = checked_in_visit(session, language="fr")
    response = post_form(desk_client, f"/visits/{visit.id}/checkout", {})
    html = text(desk_client.get(response.headers["Location"]))
    document = html[html.index('<article class="invoice"') : html.index("</article>")]
    assert re.search(r"165,86\s€", document) and "décembre 2026" in document


@pytest.mark.parametrize("status", [VisitStatus.BOOKED, VisitStatus.CANCELLED])
def test_a_visit_not_checked_in_is_refused_with_a_clear_message(desk_client, post_form, session, status):
    visit = checked_in_visit(session, status=status)
    page = desk_client.get(f"/visits/{visit.id}/checkout")
    assert page.status_code == 200
    assert "Only a checked-in or in-progress visit can be checked out" in text(page)
    assert "Check out and issue the invoice</button>" not in text(page)
    response = post_form(desk_client, f"/visits/{visit.id}/checkout", {}, form_page="/checkout")
    assert response.status_code == 409
    assert 'role="alert"' in text(response) and "can be checked out" in text(response)
    assert session.exec(select(Invoice)).all() == []


def test_checking_out_twice_shows_the_existing_invoice(desk_client, post_form, session):
    visit = checked_in_visit(session)
    token_page = f"/visits/{visit.id}/checkout"
    assert post_form(desk_client, token_page, {}).status_code == 302
    again = post_form(desk_client, token_page, {}, form_page="/checkout")
    assert again.status_code == 409
    number = session.exec(select(Invoice)).one().number
    assert f"already checked out on invoice {number}" in text(again)
    page = desk_client.get(token_page)
    assert "Show the invoice" in text(page)


def test_a_changed_total_asks_to_confirm_again(desk_client, post_form, session):
    visit = checked_in_visit(session)
    response = post_form(desk_client, f"/visits/{visit.id}/checkout", {"expected_total": "1"})
    assert response.status_code == 409 and "check the new total" in text(response)
    assert session.exec(select(Invoice)).all() == []


def test_checkout_without_csrf_token_is_refused(desk_client, session):
    visit = checked_in_visit(session)
    assert desk_client.post(f"/visits/{visit.id}/checkout", data={}).status_code == 400
    assert session.exec(select(Invoice)).all() == []


def test_unknown_visit_and_invoice_are_404(desk_client, post_form):
    assert desk_client.get("/visits/999999/checkout").status_code == 404
    assert desk_client.get("/invoices/999999").status_code == 404
    assert desk_client.get("/invoices/999999.pdf").status_code == 404
    assert desk_client.get("/visits/99999999999999999999/checkout").status_code == 404
    assert desk_client.get("/invoices/99999999999999999999").status_code == 404
    assert (
        post_form(desk_client, "/invoices/999999/credit", {"reason": "x"}, form_page="/checkout").status_code
        == 404
    )


def test_credit_note_needs_a_reason_and_is_issued_once(desk_client, post_form, session):
    visit = checked_in_visit(session)
    created = post_form(desk_client, f"/visits/{visit.id}/checkout", {})
    invoice_path = created.headers["Location"]
    invoice = session.exec(select(Invoice)).one()

    empty = post_form(desk_client, f"/invoices/{invoice.id}/credit", {"reason": "  "}, form_page=invoice_path)
    assert empty.status_code == 400 and "Say why the invoice is credited." in text(empty)
    assert 'aria-invalid="true"' in text(empty)

    done = post_form(
        desk_client, f"/invoices/{invoice.id}/credit", {"reason": "Wrong pathway"}, form_page=invoice_path
    )
    assert done.status_code == 302
    session.expire_all()
    credit = session.exec(select(Invoice).where(Invoice.credit_for_id == invoice.id)).one()
    assert done.headers["Location"].endswith(f"/invoices/{credit.id}")
    assert session.get(Invoice, invoice.id).status is InvoiceStatus.CREDITED
    html = text(desk_client.get(done.headers["Location"]))
    assert credit.number in html and invoice.number in html and "€ -165,86" in html

    original = text(desk_client.get(invoice_path))
    assert "Credit this invoice" not in original and credit.number in original
    again = post_form(
        desk_client, f"/invoices/{invoice.id}/credit", {"reason": "again"}, form_page="/checkout"
    )
    assert again.status_code == 409 and "already been credited" in text(again)


def test_checkout_page_lists_todays_visits(desk_client, session, app):
    from clinic.web.clock import clinic_today

    with app.app_context():
        today = clinic_today()
    patient = make_patient(session, given_name="Piet", family_name="Peters")
    start = dt.datetime.combine(today, dt.time(8), dt.UTC)
    visit = make_visit(session, patient=patient, pathway=infusion_pathway(session), day=today, start=start,
                       status=VisitStatus.CHECKED_IN)  # fmt: skip
    html = text(desk_client.get("/checkout"))
    assert "Piet Peters" in html and f"/visits/{visit.id}/checkout" in html
    assert 'href="/checkout"' in text(desk_client.get("/board"))  # the header link


FUZZ = st.dictionaries(
    st.sampled_from(["expected_total", "reason", "submit", "csrf_token", "extra"]),
    st.one_of(st.text(max_size=400), st.integers().map(str), st.just("")),
    max_size=4,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=FUZZ, keep_token=st.booleans())
def test_fuzzed_checkout_and_credit_forms_never_fail(desk_client, form_token, session, data, keep_token):
    visit = session.exec(select(Visit)).first() or checked_in_visit(session)
    invoice = session.exec(select(Invoice)).first()
    paths = [f"/visits/{visit.id}/checkout"]
    if invoice is not None:
        paths.append(f"/invoices/{invoice.id}/credit")
    for path in paths:
        body = dict(data)
        if keep_token:
            body["csrf_token"] = form_token(desk_client, "/checkout")
        response = desk_client.post(path, data=body)
        assert response.status_code in (200, 302, 400, 409), (path, body, response.status_code)
    assert len(session.exec(select(Invoice).where(Invoice.status == InvoiceStatus.ISSUED,
                                                  Invoice.credit_for_id.is_(None))).all()) <= 1  # fmt: skip


def test_vat_rate_from_the_environment_is_charged_and_shown(monkeypatch, request, session):
    monkeypatch.setenv("ONEVISIT_VAT_RATE_BP", "2100")
    desk_client = request.getfixturevalue("desk_client")
    post_form = request.getfixturevalue("post_form")
    visit = checked_in_visit(session, language="nl")
    page = text(desk_client.get(f"/visits/{visit.id}/checkout"))
    assert "21%" in page and "€168.80" in page  # 24.50 + 5.15 + 115.00 + 24.15 (registration free)
    response = post_form(desk_client, f"/visits/{visit.id}/checkout", {})
    html = text(desk_client.get(response.headers["Location"]))
    document = html[html.index('<article class="invoice"') : html.index("</article>")]
    assert re.search(r"(btw|vat) 21%", document, re.IGNORECASE)  # the rate is shown, whether translated or not
    assert "€ 168,80" in document and "€ 29,30" in document
    assert not re.search(r"exempt|vrijgesteld", document)


def test_a_bad_vat_rate_setting_stops_the_app(monkeypatch, app_config):
    from clinic import create_app
    from clinic.settings import ConfigError

    monkeypatch.setenv("ONEVISIT_VAT_RATE_BP", "21%")
    with pytest.raises(ConfigError, match="VAT_RATE_BP"):
        create_app(app_config)


def test_a_visit_of_another_day_is_checked_out_only_by_a_coordinator_with_a_reason(desk_client, post_form,
                                                                                   session):  # fmt: skip
    from clinic.audit.models import AuditEvent
    from tests.conftest import DEMO_PASSWORD

    visit = checked_in_visit(session)
    visit.date = DAY + dt.timedelta(days=2)  # forced into progress before its day (the bug this guards)
    session.add(visit)
    session.commit()
    path = f"/visits/{visit.id}/checkout"
    page = text(desk_client.get(path))
    assert "check-in, steps and checkout happen only on the visit" in page
    assert "Check out and issue the invoice</button>" not in page and "override_reason" not in page
    refused = post_form(desk_client, path, {"override_reason": "I say so"}, form_page="/checkout")
    assert refused.status_code == 409 and "Only a coordinator can override this rule" in text(refused)
    assert session.exec(select(Invoice)).all() == []

    desk_client.post("/sign-out", data={"csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                                                                 page).group(1)})  # fmt: skip
    from clinic.users.models import Role
    from tests.factories import make_user

    make_user(session, username="boss", password=DEMO_PASSWORD, role=Role.COORDINATOR)
    post_form(desk_client, "/sign-in", {"username": "boss", "password": DEMO_PASSWORD})
    page = text(desk_client.get(path))
    assert 'id="override_reason"' in page
    done = post_form(desk_client, path, {"override_reason": "treatment given early by the oncologist"})
    assert done.status_code == 302
    override = session.exec(select(AuditEvent).where(AuditEvent.action == "visit.rule_overridden")).one()
    assert override.details == {"rule": "not_visit_day", "reason": "treatment given early by the oncologist"}
