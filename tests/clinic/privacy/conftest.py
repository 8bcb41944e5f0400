"""A patient with a row in every table that can hold their data, for the export and erasure tests."""

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlmodel import Session

from clinic.audit import record as audit
from clinic.billing.models import Invoice, InvoiceLine
from clinic.booking.models import BookingHold, HoldStatus, TreatmentSeries
from clinic.columns import Channel, Language
from clinic.feedback.models import (
    FollowUp,
    FollowUpEvent,
    FollowUpReason,
    Survey,
    SurveyChannel,
    SurveyStatus,
    SurveyTrigger,
)
from clinic.messaging.models import InboundMessage, OutboxMessage
from clinic.patients.models import Patient, PatientMerge
from clinic.privacy.models import AccessKind, AccessLog
from clinic.refill.models import OfferChannel, WaitlistEntry, WaitlistOffer
from clinic.service.models import (
    AssignmentReason,
    GestureStatus,
    RecoveryGesture,
    TouchChannel,
    TouchDirection,
    TouchPoint,
    TransportRequest,
    Volunteer,
    VolunteerAssignment,
    VolunteerNotice,
)
from clinic.users.models import Role, User
from clinic.visits.models import VisitCheckin, VisitStatus
from tests.factories import make_pathway, make_patient, make_user, make_visit

NAME = ("Zofia", "Wiśniewska-Quist")
PHONE = "+31612340099"
EMAIL = "zofia.quist@example.org"


@dataclass
class Records:
    patient: Patient
    other: Patient
    visit_ids: list[int]
    invoice_ids: list[int]


