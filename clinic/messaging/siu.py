"""The optional HL7 v2.5 SIU feed of appointments to another hospital system, sent through the outbox.

Each change of a visit queues one outbox row on the ``hl7`` channel holding the whole message as it stood
then: ``S12`` booked, ``S13`` moved (re-scheduled), ``S14`` re-arranged (steps or resources changed, the
arrival stands), ``S15`` cancelled, ``S26`` a no-show. The dispatcher sends it over MLLP
(``outreach.channels.mllp``) like any message: once per row (a row is sent until its ACK accepts it;
retries repeat the row's control id MSH-10 = ``OV<row id>``, so the receiver recognises a repeat), retried
when the receiver cannot be reached, failed with the receiver's reason on AE / AR, a visit's messages
in the order they were queued. Without ``SIU_MLLP_ADDRESS`` nothing is queued.

Segments: MSH, SCH (placer and filler appointment id = the visit id, start, end and duration, filler
status), PID (the record number), RGS, one AIS per step and one AIG per resource.
"""

import datetime as dt
from dataclasses import dataclass

from hl7apy.core import Message
from sqlmodel import Session

from clinic.columns import Language, OutboxChannel, utcnow
from clinic.errors import get_or_raise
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.patients.models import Patient
from clinic.unit.context import Unit
from clinic.visits.models import Visit

VERSION = "2.5"
STRUCTURE = "SIU_S12"  # S12 to S26 share it
EVENTS = {
    "S12": ("Booked", "New appointment booked"),
    "S13": ("Booked", "Appointment rescheduled"),
    "S14": ("Booked", "Appointment modified"),
    "S15": ("Cancelled", "Appointment cancelled"),
    "S26": ("Noshow", "Patient did not show up"),
}
"""Trigger event: (SCH-25 filler status, SCH-6 event reason)."""
RULE_ID = "siu-feed"
MAX_BODY = 2000
"""``OutboxMessage.body``'s length: a longer message drops its AIG segments."""


@dataclass(frozen=True)
class SiuFeed:
    """Where the feed goes (``host:port``) and the MSH names, from the ``SIU_*`` settings."""

    address: str
    sending_application: str = "ONEVISIT"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""


def action_for(event: str) -> str:
    return f"siu_{event.lower()}"


def escape(text: object) -> str:
    """``text`` safe inside an HL7 field (the encoding characters escaped, line breaks as spaces)."""
    value = str(text or "").replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    value = value.replace("&", "\\T\\").replace("~", "\\R\\")
    return " ".join(value.split())


def hl7_time(moment: dt.datetime, unit: Unit) -> str:
    """``YYYYMMDDHHMMSS+ZZZZ`` in the unit's time zone."""
    return moment.astimezone(unit.zone).strftime("%Y%m%d%H%M%S%z")


