"""The IHE Scheduling operations on Appointment (no Flask): ``$find`` (ITI-115), ``$hold`` (ITI-116),
``$book`` (ITI-117), and cancelling a booked Appointment by updating its status.

``$find`` asks the engine for the patient's best itineraries of a pathway over a date range
(``clinic.booking.services.propose_visits``, as the Book screen does, without re-arranging other visits so
that every proposal can be held) and answers them as ``proposed`` Appointments. Each carries the opaque
itinerary as an identifier (``ITINERARY_SYSTEM``): ``$hold`` and ``$book`` take the Appointment back and
read the patient (``participant``), the pathway (``serviceType``) and the itinerary from it.

``$hold`` keeps the itinerary's capacity for ``ONEVISIT_HOLD_MINUTES`` (``clinic.booking.holds``) and answers
a ``pending`` Appointment with id ``hold-<n>``; ``$book`` books a held (``hold-<n>``) or a proposed
Appointment through ``book_proposal``, the Book screen's own service, and answers the booked Appointment
(id: the visit's id). Every error is a ``FhirError`` whose OperationOutcome names the parameter at fault.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from clinic import planning
from clinic.booking import holds
from clinic.booking import services as booking
from clinic.booking.models import BookingHold
from clinic.errors import Conflict, DomainError, NotFound, ValidationError
from clinic.fhir import finders
from clinic.fhir.outcome import FhirError, fhir_error
from clinic.fhir.resources import (
    PATHWAY_SYSTEM,
    RESOURCE_SYSTEM,
    ResourceInvalid,
    appointment_resource,
    check_structure,
    fhir_path,
    instant,
    pathway_concept,
    resource_actor,
)
from clinic.patients.models import Patient
from clinic.refill.services import cancel_visit
from clinic.unit.context import Unit
from clinic.unit.models import Pathway, Resource

ITINERARY_SYSTEM = "urn:onevisit:itinerary"
HOLD_EXPIRES = "urn:onevisit:fhir:StructureDefinition:hold-expires"
HOLD_PREFIX = "hold-"
DEFAULT_COUNT = 5
MAX_COUNT = 20

FIND_PARAMETERS = frozenset({"start", "end", "specialty", "service-type", "appointment-type", "patient", "_count",
                             "location"})
PATHWAY_PARAMETERS = ("service-type", "appointment-type", "specialty")
APPOINTMENT_PARAMETERS = ("appointment", "appointment-resource", "appointment-reference")

# --- Parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One input: its name, its ``value[x]`` (or ``resource``) and where it sits (for the OperationOutcome)."""

    name: str
    kind: str  # valueDate, valueString, ..., resource, query
    value: Any
    expression: str


def parameters_from_body(body: dict[str, Any]) -> list[Param]:
    """The inputs of a ``Parameters`` resource (400 naming the element when it is not one)."""
    if body.get("resourceType") != "Parameters":
        raise fhir_error(400, "send the operation's inputs as a Parameters resource", expression="Parameters",
                         code="structure")
    raw = body.get("parameter", [])
    if not isinstance(raw, list):
        raise fhir_error(400, "Parameters.parameter must be a list", expression="Parameters.parameter",
                         code="structure")
    out = []
    for index, item in enumerate(raw):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise fhir_error(400, "every parameter needs a name", expression=where, code="structure")
        name = item["name"]
        values = [(k, v) for k, v in item.items() if k.startswith("value") or k == "resource"]
        if len(values) != 1:
            raise fhir_error(400, f"parameter {name!r} needs exactly one value", expression=_named(name),
                             code="structure")
        kind, value = values[0]
        if isinstance(value, dict | list):
            _check_value(item, name)
        out.append(Param(name=name, kind=kind, value=value, expression=_named(name)))
    return out


def _check_value(item: dict[str, Any], name: str) -> None:
    """A parameter's complex value (a Coding, a Reference, a resource...) has the shape FHIR gives it, or a 400
    naming the element inside it; its text values are read, and checked, by the operation."""
    try:
        check_structure("Parameters", {"resourceType": "Parameters", "parameter": [item]})
    except ResourceInvalid as exc:
        inside = fhir_path("", exc.loc[3:]) if exc.loc[:1] == ("parameter",) else ""
        raise fhir_error(400, f"{name}{inside}: {exc.message}", expression=_named(name) + inside,
                         code="structure") from None


