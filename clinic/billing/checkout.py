"""Checkout: close a visit's day and issue its invoice from the steps actually performed.

At checkout a checked-in, in-progress (or already completed but not yet invoiced) visit is closed in
one transaction:

- a step still in progress is finished now (it was performed);
- the pathway's own checkout step (resource kind ``checkout``) still planned is performed now;
- every other step still planned was not performed: it is recorded as skipped and not charged;
- the visit becomes completed and its invoice is issued (numbered per year, audited).

``preview`` shows exactly that without writing anything, for the confirmation screen.
"""

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic import events
from clinic.audit import record as audit
from clinic.billing.invoices import add_invoice, open_invoice
from clinic.billing.models import Invoice, InvoiceStatus
from clinic.billing.money import vat_cents
from clinic.columns import Language, utcnow
from clinic.errors import Conflict, NotFound, get_or_raise
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.unit.models import PathwayStep, ResourceKind
from clinic.visits import dayrules
from clinic.visits.models import StepStatus, Visit, VisitStatus, VisitStep

CHECKOUT_STATUSES = frozenset({VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS, VisitStatus.COMPLETED})
"""Visits that may be checked out; a completed one only while it has no open invoice."""


@dataclass(frozen=True)
class PreviewLine:
    step_id: int
    code: str
    name: str
    status_now: StepStatus
    status_after: StepStatus
    actual_start: dt.datetime | None
    actual_end: dt.datetime | None
    charged: bool
    unit_cents: int
    vat_rate_bp: int
    net_cents: int
    vat_cents: int
    total_cents: int


@dataclass(frozen=True)
class CheckoutPreview:
    visit_id: int
    patient_id: int
    patient_name: str
    patient_language: Language
    pathway_name: str
    date: dt.date
    status: VisitStatus
    currency: str
    lines: list[PreviewLine] = field(default_factory=list)
    problem: Conflict | None = None
    open_invoice_id: int | None = None

    @property
    def allowed(self) -> bool:
        return self.problem is None

    @property
    def charged(self) -> list[PreviewLine]:
        return [line for line in self.lines if line.charged]

    @property
    def subtotal_cents(self) -> int:
        return sum(line.net_cents for line in self.charged)

    @property
    def vat_cents(self) -> int:
        return sum(line.vat_cents for line in self.charged)

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.vat_cents

    @property
    def vat_rates_bp(self) -> list[int]:
        return sorted({line.vat_rate_bp for line in self.charged})


def _load_visit(session: Session, visit_id: int, *, for_update: bool = False) -> Visit:
    statement = (
        select(Visit)
        .where(Visit.id == visit_id)
        .options(
            selectinload(Visit.patient),  # type: ignore[arg-type]
            selectinload(Visit.pathway),  # type: ignore[arg-type]
            selectinload(Visit.steps)  # type: ignore[arg-type]
            .selectinload(VisitStep.pathway_step)  # type: ignore[arg-type]
            .selectinload(PathwayStep.step_type),  # type: ignore[arg-type]
        )
    )
    if (
        for_update
    ):  # lock the visit row (PostgreSQL) and re-read it, not the copy a preview left in the session
        statement = statement.with_for_update().execution_options(populate_existing=True)
    visit = session.exec(statement).first()
    if visit is None:
        raise NotFound(f"visit {visit_id} does not exist", field="visit_id")
    return visit


def _problem(session: Session, visit: Visit) -> tuple[Conflict | None, Invoice | None]:
    invoice = open_invoice(session=session, visit_id=visit.id)
    if invoice is not None:
        return (
            Conflict(
                f"visit {visit.id} is already checked out on invoice {invoice.number}",
                code="already_invoiced",
                field="visit_id",
                number=invoice.number,
            ),
            invoice,
        )
    if visit.status not in CHECKOUT_STATUSES:
        return (
            Conflict(
                f"only a checked-in or in-progress visit can be checked out; this one is {visit.status.value}",
                code="not_checked_in",
                field="status",
                status=visit.status.value,
            ),
            None,
        )
    return None, None


def _status_after(step: VisitStep) -> StepStatus:
    if step.status == StepStatus.IN_PROGRESS:
        return StepStatus.DONE
    if step.status == StepStatus.PLANNED:
        is_checkout = step.pathway_step.step_type.resource_kind == ResourceKind.CHECKOUT
        return StepStatus.DONE if is_checkout else StepStatus.SKIPPED
    return step.status


