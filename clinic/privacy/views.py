"""Patients' rights screens: the export (JSON, PDF in the patient's language), erasure confirmed by the
record number, and the access log; coordinators and administrators only (the services check it again)."""

import datetime as dt
import json

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, format_currency, format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from clinic.db import get_session
from clinic.errors import Conflict, Forbidden, NotFound, ValidationError
from clinic.patients.services import get_patient, patient_by_mrn
from clinic.privacy import access
from clinic.privacy.erasure import erase_patient, is_erased
from clinic.privacy.export import export_patient
from clinic.privacy.export_pdf import PdfExport, PdfSection, render_export_pdf
from clinic.privacy.models import AccessKind
from clinic.web.clock import clinic_today
from clinic.web.container import unit
from clinic.web.forms import BlankableSelectField, select_choices
from clinic.web.labels import (
    ACCESS_KIND_LABELS,
    CONTACT_CHANNEL_LABELS,
    VISIT_STATUS_LABELS,
    label,
    language_label,
)
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, COORDINATOR, roles_required

bp = Blueprint("privacy", __name__, template_folder="templates")
add_nav_item("privacy.access_log", _l("Access log"), (COORDINATOR, ADMIN))
PAGE_SIZE = 50

SECTION_LABELS = {
    "treatment_series": _l("Treatment series"),
    "visit": _l("Visits"),
    "visit_step": _l("Steps of the visits"),
    "visit_checkin": _l("Check-ins"),
    "volunteer_assignment": _l("Volunteers"),
    "transport_request": _l("Transport"),
    "invoice": _l("Invoices"),
    "invoice_line": _l("Invoice lines"),
    "outbox_message": _l("Messages sent"),
    "inbound_message": _l("Messages received"),
    "touch_point": _l("Contacts"),
    "survey": _l("Answers to the two questions"),
    "follow_up": _l("Follow-ups"),
    "follow_up_event": _l("Follow-up notes"),
    "recovery_gesture": _l("Gestures"),
    "waitlist_entry": _l("Waitlist"),
    "waitlist_offer": _l("Offers of an earlier day"),
    "access_log": _l("Who opened your record"),
    "audit_event": _l("Changes to your record"),
}

FIELD_LABELS = {
    "status": _l("Status"),
    "channel": _l("Channel"),
    "action": _l("Action"),
    "description": _l("Description"),
    "quantity": _l("Quantity"),
    "total_cents": _l("Amount"),
    "cost_cents": _l("Cost"),
    "body": _l("Message"),
    "reply": _l("Reply"),
    "recipient": _l("To"),
    "from_number": _l("From"),
    "got_what_needed": _l("Did you get what you needed?"),
    "good_job": _l("Did we do a good job?"),
    "comment": _l("Comment"),
    "summary": _l("Summary"),
    "purpose": _l("Purpose"),
    "note": _l("Note"),
    "notes": _l("Notes"),
    "reason": _l("Reason"),
    "cancelled_reason": _l("Reason"),
    "outcome": _l("Outcome"),
    "wanted": _l("Transport"),
    "kind": _l("Type"),
    "cycle": _l("Cycle"),
    "cycles": _l("Cycles"),
    "priority": _l("Priority"),
    "earliest_date": _l("Earliest date"),
    "latest_date": _l("Latest date"),
    "planned_end": _l("Planned"),
}
"""The fields a section's rows show in the PDF, in the patient's language; the JSON holds every column."""

DATE_KEYS = ("date", "day", "planned_start", "issued_at", "checked_in_at", "received_at", "sent_at", "at",
             "added_at", "answered_at", "created_at", "due_at")  # fmt: skip


