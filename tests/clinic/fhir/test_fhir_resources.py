"""Reading and searching Appointment, Patient, Schedule and Slot: every answer validates as FHIR R4."""

import datetime as dt

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot

from clinic.visits.models import VisitStatus
from tests.clinic.fhir.conftest import FRIDAY, THURSDAY
from tests.factories import make_patient, make_visit

FHIR_JSON = "application/fhir+json"
READ_ALL = "system/*.read"
MODELS = {"Appointment": Appointment, "Patient": FhirPatient, "Schedule": Schedule, "Slot": Slot}


def bundle_of(response) -> Bundle:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    bundle = Bundle.model_validate(response.get_json())
    assert bundle.type == "searchset"
    for entry in bundle.entry or []:
        MODELS[entry.resource.get_resource_type()].model_validate(entry.resource.model_dump())
    return bundle


def outcome_of(response, status: int) -> OperationOutcome:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    return OperationOutcome.model_validate(response.get_json())


def test_appointment_of_a_booked_visit(client, fhir_day, fhir_headers) -> None:
    response = client.get(f"/fhir/Appointment/{fhir_day.visit.id}", headers=fhir_headers("system/Appointment.read"))
    assert response.status_code == 200, response.get_data(as_text=True)
    appointment = Appointment.model_validate(response.get_json())
    assert appointment.status == "booked"
    assert appointment.start.isoformat() == "2026-12-03T08:00:00+00:00"  # 09:00 in Amsterdam
    assert appointment.end.isoformat() == "2026-12-03T08:40:00+00:00"
    assert appointment.minutesDuration == 40
    assert appointment.serviceType[0].coding[0].code == "checkup"
    actors = [p.actor for p in appointment.participant]
    assert actors[0].reference == f"Patient/{fhir_day.patient.id}"
    assert sorted((a.type, a.identifier.value) for a in actors[1:]) == [
        ("Location", "checkout-1"), ("Location", "registration-1"), ("Practitioner", "consult-1")]
    assert "09:00" in appointment.comment
    assert appointment.extension[0].valueInstant.isoformat() == "2026-12-03T08:00:00+00:00"


@pytest.mark.parametrize(("status", "code"), [
    (VisitStatus.REQUESTED, "proposed"), (VisitStatus.BOOKED, "booked"), (VisitStatus.CONFIRMED, "booked"),
    (VisitStatus.CHECKED_IN, "arrived"), (VisitStatus.IN_PROGRESS, "checked-in"),
    (VisitStatus.COMPLETED, "fulfilled"), (VisitStatus.CANCELLED, "cancelled"), (VisitStatus.NO_SHOW, "noshow"),
])
def test_visit_status_becomes_the_appointment_status(client, session, fhir_day, fhir_headers, status, code) -> None:
    fhir_day.visit.status = status
    session.add(fhir_day.visit)
    session.commit()
    response = client.get(f"/fhir/Appointment/{fhir_day.visit.id}", headers=fhir_headers("system/Appointment.read"))
    assert Appointment.model_validate(response.get_json()).status == code


def test_find_existing_appointments_by_patient_date_and_status(client, session, fhir_day, fhir_headers) -> None:
    other = make_patient(session)
    make_visit(session, patient=other, pathway=fhir_day.pathway, day=THURSDAY)
    cancelled = make_visit(session, patient=fhir_day.patient, pathway=fhir_day.pathway, day=FRIDAY,
                           status=VisitStatus.CANCELLED)
    later = make_visit(session, patient=fhir_day.patient, pathway=fhir_day.pathway, day=dt.date(2027, 1, 8),
                       status=VisitStatus.REQUESTED)
    headers = fhir_headers("system/Appointment.read")
    patient = f"Patient/{fhir_day.patient.id}"

    december = bundle_of(client.get(f"/fhir/Appointment?patient={patient}&date=ge2026-12-01&date=le2026-12-31",
                                    headers=headers))
    assert december.total == 2
    assert [e.resource.id for e in december.entry] == [str(fhir_day.visit.id), str(cancelled.id)]

    booked = bundle_of(client.get(f"/fhir/Appointment?patient={fhir_day.patient.id}&status=booked,proposed",
                                  headers=headers))
    assert sorted(e.resource.id for e in booked.entry) == sorted([str(fhir_day.visit.id), str(later.id)])

    one_day = bundle_of(client.get("/fhir/Appointment?date=2026-12-03", headers=headers))
    assert one_day.total == 2


