"""Checkout and invoices: ``/visits/<id>/checkout``, ``/invoices/<id>`` (printable), ``.pdf``, credit notes.

The invoice itself is rendered in the PATIENT's language (``force_locale``); the page around it,
its buttons and messages stay in the clerk's.
"""

from decimal import Decimal

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, format_currency, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

import clinic.billing.invoices  # noqa: F401  (registers the guard that refuses edits of issued invoices)
from clinic.billing.checkout import check_out, checkout_queue, invoice_document, preview
from clinic.billing.invoice_pdf import PdfInvoice, render_pdf
from clinic.billing.invoices import credit_invoice
from clinic.db import get_session
from clinic.errors import Conflict, DomainError, NotFound
from clinic.i18n import format_date, format_datetime
from clinic.web.clock import clinic_today
from clinic.web.container import unit
from clinic.web.labels import VISIT_STATUS_LABELS, label
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.web.urls import optional_url
from clinic.web.visit_errors import day_rule_message

bp = Blueprint("checkout", __name__, template_folder="templates")
STAFF = (FRONT_DESK, COORDINATOR, ADMIN)
add_nav_item("checkout.today", _l("Checkout"), STAFF)

STEP_STATUS_LABELS = {
    "planned": _l("Planned"),
    "in_progress": _l("In progress"),
    "done": _l("Done"),
    "skipped": _l("Skipped"),
}


class CheckoutForm(FlaskForm):
    expected_total = HiddenField()
    override_reason = StringField(
        _l("Reason to override (coordinator)"),
        validators=[Optional(), Length(max=300, message=_l("Use at most 300 characters."))],
    )
    submit = SubmitField(_l("Check out and issue the invoice"))


class CreditForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for the credit note"),
        validators=[
            DataRequired(message=_l("Say why the invoice is credited.")),
            Length(max=300, message=_l("Use at most 300 characters.")),
        ],
    )
    submit = SubmitField(_l("Issue credit note"))


def _message(error: DomainError) -> str:
    """The clerk's-language message for a domain error of checkout or crediting."""
    params = error.params
    if error.code == "not_checked_in":
        status = label(VISIT_STATUS_LABELS, params.get("status", ""))
        return _(
            "Only a checked-in or in-progress visit can be checked out; this visit is %(status)s.",
            status=status,
        )
    if error.code in ("not_visit_day", "override_not_allowed", "not_completed"):
        return day_rule_message(error)
    if error.code == "already_invoiced":
        if params.get("number"):
            return _("This visit is already checked out on invoice %(number)s.", number=params["number"])
        return _("This visit has just been checked out by someone else.")
    if error.code == "nothing_to_invoice":
        return _("Nothing to invoice: no chargeable step was performed.")
    if error.code == "mixed_currencies":
        return _(
            "The tariffs of this visit use different currencies; the step types must be corrected first."
        )
    if error.code == "invoice_number_taken":
        return _("Another invoice took that number at the same moment; please try again.")
    if error.code == "not_creditable":
        return _("This invoice has already been credited, or is itself a credit note.")
    if error.code == "total_changed":
        return _(
            "The performed steps changed while this page was open; check the new total and confirm again."
        )
    return _("This could not be done: %(reason)s", reason=error.message)


MAX_ID = 2**31 - 1  # larger ids cannot exist (INTEGER keys) and PostgreSQL refuses to compare them


