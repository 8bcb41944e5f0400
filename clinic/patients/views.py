"""``/patients/<id>``: a patient's details, derived segments, visits past and coming, treatment series, and invoices."""

from flask import Blueprint, abort, current_app, render_template

from clinic.booking.series import series_of_patient
from clinic.db import get_session
from clinic.errors import NotFound
from clinic.visits.services import patient_overview
from clinic.web.clock import clinic_today
from clinic.web.container import unit
from clinic.web.labels import (
    CONTACT_CHANNEL_LABELS,
    SEGMENT_LABELS,
    VISIT_STATUS_LABELS,
    label,
    language_label,
)
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.web.urls import optional_url

bp = Blueprint("patient", __name__, template_folder="templates")

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
        series_actions="series.move" in current_app.view_functions,
        status_label=lambda code: label(VISIT_STATUS_LABELS, code),
        segment_label=lambda code: label(SEGMENT_LABELS, code),
        channel_label=lambda code: label(CONTACT_CHANNEL_LABELS, code),
        language_label=language_label,
    )