def parameters_from_query(pairs: Sequence[tuple[str, str]]) -> list[Param]:
    """The inputs of a ``GET .../$find?...``: every value a string, named by its query parameter."""
    return [Param(name=name, kind="query", value=value, expression=name) for name, value in pairs]


def _named(name: str) -> str:
    return f"Parameters.parameter[{name}]"


def _only(params: Sequence[Param], name: str) -> Param | None:
    found = [p for p in params if p.name == name]
    if len(found) > 1:
        raise fhir_error(400, f"give {name} once", expression=found[1].expression)
    return found[0] if found else None


def _text(param: Param, *kinds: str) -> str:
    if param.kind not in ("query", *kinds) or not isinstance(param.value, str) or not param.value.strip():
        allowed = ", ".join(kinds) or "a text"
        raise fhir_error(400, f"{param.name} must be {allowed}", expression=param.expression)
    return param.value.strip()


def _date(param: Param, tz: str) -> dt.date:
    text = _text(param, "valueDate", "valueDateTime", "valueInstant", "valueString")
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fhir_error(400, f"{param.name}: {text!r} is not a date (YYYY-MM-DD) or dateTime",
                         expression=param.expression) from None
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(ZoneInfo(tz)).date()


def _codes(param: Param) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a token-like parameter: ``[system|]code``, Coding, CodeableConcept, code."""
    value = param.value
    if param.kind in ("query", "valueString", "valueCode", "valueUri"):
        text = _text(param, param.kind)
        system, bar, code = text.rpartition("|")
        return [(system or None, code)] if bar else [(None, text)]
    codings: list[Any] = []
    if param.kind == "valueCoding":
        codings = [value]
    elif param.kind == "valueCodeableConcept" and isinstance(value, dict):
        codings = value.get("coding") or []
    found = [(c.get("system"), c["code"]) for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)]
    if not found:
        raise fhir_error(400, f"{param.name} must be a code, Coding or CodeableConcept with a code",
                         expression=param.expression)
    return found


def find_pathway(*, session: Session, param: Param) -> Pathway:
    """The active pathway a ``service-type``/``appointment-type``/``specialty`` names by its code."""
    codes = [code for system, code in _codes(param) if system in (None, PATHWAY_SYSTEM)]
    if codes:
        pathway = session.exec(select(Pathway).where(Pathway.code == codes[0], Pathway.active == True)).first()  # noqa: E712
        if pathway is not None:
            return pathway
    raise fhir_error(404, f"{param.name}: no active pathway has the code {(codes or ['?'])[0]!r} "
                          f"(system {PATHWAY_SYSTEM})", expression=param.expression, code="not-found")


def find_patient(*, session: Session, param: Param, mrn_system: str) -> Patient:
    """The patient a ``patient`` parameter names: ``Patient/<id>`` (reference) or ``<system>|<mrn>``
    (identifier, the unit's record number system)."""
    value = param.value
    reference: str | None = None
    identifier: tuple[str | None, str] | None = None
    if param.kind == "valueReference" and isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            reference = value["reference"]
        elif isinstance(value.get("identifier"), dict):
            identifier = (value["identifier"].get("system"), str(value["identifier"].get("value") or ""))
    elif param.kind == "valueIdentifier" and isinstance(value, dict):
        identifier = (value.get("system"), str(value.get("value") or ""))
    else:
        text = _text(param, "valueReference", "valueIdentifier", "valueString")
        if "|" in text:
            system, _, mrn = text.rpartition("|")
            identifier = (system or None, mrn)
        else:
            reference = text
    patient: Patient | None = None
    if reference is not None:
        tail = reference.rstrip("/").rsplit("/", 2)
        number = tail[-1]
        if len(tail) < 2 or tail[-2] != "Patient" or not number.isdigit() or not 0 < int(number) < 2**31:
            raise fhir_error(400, f"patient: {reference!r} is not a Patient reference (Patient/<id>)",
                             expression=param.expression)
        patient = session.get(Patient, int(number))
    elif identifier is not None:
        system, mrn = identifier
        if system not in (None, mrn_system) or not mrn:
            raise fhir_error(400, f"patient: identify the patient by the record number system {mrn_system}",
                             expression=param.expression)
        patient = session.exec(select(Patient).where(Patient.mrn == mrn)).first()
    if patient is None:
        raise fhir_error(404, "patient: no such patient", expression=param.expression, code="not-found")
    return patient


# --- $find --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindRequest:
    patient: Patient
    pathway: Pathway
    start: dt.date
    end: dt.date
    count: int


def parse_find(
    *, session: Session, params: Sequence[Param], unit: Unit, today: dt.date, mrn_system: str
) -> FindRequest:
    """The ``$find`` inputs checked: a pathway (by code), a patient, a date range of at most
    ``MAX_HORIZON_DAYS`` (default: from tomorrow, ``HORIZON_DAYS`` long), ``_count`` up to ``MAX_COUNT``."""
    for param in params:
        if param.name not in FIND_PARAMETERS:
            raise fhir_error(400, f"$find has no parameter {param.name!r} "
                                  f"(it takes {', '.join(sorted(FIND_PARAMETERS))})",
                             expression=param.expression, code="not-supported")
    named = [p for name in PATHWAY_PARAMETERS if (p := _only(params, name)) is not None]
    if not named:
        raise fhir_error(400, "name the pathway by its code in service-type (or appointment-type, specialty)",
                         expression=_named("service-type") if params and params[0].kind != "query" else "service-type",
                         code="required")
    pathway = find_pathway(session=session, param=named[0])
    patient_param = _only(params, "patient")
    if patient_param is None:
        body = bool(params) and params[0].kind != "query"
        raise fhir_error(400, "name the patient (patient: Patient/<id> or the record number)",
                         expression=_named("patient") if body else "patient", code="required")
    patient = find_patient(session=session, param=patient_param, mrn_system=mrn_system)
    start_param, end_param = _only(params, "start"), _only(params, "end")
    start = _date(start_param, unit.tz) if start_param else today + dt.timedelta(days=1)
    end = _date(end_param, unit.tz) if end_param else start + dt.timedelta(days=booking.HORIZON_DAYS)
    if end < start:
        where = end_param.expression if end_param else "end"
        raise fhir_error(400, f"end ({end.isoformat()}) is before start ({start.isoformat()})", expression=where)
    if (end - start).days > booking.MAX_HORIZON_DAYS:
        where = end_param.expression if end_param else "end"
        raise fhir_error(400, f"look at most {booking.MAX_HORIZON_DAYS} days ahead from start", expression=where)
    if end <= today:
        where = end_param.expression if end_param else "end"
        raise fhir_error(400, f"end ({end.isoformat()}) has passed: proposals start tomorrow", expression=where)
    count = DEFAULT_COUNT
    count_param = _only(params, "_count")
    if count_param is not None:
        raw = count_param.value
        number = raw if isinstance(raw, int) and not isinstance(raw, bool) else (
            int(raw) if isinstance(raw, str) and raw.strip().isdigit() else None)
        if number is None or not 1 <= number <= MAX_COUNT:
            raise fhir_error(400, f"_count must be a whole number from 1 to {MAX_COUNT}",
                             expression=count_param.expression)
        count = number
    location = _only(params, "location")
    if location is not None:
        value = location.value.get("reference") if isinstance(location.value, dict) else location.value
        if value not in ("Location/unit", "unit"):
            raise fhir_error(404, "location: this server schedules one unit, Location/unit",
                             expression=location.expression, code="not-found")
    return FindRequest(patient=patient, pathway=pathway, start=start, end=end, count=count)


def find(*, session: Session, request: FindRequest, unit: Unit, today: dt.date, base_url: str) -> dict[str, Any]:
    """The engine's best itineraries as a searchset Bundle of ``proposed`` Appointments (an empty answer
    carries an OperationOutcome saying why nothing fits)."""
    try:
        proposals = booking.propose_visits(
            session=session,
            patient_id=request.patient.id,  # type: ignore[arg-type]
            pathway_id=request.pathway.id,  # type: ignore[arg-type]
            unit=unit,
            availability=booking.Availability(earliest=request.start, latest=request.end),
            today=today,
            k=request.count,
            rearrange=False,
        )
    except DomainError as exc:
        raise operation_error(exc, "Parameters") from None
    resources = resource_names(session)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{request.patient.id}/{option.choice}')}",
            "resource": proposed_appointment(
                option, patient=request.patient, pathway=request.pathway, resources=resources, unit=unit,
                requested=(request.start, request.end),
            ),
            "search": {"mode": "match"},
        }
        for option in proposals.options
    ]
    if not entries:
        why = proposals.reason or "no itinerary fits in that period"
        entries.append({
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": {"resourceType": "OperationOutcome", "issue": [
                {"severity": "information", "code": "not-found", "diagnostics": why}]},
            "search": {"mode": "outcome"},
        })
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(proposals.options),
        "link": [{"relation": "self", "url": f"{base_url}/Appointment/$find"}],
        "entry": entries,
    }


