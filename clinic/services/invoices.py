"""Invoices for completed visits, numbered per year (``2026-000123``), and credit notes."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clinic.errors import Conflict, NotFound
from clinic.models import Invoice, InvoiceLine, InvoiceStatus, StepStatus, Visit, VisitStatus, utcnow
from clinic.money import vat_cents
from clinic.services import audit


def _next_seq(session: Session, year: int) -> int:
    highest = session.exec(select(func.max(Invoice.seq)).where(Invoice.year == year)).one()
    return (highest or 0) + 1


def _line(
    description: str, step_type_id: int | None, unit_cents: int, vat_rate_bp: int, quantity: int = 1
) -> InvoiceLine:
    net = unit_cents * quantity
    vat = vat_cents(net, vat_rate_bp)
    return InvoiceLine(
        description=description,
        step_type_id=step_type_id,
        quantity=quantity,
        unit_cents=unit_cents,
        vat_rate_bp=vat_rate_bp,
        net_cents=net,
        vat_cents=vat,
        total_cents=net + vat,
    )


def _store(session: Session, invoice: Invoice, tz: str, now: dt.datetime) -> Invoice:
    invoice.issued_at = now
    invoice.year = now.astimezone(ZoneInfo(tz)).year
    invoice.seq = _next_seq(session, invoice.year)
    invoice.subtotal_cents = sum(line.net_cents for line in invoice.lines)
    invoice.vat_cents = sum(line.vat_cents for line in invoice.lines)
    invoice.total_cents = invoice.subtotal_cents + invoice.vat_cents
    session.add(invoice)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("another invoice took that number; try again", code="invoice_number_taken") from None
    return invoice


def issue_invoice(
    *, session: Session, visit_id: int, actor_id: int | None, tz: str, now: dt.datetime | None = None
) -> Invoice:
    """Invoice the steps of a completed visit at their step types' tariffs (committed, audited)."""
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise NotFound(f"visit {visit_id} does not exist", field="visit_id")
    if visit.status != VisitStatus.COMPLETED:
        raise Conflict(
            f"only completed visits are invoiced; this one is {visit.status.value}", code="not_completed"
        )
    existing = session.exec(
        select(Invoice).where(
            Invoice.visit_id == visit.id,
            Invoice.status == InvoiceStatus.ISSUED,
            col(Invoice.credit_for_id).is_(None),
        )
    ).first()
    if existing is not None:
        raise Conflict(f"visit {visit.id} is already on invoice {existing.number}", code="already_invoiced")
    invoice = Invoice(patient_id=visit.patient_id, visit_id=visit.id, year=0, seq=0)
    currencies = set()
    for step in sorted(visit.steps, key=lambda s: s.planned_start):
        step_type = step.pathway_step.step_type
        if step.status == StepStatus.SKIPPED or step_type.tariff_cents == 0:
            continue
        currencies.add(step_type.currency)
        invoice.lines.append(
            _line(step_type.name, step_type.id, step_type.tariff_cents, step_type.vat_rate_bp)
        )
    if not invoice.lines:
        raise Conflict("nothing to invoice: the visit has no chargeable steps", code="nothing_to_invoice")
    if len(currencies) > 1:
        raise Conflict(f"the visit's tariffs mix currencies {sorted(currencies)}", code="mixed_currencies")
    invoice.currency = currencies.pop()
    _store(session, invoice, tz, now or utcnow())
    audit.record(session=session, actor_id=actor_id, action="invoice.issued", entity="invoice", entity_id=invoice.id,
                 details={"number": invoice.number, "visit_id": visit.id})  # fmt: skip
    session.commit()
    return invoice


def credit_invoice(
    *, session: Session, invoice_id: int, actor_id: int | None, tz: str, now: dt.datetime | None = None
) -> Invoice:
    """A credit note cancelling ``invoice`` in full; the original is marked credited."""
    original = session.get(Invoice, invoice_id)
    if original is None:
        raise NotFound(f"invoice {invoice_id} does not exist", field="invoice_id")
    if original.status == InvoiceStatus.CREDITED or original.credit_for_id is not None:
        raise Conflict(f"invoice {original.number} cannot be credited (again)", code="not_creditable")
    credit = Invoice(
        patient_id=original.patient_id, visit_id=original.visit_id, currency=original.currency,
        credit_for_id=original.id, year=0, seq=0,
    )  # fmt: skip
    for line in original.lines:
        credit.lines.append(
            _line(
                f"Credit: {line.description}",
                line.step_type_id,
                -line.unit_cents,
                line.vat_rate_bp,
                line.quantity,
            )
        )
    original.status = InvoiceStatus.CREDITED
    session.add(original)
    _store(session, credit, tz, now or utcnow())
    audit.record(session=session, actor_id=actor_id, action="invoice.credited", entity="invoice", entity_id=original.id,
                 details={"credit_note": credit.number})  # fmt: skip
    session.commit()
    return credit
