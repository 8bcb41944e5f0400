"""Invoices for completed visits, numbered per year (``2026-000123``), and credit notes.

An issued invoice is never edited: the only change the ORM lets through is its status going from
issued to credited (when a credit note cancels it); anything else raises ``InvoiceImmutable``.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.billing.models import Invoice, InvoiceLine, InvoiceStatus
from clinic.billing.money import vat_cents
from clinic.columns import utcnow
from clinic.errors import Conflict, get_or_raise
from clinic.unit.context import Unit
from clinic.visits.models import StepStatus, Visit, VisitStatus, VisitStep


class InvoiceImmutable(RuntimeError):
    """Code tried to change an issued invoice or its lines (a programming error, never user input)."""


@event.listens_for(InvoiceLine, "before_update")
def _refuse_line_change(_mapper, _connection, line: InvoiceLine) -> None:
    raise InvoiceImmutable(f"invoice line {line.id} was changed after issue; issue a credit note instead")


@event.listens_for(Invoice, "before_update")
def _refuse_invoice_change(_mapper, _connection, invoice: Invoice) -> None:
    state = inspect(invoice)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes() and attr.key != "lines"}
    status = state.attrs.status.history
    credited = (
        changed == {"status"}
        and list(status.deleted) == [InvoiceStatus.ISSUED]
        and (invoice.status == InvoiceStatus.CREDITED)
    )
    if changed and not credited:
        raise InvoiceImmutable(
            f"invoice {invoice.number} was changed after issue ({', '.join(sorted(changed))}); credit it instead"
        )


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
    except IntegrityError as exc:
        session.rollback()
        raise _integrity_conflict(exc, invoice) from None
    return invoice


def _integrity_conflict(exc: IntegrityError, invoice: Invoice) -> Conflict:
    """Turn a unique-index race (two clerks at once) into the domain error the loser should see."""
    text = str(exc.orig)
    if "ux_invoice_credit_for" in text or "invoice.credit_for_id" in text:
        return Conflict("that invoice has just been credited", code="not_creditable")
    if "ux_invoice_open_visit" in text or "invoice.visit_id" in text:
        return Conflict(f"visit {invoice.visit_id} has just been invoiced", code="already_invoiced")
    return Conflict("another invoice took that number; try again", code="invoice_number_taken")


def open_invoice(*, session: Session, visit_id: int) -> Invoice | None:
    """The visit's issued invoice that has not been credited, if any (there is at most one)."""
    return session.exec(
        select(Invoice).where(
            Invoice.visit_id == visit_id,
            Invoice.status == InvoiceStatus.ISSUED,
            col(Invoice.credit_for_id).is_(None),
        )
    ).first()


def invoice_lines_for(visit: Visit, *, unit: Unit) -> tuple[list[InvoiceLine], str]:
    """A line for every step of the visit that was not skipped (free ones at 0), in the order performed and
    the patient's language, and the currency the charged ones share; ``unit.vat_rate_bp`` (when set) overrides
    the step types' own VAT rates."""
    lines: list[InvoiceLine] = []
    currencies = set()

    def order(step: VisitStep) -> tuple:
        return (step.actual_start or step.planned_start, step.planned_start, step.id or 0)

    for step in sorted(visit.steps, key=order):
        step_type = step.pathway_step.step_type
        if step.status == StepStatus.SKIPPED:
            continue
        if step_type.tariff_cents:
            currencies.add(step_type.currency)
        rate = step_type.vat_rate_bp if unit.vat_rate_bp is None else unit.vat_rate_bp
        lines.append(_line(step_type.name_in(visit.patient.language), step_type.id, step_type.tariff_cents, rate))
    if len(currencies) > 1:
        raise Conflict(f"the visit's tariffs mix currencies {sorted(currencies)}", code="mixed_currencies")
    return lines, (currencies.pop() if currencies else "")


def add_invoice(
    *,
    session: Session,
    visit: Visit,
    actor_id: int | None,
    unit: Unit,
    now: dt.datetime,
) -> Invoice:
    """Number, store and audit the invoice of ``visit`` in the caller's transaction (flushed, not committed);
    only a completed visit is invoiced (``Conflict(not_completed)``)."""
    if visit.status != VisitStatus.COMPLETED:
        raise Conflict(
            f"only completed visits are invoiced; this one is {visit.status.value}", code="not_completed",
            field="status",
        )
    existing = open_invoice(session=session, visit_id=visit.id)
    if existing is not None:
        raise Conflict(f"visit {visit.id} is already on invoice {existing.number}", code="already_invoiced",
                       number=existing.number)  # fmt: skip
    lines, currency = invoice_lines_for(visit, unit=unit)
    if not any(line.unit_cents for line in lines):
        raise Conflict("nothing to invoice: the visit has no chargeable steps", code="nothing_to_invoice")
    invoice = Invoice(patient_id=visit.patient_id, visit_id=visit.id, year=0, seq=0, currency=currency)
    invoice.lines.extend(lines)
    _store(session, invoice, unit.tz, now)
    audit.record(session=session, actor_id=actor_id, action="invoice.issued", entity="invoice", entity_id=invoice.id,
                 details={"number": invoice.number, "visit_id": visit.id, "total_cents": invoice.total_cents})  # fmt: skip
    return invoice


def issue_invoice(
    *,
    session: Session,
    visit_id: int,
    actor_id: int | None,
    unit: Unit,
    now: dt.datetime | None = None,
) -> Invoice:
    """Invoice the steps of a completed visit at their step types' tariffs (committed, audited)."""
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    if visit.status != VisitStatus.COMPLETED:
        raise Conflict(
            f"only completed visits are invoiced; this one is {visit.status.value}", code="not_completed"
        )
    try:
        invoice = add_invoice(
            session=session,
            visit=visit,
            actor_id=actor_id,
            unit=unit,
            now=now or utcnow(),
        )
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return invoice


def credit_invoice(
    *,
    session: Session,
    invoice_id: int,
    actor_id: int | None,
    tz: str,
    now: dt.datetime | None = None,
    reason: str | None = None,
) -> Invoice:
    """A credit note cancelling ``invoice`` in full (negative lines, numbered like invoices); the original
    is marked credited and otherwise never changes."""
    original = get_or_raise(session, Invoice, invoice_id, what="invoice")
    if original.status == InvoiceStatus.CREDITED or original.credit_for_id is not None:
        raise Conflict(f"invoice {original.number} cannot be credited (again)", code="not_creditable",
                       number=original.number)  # fmt: skip
    reason = (reason or "").strip() or None
    credit = Invoice(
        patient_id=original.patient_id, visit_id=original.visit_id, currency=original.currency,
        credit_for_id=original.id, year=0, seq=0,
    )  # fmt: skip
    for line in sorted(original.lines, key=lambda line: line.id or 0):
        credit.lines.append(
            _line(line.description, line.step_type_id, -line.unit_cents, line.vat_rate_bp, line.quantity)
        )
    original.status = InvoiceStatus.CREDITED
    session.add(original)
    _store(session, credit, tz, now or utcnow())
    details = {"number": original.number, "credit_note": credit.number}
    if reason:
        details["reason"] = reason
    audit.record(session=session, actor_id=actor_id, action="invoice.credited", entity="invoice", entity_id=original.id,
                 details=details)  # fmt: skip
    audit.record(session=session, actor_id=actor_id, action="invoice.credit_note_issued", entity="invoice",
                 entity_id=credit.id, details={"number": credit.number, "credit_for": original.number})  # fmt: skip
    session.commit()
    return credit
