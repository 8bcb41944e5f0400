"""``/fhir``: the FHIR R4 API (JSON) for the hospital's systems: metadata, SMART configuration and token
endpoint, read and search of Patient, Appointment, Schedule and Slot, Patient create and update."""

import datetime as dt
from typing import Any

from flask import current_app, g, request

from clinic.bootstrap import Container, of_app
from clinic.columns import utcnow
from clinic.db import get_session
from clinic.errors import DomainError
from clinic.fhir import auth, finders, search, smart
from clinic.fhir.capability import SearchParam, capability_statement, support
from clinic.fhir.outcome import fhir_error, from_domain_error
from clinic.fhir.resources import (
    APPOINTMENT_CODES,
    VISIT_STATUSES,
    ResourceInvalid,
    appointment_resource,
    patient_fields,
    patient_resource,
    record_path,
    schedule_resource,
    slot_resource,
)
from clinic.fhir.slots import MAX_DAYS, day_slots
from clinic.patients.models import Patient
from clinic.patients.records import parse_record, upsert_patient

bp = auth.fhir_blueprint("fhir", __name__)
bp.after_app_request(auth.record_call)

support("Patient", interactions=["read", "search-type", "create", "update"], search_params=[
    SearchParam("_id", "token"),
    SearchParam("identifier", "token", "system|value: the hospital record number"),
    SearchParam("name", "string", "start of the given or family name"),
    SearchParam("birthdate", "date", "eq, ge, gt, le, lt"),
], documentation="The unit's patients; the identifier is the hospital record number (ONEVISIT_FHIR_MRN_SYSTEM). "
                 "Create and update go through the same patient service as the HL7 v2 feed.")
support("Appointment", interactions=["read", "search-type"], search_params=[
    SearchParam("_id", "token"),
    SearchParam("patient", "reference", "Patient/<id>"),
    SearchParam("date", "date", "the visit's day: eq, ge, gt, le, lt (IHE ITI-118 Find Existing Appointments)"),
    SearchParam("status", "token", "Appointment.status codes, comma-separated"),
], documentation="One per visit: the patient and every unit resource its steps use take part.")
support("Schedule", interactions=["read", "search-type"], search_params=[SearchParam("_id", "token")],
        documentation="One per active pathway; the unit offers it.")
support("Slot", interactions=["read", "search-type"], search_params=[
    SearchParam("schedule", "reference", "Schedule/<id>"),
    SearchParam("start", "date", "days (ge, le, ...); default the next 14 days, at most 62"),
    SearchParam("status", "token", "free or busy-unavailable"),
], documentation="Free capacity per pathway and day: free when the booking engine fits one more visit.")


def container() -> Container:
    return of_app(current_app)


def base_url() -> str:
    return request.url_root.rstrip("/") + auth.PREFIX


def token_url() -> str:
    return base_url() + "/auth/token"


def params() -> list[tuple[str, str]]:
    return list(request.args.items(multi=True))


def int_id(id_: str, resource_type: str) -> int:
    if not id_.isdigit() or not 0 < int(id_) < 2**31:
        raise fhir_error(404, f"{resource_type}/{id_} does not exist", expression=f"{resource_type}.id")
    return int(id_)


def patient_or_404(id_: str) -> Patient:
    patient = get_session().get(Patient, int_id(id_, "Patient"))
    if patient is None:
        raise fhir_error(404, f"Patient/{id_} does not exist", expression="Patient.id")
    return patient


def bundle(resource_type: str, resources: list[dict[str, Any]], total: int, page: search.Paging):
    return auth.fhir_response(search.searchset(base_url=base_url(), resource_type=resource_type,
                                               resources=resources, total=total, params=params(), page=page))


@bp.get("/metadata")
def metadata():
    """The CapabilityStatement: no token needed (clients read it before they have one)."""
    now = utcnow().replace(microsecond=0).isoformat()
    return auth.fhir_response(capability_statement(base_url=base_url(), date=now, token_url=token_url()))


@bp.get("/.well-known/smart-configuration")
def smart_configuration():
    """SMART discovery: backend services get tokens at ``token_endpoint`` with a signed JWT."""
    body = {
        "token_endpoint": token_url(),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": smart.ALGORITHMS,
        "grant_types_supported": [smart.GRANT_TYPE],
        "scopes_supported": ["system/*.read", "system/*.write", "system/*.*", "system/*.rs", "system/*.cruds"],
        "capabilities": ["client-confidential-asymmetric"],
    }
    response = auth.fhir_response(body)
    response.content_type = "application/json"
    return response