def _ordered(visit: Visit) -> list[VisitStep]:
    return sorted(visit.steps, key=lambda s: (s.planned_start, s.id or 0))


def preview(*, session: Session, visit_id: int, unit: Unit, now: dt.datetime | None = None) -> CheckoutPreview:
    """What checking the visit out now would do and charge, without writing anything; a visit of another
    day shows the ``not_visit_day`` problem (a coordinator may still override it)."""
    visit = _load_visit(session, visit_id)
    problem, invoice = _problem(session, visit)
    today = dayrules.local_date(now or utcnow(), unit.tz)
    if problem is None and visit.date != today:
        problem = Conflict(
            f"checkout happens on the visit's day ({visit.date.isoformat()}), not on {today.isoformat()}",
            code=dayrules.NOT_VISIT_DAY,
            field="visit_id",
            day=visit.date.isoformat(),
            today=today.isoformat(),
        )
    lines: list[PreviewLine] = []
    currencies: set[str] = set()
    for step in _ordered(visit):
        step_type = step.pathway_step.step_type
        after = _status_after(step)
        charged = after == StepStatus.DONE
        rate = step_type.vat_rate_bp if unit.vat_rate_bp is None else unit.vat_rate_bp
        net = step_type.tariff_cents if charged else 0
        vat = vat_cents(net, rate)
        if charged and step_type.tariff_cents:
            currencies.add(step_type.currency)
        lines.append(
            PreviewLine(
                step_id=step.id,
                code=step.pathway_step.code,
                name=step_type.named,
                status_now=step.status,
                status_after=after,
                actual_start=step.actual_start,
                actual_end=step.actual_end,
                charged=charged,
                unit_cents=step_type.tariff_cents,
                vat_rate_bp=rate,
                net_cents=net,
                vat_cents=vat,
                total_cents=net + vat,
            )
        )
    if problem is None and len(currencies) > 1:
        problem = Conflict(
            f"the visit's tariffs mix currencies {sorted(currencies)}", code="mixed_currencies"
        )
    if problem is None and not currencies:
        problem = Conflict("nothing to invoice: no chargeable step was performed", code="nothing_to_invoice")
    return CheckoutPreview(
        visit_id=visit.id,
        patient_id=visit.patient_id,
        patient_name=visit.patient.display_name,
        patient_language=visit.patient.language,
        pathway_name=visit.pathway.named,
        date=visit.date,
        status=visit.status,
        currency=currencies.pop() if len(currencies) == 1 else "",
        lines=lines,
        problem=problem,
        open_invoice_id=invoice.id if invoice is not None else None,
    )


