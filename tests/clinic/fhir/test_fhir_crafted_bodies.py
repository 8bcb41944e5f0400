"""No 500 on a crafted FHIR body: every element of a valid Patient, ``$find`` Parameters, ``$hold``/``$book``
Appointment and cancelling ``PUT``, in turn replaced by a value of the wrong shape or left out, is answered
with a 4xx OperationOutcome (or taken, where the change is harmless). Run with ``DATABASE_URL=postgresql+psycopg://...``
for PostgreSQL, where a NUL reaching a query fails."""

import copy
import json
from collections.abc import Iterator
from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome

from clinic.json_text import elements
from tests.clinic.fhir.test_fhir_patient_writes import NEW
from tests.clinic.fhir.test_ops_scheduling import appointment_parameter, find_parameters, proposals, scene  # noqa: F401
from tests.factories import make_patient

FHIR_JSON = "application/fhir+json"
LEFT_OUT = object()
#: A null (FHIR JSON puts one in an array beside an extension), a number, a flag, text, lists and an object
#: where another shape belongs; "Xyz" is no resource type; a NUL, which PostgreSQL's text cannot hold.
WRONG = (None, -1, True, "", "Xyz", "a\x00b", [None], [-1], {"a": 1}, LEFT_OUT)


def crafted(body: dict) -> Iterator[tuple[tuple, Any, dict]]:
    """``body`` with one element replaced by each ``WRONG`` value (or left out), element by element."""
    for path in (loc for loc, _ in elements(body) if loc):
        for value in WRONG:
            changed = copy.deepcopy(body)
            parent = changed
            for key in path[:-1]:
                parent = parent[key]
            if value is LEFT_OUT:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield path, value, changed


def _problem(response, *where) -> tuple | None:
    """``None`` when the answer is a success or a 4xx OperationOutcome, else what went wrong and where."""
    if response.status_code < 400:
        return None
    if response.status_code < 500 and response.mimetype == FHIR_JSON:
        OperationOutcome.model_validate(response.get_json())
        return None
    return (*where, response.status_code, response.get_data(as_text=True)[:200])


def _send(client, method: str, url: str, body: dict, headers: dict):
    return client.open(url, method=method, data=json.dumps(body), headers={**headers, "Content-Type": FHIR_JSON})


def test_a_crafted_patient_is_refused_clearly(client, session, fhir_headers) -> None:
    headers = fhir_headers("system/Patient.write system/Patient.read")
    patient = make_patient(session)
    problems = []
    for path, value, body in crafted(NEW):
        problems.append(_problem(_send(client, "POST", "/fhir/Patient", body, headers), "POST", path, value))
        body = {**body, "id": str(patient.id)}
        problems.append(_problem(_send(client, "PUT", f"/fhir/Patient/{patient.id}", body, headers), "PUT", path, value))
    assert not [p for p in problems if p], "\n".join(map(str, filter(None, problems)))


def test_crafted_scheduling_operations_are_refused_clearly(scene, client, fhir_headers) -> None:  # noqa: F811
    _pathway, a, _b, _w = scene
    headers = fhir_headers("system/Appointment.read system/Appointment.write system/Patient.read")
    problems = [_problem(_send(client, "POST", "/fhir/Appointment/$find", body, headers), "$find", path, value)
                for path, value, body in crafted(find_parameters(a.id))]
    found = _send(client, "POST", "/fhir/Appointment/$find", find_parameters(a.id), headers)
    proposal = proposals(found.get_json())[0]
    booked = _send(client, "POST", "/fhir/Appointment/$book", appointment_parameter(proposal), headers)
    assert booked.status_code in (200, 201), booked.get_data(as_text=True)
    appointment = booked.get_json()
    for operation in ("$hold", "$book"):  # the place is taken now: what a body is read into comes first
        problems += [_problem(_send(client, "POST", f"/fhir/Appointment/{operation}", body, headers), operation, path,
                              value)
                     for path, value, body in crafted(appointment_parameter(proposal))]
    problems += [_problem(_send(client, "PUT", f"/fhir/Appointment/{appointment['id']}", body, headers), "PUT", path,
                          value)
                 for path, value, body in crafted(appointment)]
    assert not [p for p in problems if p], "\n".join(map(str, filter(None, problems)))[:5000]