def minutes(start: dt.datetime, end: dt.datetime) -> int:
    return max(int((end - start).total_seconds() // 60), 0)


def siu_message(
    *, visit: Visit, event: str, control_id: str, now: dt.datetime, unit: Unit, feed: SiuFeed,
    with_resources: bool = True,
) -> str:
    """The SIU message (ER7, segments separated by carriage returns) of ``event`` for ``visit`` as it is."""
    if event not in EVENTS:
        raise ValueError(f"unknown SIU trigger event {event!r}: one of {', '.join(EVENTS)}")
    status, reason = EVENTS[event]
    patient: Patient = visit.patient
    steps = sorted(visit.steps, key=lambda s: (s.planned_start, s.id or 0))
    start = visit.arrival_at or (steps[0].planned_start if steps else None)
    end = max((s.planned_end for s in steps), default=start)

    message = Message(STRUCTURE, version=VERSION)
    msh = message.msh
    msh.msh_3 = escape(feed.sending_application)
    msh.msh_4 = escape(feed.sending_facility)
    msh.msh_5 = escape(feed.receiving_application)
    msh.msh_6 = escape(feed.receiving_facility)
    msh.msh_7 = hl7_time(now, unit)
    msh.msh_9 = f"SIU^{event}^{STRUCTURE}"
    msh.msh_10 = control_id
    msh.msh_11 = "P"
    msh.msh_12 = VERSION

    appointment = f"{visit.id}^{escape(feed.sending_application)}"
    sch = message.sch
    sch.sch_1 = appointment
    sch.sch_2 = appointment
    sch.sch_6 = f"{event}^{reason}^HL70276"
    if visit.pathway is not None:
        sch.sch_7 = f"{escape(visit.pathway.code)}^{escape(visit.pathway.name)}"
    if start is not None and end is not None:
        sch.sch_9 = str(minutes(start, end))
        sch.sch_10 = "min^minutes^ISO+"
        sch.sch_11 = f"^^^{hl7_time(start, unit)}^{hl7_time(end, unit)}"
    sch.sch_25 = f"{status}^{status}^HL70278"

    group = message.add_group(f"{STRUCTURE}_PATIENT")
    pid = group.pid
    pid.pid_1 = "1"
    pid.pid_3 = f"{escape(patient.mrn)}^^^{escape(feed.sending_application)}^MR"
    pid.pid_5 = f"{escape(patient.family_name)}^{escape(patient.given_name)}"
    pid.pid_7 = patient.birth_date.strftime("%Y%m%d")
    pid.pid_15 = str(getattr(patient.language, "value", patient.language) or Language.NL.value)

    resources = message.add_group(f"{STRUCTURE}_RESOURCES")
    resources.rgs.rgs_1 = "1"
    action = {"S12": "A", "S15": "D", "S26": "D"}.get(event, "U")
    resources.rgs.rgs_2 = action
    for number, step in enumerate(steps, start=1):
        ais = resources.add_group(f"{STRUCTURE}_SERVICE").ais
        ais.ais_1 = str(number)
        ais.ais_2 = action
        pathway_step = step.pathway_step
        code = pathway_step.code if pathway_step is not None else str(step.pathway_step_id)
        name = pathway_step.step_type.name if pathway_step is not None and pathway_step.step_type else code
        ais.ais_3 = f"{escape(code)}^{escape(name)}"
        ais.ais_4 = hl7_time(step.planned_start, unit)
        ais.ais_7 = str(minutes(step.planned_start, step.planned_end))
        ais.ais_8 = "min^minutes^ISO+"
        ais.ais_10 = f"{status}^{status}^HL70278"
    if with_resources:
        for number, step in enumerate(steps, start=1):
            resource = step.resource
            if resource is None:
                continue
            aig = resources.add_group(f"{STRUCTURE}_GENERAL_RESOURCE").aig
            aig.aig_1 = str(number)
            aig.aig_2 = action
            aig.aig_3 = f"{escape(resource.code)}^{escape(resource.name)}"
            aig.aig_4 = escape(getattr(resource.kind, "value", resource.kind))
            aig.aig_8 = hl7_time(step.planned_start, unit)
            aig.aig_11 = str(minutes(step.planned_start, step.planned_end))
            aig.aig_12 = "min^minutes^ISO+"
    return message.to_er7()


def queue_siu(
    *, session: Session, visit_id: int, event: str, unit: Unit, feed: SiuFeed, now: dt.datetime | None = None
) -> OutboxMessage:
    """Queue the SIU message of ``event`` for the visit as it is now (committed); its control id is the row's."""
    now = now or utcnow()
    visit = get_or_raise(session, Visit, visit_id, what="visit")
    patient: Patient = visit.patient
    try:
        row = OutboxMessage(
            visit_id=visit.id, patient_id=patient.id, action=action_for(event), rule_id=RULE_ID, due_at=now,
            next_attempt_at=now, status=OutboxStatus.QUEUED, channel=OutboxChannel.HL7,
            language=Language(str(getattr(patient.language, "value", patient.language))), essential=True,
            recipient=feed.address[:254], body="",
        )
        session.add(row)
        session.flush()
        control_id = f"OV{row.id}"
        body = siu_message(visit=visit, event=event, control_id=control_id, now=now, unit=unit, feed=feed)
        if len(body) > MAX_BODY:
            body = siu_message(visit=visit, event=event, control_id=control_id, now=now, unit=unit, feed=feed,
                               with_resources=False)
        if len(body) > MAX_BODY:
            raise ValueError(f"the SIU message of visit {visit.id} is {len(body)} characters, above {MAX_BODY}")
        row.body = body
        session.add(row)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return row
