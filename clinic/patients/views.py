"""``/patients/<id>``: a patient's details, derived segments, visits past and coming, treatment series, and invoices."""

from types import SimpleNamespace

from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user

from clinic.booking.series import series_of_patient
from clinic.db import get_session
from clinic.errors import NotFound
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
)
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.web.urls import optional_url

bp = Blueprint("patient", __name__, template_folder="templates")

#: How many of the newest access-log rows the coordinator sees on the patient page.
ACCESS_ROWS_SHOWN = 20

#: The segments shown as badges at the top, in this order (needs follow as smaller badges).
MAIN_SEGMENTS = ("local", "regional", "long_distance", "70+")


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
        series_actions="series.move" in current_app.view_functions,
        status_label=lambda code: label(VISIT_STATUS_LABELS, code),
        segment_label=lambda code: label(SEGMENT_LABELS, code),
        channel_label=lambda code: label(CONTACT_CHANNEL_LABELS, code),
        language_label=language_label,
    )
