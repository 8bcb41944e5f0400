"""Clinic records as FHIR R4 resources (plain JSON dicts; no Flask, no database queries of its own).

Every resource these functions return validates with ``fhir.resources`` (the tests check each one).
"""

import datetime as dt
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from clinic.json_text import elements
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.unit.models import Pathway, Resource, ResourceKind
from clinic.visits.models import Visit, VisitStatus

if TYPE_CHECKING:
    from clinic.fhir.slots import DaySlot


def instant(moment: dt.datetime) -> str:
    """An aware moment as FHIR ``instant``/``dateTime``: UTC with its offset, to the second."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def patient_resource(patient: Patient, *, mrn_system: str) -> dict[str, Any]:
    telecom = [{"system": "phone", "value": patient.phone, "use": "mobile", "rank": 1}]
    if patient.email:
        telecom.append({"system": "email", "value": patient.email, "rank": 2})
    return {
        "resourceType": "Patient",
        "id": str(patient.id),
        "meta": {"lastUpdated": instant(patient.updated_at)},
        "identifier": [{
            "use": "usual",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": mrn_system,
            "value": patient.mrn,
        }],
        "active": True,
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name],
                  "text": patient.display_name}],
        "telecom": telecom,
        "birthDate": patient.birth_date.isoformat(),
        "address": [{"use": "home", "line": [patient.address_line], "postalCode": patient.postcode,
                     "city": patient.city}],
        "communication": [{
            "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": patient.language.value}]},
            "preferred": True,
        }],
    }


RESOURCE_SYSTEM = "urn:onevisit:resource"
PATHWAY_SYSTEM = "urn:onevisit:pathway"
ANNOUNCED_ARRIVAL = "urn:onevisit:fhir:StructureDefinition:announced-arrival"

#: FHIR R4 Appointment.status for each visit status.
APPOINTMENT_STATUS = {
    VisitStatus.REQUESTED: "proposed",
    VisitStatus.BOOKED: "booked",
    VisitStatus.CONFIRMED: "booked",
    VisitStatus.CHECKED_IN: "arrived",
    VisitStatus.IN_PROGRESS: "checked-in",
    VisitStatus.COMPLETED: "fulfilled",
    VisitStatus.CANCELLED: "cancelled",
    VisitStatus.NO_SHOW: "noshow",
}
#: The visit statuses behind each Appointment.status (for searching by status).
VISIT_STATUSES: dict[str, frozenset[VisitStatus]] = {}
for _visit_status, _code in APPOINTMENT_STATUS.items():
    VISIT_STATUSES[_code] = VISIT_STATUSES.get(_code, frozenset()) | {_visit_status}
#: Every Appointment.status code of FHIR R4 (those no visit has find nothing).
APPOINTMENT_CODES = frozenset({"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
                               "entered-in-error", "checked-in", "waitlist"})

#: Which FHIR resource stands for a unit resource of each kind in ``Appointment.participant.actor``.
ACTOR_TYPE = {
    ResourceKind.REGISTRATION: "Location",
    ResourceKind.CONSULT: "Practitioner",
    ResourceKind.LAB: "Location",
    ResourceKind.IMAGING: "Device",
    ResourceKind.ECG: "Device",
    ResourceKind.CHAIR: "Location",
    ResourceKind.CHECKOUT: "Location",
    ResourceKind.DIETITIAN: "Practitioner",
    ResourceKind.NURSE_INTAKE: "Practitioner",
    ResourceKind.PHARMACY: "Location",
}


def pathway_concept(pathway: Pathway) -> dict[str, Any]:
    return {"coding": [{"system": PATHWAY_SYSTEM, "code": pathway.code, "display": pathway.name}],
            "text": pathway.name}


def resource_actor(resource: Resource) -> dict[str, Any]:
    """A unit resource as a logical reference: its type, its code as identifier, its name."""
    return {"type": ACTOR_TYPE.get(resource.kind, "Location"),
            "identifier": {"system": RESOURCE_SYSTEM, "value": resource.code}, "display": resource.name}


def appointment_resource(visit: Visit, *, unit: Unit) -> dict[str, Any]:
    """A visit as an Appointment: one participant per unit resource its steps use, and the patient."""
    steps = sorted(visit.steps, key=lambda s: (s.planned_start, s.id))
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(visit.id),
        "meta": {"lastUpdated": instant(visit.updated_at)},
        "status": APPOINTMENT_STATUS[visit.status],
    }
    if visit.pathway is not None:
        resource["serviceType"] = [pathway_concept(visit.pathway)]
        resource["appointmentType"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": "ROUTINE"}],
            "text": visit.pathway.name,
        }
        resource["description"] = visit.pathway.name
    if visit.status == VisitStatus.CANCELLED and visit.cancelled_reason:
        resource["cancelationReason"] = {"text": visit.cancelled_reason}
    if steps:
        start, end = steps[0].planned_start, max(s.planned_end for s in steps)
        resource["start"] = instant(start)
        resource["end"] = instant(end)
        resource["minutesDuration"] = max(1, round((end - start).total_seconds() / 60))
    arrival = visit.announced_at
    if arrival is not None:
        local = arrival.astimezone(ZoneInfo(unit.tz))
        resource["extension"] = [{"url": ANNOUNCED_ARRIVAL, "valueInstant": instant(arrival)}]
        resource["comment"] = f"Announced arrival {local:%H:%M} ({unit.tz})"
    resource["created"] = instant(visit.created_at)
    participants: list[dict[str, Any]] = []
    if visit.patient is not None:
        participants.append({"actor": {"reference": f"Patient/{visit.patient_id}",
                                       "display": visit.patient.display_name},
                             "required": "required", "status": "accepted"})
    else:
        participants.append({"actor": {"reference": f"Patient/{visit.patient_id}"},
                             "required": "required", "status": "accepted"})
    seen: set[int] = set()
    for step in steps:
        if step.resource is None or step.resource_id in seen:
            continue
        seen.add(step.resource_id)
        participants.append({"actor": resource_actor(step.resource), "required": "required",
                             "status": "accepted"})
    resource["participant"] = participants
    return resource


def unit_location(unit: Unit) -> dict[str, Any]:
    location: dict[str, Any] = {"resourceType": "Location", "id": "unit", "status": "active",
                                "name": unit.name or "OneVisit day-care unit"}
    if unit.address:
        location["address"] = {"text": unit.address}
    return location


def schedule_resource(pathway: Pathway, *, unit: Unit) -> dict[str, Any]:
    """One Schedule per active pathway: the unit (a contained Location) offers it."""
    return {
        "resourceType": "Schedule",
        "id": str(pathway.id),
        "contained": [unit_location(unit)],
        "active": pathway.active,
        "serviceType": [pathway_concept(pathway)],
        "actor": [{"reference": "#unit", "display": unit.name or "OneVisit day-care unit"}],
        "comment": pathway.description or pathway.name,
    }


def slot_resource(slot: "DaySlot", *, unit: Unit) -> dict[str, Any]:
    """Free capacity of a pathway on a day: ``free`` when one more visit fits, else ``busy-unavailable``."""
    local = slot.day.strftime("%Y-%m-%d")
    return {
        "resourceType": "Slot",
        "id": slot.id,
        "schedule": {"reference": f"Schedule/{slot.pathway.id}"},
        "serviceType": [pathway_concept(slot.pathway)],
        "status": "free" if slot.free else "busy-unavailable",
        "start": instant(slot.start),
        "end": instant(slot.end),
        "comment": (f"{slot.pathway.name} on {local}: " +
                    ("one more visit fits" if slot.free else "no further visit fits") +
                    f"; the unit is open {slot.start.astimezone(ZoneInfo(unit.tz)):%H:%M}-"
                    f"{slot.end.astimezone(ZoneInfo(unit.tz)):%H:%M} ({unit.tz})"),
    }


#: Where each field of a patient record sits in a FHIR Patient (for OperationOutcome.issue.expression).
RECORD_PATHS = {
    "mrn": "Patient.identifier",
    "given_name": "Patient.name[0].given[0]",
    "family_name": "Patient.name[0].family",
    "birth_date": "Patient.birthDate",
    "phone": "Patient.telecom",
    "email": "Patient.telecom",
    "language": "Patient.communication[0].language",
    "address_line": "Patient.address[0].line[0]",
    "postcode": "Patient.address[0].postalCode",
    "city": "Patient.address[0].city",
}


class ResourceInvalid(ValueError):
    """A resource a client sent cannot be taken: ``expression`` names the element (FHIRPath)."""

    def __init__(self, message: str, expression: str, loc: tuple = ()):
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.loc = loc


def fhir_path(resource_type: str, loc: tuple) -> str:
    """A pydantic error location as FHIRPath: ``("name", 0, "family")`` -> ``Patient.name[0].family``."""
    path = resource_type
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def check_structure(resource_type: str, body: dict[str, Any]) -> None:
    """``body`` is a valid FHIR R4 ``resource_type`` (``fhir.resources``' R4B models, R4-compatible for the
    resources this API takes), or ``ResourceInvalid`` naming the first wrong element."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError as PydanticError

    if body.get("resourceType") != resource_type:
        raise ResourceInvalid(f"expected a {resource_type} resource (resourceType {body.get('resourceType')!r})",
                              f"{resource_type}.resourceType")
    # fhir.resources looks a nested resource's type up before validating it, and fails with a TypeError or
    # KeyError, not a validation error, when the type names no resource.
    for loc, name in elements(body):
        if len(loc) > 1 and loc[-1] == "resourceType":
            try:
                get_fhir_model_class(name)
            except (TypeError, ValueError):
                raise ResourceInvalid(f"resourceType {name!r} is not a FHIR resource type",
                                      fhir_path(resource_type, loc), loc) from None
    try:
        get_fhir_model_class(resource_type).model_validate(body)
    except PydanticError as exc:
        first = exc.errors()[0]
        raise ResourceInvalid(first["msg"].removeprefix("Value error, "),
                              fhir_path(resource_type, first["loc"]), first["loc"]) from None