# --- Appointments -------------------------------------------------------------------------------


def resource_names(session: Session) -> dict[str, Resource]:
    return {r.code: r for r in session.exec(select(Resource))}


def _actor(code: str, resources: dict[str, Resource]) -> dict[str, Any]:
    resource = resources.get(code)
    return resource_actor(resource) if resource is not None else {"identifier": {"system": RESOURCE_SYSTEM, "value": code}}


def _participants(
    patient: Patient, codes: Sequence[str], resources: dict[str, Resource], status: str
) -> list[dict[str, Any]]:
    out = [{"actor": {"reference": f"Patient/{patient.id}", "display": patient.display_name},
            "required": "required", "status": status}]
    seen: set[str] = set()
    for code in codes:
        if code not in seen:
            seen.add(code)
            out.append({"actor": _actor(code, resources), "required": "required", "status": status})
    return out


def _steps_comment(steps: Sequence[booking.ProposedStep], tz: str) -> str:
    zone = ZoneInfo(tz)
    return "; ".join(
        f"{s.name} {s.starts_at.astimezone(zone):%H:%M}-{s.ends_at.astimezone(zone):%H:%M} ({s.resource_name})"
        for s in steps
    )


def proposed_appointment(
    proposal: booking.Proposal,
    *,
    patient: Patient,
    pathway: Pathway,
    resources: dict[str, Resource],
    unit: Unit,
    requested: tuple[dt.date, dt.date] | None = None,
    status: str = "proposed",
) -> dict[str, Any]:
    """One proposal as an Appointment of ``status``; its identifier carries the itinerary (``choice``)."""
    minutes = max(1, round((proposal.leaves_at - proposal.arrives_at).total_seconds() / 60))
    comment = f"Arrive {proposal.arrives_at.astimezone(unit.zone):%H:%M} ({unit.tz}): " + _steps_comment(
        proposal.steps, unit.tz)
    if proposal.bends:
        comment += "; bends preferences: " + ", ".join(f"{b.rule} ({b.minutes} min)" for b in proposal.bends)
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "identifier": [{"system": ITINERARY_SYSTEM, "value": proposal.choice}],
        "status": status,
        "serviceType": [pathway_concept(pathway)],
        "description": pathway.name,
        "start": instant(proposal.arrives_at),
        "end": instant(proposal.leaves_at),
        "minutesDuration": minutes,
        "comment": comment,
        "participant": _participants(patient, [s.resource for s in proposal.steps], resources,
                                     "needs-action" if status == "proposed" else "tentative"),
    }
    if requested is not None:
        appointment["requestedPeriod"] = [{"start": requested[0].isoformat(), "end": requested[1].isoformat()}]
    return appointment