def patient_with_everything(session: Session, *, today: dt.date) -> Records:
    """Zofia: two past visits (one completed with steps, check-in, invoice, messages, survey, follow-up,
    touch-points, transport, a volunteer, a gesture), a series, a waitlist entry with an offer, audit rows
    naming her; and another patient, whose data must stay as it was."""
    now = dt.datetime.now(dt.UTC)
    patient = make_patient(
        session, given_name=NAME[0], family_name=NAME[1], phone=PHONE, email=EMAIL, language="fr",
        address_line="Rue des Tilleuls 7", birth_date=dt.date(1951, 2, 3),
    )
    other = make_patient(session, given_name="Otto", family_name="Otherson")
    pathway = make_pathway(session, name="Infusion day")
    series = TreatmentSeries(patient_id=patient.id, pathway_id=pathway.id, cycles=2, interval_days=14, tolerance_days=2)
    session.add(series)
    session.commit()
    start = dt.datetime.combine(today - dt.timedelta(days=20), dt.time(8), dt.UTC)
    done = make_visit(session, patient=patient, pathway=pathway, day=start.date(), start=start,
                      status=VisitStatus.COMPLETED)
    done.series_id, done.cycle, done.notes = series.id, 1, f"Bent rule for {NAME[0]} {NAME[1]}"
    cancelled = make_visit(session, patient=patient, pathway=pathway, day=today - dt.timedelta(days=6),
                           status=VisitStatus.CANCELLED)
    session.add(BookingHold(patient_id=patient.id, pathway_id=pathway.id, day=start.date(), visit_id=done.id,
                            choice=f"{start.date().isoformat()}|reg@desk@480-490", expires_at=start,
                            status=HoldStatus.BOOKED, client="portal"))
    others_visit = make_visit(session, patient=other, pathway=pathway, day=today - dt.timedelta(days=6),
                              status=VisitStatus.COMPLETED)
    volunteer = Volunteer(name="Vera", phone="+31612345670", languages=["fr"])
    session.add_all([done, volunteer])
    session.commit()

    invoice = Invoice(year=2026, seq=41, patient_id=patient.id, visit_id=done.id,
                      subtotal_cents=30000, vat_cents=0, total_cents=30000)
    invoice.lines = [
        InvoiceLine(description="Consult", unit_cents=10000, net_cents=10000, vat_cents=0, total_cents=10000),
        InvoiceLine(description="Infusion", quantity=2, unit_cents=10000, net_cents=20000, vat_cents=0,
                    total_cents=20000),
    ]
    survey = Survey(patient_id=patient.id, visit_id=done.id, trigger=SurveyTrigger.VISIT, source_ref=f"visit:{done.id}",
                    channel=SurveyChannel.SMS, language=Language.FR, status=SurveyStatus.ANSWERED,
                    next_attempt_at=now, got_what_needed=False, good_job=True, comment="Trop d'attente",
                    answered_at=now)
    session.add_all([invoice, survey])
    session.flush()
    follow_up = FollowUp(patient_id=patient.id, visit_id=done.id, survey_id=survey.id,
                         reason=FollowUpReason.ANSWERED_NO, due_at=now, summary=f"Called {NAME[1]}")
    entry = WaitlistEntry(patient_id=patient.id, pathway_id=pathway.id, earliest_date=today,
                          latest_date=today + dt.timedelta(days=30), notes=f"call {PHONE}")
    session.add_all([follow_up, entry])
    session.flush()
    session.add_all([
        VisitCheckin(visit_id=done.id, notes="came with her daughter"),
        FollowUpEvent(follow_up_id=follow_up.id, kind="note", note=f"rang {PHONE}"),
        WaitlistOffer(entry_id=entry.id, source_visit_id=others_visit.id, day=today + dt.timedelta(days=3),
                      slot_start=now + dt.timedelta(days=3), itinerary={"steps": []}, channel=OfferChannel.SMS,
                      sent_at=now, expires_at=now + dt.timedelta(hours=2)),
        OutboxMessage(visit_id=done.id, patient_id=patient.id, action="reminder", rule_id="r1", due_at=now,
                      next_attempt_at=now, channel=Channel.SMS, language=Language.FR, recipient=PHONE,
                      body=f"Bonjour {NAME[0]} {NAME[1]}, rappel"),
        OutboxMessage(visit_id=cancelled.id, patient_id=patient.id, action="confirmation", rule_id="r2", due_at=now,
                      next_attempt_at=now, channel=Channel.EMAIL, language=Language.FR, recipient=EMAIL,
                      body="Confirmation"),
        InboundMessage(channel=Channel.SMS, from_number=PHONE, body="STOP", patient_id=patient.id,
                       visit_id=cancelled.id, outcome="cancelled"),
        TouchPoint(patient_id=patient.id, visit_id=done.id, channel=TouchChannel.PHONE,
                   direction=TouchDirection.OUTBOUND, purpose="follow_up", note=f"spoke to {NAME[0]}"),
        TransportRequest(visit_id=done.id, patient_id=patient.id, wanted=True, channel=TouchChannel.SMS,
                         answered_at=now),
        VolunteerAssignment(visit_id=done.id, day=done.date, volunteer_id=volunteer.id,
                            reason=AssignmentReason.LONG_DISTANCE, meet_at=start, leave_at=start,
                            match_note=f"{NAME[1]} speaks French"),
        VolunteerNotice(volunteer_id=volunteer.id, day=done.date, recipient=volunteer.phone, due_at=now,
                        body=f"09:00 {NAME[0]} {NAME[1]} (fr) at the entrance"),
        RecoveryGesture(patient_id=patient.id, visit_id=done.id, kind="parking", cost_cents=500,
                        reason=f"{NAME[1]} waited 2 h", status=GestureStatus.GRANTED),
        AccessLog(patient_id=patient.id, user_id=None, kind=AccessKind.PAGE),
        PatientMerge(merged_mrn=f"OLD{patient.id}", merged_patient_id=patient.id + 1000, patient_id=patient.id,
                     source="hl7:ADT^A40"),
    ])
    audit.record(session=session, actor_id=None, action="patient.created", entity="patient", entity_id=patient.id,
                 details={"name": f"{NAME[0]} {NAME[1]}", "contact": {"phone": PHONE, "email": EMAIL}})
    audit.record(session=session, actor_id=None, action="invoice.issued", entity="invoice", entity_id=invoice.id,
                 details={"number": invoice.number, "visit_id": done.id, "total_cents": invoice.total_cents})
    session.commit()
    return Records(patient=patient, other=other, visit_ids=[done.id, cancelled.id], invoice_ids=[invoice.id])


@pytest.fixture
def everything(session: Session, clock) -> Records:
    return patient_with_everything(session, today=clock.now().date())


@pytest.fixture
def coordinator(session: Session) -> User:
    return make_user(session, username="cora", role=Role.COORDINATOR, display_name="Cora Coordinator")


@pytest.fixture
def clerk(session: Session) -> User:
    return make_user(session, username="clark", role=Role.FRONT_DESK, display_name="Clark Clerk")