def _id_or_404(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        abort(404)
    return value


def _session():
    return get_session()


def money(cents: int | None, currency: str) -> str:
    if cents is None:
        return ""
    return format_currency(Decimal(cents) / 100, currency or unit().currency)


def vat_rate(bp: int) -> str:
    return format_percent(Decimal(bp) / 10000, "#,##0.##%")


# --- checkout ---------------------------------------------------------------------------------


@bp.get("/checkout")
@roles_required(*STAFF)
def today():
    """Today's visits that are checked in, under way or finished, with their invoice once checked out."""
    queue = checkout_queue(session=_session(), day=clinic_today())
    return render_template(
        "billing/checkout_today.html",
        queue=queue,
        day=clinic_today(),
        status_label=lambda code: label(VISIT_STATUS_LABELS, code),
        money=money,
        visit_url=lambda visit_id: optional_url("visit.detail", visit_id=visit_id),
    )


@bp.route("/visits/<int:visit_id>/checkout", methods=["GET", "POST"])
@roles_required(*STAFF)
def start(visit_id: int):
    session = _session()
    _id_or_404(visit_id)
    try:
        shown = preview(session=session, visit_id=visit_id, unit=unit())
    except NotFound:
        abort(404)
    form = CheckoutForm()
    error: str | None = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            error, status = _("The form could not be read; please confirm again."), 400
        elif form.expected_total.data and form.expected_total.data != str(shown.total_cents):
            error, status = _message(Conflict("total changed", code="total_changed")), 409
        else:
            try:
                invoice = check_out(
                    session=session,
                    visit_id=visit_id,
                    actor_id=current_user.id,
                    unit=unit(),
                    override_reason=(form.override_reason.data or "").strip() or None,
                )
            except NotFound:
                abort(404)
            except DomainError as exc:
                error, status = _message(exc), 409
                shown = preview(session=session, visit_id=visit_id, unit=unit())
            else:
                flash(_("Checked out. Invoice %(number)s has been issued.", number=invoice.number), "success")
                return redirect(url_for("checkout.invoice", invoice_id=invoice.id))
    elif shown.problem is not None:
        error = _message(shown.problem)
    form.expected_total.data = str(shown.total_cents)
    return (
        render_template(
            "billing/checkout_start.html",
            form=form,
            preview=shown,
            error=error,
            money=money,
            vat_rate=vat_rate,
            status_label=lambda code: label(VISIT_STATUS_LABELS, code),
            step_label=lambda code: label(STEP_STATUS_LABELS, code),
            visit_url=optional_url("visit.detail", visit_id=shown.visit_id),
            patient_url=optional_url("patient.detail", patient_id=shown.patient_id),
            can_override=shown.problem is not None
            and shown.problem.code == "not_visit_day"
            and current_user.role == COORDINATOR,
        ),
        status,
    )


# --- invoices ---------------------------------------------------------------------------------


def _document(invoice_id: int):
    _id_or_404(invoice_id)
    try:
        return invoice_document(session=_session(), invoice_id=invoice_id)
    except NotFound:
        abort(404)


def _document_html(document) -> Markup:
    """The invoice itself, rendered in the patient's language."""
    with force_locale(document.language.value):
        return Markup(
            render_template(
                "billing/_invoice_document.html",
                doc=document,
                invoice=document.invoice,
                money=money,
                vat_rate=vat_rate,
            )
        )


def _render_invoice(document, credit_form: CreditForm, error: str | None = None, status: int = 200):
    return (
        render_template(
            "billing/invoice.html",
            doc=document,
            invoice=document.invoice,
            document_html=_document_html(document),
            credit_form=credit_form,
            error=error,
            can_credit=document.invoice.status.value == "issued" and not document.is_credit_note,
            visit_url=optional_url("visit.detail", visit_id=document.invoice.visit_id)
            if document.invoice.visit_id
            else None,
            patient_url=optional_url("patient.detail", patient_id=document.invoice.patient_id),
        ),
        status,
    )


@bp.get("/invoices/<int:invoice_id>")
@roles_required(*STAFF)
def invoice(invoice_id: int):
    return _render_invoice(_document(invoice_id), CreditForm(formdata=None))


@bp.post("/invoices/<int:invoice_id>/credit")
@roles_required(*STAFF)
def credit(invoice_id: int):
    document = _document(invoice_id)
    form = CreditForm()
    if not form.validate_on_submit():
        return _render_invoice(document, form, status=400)
    try:
        note = credit_invoice(
            session=_session(),
            invoice_id=invoice_id,
            actor_id=current_user.id,
            tz=unit().tz,
            reason=form.reason.data,
        )
    except NotFound:
        abort(404)
    except DomainError as exc:
        return _render_invoice(_document(invoice_id), form, error=_message(exc), status=409)
    flash(_("Credit note %(number)s has been issued.", number=note.number), "success")
    return redirect(url_for("checkout.invoice", invoice_id=note.id))


def pdf_for(document) -> bytes:
    """The invoice as PDF, every word and amount in the patient's language."""
    invoice = document.invoice
    currency = invoice.currency
    with force_locale(document.language.value):
        title = _("Credit note") if document.is_credit_note else _("Invoice")
        meta = [
            (_("Number"), invoice.number),
            (_("Date"), format_date(invoice.issued_at, "long")),
            (_("Patient"), f"{document.patient_name} ({document.patient_mrn})"),
        ]
        if document.visit_date is not None:
            meta.append((_("Visit"), f"{format_date(document.visit_date, 'long')}, {document.pathway_name}"))
        if document.credit_for_number:
            meta.append((_("Credits invoice"), document.credit_for_number))
        if document.credited_by_number:
            meta.append((_("Credited by"), document.credited_by_number))
        rows = [
            [line.description, str(line.quantity), money(line.unit_cents, currency), vat_rate(line.vat_rate_bp),
             money(line.net_cents, currency)]
            for line in document.lines
        ]  # fmt: skip
        totals = [(_("Subtotal"), money(invoice.subtotal_cents, currency))]
        totals += [
            (_("VAT %(rate)s", rate=vat_rate(rate)), money(sum(li.vat_cents for li in document.lines
                                                                if li.vat_rate_bp == rate), currency))
            for rate in document.vat_rates_bp
        ]  # fmt: skip
        totals.append((_("Total"), money(invoice.total_cents, currency)))
        notes = []
        if all(rate == 0 for rate in document.vat_rates_bp):
            notes.append(_("Medical care: exempt from VAT."))
        notes.append(_("Issued on %(when)s.", when=format_datetime(invoice.issued_at, "medium")))
        data = PdfInvoice(
            title=title,
            number=invoice.number,
            language=document.language.value,
            issuer=["OneVisit", _("Day-care unit")],
            recipient=[document.patient_name, *document.patient_address],
            meta=meta,
            header=[_("Description"), _("Quantity"), _("Unit price"), _("VAT"), _("Amount")],
            rows=rows,
            totals=totals,
            notes=notes,
        )
    return render_pdf(data, compress=current_app.config.get("INVOICE_PDF_COMPRESS", True))


@bp.get("/invoices/<int:invoice_id>.pdf")
@roles_required(*STAFF)
def invoice_pdf(invoice_id: int):
    document = _document(invoice_id)
    body = pdf_for(document)
    filename = f"{'credit-note' if document.is_credit_note else 'invoice'}-{document.invoice.number}.pdf"
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