def held_appointment(
    hold: BookingHold, *, session: Session, unit: Unit
) -> dict[str, Any]:
    """A hold as a ``pending`` Appointment (id ``hold-<n>``) that says until when it holds."""
    patient = session.get(Patient, hold.patient_id)
    pathway = session.get(Pathway, hold.pathway_id)
    assert patient is not None and pathway is not None
    proposal = proposal_of(hold.choice, pathway=pathway, unit=unit)
    appointment = proposed_appointment(proposal, patient=patient, pathway=pathway,
                                       resources=resource_names(session), unit=unit, status="pending")
    until = hold.expires_at.astimezone(unit.zone)
    appointment = {"resourceType": "Appointment", "id": f"{HOLD_PREFIX}{hold.id}", **appointment}
    appointment["extension"] = [{"url": HOLD_EXPIRES, "valueInstant": instant(hold.expires_at)}]
    appointment["comment"] = f"Held until {until:%H:%M} ({unit.tz}). " + appointment["comment"]
    appointment["created"] = instant(hold.created_at)
    return appointment


def proposal_of(choice: str, *, pathway: Pathway, unit: Unit) -> booking.Proposal:
    """The itinerary of an encoded choice as a ``Proposal`` (for answering a held one)."""
    day, steps = booking.decode_choice(choice)
    names = {s.code: s.step_type.named if s.step_type else s.code for s in pathway.steps}
    ordered = sorted(steps, key=lambda s: (s.start, s.id))
    proposed = tuple(
        booking.ProposedStep(
            code=s.id, name=str(names.get(s.id, s.id)), resource=s.resource, resource_name=s.resource,
            start=s.start, end=s.end, starts_at=planning.instant_at(day, s.start, unit.tz),
            ends_at=planning.instant_at(day, s.end, unit.tz),
        )
        for s in ordered
    )
    arrival, leave = min(s.start for s in steps), max(s.end for s in steps)
    return booking.Proposal(
        day=day, arrival=arrival, leave=leave, wait_minutes=0,
        arrives_at=planning.instant_at(day, arrival, unit.tz), leaves_at=planning.instant_at(day, leave, unit.tz),
        steps=proposed, choice=choice,
    )


