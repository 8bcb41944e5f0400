"""``/fhir/Appointment/$find``, ``$hold``, ``$book`` and ``PUT /fhir/Appointment/<id>`` (cancel): the IHE
Scheduling operations (``clinic.fhir.operations``) over HTTP, with bearer-token scopes."""

from flask import current_app, request

from clinic.bootstrap import of_app
from clinic.columns import utcnow
from clinic.db import get_session
from clinic.fhir import auth, operations
from clinic.fhir.capability import Operation, add_operation, support
from clinic.fhir.outcome import fhir_error

bp = auth.fhir_blueprint("fhir_ops", __name__)

IHE = "https://profiles.ihe.net/ITI/Scheduling/OperationDefinition"
support("Appointment", interactions=["update"])
add_operation("Appointment", Operation(
    "find", f"{IHE}/appointment-find",
    "ITI-115: the engine's proposed itineraries for a patient (patient) and a pathway (service-type, by code) "
    "between start and end, as proposed Appointments (_count: at most 20)."))
add_operation("Appointment", Operation(
    "hold", f"{IHE}/appointment-hold",
    "ITI-116: hold a proposed Appointment (parameter appointment) for ONEVISIT_HOLD_MINUTES; answers the "
    "pending Appointment hold-<n>."))
add_operation("Appointment", Operation(
    "book", f"{IHE}/appointment-book",
    "ITI-117: book a held (hold-<n>) or proposed Appointment (parameter appointment) like the Book screen; "
    "answers the booked Appointment. Cancel with PUT Appointment/<id>, status cancelled."))


def _now_and_unit():
    container = of_app(current_app)
    now = utcnow()
    return now, container.unit


def _base_url() -> str:
    return request.url_root.rstrip("/") + auth.PREFIX


def _params():
    if request.method == "GET":
        return operations.parameters_from_query(list(request.args.items(multi=True)))
    return operations.parameters_from_body(auth.read_json_body(expression="Parameters"))


@bp.route("/Appointment/$find", methods=["GET", "POST"])
@auth.require_scope("system/Appointment.read")
def find():
    now, unit = _now_and_unit()
    today = now.astimezone(unit.zone).date()
    session = get_session()
    wanted = operations.parse_find(
        session=session, params=_params(), unit=unit, today=today,
        mrn_system=of_app(current_app).settings.fhir_mrn_system,
    )
    return auth.fhir_response(
        operations.find(session=session, request=wanted, unit=unit, today=today, base_url=_base_url())
    )


@bp.post("/Appointment/$hold")
@auth.require_scope("system/Appointment.write")
def hold():
    now, unit = _now_and_unit()
    session = get_session()
    picked = operations.picked_appointment(session=session, params=_params())
    body = operations.hold(session=session, picked=picked, unit=unit, now=now,
                           client=auth.current_grant().client_name)
    return auth.fhir_response(body)


@bp.post("/Appointment/$book")
@auth.require_scope("system/Appointment.write")
def book():
    now, unit = _now_and_unit()
    session = get_session()
    picked = operations.picked_appointment(session=session, params=_params())
    body = operations.book(session=session, picked=picked, unit=unit, now=now,
                           client=auth.current_grant().client_name)
    return auth.fhir_response(body, 200,
                              {"Location": f"{_base_url()}/Appointment/{body['id']}"})


@bp.put("/Appointment/<id_>")
@auth.require_scope("system/Appointment.write")
def update(id_: str):
    now, unit = _now_and_unit()
    if id_.startswith(operations.HOLD_PREFIX):
        body = operations.update_hold(
            session=get_session(), appointment_id=id_, body=auth.read_json_body(expression="Appointment"),
            unit=unit, now=now, client=auth.current_grant().client_name,
        )
        return auth.fhir_response(body)
    if not id_.isdigit() or not 0 < int(id_) < 2**31:
        raise fhir_error(404, f"Appointment/{id_} does not exist", expression="Appointment.id", code="not-found")
    body = operations.update_appointment(
        session=get_session(), visit_id=int(id_), body=auth.read_json_body(expression="Appointment"), unit=unit,
        now=now, client=auth.current_grant().client_name,
    )
    return auth.fhir_response(body)
