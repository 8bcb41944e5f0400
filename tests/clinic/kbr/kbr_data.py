"""A small hand-made clinic history for the KBR loader, web and CSV tests, with its figures known by hand.

Every time is local (Europe/Amsterdam). The pathway is the factories' registration 10 -> consult 20 ->
checkout 10: critical path 40 minutes. Week 1 is the week of ``monday``, week 2 the next one.
"""

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session

from clinic.columns import Channel, Language
from clinic.feedback.models import (
    FollowUp,
    FollowUpReason,
    FollowUpStatus,
    Survey,
    SurveyChannel,
    SurveyStatus,
    SurveyTrigger,
)
from clinic.kbr.figures import week_of
from clinic.messaging.models import InboundMessage, OutboxMessage, OutboxStatus
from clinic.planning import instant_at
from clinic.refill.models import OfferChannel, OfferStatus, WaitlistEntry, WaitlistOffer
from clinic.service.models import (
    AssignmentReason,
    GestureStatus,
    MeetingOutcome,
    RecoveryGesture,
    VolunteerAssignment,
)
from clinic.visits.models import StepStatus, Visit, VisitCheckin, VisitStatus
from tests.factories import make_pathway, make_patient, make_visit

TZ = "Europe/Amsterdam"


def t(day: dt.date, hhmm: str) -> dt.datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return instant_at(day, hours * 60 + minutes, TZ)


@dataclass
class History:
    monday: dt.date
    week1: str
    week2: str
    visits: dict[str, Visit]


def _act(visit: Visit, day: dt.date, times: list[tuple[str, str] | None]) -> None:
    for step, window in zip(sorted(visit.steps, key=lambda s: s.planned_start), times, strict=True):
        if window is None:
            step.status = StepStatus.SKIPPED
        else:
            step.status = StepStatus.DONE
            step.actual_start, step.actual_end = t(day, window[0]), t(day, window[1])