def visit_appointment(visit_id: int, *, session: Session, unit: Unit) -> dict[str, Any]:
    """A stored visit as the Appointment ``GET /fhir/Appointment/<id>`` reads (``appointment_resource``)."""
    visit = finders.visit_with_steps(session=session, visit_id=visit_id)
    assert visit is not None
    return appointment_resource(visit, unit=unit)


# --- $hold and $book ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Picked:
    """What ``$hold``/``$book`` were given: a hold (``hold_id``) or a proposed itinerary."""

    expression: str
    hold_id: int | None = None
    patient_id: int | None = None
    pathway_id: int | None = None
    choice: str | None = None


def picked_appointment(*, session: Session, params: Sequence[Param]) -> Picked:
    """The Appointment an operation was given (``appointment``/``appointment-resource`` as a resource, or
    ``appointment-reference`` to ``Appointment/hold-<n>``), read back into a hold or an itinerary."""
    for param in params:
        if param.name not in APPOINTMENT_PARAMETERS:
            raise fhir_error(400, f"this operation has no parameter {param.name!r} (it takes appointment)",
                             expression=param.expression, code="not-supported")
    given = [p for name in APPOINTMENT_PARAMETERS if (p := _only(params, name)) is not None]
    if len(given) != 1:
        raise fhir_error(400, "give one appointment (the Appointment $find or $hold answered)",
                         expression=_named("appointment"), code="required")
    param = given[0]
    where = param.expression
    if param.kind == "valueReference" and isinstance(param.value, dict):
        reference = str(param.value.get("reference") or "")
        hold_id = _hold_id(reference.rsplit("/", 1)[-1]) if reference.rsplit("/", 2)[-2:-1] == ["Appointment"] else None
        if hold_id is None:
            raise fhir_error(400, "appointment-reference must be Appointment/hold-<n> (a held appointment); "
                                  "send a proposed one as a resource", expression=where)
        return Picked(expression=where, hold_id=hold_id)
    if param.kind != "resource" or not isinstance(param.value, dict) or param.value.get("resourceType") != "Appointment":
        raise fhir_error(400, f"{param.name} must be an Appointment resource", expression=where, code="structure")
    appointment = param.value
    hold_id = _hold_id(str(appointment.get("id") or ""))
    if hold_id is not None:
        return Picked(expression=where, hold_id=hold_id)
    choices = [i.get("value") for i in appointment.get("identifier") or []
               if isinstance(i, dict) and i.get("system") == ITINERARY_SYSTEM]
    if not choices or not isinstance(choices[0], str):
        raise fhir_error(400, f"the appointment carries no itinerary (identifier of system {ITINERARY_SYSTEM}, "
                              "as $find answers it)", expression=f"{where}.identifier")
    patients = [p["actor"]["reference"] for p in appointment.get("participant") or []
                if isinstance(p, dict) and isinstance(p.get("actor"), dict)
                and str(p["actor"].get("reference") or "").startswith("Patient/")]
    number = patients[0].split("/", 1)[1] if patients else ""
    if not number.isdigit() or not 0 < int(number) < 2**31:
        raise fhir_error(400, "the appointment names no patient (participant.actor Patient/<id>)",
                         expression=f"{where}.participant")
    codes = [c.get("code") for concept in appointment.get("serviceType") or [] if isinstance(concept, dict)
             for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("system") == PATHWAY_SYSTEM]
    pathway = session.exec(select(Pathway).where(Pathway.code == codes[0])).first() if codes else None
    if pathway is None:
        raise fhir_error(404 if codes else 400, "the appointment names no pathway of this unit "
                                                f"(serviceType coding of system {PATHWAY_SYSTEM})",
                         expression=f"{where}.serviceType", code="not-found" if codes else None)
    return Picked(expression=where, patient_id=int(number), pathway_id=pathway.id, choice=choices[0])