def test_paging_links_lead_through_every_page(client, session, fhir_day, fhir_headers) -> None:
    for _ in range(6):
        make_visit(session, patient=fhir_day.patient, pathway=fhir_day.pathway, day=FRIDAY)
    headers = fhir_headers("system/Appointment.read")
    url = f"/fhir/Appointment?patient=Patient/{fhir_day.patient.id}&_count=3"
    seen, pages = [], 0
    while url:
        bundle = bundle_of(client.get(url, headers=headers))
        assert bundle.total == 7
        pages += 1
        seen += [entry.resource.id for entry in bundle.entry or []]
        links = {link.relation: link.url for link in bundle.link}
        assert links["self"].startswith("http://localhost/fhir/Appointment?")
        assert ("previous" in links) == (pages > 1)
        url = links.get("next", "").removeprefix("http://localhost")
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(("query", "expression"), [
    ("colour=red", "colour"),
    ("date=yesterday", "date"),
    ("date=sa2026-12-01", "date"),
    ("_count=500", "_count"),
    ("patient=Practitioner/3", "patient"),
    ("status=lost", "status"),
    ("patient:missing=true", "patient:missing"),
])
def test_a_bad_search_parameter_is_400_naming_it(client, fhir_headers, query, expression) -> None:
    response = client.get(f"/fhir/Appointment?{query}", headers=fhir_headers("system/Appointment.read"))
    outcome = outcome_of(response, 400)
    assert outcome.issue[0].expression == [expression]


def test_patient_search_by_identifier_name_and_birthdate(client, session, fhir_day, fhir_headers) -> None:
    make_patient(session, given_name="Bram", family_name="Jansen", birth_date=dt.date(1990, 1, 2))
    headers = fhir_headers("system/Patient.read")
    found = bundle_of(client.get("/fhir/Patient?identifier=urn:onevisit:mrn|P000123", headers=headers))
    assert [e.resource.id for e in found.entry] == [str(fhir_day.patient.id)]
    assert bundle_of(client.get("/fhir/Patient?identifier=urn:other|P000123", headers=headers)).total == 0
    assert bundle_of(client.get("/fhir/Patient?identifier=P000123", headers=headers)).total == 1
    assert bundle_of(client.get("/fhir/Patient?name=de%20vr", headers=headers)).total == 1
    assert bundle_of(client.get("/fhir/Patient?name=jans", headers=headers)).total == 1
    born = bundle_of(client.get("/fhir/Patient?birthdate=ge1980-01-01", headers=headers))
    assert [e.resource.name[0].family for e in born.entry] == ["Jansen"]
    patient = born.entry[0].resource
    assert patient.birthDate.isoformat() == "1990-01-02"


def test_schedules_are_the_pathways(client, fhir_day, fhir_headers) -> None:
    headers = fhir_headers("system/Schedule.read")
    bundle = bundle_of(client.get("/fhir/Schedule", headers=headers))
    assert bundle.total == 1
    schedule = Schedule.model_validate(
        client.get(f"/fhir/Schedule/{fhir_day.pathway.id}", headers=headers).get_json())
    assert schedule.serviceType[0].coding[0].code == "checkup"
    assert schedule.actor[0].reference == "#unit"


def test_slots_say_which_days_one_more_visit_fits(client, fhir_day, fhir_headers) -> None:
    headers = fhir_headers("system/Slot.read")
    bundle = bundle_of(client.get(f"/fhir/Slot?schedule=Schedule/{fhir_day.pathway.id}"
                                  "&start=ge2026-12-01&start=le2026-12-06", headers=headers))
    slots = {e.resource.start.date(): e.resource for e in bundle.entry}
    assert sorted(slots) == [THURSDAY, FRIDAY]  # the unit opens only then; Tuesday 1 December is past
    assert slots[THURSDAY].status == "busy-unavailable"
    assert slots[FRIDAY].status == "free"
    assert slots[FRIDAY].start.isoformat() == "2026-12-04T08:00:00+00:00"
    assert slots[FRIDAY].end.isoformat() == "2026-12-04T08:40:00+00:00"
    assert slots[FRIDAY].schedule.reference == f"Schedule/{fhir_day.pathway.id}"

    free = bundle_of(client.get("/fhir/Slot?status=free&start=le2026-12-06", headers=headers))
    assert [e.resource.id for e in free.entry] == [f"{fhir_day.pathway.id}-20261204"]
    read = client.get(f"/fhir/Slot/{fhir_day.pathway.id}-20261204", headers=headers)
    assert Slot.model_validate(read.get_json()).status == "free"


def test_a_cancelled_visit_frees_its_day(client, session, fhir_day, fhir_headers) -> None:
    fhir_day.visit.status = VisitStatus.CANCELLED
    session.add(fhir_day.visit)
    session.commit()
    bundle = bundle_of(client.get("/fhir/Slot?start=eq2026-12-03", headers=fhir_headers("system/Slot.read")))
    assert [e.resource.status for e in bundle.entry] == ["free"]


def test_slot_range_is_bounded(client, fhir_day, fhir_headers) -> None:
    response = client.get("/fhir/Slot?start=ge2026-12-03&start=le2027-06-01", headers=fhir_headers("system/Slot.read"))
    assert outcome_of(response, 400).issue[0].expression == ["start"]
