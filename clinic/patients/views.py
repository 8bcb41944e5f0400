"""``/patients/<id>``: a patient's details, derived segments, visits past and coming (with the messages planned
and sent for each), treatment series, and invoices; ``/patients/search``: the header's patient search."""

from types import SimpleNamespace

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length, Optional

from clinic.booking.series import series_of_patient
from clinic.booking.services import find_patients
from clinic.db import get_session
from clinic.errors import NotFound
from clinic.messaging.outbox import messages_by_visit
from clinic.privacy.access import access_log, record_access
from clinic.privacy.erasure import is_erased
from clinic.privacy.models import AccessKind
from clinic.visits.services import patient_overview
from clinic.web.clock import clinic_today
from clinic.web.container import unit
from clinic.web.labels import (
    ACCESS_KIND_LABELS,
    CONTACT_CHANNEL_LABELS,
    SEGMENT_LABELS,
    VISIT_STATUS_LABELS,
    label,
    language_label,
    message_labels,
)
from clinic.web.phones import format_phone
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.web.urls import optional_url

bp = Blueprint("patient", __name__, template_folder="templates")

#: How many of the newest access-log rows the coordinator sees on the patient page.
ACCESS_ROWS_SHOWN = 20

#: The segments shown as badges at the top, in this order (needs follow as smaller badges).
MAIN_SEGMENTS = ("local", "regional", "long_distance", "70+")
SEARCH_LIMIT = 50
SEARCH_MAX_CHARS = 100


class PatientSearchForm(FlaskForm):
    """The header's search box (a GET form: no CSRF)."""

    class Meta:
        csrf = False

    q = StringField(
        _l("Name, date of birth, phone or record number"),
        validators=[Optional(), Length(max=SEARCH_MAX_CHARS)],
        render_kw={"autocomplete": "off"},
    )


@bp.get("/patients/search")
@roles_required(FRONT_DESK, COORDINATOR, ADMIN)
def search():
    form = PatientSearchForm(request.args)
    patients = None
    status = 200
    if (request.args.get("q") or "").strip():
        if form.validate():
            patients = find_patients(session=get_session(), text=form.q.data or "", limit=SEARCH_LIMIT)
        else:
            status = 400
    return (
        render_template(
            "patients/search.html",
            form=form,
            patients=patients,
            limit=SEARCH_LIMIT,
            format_phone=format_phone,
            book_url=lambda patient_id: optional_url("book.plan", patient_id=patient_id),
        ),
        status,
    )


@bp.get("/patients/<int:patient_id>")
@roles_required(FRONT_DESK, COORDINATOR, ADMIN)
def detail(patient_id: int):
    try:
        overview = patient_overview(
            session=get_session(),
            patient_id=patient_id,
            today=clinic_today(),
            unit=unit(),
        )
    except NotFound:
        abort(404)
    record_access(
        session=get_session(), unit=unit(), patient_id=patient_id, user_id=current_user.id, kind=AccessKind.PAGE
    )
    privacy = None
    if current_user.role in (COORDINATOR, ADMIN):
        privacy = SimpleNamespace(
            log=access_log(
                session=get_session(), unit=unit(), actor_id=current_user.id, patient_id=patient_id,
                page_size=ACCESS_ROWS_SHOWN,
            ),
            erased=is_erased(overview.patient),
            kind_labels=ACCESS_KIND_LABELS,
        )  # fmt: skip
    invoice_urls = {i.id: optional_url("checkout.invoice", invoice_id=i.id) for i in overview.invoices}
    series = series_of_patient(session=get_session(), patient_id=patient_id, today=clinic_today())
    visit_ids = [v.id for v in (*overview.coming, *overview.past)]
    messages = messages_by_visit(session=get_session(), visit_ids=visit_ids)
    return render_template(
        "patients/detail.html",
        overview=overview,
        patient=overview.patient,
        main_segments=[s for s in MAIN_SEGMENTS if s in overview.segments],
        other_segments=sorted(s for s in overview.segments if s not in MAIN_SEGMENTS),
        invoice_urls=invoice_urls,
        series=series,
        privacy=privacy,
        erased=is_erased(overview.patient),
        messages=messages,
        message_labels=message_labels(),
        series_actions="series.move" in current_app.view_functions,
        status_label=lambda code: label(VISIT_STATUS_LABELS, code),
        segment_label=lambda code: label(SEGMENT_LABELS, code),
        channel_label=lambda code: label(CONTACT_CHANNEL_LABELS, code),
        language_label=language_label,
    )