@bp.post("/auth/token")
def token():
    """SMART backend services: a signed client assertion for a short-lived bearer token (OAuth 2 answers)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        error = smart.OAuthError("invalid_request", "send the token request as application/x-www-form-urlencoded")
    else:
        try:
            issued = smart.exchange(session=get_session(), form=request.form, token_url=token_url())
        except smart.OAuthError as exc:
            error = exc
        else:
            g.fhir_client_id = issued.client_id
            response = auth.fhir_response(issued.body)
            response.content_type = "application/json"
            response.headers["Pragma"] = "no-cache"
            return response
    response = auth.fhir_response(error.body, error.status)
    response.content_type = "application/json"
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="OneVisit FHIR", error="invalid_client"'
    return response


@bp.get("/Patient/<id_>")
@auth.require_scope("system/Patient.read")
def read_patient(id_: str):
    patient = patient_or_404(id_)
    return auth.fhir_response(patient_resource(patient, mrn_system=container().settings.fhir_mrn_system))


@bp.get("/Patient")
@auth.require_scope("system/Patient.read")
def search_patients():
    asked = params()
    search.check_names(asked, ("_id", "identifier", "name", "birthdate"), "Patient")
    page = search.paging(asked)
    system = container().settings.fhir_mrn_system
    mrn = None
    identifier = search.single(asked, "identifier")
    if identifier is not None:
        wanted_system, bar, value = identifier.rpartition("|")
        if not bar:
            value = identifier
        if (bar and wanted_system and wanted_system != system) or not value:
            return bundle("Patient", [], 0, page)  # another system's numbers: none of ours match
        mrn = value
    ids = None
    if (id_text := search.single(asked, "_id")) is not None:
        ids = [int(part) for part in id_text.split(",") if part.strip().isdigit() and 0 < int(part) < 2**31]
    born = search.date_range(asked, "birthdate")
    rows, total = finders.find_patients(
        session=get_session(), mrn=mrn, name=search.single(asked, "name"), birth_from=born.start,
        birth_to=born.end, ids=ids, count=page.count, offset=page.offset,
    )
    return bundle("Patient", [patient_resource(p, mrn_system=system) for p in rows], total, page)


def _record_from_body(expected_id: str | None):
    body = auth.read_json_body()
    system = container().settings.fhir_mrn_system
    if expected_id is not None and body.get("id") != expected_id:
        raise fhir_error(400, f"the resource's id ({body.get('id')!r}) must be the id in the URL ({expected_id})",
                         expression="Patient.id")
    try:
        fields = patient_fields(body, mrn_system=system)
    except ResourceInvalid as exc:
        raise fhir_error(422, exc.message, expression=exc.expression, code="invalid") from None
    try:
        record = parse_record({k: v for k, v in fields.items() if not k.startswith("_")})
    except DomainError as exc:
        raise fhir_error(422, exc.message, expression=record_path(exc.field, fields), code="invalid") from None
    return record, fields


def _upsert(record, fields) -> tuple[Patient, bool]:
    try:
        return upsert_patient(session=get_session(), record=record, actor_id=None,
                              source=f"fhir:{auth.current_grant().client_name}"[:40])
    except DomainError as exc:
        get_session().rollback()
        problem = from_domain_error(exc, prefix="")
        raise fhir_error(422 if problem.status == 400 else problem.status, exc.message,
                         expression=record_path(exc.field, fields)) from None


@bp.post("/Patient")
@auth.require_scope("system/Patient.write")
def create_patient():
    """A new patient from a FHIR Patient (409 when the record number is already registered: use PUT)."""
    record, fields = _record_from_body(None)
    existing = finders.find_patients(session=get_session(), mrn=record.mrn, count=1, offset=0)[0]
    if existing:
        raise fhir_error(409, f"record number {record.mrn} is already Patient/{existing[0].id}: update it with PUT",
                         expression="Patient.identifier", code="duplicate")
    patient, _created = _upsert(record, fields)
    location = f"{base_url()}/Patient/{patient.id}"
    return auth.fhir_response(patient_resource(patient, mrn_system=container().settings.fhir_mrn_system), 201,
                              {"Location": location})


@bp.put("/Patient/<id_>")
@auth.require_scope("system/Patient.write")
def update_patient(id_: str):
    """Replace what the hospital's systems carry about an existing patient (not its record number)."""
    patient = patient_or_404(id_)
    record, fields = _record_from_body(id_)
    if record.mrn != patient.mrn:
        raise fhir_error(422, f"the record number of Patient/{id_} is {patient.mrn}: it cannot change to "
                              f"{record.mrn} (a merge does that)", expression="Patient.identifier")
    patient, _created = _upsert(record, fields)
    return auth.fhir_response(patient_resource(patient, mrn_system=container().settings.fhir_mrn_system))


@bp.get("/Appointment/<id_>")
@auth.require_scope("system/Appointment.read")
def read_appointment(id_: str):
    visit = finders.visit_with_steps(session=get_session(), visit_id=int_id(id_, "Appointment"))
    if visit is None:
        raise fhir_error(404, f"Appointment/{id_} does not exist", expression="Appointment.id")
    return auth.fhir_response(appointment_resource(visit, unit=container().unit))


