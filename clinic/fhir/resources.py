"""Clinic records as FHIR R4 resources (plain JSON dicts; no Flask, no database queries of its own).

Every resource these functions return validates with ``fhir.resources`` (the tests check each one).
"""

import datetime as dt
from typing import Any

from clinic.patients.models import Patient


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