def _language(resource: dict[str, Any]) -> str | None:
    for communication in resource.get("communication") or []:
        for coding in (communication.get("language") or {}).get("coding") or []:
            code = str(coding.get("code") or "").split("-")[0].lower()
            if code:
                return code
    return None


def patient_fields(resource: dict[str, Any], *, mrn_system: str) -> dict[str, Any]:
    """The patient record fields (``clinic.patients.records.PatientRecord``) a FHIR Patient carries, or
    ``ResourceInvalid`` naming what is missing. The record number is the identifier in ``mrn_system``."""
    check_structure("Patient", resource)
    identifiers = resource.get("identifier") or []
    mrn = next((i.get("value") for i in identifiers if i.get("system") == mrn_system and i.get("value")), None)
    if mrn is None:
        raise ResourceInvalid(f"give the hospital record number as an identifier with system {mrn_system}",
                              "Patient.identifier")
    names = resource.get("name") or []
    if not names:
        raise ResourceInvalid("give the patient's name (family and given)", "Patient.name")
    index, name = next(((i, n) for i, n in enumerate(names) if n.get("use") == "official"), (0, names[0]))
    telecom = resource.get("telecom") or []
    phone = next((t.get("value") for t in telecom if t.get("system") in ("phone", "sms") and t.get("value")), None)
    if phone is None:
        raise ResourceInvalid("give a phone number (telecom with system phone)", "Patient.telecom")
    email = next((t.get("value") for t in telecom if t.get("system") == "email" and t.get("value")), None)
    addresses = resource.get("address") or []
    if not addresses:
        raise ResourceInvalid("give the home address (line, postalCode, city)", "Patient.address")
    address = addresses[0]
    if not resource.get("birthDate"):
        raise ResourceInvalid("give the date of birth", "Patient.birthDate")
    given = [part for part in name.get("given") or [] if part]  # FHIR JSON may hold null beside an extension
    fields = {
        "mrn": mrn,
        "family_name": name.get("family") or "",
        "given_name": " ".join(given),
        "birth_date": resource["birthDate"],
        "phone": phone,
        "email": email,
        "language": _language(resource),
        "address_line": ", ".join(line for line in address.get("line") or [] if line),
        "postcode": address.get("postalCode") or "",
        "city": address.get("city") or "",
    }
    if index:
        fields["_name_index"] = index
    return fields


def record_path(field: str | None, fields: dict[str, Any]) -> str:
    """The FHIRPath of a record field in the Patient the fields came from."""
    path = RECORD_PATHS.get(field or "", "Patient")
    index = fields.get("_name_index")
    if index and path.startswith("Patient.name[0]"):
        path = path.replace("name[0]", f"name[{index}]")
    return path
