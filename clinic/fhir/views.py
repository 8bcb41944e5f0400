"""``/fhir``: the FHIR R4 API (JSON) for the hospital's systems: metadata, SMART configuration and token
endpoint, read and search of Patient, Appointment, Schedule and Slot, Patient create and update."""


from typing import TypeVar

from flask import current_app, request

from clinic.bootstrap import of_app
from clinic.columns import utcnow
from clinic.db import get_session
from clinic.fhir import auth
from clinic.fhir.capability import capability_statement, support
from clinic.fhir.outcome import fhir_error
from clinic.fhir.resources import patient_resource
from clinic.patients.models import Patient
from clinic.settings import Settings

T = TypeVar("T")

bp = auth.fhir_blueprint("fhir", __name__)
bp.after_app_request(auth.record_call)

support("Patient", interactions=["read"], documentation="The unit's patients; identifier is the hospital's record number.")


def settings() -> Settings:
    return of_app(current_app).settings


def session_row(model: type[T], id_: str, resource_type: str) -> T:
    """The row behind ``<resource_type>/<id_>``, or 404 OperationOutcome (also for an id that is no number)."""
    row = get_session().get(model, int(id_)) if id_.isdigit() and 0 < int(id_) < 2**31 else None
    if row is None:
        raise fhir_error(404, f"{resource_type}/{id_} does not exist", expression=f"{resource_type}.id")
    return row


def base_url() -> str:
    return request.url_root.rstrip("/") + auth.PREFIX


def token_url() -> str:
    return base_url() + "/auth/token"


@bp.get("/metadata")
def metadata():
    """The CapabilityStatement: no token needed (clients read it before they have one)."""
    now = utcnow().replace(microsecond=0).isoformat()
    return auth.fhir_response(capability_statement(base_url=base_url(), date=now, token_url=token_url()))


@bp.get("/.well-known/smart-configuration")
def smart_configuration():
    """SMART App Launch discovery: backend services get tokens at ``token_endpoint`` with a signed JWT."""
    body = {
        "token_endpoint": token_url(),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.read", "system/*.write", "system/*.*"],
        "capabilities": ["client-confidential-asymmetric"],
    }
    response = auth.fhir_response(body)
    response.content_type = "application/json"
    return response




@bp.get("/Patient/<id_>")
@auth.require_scope("system/Patient.read")
def read_patient(id_: str):
    patient = session_row(Patient, id_, "Patient")
    return auth.fhir_response(patient_resource(patient, mrn_system=settings().fhir_mrn_system))
