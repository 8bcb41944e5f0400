"""Every screen of the app, read from its ``url_map``, with sample ids from the demo clinic (12 weeks of history).

``screen_paths`` gives one path per HTML screen a person sees; ``NOT_SCREENS`` names the GET routes that are
not one (files, JSON, Twilio's TwiML, redirects), so a new screen cannot be missed: it has to be in one or
the other (``test_accessibility.test_every_get_route_is_a_screen_or_named_as_not_one``).
"""

import datetime as dt
from dataclasses import dataclass

from flask import Flask
from sqlmodel import Session, col, select

from clinic.billing.checkout import check_out
from clinic.booking.models import TreatmentSeries
from clinic.columns import Channel
from clinic.feedback import surveys
from clinic.feedback.models import FollowUp, Survey
from clinic.messaging import links
from clinic.messaging.models import OutboxMessage
from clinic.patients.models import Patient
from clinic.service.models import Volunteer
from clinic.unit.context import Unit
from clinic.users.models import User
from clinic.visits.models import Visit, VisitStatus

NOT_SCREENS = {
    "static": "a file",
    "health.healthz": "JSON for the load balancer",
    "board.live": "the board's JSON refresh",
    "home.index": "redirects to the person's landing screen",
    "kbr.export_one": "CSV",
    "kbr.export_all": "CSV",
    "checkout.invoice_pdf": "PDF",
    "privacy.export_json": "JSON",
    "privacy.export_pdf": "PDF",
    "auth.hospital_sign_in": "redirects to the hospital's sign-in (OpenID Connect)",
    "auth.hospital_callback": "the hospital's sign-in answers here, then redirects",
    "twilio.survey_call": "TwiML for Twilio",
    "twilio.voice": "TwiML for Twilio",
    "fhir.metadata": "FHIR JSON",
    "fhir.smart_configuration": "SMART JSON",
    "fhir.read_patient": "FHIR JSON",
    "fhir.search_patients": "FHIR JSON",
    "fhir.read_appointment": "FHIR JSON",
    "fhir.search_appointments": "FHIR JSON",
    "fhir.read_schedule": "FHIR JSON",
    "fhir.search_schedules": "FHIR JSON",
    "fhir.read_slot": "FHIR JSON",
    "fhir.search_slots": "FHIR JSON",
    "fhir_ops.find": "FHIR JSON (IHE $find)",
}
KIOSK = ("followups.tablet", "followups.kiosk_exit")  # last: the tablet stays a kiosk once it is one
PATIENT = ("answers.page", "followups.by_email")  # no sign-in: a signed link
VOLUNTEER = ("volunteer.home",)
ADMIN = ("accounts.index", "accounts.detail", "api_clients.index")


@dataclass(frozen=True)
class Screen:
    endpoint: str
    path: str
    who: str  # "coordinator", "volunteer", "admin", "patient" or "anonymous"


def _first(session: Session, statement) -> int:
    found = session.exec(statement.limit(1)).first()
    assert found is not None, f"the demo clinic has no sample for {statement}"
    return found


def _a_series(session: Session, visit: Visit) -> int:
    """The demo books no series: ``visit`` becomes cycle 1 of a 2-cycle one (its screens need one)."""
    series = TreatmentSeries(patient_id=visit.patient_id, pathway_id=visit.pathway_id, cycles=2, interval_days=21,
                             tolerance_days=2)
    session.add(series)
    session.flush()
    visit.series_id, visit.cycle = series.id, 1
    session.add(visit)
    session.flush()
    return visit.id


def _freed(session: Session, visit: Visit) -> int:
    """A cancelled upcoming visit, whose slot the refill screen offers (the demo cancels none ahead)."""
    visit.status, visit.cancelled_at = VisitStatus.CANCELLED, dt.datetime.now(dt.UTC)
    session.add(visit)
    session.flush()
    return visit.id