def build(session: Session, monday: dt.date) -> History:
    """The figures of week 1, worked out by hand:

    - visits: 1 (local) completed, span 10:00-11:10 = 70 min -> wait 30, one visit; 2 (long distance, 70+)
      completed 11:00-11:30 with checkout skipped -> wait 0 (30 < 40), not one visit. One visit 1/2 = 50 %,
      mean wait 15, p90 = 2nd of [0, 30] = 30; no-shows 0 of 2 = 0 %.
    - refill: visit 3 (40 planned minutes) cancelled Monday 08:00; offers at 08:20 (declined) and 08:30
      (accepted 09:00, booking visit 4, 40 minutes): 100 % refilled, first offer 20 min, accepted 60 min.
    - reminders: 3 attempted (sms delivered + answered an hour later, voice failed, sms delivered but only
      answered three days later): delivered 2/3 = 66.7 %, answered 1/2 = 50 %; a queued one is left out.
    - surveys: yes/yes and yes/no -> 50 %; the "no" follow-up took 12 hours.
    - costs: coffee 3.50 + transport 45.00 + 90 volunteer minutes 27.00 + a granted gesture 12.50 = 88.00
      (a pending 45.00 gesture does not count) over 2 completed visits = 44.00 per visit; 1 rebooked place.
    Week 2: visit 5 (local) is a no-show: 100 %.
    """
    tuesday, next_monday = monday + dt.timedelta(days=1), monday + dt.timedelta(days=7)
    pathway = make_pathway(session, name="KBR check")
    local = make_patient(session, given_name="Lena", family_name="Local", distance_km=10.0)
    far = make_patient(
        session, given_name="Frits", family_name="Far", distance_km=80.0, birth_date=dt.date(1950, 1, 1)
    )
    waiting = make_patient(session, given_name="Wim", family_name="Waiting", distance_km=12.0)

    v1 = make_visit(
        session,
        patient=local,
        pathway=pathway,
        day=monday,
        start=t(monday, "10:00"),
        status=VisitStatus.COMPLETED,
    )
    _act(v1, monday, [("10:00", "10:10"), ("10:30", "10:50"), ("11:00", "11:10")])
    v2 = make_visit(
        session,
        patient=far,
        pathway=pathway,
        day=monday,
        start=t(monday, "11:00"),
        status=VisitStatus.COMPLETED,
    )
    _act(v2, monday, [("11:00", "11:10"), ("11:10", "11:30"), None])
    v3 = make_visit(
        session,
        patient=local,
        pathway=pathway,
        day=tuesday,
        start=t(tuesday, "10:00"),
        status=VisitStatus.CANCELLED,
    )
    v3.cancelled_at = t(monday, "08:00")
    v4 = make_visit(
        session,
        patient=waiting,
        pathway=pathway,
        day=tuesday,
        start=t(tuesday, "10:00"),
        status=VisitStatus.CONFIRMED,
    )
    v5 = make_visit(
        session,
        patient=local,
        pathway=pathway,
        day=next_monday,
        start=t(next_monday, "10:00"),
        status=VisitStatus.NO_SHOW,
    )
    session.add_all([v1, v2, v3])
    session.commit()

    entry = WaitlistEntry(
        patient_id=waiting.id, pathway_id=pathway.id, earliest_date=monday, latest_date=next_monday
    )
    declined = WaitlistEntry(
        patient_id=far.id, pathway_id=pathway.id, earliest_date=monday, latest_date=next_monday
    )
    session.add_all([entry, declined])
    session.commit()
    for who, sent, status, answered, booked in (
        (declined, "08:20", OfferStatus.DECLINED, "08:40", None),
        (entry, "08:30", OfferStatus.ACCEPTED, "09:00", v4.id),
    ):
        session.add(
            WaitlistOffer(
                entry_id=who.id, source_visit_id=v3.id, day=tuesday, slot_start=t(tuesday, "10:00"), itinerary={},
                channel=OfferChannel.SMS, sent_at=t(monday, sent), expires_at=t(monday, sent) + dt.timedelta(hours=1),
                status=status, answered_at=t(monday, answered), booked_visit_id=booked,
            )
        )  # fmt: skip

    def outbox(
        visit: Visit, channel: Channel, status: OutboxStatus, due: str, sent: bool = True
    ) -> OutboxMessage:
        return OutboxMessage(
            visit_id=visit.id, patient_id=visit.patient_id, action="reminder", rule_id="basic-reminder",
            due_at=t(monday, due), next_attempt_at=t(monday, due), status=status, channel=channel,
            language=Language.NL, recipient="+31970100000", body="Reminder", sent_at=t(monday, due) if sent else None,
        )  # fmt: skip

    session.add_all(
        [
            outbox(v1, Channel.SMS, OutboxStatus.DELIVERED, "07:00"),
            outbox(v2, Channel.VOICE, OutboxStatus.FAILED, "07:00", sent=False),
            outbox(v2, Channel.SMS, OutboxStatus.DELIVERED, "07:30"),
            outbox(v5, Channel.SMS, OutboxStatus.QUEUED, "07:45", sent=False),
            InboundMessage(received_at=t(monday, "08:00"), channel=Channel.SMS, from_number="+31970100000",
                           body="YES", visit_id=v1.id, patient_id=local.id, outcome="confirmed"),
            InboundMessage(received_at=t(monday + dt.timedelta(days=3), "08:00"), channel=Channel.SMS,
                           from_number="+31970100001", body="YES", visit_id=v2.id, patient_id=far.id,
                           outcome="confirmed"),
        ]
    )  # fmt: skip
    s1 = Survey(
        patient_id=local.id,
        visit_id=v1.id,
        trigger=SurveyTrigger.VISIT,
        source_ref=f"visit:{v1.id}",
        channel=SurveyChannel.SMS,
        language=Language.NL,
        status=SurveyStatus.ANSWERED,
        next_attempt_at=t(monday, "14:00"),
        asked_at=t(monday, "14:00"),
        got_what_needed=True,
        good_job=True,
    )
    s2 = Survey(
        patient_id=far.id,
        visit_id=v2.id,
        trigger=SurveyTrigger.VISIT,
        source_ref=f"visit:{v2.id}",
        channel=SurveyChannel.SMS,
        language=Language.NL,
        status=SurveyStatus.ANSWERED,
        next_attempt_at=t(monday, "15:00"),
        asked_at=t(monday, "15:00"),
        got_what_needed=True,
        good_job=False,
    )
    session.add_all([s1, s2])
    session.commit()
    session.add_all(
        [
            FollowUp(patient_id=far.id, visit_id=v2.id, survey_id=s2.id, reason=FollowUpReason.ANSWERED_NO,
                     status=FollowUpStatus.CLOSED, due_at=t(tuesday, "16:00"), created_at=t(monday, "16:00"),
                     closed_at=t(tuesday, "04:00")),
            VisitCheckin(visit_id=v2.id, checked_in_at=t(monday, "10:50"), coffee_voucher="C2-ABCDE", transport_booked=True),
            VisitCheckin(visit_id=v1.id, checked_in_at=t(monday, "09:55")),
            VolunteerAssignment(visit_id=v2.id, day=monday, reason=AssignmentReason.LONG_DISTANCE,
                                meet_at=t(monday, "10:45"), leave_at=t(monday, "12:15"), outcome=MeetingOutcome.MET),
            RecoveryGesture(patient_id=far.id, visit_id=v2.id, kind="meal_voucher", cost_cents=1250,
                            reason="Long wait", status=GestureStatus.GRANTED, created_at=t(monday, "12:00")),
            RecoveryGesture(patient_id=far.id, visit_id=v2.id, kind="taxi_home", cost_cents=4500,
                            reason="Late", status=GestureStatus.PENDING, created_at=t(monday, "12:30")),
        ]
    )  # fmt: skip
    session.commit()
    return History(
        monday, week_of(monday), week_of(next_monday), {"v1": v1, "v2": v2, "v3": v3, "v4": v4, "v5": v5}
    )