def _hold_id(text: str) -> int | None:
    number = text[len(HOLD_PREFIX):] if text.startswith(HOLD_PREFIX) else ""
    return int(number) if number.isdigit() and 0 < int(number) < 2**31 else None


def operation_error(exc: DomainError, expression: str) -> FhirError:
    """A booking service's error as an OperationOutcome naming the input at fault: a place taken, a hold
    used or expired (409), an unknown patient or pathway (404), an itinerary that does not fit (422)."""
    sub = {"choice": ".identifier", "patient_id": ".participant", "pathway_id": ".serviceType"}.get(exc.field or "", "")
    where = expression + sub
    if isinstance(exc, NotFound):
        return fhir_error(404, exc.message, expression=where, code="not-found")
    if isinstance(exc, Conflict):
        return fhir_error(409, exc.message, expression=where, code="conflict")
    if isinstance(exc, ValidationError):
        return fhir_error(422, exc.message, expression=where, code="processing")
    return fhir_error(422, exc.message, expression=where, code="processing")


def hold(
    *, session: Session, picked: Picked, unit: Unit, now: dt.datetime, client: str
) -> dict[str, Any]:
    """``$hold``: hold a proposed itinerary; the ``pending`` Appointment ``hold-<n>``."""
    if picked.hold_id is not None:
        existing = session.get(BookingHold, picked.hold_id)
        if existing is None:
            raise fhir_error(404, f"Appointment/{HOLD_PREFIX}{picked.hold_id} does not exist",
                             expression=picked.expression, code="not-found")
        if existing.client != client or not existing.live(now):
            raise fhir_error(409, f"hold {picked.hold_id} is not yours to hold again or is no longer live",
                             expression=picked.expression, code="conflict")
        return held_appointment(existing, session=session, unit=unit)
    try:
        row = holds.hold_proposal(
            session=session, patient_id=picked.patient_id, pathway_id=picked.pathway_id,  # type: ignore[arg-type]
            choice=picked.choice or "", unit=unit, now=now, actor_id=None, client=client,
        )
    except DomainError as exc:
        session.rollback()
        raise operation_error(exc, picked.expression) from None
    return held_appointment(row, session=session, unit=unit)


def book(
    *, session: Session, picked: Picked, unit: Unit, now: dt.datetime, client: str
) -> dict[str, Any]:
    """``$book``: book a held or proposed itinerary through the Book screen's service; the booked Appointment."""
    try:
        if picked.hold_id is not None:
            row = session.get(BookingHold, picked.hold_id)
            if row is None:
                raise fhir_error(404, f"Appointment/{HOLD_PREFIX}{picked.hold_id} does not exist",
                                 expression=picked.expression, code="not-found")
            if row.client != client:
                raise fhir_error(409, f"hold {picked.hold_id} was made by another client",
                                 expression=picked.expression, code="conflict")
            visit = holds.book_held(session=session, hold_id=picked.hold_id, unit=unit, now=now)
        else:
            visit = booking.book_proposal(
                session=session, patient_id=picked.patient_id, pathway_id=picked.pathway_id,  # type: ignore[arg-type]
                choice=picked.choice or "", unit=unit, actor_id=None, today=now.astimezone(unit.zone).date(),
            )
    except DomainError as exc:
        session.rollback()
        raise operation_error(exc, picked.expression) from None
    return visit_appointment(visit.id, session=session, unit=unit)  # type: ignore[arg-type]


# --- cancel by update ---------------------------------------------------------------------------

def _patient_refs(appointment: dict[str, Any]) -> list[str]:
    return [str(p["actor"].get("reference")) for p in appointment.get("participant") or []
            if isinstance(p, dict) and isinstance(p.get("actor"), dict)
            and str(p["actor"].get("reference") or "").startswith("Patient/")]


def _codes_of(appointment: dict[str, Any]) -> list[str]:
    return [str(c.get("code")) for concept in appointment.get("serviceType") or [] if isinstance(concept, dict)
            for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("system") == PATHWAY_SYSTEM]


def _same_instant(a: Any, b: Any) -> bool:
    try:
        return dt.datetime.fromisoformat(str(a).replace("Z", "+00:00")) == dt.datetime.fromisoformat(
            str(b).replace("Z", "+00:00"))
    except ValueError:
        return False