class EraseForm(FlaskForm):
    confirm_mrn = StringField(
        _l("Type the record number to confirm"),
        validators=[DataRequired(message=_l("Type the record number to confirm.")), Length(max=40)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    submit = SubmitField(_l("Erase the patient's data"))


class AccessFilterForm(FlaskForm):
    """A GET form (bookmarkable filters), so no CSRF token."""

    class Meta:
        csrf = False

    patient = StringField(_l("Record number"), validators=[Optional(), Length(max=40)])
    user = BlankableSelectField(_l("Staff member"), choices=[], validate_choice=True)
    submit = SubmitField(_l("Filter"))


def _patient_or_404(patient_id: int):
    try:
        return get_patient(session=get_session(), patient_id=patient_id)
    except NotFound:
        abort(404)


def _export(patient_id: int, kind: AccessKind) -> dict:
    _patient_or_404(patient_id)
    try:
        return export_patient(
            session=get_session(), unit=unit(), patient_id=patient_id, actor_id=current_user.id, kind=kind
        )
    except Forbidden:
        abort(403)


@bp.get("/patients/<int:patient_id>/export.json")
@roles_required(COORDINATOR, ADMIN)
def export_json(patient_id: int):
    data = _export(patient_id, AccessKind.EXPORT_JSON)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="patient-{patient_id}-export.json"',
            "Cache-Control": "no-store",
        },
    )


def _moment(value: object) -> str:
    if not isinstance(value, str):
        return ""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if len(value) == 10:
        return format_date(parsed.date(), "medium")
    return format_datetime(parsed, "short")


def _value(table: str, key: str, value: object, row: dict) -> str:
    if table == "access_log" and key == "kind" and value in ACCESS_KIND_LABELS:
        return str(ACCESS_KIND_LABELS[value])
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if key.endswith("_cents") and isinstance(value, int):
        return format_currency(value / 100, row.get("currency") or "EUR")
    if key == "status" and "pathway_id" in row and value in VISIT_STATUS_LABELS:
        return str(VISIT_STATUS_LABELS[value])
    if isinstance(value, str) and (key.endswith(("_at", "_date", "_end", "_start")) or key in ("at", "day")):
        return _moment(value)
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def _details(table: str, row: dict, date_key: str | None) -> str:
    shown = []
    if table == "invoice":
        shown.append(f"{_('Number')}: {row['year']}-{row['seq']:06d}")
    for key, label_text in FIELD_LABELS.items():
        value = row.get(key)
        if key == date_key or value in (None, "", [], {}):
            continue
        shown.append(f"{label_text}: {_value(table, key, value, row)}")
    return "; ".join(shown)


def pdf_document(data: dict, language: str) -> PdfExport:
    """The export in the patient's language: labelled details, then a dated table per kind of record."""
    tables = data["tables"]
    patient = tables["patient"][0]
    with force_locale(language):
        details = [
            (_("Record number"), patient["mrn"]),
            (_("Name"), f"{patient['given_name']} {patient['family_name']}"),
            (_("Date of birth"), _moment(patient["birth_date"])),
            (_("Phone"), patient["phone"]),
            (_("E-mail"), patient["email"] or "–"),
            (_("Address"), f"{patient['address_line']}, {patient['postcode']} {patient['city']}"),
            (_("Language"), str(language_label(patient["language"]))),
            (_("Contact by"), str(label(CONTACT_CHANNEL_LABELS, patient["channel"]))),
            (_("Agreed to be contacted"), _("Yes") if patient["consent"] else _("No")),
            (_("Opted out of messages"), _("Yes") if patient["opted_out"] else _("No")),
        ]
        sections = []
        for table, heading in SECTION_LABELS.items():
            rows = []
            for row in tables.get(table, []):
                date_key = next((k for k in DATE_KEYS if row.get(k)), None)
                rows.append([_moment(row[date_key]) if date_key else "–", _details(table, row, date_key)])
            sections.append(PdfSection(heading=str(heading), header=[_("Date"), _("Details")], rows=rows,
                                       empty=_("Nothing recorded.")))  # fmt: skip
        return PdfExport(
            title=_("Your data at OneVisit"),
            language=language,
            intro=[
                _("Everything the day-care unit holds about you, as of %(when)s.",
                  when=format_datetime(dt.datetime.fromisoformat(data["exported_at"]), "medium")),  # fmt: skip
                _("Article 15 of the General Data Protection Regulation gives you the right to this copy."),
                _("This is a summary; the unit can also give you every field, as a file (JSON)."),
            ],
            details=details,
            sections=sections,
        )


