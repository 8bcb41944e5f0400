"""What the outreach rules read of a patient and of a visit (``outreach.rules`` facts)."""

from clinic.patients import segments
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.visits.models import Visit
from outreach.rules import PatientFacts, VisitFacts


def patient_facts(patient: Patient, *, unit: Unit) -> PatientFacts:
    needs = {
        name
        for name, flag in (
            ("wheelchair", patient.needs_wheelchair),
            ("interpreter", patient.needs_interpreter),
            ("hearing", patient.needs_hearing),
        )
        if flag
    }
    return PatientFacts(
        birth_date=patient.birth_date,
        region=segments.region_for(patient.distance_km, unit=unit).value,
        language=str(getattr(patient.language, "value", patient.language)),
        channel=str(getattr(patient.channel, "value", patient.channel)),
        needs=frozenset(needs),
        opted_out=patient.opted_out,
        has_email=bool(patient.email),
        patient_id=patient.id,
    )


def visit_facts(visit: Visit) -> VisitFacts:
    return VisitFacts(
        date=visit.date,
        pathway=visit.pathway.code if visit.pathway else "",
        status=str(getattr(visit.status, "value", visit.status)),
        starts_at=visit.arrival_at,
        booked_at=visit.booked_at or visit.created_at,
        cancelled_at=visit.cancelled_at,
        visit_id=visit.id,
    )