def update_appointment(
    *, session: Session, visit_id: int, body: dict[str, Any], unit: Unit, now: dt.datetime, client: str
) -> dict[str, Any]:
    """``PUT Appointment/<id>``: ``status`` ``cancelled`` (with an optional ``cancelationReason``) cancels
    the visit through the cancel service (the refill follows); the same Appointment again changes nothing;
    any other change is refused (422 naming the element)."""
    visit = finders.visit_with_steps(session=session, visit_id=visit_id)
    if visit is None:
        raise fhir_error(404, f"Appointment/{visit_id} does not exist", expression="Appointment.id",
                         code="not-found")
    try:
        check_structure("Appointment", body)
    except ResourceInvalid as exc:
        raise fhir_error(400, exc.message, expression=exc.expression, code="structure") from None
    if str(body.get("id") or "") != str(visit_id):
        raise fhir_error(400, f"the Appointment's id must be {visit_id}, as in the URL", expression="Appointment.id")
    current = appointment_resource(visit, unit=unit)
    status = body.get("status")
    if status not in ("cancelled", current["status"]):
        raise fhir_error(422, f"an update may only cancel this appointment (status cancelled); "
                              f"it is {current['status']}", expression="Appointment.status", code="business-rule")
    for element in ("start", "end"):
        if element in body and not _same_instant(body[element], current.get(element)):
            raise fhir_error(422, f"{element} cannot be changed by an update: cancel and book again",
                             expression=f"Appointment.{element}", code="business-rule")
    if "participant" in body and _patient_refs(body) != _patient_refs(current):
        raise fhir_error(422, "the patient cannot be changed", expression="Appointment.participant",
                         code="business-rule")
    given = _codes_of(body)
    if "serviceType" in body and given and not set(given) & set(_codes_of(current)):
        raise fhir_error(422, "the pathway cannot be changed", expression="Appointment.serviceType",
                         code="business-rule")
    if status == current["status"]:
        return current
    reason = body.get("cancelationReason")
    text = ""
    if isinstance(reason, dict):
        codings = reason.get("coding") or []
        text = str(reason.get("text") or next((c.get("display") or c.get("code") for c in codings
                                               if isinstance(c, dict)), "") or "")
    elif reason is not None:
        raise fhir_error(400, "cancelationReason must be a CodeableConcept", expression="Appointment.cancelationReason")
    text = (text.strip() or f"Cancelled through the FHIR API by {client}")[:300]
    try:
        cancel_visit(session=session, visit_id=visit_id, reason=text, now=now, actor_id=None, unit=unit)
    except DomainError as exc:
        session.rollback()
        where = "Appointment.cancelationReason" if exc.field == "reason" else "Appointment.status"
        status_code = 422 if isinstance(exc, ValidationError) else 409
        raise fhir_error(status_code, exc.message, expression=where) from None
    session.expire_all()
    return visit_appointment(visit_id, session=session, unit=unit)


def update_hold(
    *, session: Session, appointment_id: str, body: dict[str, Any], unit: Unit, now: dt.datetime, client: str
) -> dict[str, Any]:
    """``PUT Appointment/hold-<n>`` with ``status`` ``cancelled``: the client gives its hold's place back
    before it expires (``clinic.booking.holds.release_hold``); the answer is the Appointment, ``cancelled``."""
    hold_id = _hold_id(appointment_id)
    row = session.get(BookingHold, hold_id) if hold_id is not None else None
    if row is None or row.client != client:
        raise fhir_error(404, f"Appointment/{appointment_id} does not exist", expression="Appointment.id",
                         code="not-found")
    if body.get("resourceType") != "Appointment" or str(body.get("id") or "") != appointment_id:
        raise fhir_error(400, f"send the Appointment {appointment_id} as $hold answered it", expression="Appointment.id")
    if body.get("status") != "cancelled":
        raise fhir_error(422, "a hold can only be cancelled (status cancelled), or booked with $book",
                         expression="Appointment.status", code="business-rule")
    row = holds.release_hold(session=session, hold_id=row.id, now=now)  # type: ignore[arg-type]
    appointment = held_appointment(row, session=session, unit=unit)
    appointment["status"] = "cancelled"
    appointment["comment"] = f"Hold {row.status.value}. " + appointment["comment"].split(". ", 1)[-1]
    for participant in appointment["participant"]:
        participant["status"] = "declined"
    return appointment