def sample_ids(session: Session, *, secret_key: str, today: dt.date, unit: Unit,
               languages: tuple[str, ...]) -> dict[str, dict[str, dict[str, object]]]:
    """URL arguments per language, then per endpoint (``"*"``: any endpoint), taken from the demo clinic.

    The patients' screens (answer page, e-mailed survey, kiosk) are in the patient's language, so each
    language gets a patient who speaks it; the staff screens show the same records in every language."""
    visit_today = _first(session, select(Visit.id).where(Visit.date == today).order_by(Visit.id))
    upcoming = _first(session, select(Visit.id).where(Visit.date > today, Visit.status == VisitStatus.BOOKED)
                      .order_by(Visit.date))
    in_series = _a_series(session, session.get(Visit, upcoming))
    cancelled = _freed(session, session.exec(select(Visit).where(Visit.date > today, Visit.id != upcoming,
                                                                 Visit.status == VisitStatus.BOOKED)).first())
    arrived = session.exec(select(Visit.id).where(Visit.date == today, col(Visit.status).in_(
        [VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS])).order_by(Visit.id)).all()
    assert len(arrived) >= 2, f"the demo has {len(arrived)} arrived visits today: two are needed"
    invoice = check_out(session=session, visit_id=arrived[0], actor_id=None, unit=unit)
    patient_id = _first(session, select(Patient.id).order_by(Patient.id))
    staff = {
        "*": {
            "patient_id": patient_id,
            "visit_id": visit_today,
            "follow_up_id": _first(session, select(FollowUp.id).order_by(FollowUp.id)),
            "invoice_id": invoice.id,
            "series_id": session.get(Visit, in_series).series_id,
            "volunteer_id": _first(session, select(Volunteer.id).order_by(Volunteer.id)),
            "user_id": _first(session, select(User.id).where(User.username == "desk")),
        },
        "refill.cancel": {"visit_id": upcoming},
        "series.move": {"visit_id": in_series},
        "series.cancel_cycle": {"visit_id": in_series},
        "gestures.new": {"patient_id": patient_id},
        "refill.slot": {"visit_id": cancelled},
        "checkout.start": {"visit_id": arrived[1]},
    }
    by_language = {}
    for language in languages:
        speaks = (Patient.language == language, Patient.id == Visit.patient_id)
        completed = _first(session, select(Visit.id).where(Visit.status == VisitStatus.COMPLETED, *speaks)
                           .order_by(col(Visit.date).desc()))
        email_survey = _first(session, select(Survey.id).join(Patient).where(Survey.patient_id == Patient.id,
                                                                            Patient.language == language))
        outbox = session.get(OutboxMessage, _first(session, select(OutboxMessage.id).join(Visit).join(Patient).where(
            Visit.date > today, Visit.status == VisitStatus.BOOKED, *speaks).order_by(Visit.date)))
        outbox.channel = Channel.EMAIL  # the demo's patients get SMS: this one's reminder becomes an e-mail
        session.add(outbox)
        tablet = surveys.ask_on_tablet(session=session, visit_id=completed, now=dt.datetime.now(dt.UTC))
        by_language[language] = staff | {
            "*": staff["*"] | {"survey_id": tablet.id},
            "answers.page": {"token": links.answer_token(secret_key, outbox.id)},
            "followups.by_email": {"token": links.email_token(secret_key, email_survey)},
        }
    session.commit()
    return by_language


def screen_paths(app: Flask, ids: dict[str, dict[str, object]]) -> list[Screen]:
    """One path per screen in ``app.url_map`` (GET routes not in ``NOT_SCREENS``), kiosk screens last."""
    screens: list[Screen] = []
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint in NOT_SCREENS:
            continue
        values = {name: ids["*"].get(name) for name in rule.arguments} | ids.get(rule.endpoint, {})
        missing = [name for name, value in values.items() if value is None]
        assert not missing, f"no sample {missing} for {rule.endpoint} ({rule.rule})"
        who = ("patient" if rule.endpoint in PATIENT else "volunteer" if rule.endpoint in VOLUNTEER
               else "admin" if rule.endpoint in ADMIN else "anonymous" if rule.endpoint == "auth.sign_in" else "coordinator")
        screens.append(Screen(rule.endpoint, adapter.build(rule.endpoint, values), who))
    return sorted(screens, key=lambda screen: screen.endpoint in KIOSK)
