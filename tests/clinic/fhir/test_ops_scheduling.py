"""The IHE Scheduling operations driven by a real FHIR client (fhirpy) against the app served on 127.0.0.1:
find -> hold -> book -> read -> cancel, each answer validated with ``fhir.resources`` (R4B); the booked visit is
on the board with its outreach planned like a Book-screen booking; the cancel lets the refill offer the place;
a hold blocks others until it expires; errors are OperationOutcomes naming the input at fault."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import requests
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as OutcomeRaised
from fhirpy.base.exceptions import ResourceNotFound
from sqlmodel import Session, select

from clinic.booking.models import BookingHold, HoldStatus
from clinic.messaging.models import OutboxMessage
from clinic.refill.models import WaitlistOffer
from clinic.refill.offers_sms import advance_offers
from clinic.refill.waitlist import add_to_waitlist
from clinic.visits.models import Visit, VisitStatus
from tests.clinic.booking.test_services_booking import chair_unit
from tests.containers import channels_for
from tests.factories import make_patient, make_unit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
MONDAY = dt.datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo(TZ))
TUESDAY = dt.date(2026, 12, 1)
READ, WRITE = "system/Appointment.read", "system/Appointment.write"


def find_parameters(patient_id: int, start: str = "2026-12-01", end: str = "2026-12-01", **extra) -> dict:
    parameter = [
        {"name": "start", "valueDate": start},
        {"name": "end", "valueDate": end},
        {"name": "service-type", "valueCodeableConcept": {
            "coding": [{"system": "urn:onevisit:pathway", "code": "chair-day"}]}},
        {"name": "patient", "valueReference": {"reference": f"Patient/{patient_id}"}},
    ]
    parameter += [{"name": name, **value} for name, value in extra.items()]
    return {"resourceType": "Parameters", "parameter": parameter}


def appointment_parameter(appointment: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "appointment", "resource": appointment}]}


def proposals(bundle: dict) -> list[dict]:
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset"
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def outcome_of(raised: pytest.ExceptionInfo) -> dict:
    """The OperationOutcome fhirpy raised, validated."""
    body = raised.value.resource
    OperationOutcome.model_validate(body)
    return body


@pytest.fixture
def scene(clock, session: Session):
    """Monday morning; the week's only chair slot (Tuesday 09:00); patients ``a`` and ``b``; ``w`` waits for a
    chair on Tuesday."""
    clock.move_to(MONDAY)
    pathway = chair_unit(session)
    a, b, w = (make_patient(session) for _ in range(3))
    add_to_waitlist(session=session, patient_id=w.id, pathway_id=pathway.id, earliest_date=TUESDAY,
                    latest_date=TUESDAY, actor_id=None, min_notice_hours=0, accepts_short_notice=True)
    return pathway, a, b, w


def client_for(fhir_base: str, fhir_headers, scopes: str, name: str | None = None) -> SyncFHIRClient:
    headers = fhir_headers(scopes, **({"name": name} if name else {}))
    return SyncFHIRClient(fhir_base, authorization=headers["Authorization"])


def test_find_hold_book_read_cancel_with_a_real_client(scene, session: Session, fhir_base, fhir_headers,
                                                       desk_client, clock) -> None:
    pathway, a, b, w = scene
    fhir = client_for(fhir_base, fhir_headers, f"{READ} {WRITE}", name="portal")

    found = proposals(fhir.execute("Appointment/$find", method="post", data=find_parameters(a.id)))
    assert len(found) == 1
    proposed = found[0]
    Appointment.model_validate(proposed)
    assert proposed["status"] == "proposed"
    assert proposed["start"] == "2026-12-01T07:50:00+00:00" and proposed["end"] == "2026-12-01T09:00:00+00:00"
    assert proposed["participant"][0]["actor"]["reference"] == f"Patient/{a.id}"

    held = fhir.execute("Appointment/$hold", method="post", data=appointment_parameter(proposed))
    Appointment.model_validate(held)
    assert held["status"] == "pending" and held["id"].startswith("hold-")
    assert held["extension"][0]["valueInstant"] == "2026-11-30T09:05:00+00:00"  # 5 minutes (ONEVISIT_HOLD_MINUTES)

    other = client_for(fhir_base, fhir_headers, f"{READ} {WRITE}")
    nothing = other.execute("Appointment/$find", method="post", data=find_parameters(b.id))
    assert proposals(nothing) == [] and nothing["total"] == 0
    assert nothing["entry"][0]["resource"]["resourceType"] == "OperationOutcome"
    with pytest.raises(OutcomeRaised) as taken:
        other.execute("Appointment/$book", method="post", data=appointment_parameter(
            {**proposed, "participant": [{"actor": {"reference": f"Patient/{b.id}"}, "status": "needs-action"}]}))
    assert outcome_of(taken)["issue"][0]["code"] == "conflict"
    assert outcome_of(taken)["issue"][0]["expression"] == ["Parameters.parameter[appointment].identifier"]
    with pytest.raises(OutcomeRaised) as not_theirs:
        other.execute("Appointment/$book", method="post", data=appointment_parameter(held))
    assert "another client" in outcome_of(not_theirs)["issue"][0]["diagnostics"]

    booked = fhir.execute("Appointment/$book", method="post", data=appointment_parameter(held))
    Appointment.model_validate(booked)
    assert booked["status"] == "booked" and booked["start"] == proposed["start"]
    visit = session.exec(select(Visit).where(Visit.patient_id == a.id)).one()
    assert booked["id"] == str(visit.id) and visit.status == VisitStatus.BOOKED
    assert session.exec(select(BookingHold)).one().status == HoldStatus.BOOKED
    with pytest.raises(OutcomeRaised) as twice:
        fhir.execute("Appointment/$book", method="post", data=appointment_parameter(held))
    assert outcome_of(twice)["issue"][0]["code"] == "conflict"
    assert session.exec(select(Visit).where(Visit.patient_id == a.id)).all() == [visit]

    # like a Book-screen booking: on the board, with its outreach planned
    board = desk_client.get(f"/board/live?day={TUESDAY.isoformat()}").get_data(as_text=True)
    assert f'data-visit="{visit.id}"' in board and a.display_name in board
    actions = {m.action for m in session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit.id))}
    assert "confirmation" in actions

    read = fhir.reference("Appointment", booked["id"]).to_resource().serialize()
    Appointment.model_validate(read)
    assert read["status"] == "booked" and read["start"] == booked["start"]

    with pytest.raises(OutcomeRaised) as moved:
        fhir.resource("Appointment", **{**booked, "start": "2026-12-01T08:00:00+00:00"}).save()
    assert outcome_of(moved)["issue"][0]["expression"] == ["Appointment.start"]
    cancelled = fhir.resource("Appointment", **{**booked, "status": "cancelled",
                                                "cancelationReason": {"text": "patient ill"}})
    cancelled.save()
    answer = cancelled.serialize()
    Appointment.model_validate(answer)
    assert answer["status"] == "cancelled" and answer["cancelationReason"]["text"] == "patient ill"
    session.expire_all()
    assert session.get(Visit, visit.id).status == VisitStatus.CANCELLED

    # the refill follows: the next wave (the offers job) offers the freed chair to the waiting patient
    advance_offers(session=session, now=clock.now(), channels=channels_for({}), unit=UNIT)
    offers = session.exec(select(WaitlistOffer).where(WaitlistOffer.source_visit_id == visit.id)).all()
    assert [o.entry.patient_id for o in offers] == [w.id]


def test_an_expired_hold_frees_its_place(scene, fhir_base, fhir_headers, clock) -> None:
    _pathway, a, b, _w = scene
    fhir = client_for(fhir_base, fhir_headers, f"{READ} {WRITE}")
    proposed = proposals(fhir.execute("Appointment/$find", method="post", data=find_parameters(a.id)))[0]
    held = fhir.execute("Appointment/$hold", method="post", data=appointment_parameter(proposed))
    assert proposals(fhir.execute("Appointment/$find", method="post", data=find_parameters(b.id))) == []
    clock.shift(dt.timedelta(minutes=5))
    again = proposals(fhir.execute("Appointment/$find", method="post", data=find_parameters(b.id)))
    assert [p["start"] for p in again] == [proposed["start"]]
    with pytest.raises(OutcomeRaised) as expired:
        fhir.execute("Appointment/$book", method="post", data=appointment_parameter(held))
    issue = outcome_of(expired)["issue"][0]
    assert issue["code"] == "conflict" and "expired" in issue["diagnostics"]
    assert issue["expression"] == ["Parameters.parameter[appointment]"]
    booked = fhir.execute("Appointment/$book", method="post", data=appointment_parameter(again[0]))
    assert booked["status"] == "booked" and booked["participant"][0]["actor"]["reference"] == f"Patient/{b.id}"


@pytest.mark.parametrize(
    ("change", "status", "expression"),
    [
        ({"service-type": None}, 400, "Parameters.parameter[service-type]"),
        ({"service-type": {"valueCoding": {"code": "no-such-pathway"}}}, 404, "Parameters.parameter[service-type]"),
        ({"service-type": {"valueCodeableConcept": {"coding": -1}}}, 400, "Parameters.parameter[service-type].coding"),
        ({"patient": {"valueReference": {"reference": ["Patient/1"]}}}, 400,
         "Parameters.parameter[patient].reference"),
        ({"patient": {"valueReference": {"reference": "Patient/999999"}}}, 404, "Parameters.parameter[patient]"),
        ({"patient": {"valueReference": {"reference": "Practitioner/1"}}}, 400, "Parameters.parameter[patient]"),
        ({"start": {"valueDate": "1 December"}}, 400, "Parameters.parameter[start]"),
        ({"end": {"valueDate": "2026-11-01"}}, 400, "Parameters.parameter[end]"),
        ({"end": {"valueDate": "2027-12-01"}}, 400, "Parameters.parameter[end]"),
        ({"_count": {"valueInteger": 0}}, 400, "Parameters.parameter[_count]"),
        ({"colour": {"valueString": "blue"}}, 400, "Parameters.parameter[colour]"),
    ],
)
def test_find_errors_name_the_parameter(scene, fhir_base, fhir_headers, change, status, expression) -> None:
    _pathway, a, _b, _w = scene
    body = find_parameters(a.id)
    for name, value in change.items():
        body["parameter"] = [p for p in body["parameter"] if p["name"] != name]
        if value is not None:
            body["parameter"].append({"name": name, **value})
    response = requests.post(f"{fhir_base}/Appointment/$find", json=body, timeout=30,
                             headers={**fhir_headers(READ), "Content-Type": "application/fhir+json"})
    assert response.status_code == status, response.text
    outcome = response.json()
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"][0]["expression"] == [expression]


def test_find_by_query_and_scopes(scene, fhir_base, fhir_headers) -> None:
    _pathway, a, _b, _w = scene
    query = {"start": "2026-12-01", "end": "2026-12-08", "service-type": "urn:onevisit:pathway|chair-day",
             "patient": f"Patient/{a.id}", "_count": "1"}
    found = requests.get(f"{fhir_base}/Appointment/$find", params=query, headers=fhir_headers(READ), timeout=30)
    assert found.status_code == 200 and len(proposals(found.json())) == 1
    bad = requests.get(f"{fhir_base}/Appointment/$find", params={**query, "start": "soon"},
                       headers=fhir_headers(READ), timeout=30)
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["start"]
    proposed = proposals(found.json())[0]
    refused = requests.post(f"{fhir_base}/Appointment/$hold", json=appointment_parameter(proposed), timeout=30,
                            headers={**fhir_headers(READ), "Content-Type": "application/fhir+json"})
    assert refused.status_code == 403 and "system/Appointment.write" in refused.json()["issue"][0]["diagnostics"]
    garbled = {**proposed, "identifier": [{"system": "urn:onevisit:itinerary", "value": "2026-12-01|nonsense"}]}
    response = requests.post(f"{fhir_base}/Appointment/$hold", json=appointment_parameter(garbled), timeout=30,
                             headers={**fhir_headers(WRITE), "Content-Type": "application/fhir+json"})
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Parameters.parameter[appointment].identifier"]


def test_the_capability_statement_lists_the_operations(fhir_base) -> None:
    statement = requests.get(f"{fhir_base}/metadata", timeout=30).json()
    appointment = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Appointment")
    assert {op["name"] for op in appointment["operation"]} >= {"find", "hold", "book"}
    assert "update" in {i["code"] for i in appointment["interaction"]}


def test_a_client_gives_its_hold_back_by_cancelling_it(scene, session: Session, fhir_base, fhir_headers) -> None:
    _pathway, a, b, _w = scene
    fhir = client_for(fhir_base, fhir_headers, f"{READ} {WRITE}")
    proposed = proposals(fhir.execute("Appointment/$find", method="post", data=find_parameters(a.id)))[0]
    held = fhir.execute("Appointment/$hold", method="post", data=appointment_parameter(proposed))
    with pytest.raises(ResourceNotFound) as foreign:  # another client's hold is none of its business
        client_for(fhir_base, fhir_headers, WRITE).resource("Appointment", **{**held, "status": "cancelled"}).save()
    assert OperationOutcome.model_validate_json(str(foreign.value)).issue[0].code == "not-found"
    with pytest.raises(OutcomeRaised) as booked:
        fhir.resource("Appointment", **{**held, "status": "booked"}).save()
    assert outcome_of(booked)["issue"][0]["expression"] == ["Appointment.status"]
    released = fhir.resource("Appointment", **{**held, "status": "cancelled"})
    released.save()
    Appointment.model_validate(released.serialize())
    assert session.exec(select(BookingHold)).one().status == HoldStatus.RELEASED
    assert len(proposals(fhir.execute("Appointment/$find", method="post", data=find_parameters(b.id)))) == 1
