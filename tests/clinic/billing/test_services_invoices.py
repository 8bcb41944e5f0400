"""Invoices: per-year numbering, VAT rounding, one invoice per visit, credit notes."""

import datetime as dt

import pytest
from sqlmodel import Session

from clinic.billing.invoices import credit_invoice, issue_invoice
from clinic.billing.models import InvoiceStatus
from clinic.billing.money import vat_cents
from clinic.errors import Conflict
from clinic.visits.models import VisitStatus
from tests.factories import make_pathway, make_unit, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def test_vat_rounds_half_away_from_zero() -> None:
    assert vat_cents(1000, 2100) == 210
    assert vat_cents(250, 900) == 23  # 22.5
    assert vat_cents(-250, 900) == -23
    assert vat_cents(1234, 0) == 0
    with pytest.raises(ValueError):
        vat_cents(100, 20000)


def test_issue_number_and_credit(session: Session) -> None:
    pathway = make_pathway(session)
    pathway.steps[1].step_type.vat_rate_bp = 2100
    session.commit()
    first = make_visit(session, pathway=pathway, start=START, status=VisitStatus.COMPLETED)
    second = make_visit(session, pathway=pathway, start=START, status=VisitStatus.COMPLETED)

    new_year_eve = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)  # already 2027 in Amsterdam
    a = issue_invoice(session=session, visit_id=first.id, actor_id=None, unit=UNIT, now=new_year_eve)
    b = issue_invoice(session=session, visit_id=second.id, actor_id=None, unit=UNIT, now=new_year_eve)
    assert (a.number, b.number) == ("2027-000001", "2027-000002")
    assert len(a.lines) == 3
    assert a.subtotal_cents == 3000 and a.vat_cents == 210 and a.total_cents == 3210

    with pytest.raises(Conflict, match="already on invoice"):
        issue_invoice(session=session, visit_id=first.id, actor_id=None, unit=UNIT)

    credit = credit_invoice(session=session, invoice_id=a.id, actor_id=None, tz=TZ, now=new_year_eve)
    assert credit.number == "2027-000003" and credit.credit_for_id == a.id
    assert credit.total_cents == -a.total_cents
    assert a.status is InvoiceStatus.CREDITED
    with pytest.raises(Conflict):
        credit_invoice(session=session, invoice_id=a.id, actor_id=None, tz=TZ)
    again = issue_invoice(session=session, visit_id=first.id, actor_id=None, unit=UNIT, now=new_year_eve)
    assert again.number == "2027-000004"


def test_only_completed_visits_are_invoiced(session: Session) -> None:
    visit = make_visit(session, start=START, status=VisitStatus.BOOKED)
    with pytest.raises(Conflict) as info:
        issue_invoice(session=session, visit_id=visit.id, actor_id=None, unit=UNIT)
    assert info.value.code == "not_completed"