@bp.get("/Appointment")
@auth.require_scope("system/Appointment.read")
def search_appointments():
    """IHE ITI-118 Find Existing Appointments: by patient, day range and status."""
    asked = params()
    search.check_names(asked, ("_id", "patient", "date", "status"), "Appointment")
    page = search.paging(asked)
    unit = container().unit
    patient = search.single(asked, "patient")
    patient_id = search.reference_id(patient, "Patient", "patient") if patient is not None else None
    days = search.date_range(asked, "date", unit.tz)
    statuses = None
    if (status := search.single(asked, "status")) is not None:
        codes = [code.strip() for code in status.split(",") if code.strip()]
        unknown = [code for code in codes if code not in APPOINTMENT_CODES]
        if unknown:
            raise fhir_error(400, f"status: {', '.join(unknown)} is not an Appointment.status code "
                                  f"({', '.join(sorted(APPOINTMENT_CODES))})", expression="status")
        statuses = {s for code in codes for s in VISIT_STATUSES.get(code, ())}
    session = get_session()
    if (id_text := search.single(asked, "_id")) is not None:
        wanted = finders.visit_with_steps(session=session, visit_id=int(id_text)) if id_text.isdigit() else None
        rows = [wanted] if wanted and (patient_id is None or wanted.patient_id == patient_id) and \
            days.contains(wanted.date) and (statuses is None or wanted.status in statuses) else []
        total = len(rows)
        rows = rows[page.offset:page.offset + page.count]
    else:
        rows, total = finders.find_visits(session=session, patient_id=patient_id, date_from=days.start,
                                          date_to=days.end, statuses=statuses, count=page.count,
                                          offset=page.offset)
    return bundle("Appointment", [appointment_resource(v, unit=unit) for v in rows], total, page)


@bp.get("/Schedule/<id_>")
@auth.require_scope("system/Schedule.read")
def read_schedule(id_: str):
    found = finders.active_pathways(session=get_session(), ids=[int_id(id_, "Schedule")])
    if not found:
        raise fhir_error(404, f"Schedule/{id_} does not exist", expression="Schedule.id")
    return auth.fhir_response(schedule_resource(found[0], unit=container().unit))


@bp.get("/Schedule")
@auth.require_scope("system/Schedule.read")
def search_schedules():
    asked = params()
    search.check_names(asked, ("_id",), "Schedule")
    page = search.paging(asked)
    ids = None
    if (id_text := search.single(asked, "_id")) is not None:
        ids = [int(part) for part in id_text.split(",") if part.strip().isdigit() and 0 < int(part) < 2**31]
    pathways = finders.active_pathways(session=get_session(), ids=ids)
    unit = container().unit
    shown = pathways[page.offset:page.offset + page.count]
    return bundle("Schedule", [schedule_resource(p, unit=unit) for p in shown], len(pathways), page)


def _slot_days(asked: list[tuple[str, str]], today: dt.date, tz: str) -> list[dt.date]:
    days = search.date_range(asked, "start", tz)
    first = max(days.start or today, today)
    last = days.end or (first + dt.timedelta(days=13))
    if (last - first).days + 1 > MAX_DAYS:
        raise fhir_error(400, f"start: ask for at most {MAX_DAYS} days at a time", expression="start")
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


@bp.get("/Slot")
@auth.require_scope("system/Slot.read")
def search_slots():
    """Free capacity per pathway and day, from the booking engine."""
    asked = params()
    search.check_names(asked, ("schedule", "start", "status"), "Slot")
    page = search.paging(asked)
    unit = container().unit
    now = utcnow()
    schedule = search.single(asked, "schedule")
    ids = [search.reference_id(schedule, "Schedule", "schedule")] if schedule is not None else None
    status = search.single(asked, "status")
    if status is not None and status not in ("free", "busy-unavailable"):
        raise fhir_error(400, f"status: {status!r}: this server has free and busy-unavailable slots",
                         expression="status")
    session = get_session()
    days = _slot_days(asked, now.astimezone(unit.zone).date(), unit.tz)
    slots = day_slots(session=session, unit=unit, pathways=finders.active_pathways(session=session, ids=ids),
                      days=days, now=now)
    if status is not None:
        slots = [s for s in slots if (s.free if status == "free" else not s.free)]
    shown = slots[page.offset:page.offset + page.count]
    return bundle("Slot", [slot_resource(s, unit=unit) for s in shown], len(slots), page)


@bp.get("/Slot/<id_>")
@auth.require_scope("system/Slot.read")
def read_slot(id_: str):
    pathway_text, _, day_text = id_.partition("-")
    try:
        day = dt.datetime.strptime(day_text, "%Y%m%d").date()
    except ValueError:
        day = None
    pathways = finders.active_pathways(session=get_session(), ids=[int(pathway_text)]) \
        if pathway_text.isdigit() and 0 < int(pathway_text) < 2**31 else []
    unit = container().unit
    slots = day_slots(session=get_session(), unit=unit, pathways=pathways, days=[day], now=utcnow()) \
        if day and pathways else []
    if not slots:
        raise fhir_error(404, f"Slot/{id_} does not exist (slots are <schedule id>-<YYYYMMDD>, today or later, "
                              "on days the unit opens)", expression="Slot.id")
    return auth.fhir_response(slot_resource(slots[0], unit=unit))