@bp.get("/patients/<int:patient_id>/export.pdf")
@roles_required(COORDINATOR, ADMIN)
def export_pdf(patient_id: int):
    data = _export(patient_id, AccessKind.EXPORT_PDF)
    language = data["tables"]["patient"][0]["language"]
    body = render_export_pdf(
        pdf_document(data, language), compress=current_app.config.get("INVOICE_PDF_COMPRESS", True)
    )
    return Response(
        body,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="patient-{patient_id}-export.pdf"',
            "Cache-Control": "no-store",
        },
    )


def _render_erase(patient, form: EraseForm, error: str | None = None, status: int = 200):
    return render_template("privacy/erase.html", patient=patient, form=form, error=error), status


@bp.route("/patients/<int:patient_id>/erase", methods=["GET", "POST"])
@roles_required(COORDINATOR, ADMIN)
def erase(patient_id: int):
    patient = _patient_or_404(patient_id)
    if is_erased(patient):
        flash(_("This patient's data has already been erased."), "info")
        return redirect(url_for("patient.detail", patient_id=patient_id))
    form = EraseForm()
    if request.method == "GET":
        return _render_erase(patient, form)
    if not form.validate():
        return _render_erase(patient, form, status=400)
    try:
        result = erase_patient(
            session=get_session(),
            unit=unit(),
            patient_id=patient_id,
            actor_id=current_user.id,
            confirm_mrn=form.confirm_mrn.data,
            today=clinic_today(),
        )
    except Forbidden:
        abort(403)
    except ValidationError:
        get_session().rollback()
        form.confirm_mrn.errors = [_("That is not this patient's record number: type %(mrn)s exactly.", mrn=patient.mrn)]
        return _render_erase(patient, form, status=400)
    except Conflict as exc:
        get_session().rollback()
        if exc.code == "upcoming_visit":
            message = _("This patient still has a visit on %(day)s: cancel it first, then erase.",
                        day=format_date(exc.params["day"], "long"))  # fmt: skip
            return render_template(
                "privacy/erase.html", patient=patient, form=form, error=message,
                visit_url=url_for("visit.detail", visit_id=exc.params["visit_id"]),
            ), 409  # fmt: skip
        return _render_erase(patient, form, error=_("This patient's data has already been erased."), status=409)
    flash(
        _("The patient's data has been erased. Invoices and visits are kept under the pseudonym %(pseudonym)s.",
          pseudonym=result.pseudonym),
        "success",
    )  # fmt: skip
    return redirect(url_for("patient.detail", patient_id=patient_id))


@bp.get("/access-log")
@roles_required(COORDINATOR, ADMIN)
def access_log():
    session = get_session()
    form = AccessFilterForm(request.args)
    form.user.choices = select_choices(
        [("", _l("Everyone"))] + [(str(uid), name) for uid, name in access.staff(session=session)]
    )
    status, result, patient = 200, None, None
    if request.args and not form.validate():
        status = 400
    else:
        mrn = (form.patient.data or "").strip()
        if mrn:
            patient = patient_by_mrn(session=session, mrn=mrn)
            if patient is None:
                form.patient.errors = [_("No patient has record number %(mrn)s.", mrn=mrn)]
                status = 400
        if status == 200:
            try:
                result = access.access_log(
                    session=session,
                    unit=unit(),
                    actor_id=current_user.id,
                    patient_id=patient.id if patient else None,
                    user_id=int(form.user.data) if form.user.data else None,
                    page=min(max(request.args.get("page", 1, type=int), 1), 100_000),
                    page_size=PAGE_SIZE,
                )
            except Forbidden:
                abort(403)

    def page_url(number: int) -> str:
        args = {k: v for k, v in request.args.items() if k != "page"}
        return url_for("privacy.access_log", **args, page=number)

    return render_template(
        "privacy/access_log.html", form=form, result=result, page_url=page_url, kind_labels=ACCESS_KIND_LABELS
    ), status