def check_out(
    *,
    session: Session,
    visit_id: int,
    actor_id: int | None,
    unit: Unit,
    now: dt.datetime | None = None,
    override_reason: str | None = None,
) -> Invoice:
    """Close the visit's steps, complete it and issue its invoice, all in one committed transaction.

    ``Conflict`` (nothing written) when the visit is not checked in / in progress, is already
    invoiced, has nothing chargeable, or is not today's (``not_visit_day``: a coordinator may override
    with ``override_reason``).
    """
    now = now or utcnow()
    try:
        visit = _load_visit(session, visit_id, for_update=True)
        problem, _ = _problem(session, visit)
        if problem is not None:
            raise problem
        dayrules.require_visit_day(
            session, visit=visit, now=now, tz=unit.tz, what="checkout", actor_id=actor_id,
            override_reason=override_reason,
        )
        finished: list[str] = []
        skipped: list[str] = []
        for step in _ordered(visit):
            after = _status_after(step)
            if after == step.status:
                continue
            if after == StepStatus.DONE:
                step.actual_start = step.actual_start or now
                step.actual_end = max(now, step.actual_start)
                finished.append(step.pathway_step.code)
            else:
                skipped.append(step.pathway_step.code)
            step.status = after
            session.add(step)
        previous = visit.status
        visit.status = VisitStatus.COMPLETED
        session.add(visit)
        session.flush()
        invoice = add_invoice(
            session=session, visit=visit, actor_id=actor_id, unit=unit, now=now
        )
        details: dict = {"from": previous.value, "invoice": invoice.number}
        if finished:
            details["finished_steps"] = finished
        if skipped:
            details["skipped_steps"] = skipped
        audit.record(
            session=session,
            actor_id=actor_id,
            action="visit.checked_out",
            entity="visit",
            entity_id=visit.id,
            details=details,
        )
        events.record(session, events.VisitCompleted(visit_id=visit.id, actor_id=actor_id))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return invoice


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything an invoice page or PDF shows; amounts in cents, times aware UTC."""

    invoice: Invoice
    lines: list
    patient_name: str
    patient_mrn: str
    patient_address: list[str]
    language: Language
    visit_date: dt.date | None
    pathway_name: str | None
    credit_for_number: str | None
    credited_by_number: str | None
    credited_by_id: int | None

    @property
    def is_credit_note(self) -> bool:
        return self.invoice.credit_for_id is not None

    @property
    def vat_rates_bp(self) -> list[int]:
        return sorted({line.vat_rate_bp for line in self.lines})


def invoice_document(*, session: Session, invoice_id: int) -> InvoiceDocument:
    invoice = get_or_raise(session, Invoice, invoice_id, what="invoice")
    patient = session.get(Patient, invoice.patient_id)
    visit = session.get(Visit, invoice.visit_id) if invoice.visit_id is not None else None
    original = session.get(Invoice, invoice.credit_for_id) if invoice.credit_for_id is not None else None
    credit = session.exec(select(Invoice).where(Invoice.credit_for_id == invoice.id)).first()
    return InvoiceDocument(
        invoice=invoice,
        lines=sorted(invoice.lines, key=lambda line: line.id or 0),
        patient_name=patient.display_name,
        patient_mrn=patient.mrn,
        patient_address=[patient.address_line, f"{patient.postcode} {patient.city}"],
        language=patient.language,
        visit_date=visit.date if visit is not None else None,
        pathway_name=visit.pathway.name_in(patient.language) if visit is not None else None,
        credit_for_number=original.number if original is not None else None,
        credited_by_number=credit.number if credit is not None else None,
        credited_by_id=credit.id if credit is not None else None,
    )


def invoices_for_visit(*, session: Session, visit_id: int) -> list[Invoice]:
    """The visit's invoices and credit notes, oldest first."""
    statement = (
        select(Invoice).where(Invoice.visit_id == visit_id).order_by(col(Invoice.issued_at), col(Invoice.id))
    )
    return list(session.exec(statement))


def is_open(invoice: Invoice) -> bool:
    return invoice.status == InvoiceStatus.ISSUED and invoice.credit_for_id is None


@dataclass(frozen=True)
class QueueRow:
    visit_id: int
    patient_name: str
    pathway_name: str
    status: VisitStatus
    last_end: dt.datetime | None
    invoice_id: int | None
    invoice_number: str | None
    invoice_total_cents: int | None
    currency: str | None


def checkout_queue(*, session: Session, day: dt.date) -> list[QueueRow]:
    """Visits of local ``day`` that are checked in, under way or completed, with their open invoice if any:
    the ones without an invoice first (in planned order), then the checked-out ones."""
    visits = session.exec(
        select(Visit)
        .where(Visit.date == day, col(Visit.status).in_(list(CHECKOUT_STATUSES)))
        .options(
            selectinload(Visit.patient),  # type: ignore[arg-type]
            selectinload(Visit.pathway),  # type: ignore[arg-type]
            selectinload(Visit.steps),  # type: ignore[arg-type]
        )
    ).all()
    ids = [visit.id for visit in visits]
    invoices = {}
    if ids:
        for invoice in session.exec(
            select(Invoice).where(
                col(Invoice.visit_id).in_(ids),
                Invoice.status == InvoiceStatus.ISSUED,
                col(Invoice.credit_for_id).is_(None),
            )
        ):
            invoices[invoice.visit_id] = invoice
    rows = []
    for visit in visits:
        invoice = invoices.get(visit.id)
        rows.append(
            QueueRow(
                visit_id=visit.id,
                patient_name=visit.patient.display_name,
                pathway_name=visit.pathway.named,
                status=visit.status,
                last_end=max((s.planned_end for s in visit.steps), default=None),
                invoice_id=invoice.id if invoice else None,
                invoice_number=invoice.number if invoice else None,
                invoice_total_cents=invoice.total_cents if invoice else None,
                currency=invoice.currency if invoice else None,
            )
        )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda r: (r.invoice_id is not None, r.last_end or far, r.patient_name, r.visit_id))
    return rows
