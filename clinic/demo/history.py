"""Twelve weeks of demo history for the KBR dashboard, written straight into the tables in bulk.

Called by the demo loader (``seed.load_demo(history_weeks=12)``, which ``flask seed`` does) for the weekdays
before the two generated weeks: each day's visits are placed by the engine's greedy placer in memory (so
rooms and chairs are never double-booked), then happen with realistic deviations: steps start late and
overrun, a few steps are skipped, some patients cancel (and the waitlist refills part of the freed places)
or do not come. Around the visits: reminders delivered, failed or answered, check-ins with coffee vouchers
and transport, volunteers who met (or missed) long-distance patients, the two questions answered (mostly
yes) with follow-ups closed a few days later, and a few recovery gestures. Rates improve slowly over the
weeks so the charts show a trend. A seeded RNG makes it the same on every load; a few bulk inserts keep it
fast: about 1.5 s on SQLite on top of the 3 s base demo (Core inserts, so no ORM objects and no per-row
session events: history rows get no touch-points).
"""

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlmodel import Session

from clinic import planning
from clinic.columns import Channel
from clinic.feedback.models import (
    FollowUp,
    FollowUpEvent,
    FollowUpReason,
    FollowUpStatus,
    Survey,
    SurveyChannel,
    SurveyStatus,
    SurveyTrigger,
)
from clinic.messaging.models import InboundMessage, OutboxMessage, OutboxStatus
from clinic.messaging.texts import render_text, voucher_code
from clinic.patients import segments
from clinic.patients.models import Patient
from clinic.refill.models import OfferChannel, OfferStatus, WaitlistEntry, WaitlistOffer, WaitlistStatus
from clinic.service.models import (
    AssignmentReason,
    AssignmentSource,
    GestureStatus,
    MeetingOutcome,
    RecoveryGesture,
    Volunteer,
    VolunteerAssignment,
)
from clinic.unit.context import Unit
from clinic.unit.models import Pathway, Resource, ResourceClosure
from clinic.users.models import User
from clinic.visits.models import StepStatus, Visit, VisitCheckin, VisitStatus, VisitStep
from scheduling import instance as engine
from scheduling.greedy import greedy

GESTURES = (("parking_refund", 750), ("meal_voucher", 1250), ("taxi_home", 4500))


@dataclass(frozen=True)
class HistoryPlan:
    """How the history is drawn; ``progress`` (0 at the oldest week, 1 now) moves the rates from
    ``*_start`` to ``*_end``. Volumes and the final rates are those of the demo's own generated days
    (``seed_data/visits.yaml``: 18-24 visits a day, 5 % cancelled, 5 % no-show), so the history runs
    into them without a step."""

    random_seed: int = 20261124
    visits_per_day: tuple[int, int] = (18, 24)
    cancel_rate: float = 0.05
    no_show_start: float = 0.08
    no_show_end: float = 0.05
    skipped_step: float = 0.04
    offered: float = 0.75
    accepted: float = 0.65
    delivered_start: float = 0.90
    delivered_end: float = 0.985
    answered: float = 0.65
    surveyed: float = 0.85
    survey_answered: float = 0.85
    yes_start: float = 0.82
    yes_end: float = 0.93
    gesture_rate: float = 0.02


def _insert(session: Session, model: type, rows: list[dict], *, ids: bool = False) -> list[int]:
    """Core executemany on the model's table (no ORM objects, no per-row events): the new ids in order
    when ``ids``."""
    table = model.__table__  # type: ignore[attr-defined]
    if not rows:
        return []
    connection = session.connection()
    if ids:
        return list(
            connection.execute(
                table.insert().returning(table.c.id, sort_by_parameter_order=True), rows
            ).scalars()
        )
    connection.execute(table.insert(), rows)
    return []


def generate_history(
    session: Session,
    *,
    patients: Sequence[Patient],
    pathways: dict[str, Pathway],
    pathway_mix: dict[str, int],
    arrival_windows: Sequence[tuple[int, int]],
    volunteers: Sequence[Volunteer],
    users: dict[str, User],
    unit: Unit,
    today: dt.date,
    before: dt.date,
    weeks: int,
    closed: set[dt.date],
    plan: HistoryPlan = HistoryPlan(),
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """History on the weekdays from the Monday ``weeks - 1`` weeks before ``today``'s week up to (not
    including) ``before``; returns counts of what was written. Nothing in it happens at or after ``now``
    (default: the start of ``today``): answers not given yet are not written, follow-ups still open."""
    zone = ZoneInfo(unit.tz)
    rng = random.Random(plan.random_seed)
    monday = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=weeks - 1)
    days = [
        monday + dt.timedelta(days=n)
        for n in range((before - monday).days)
        if (monday + dt.timedelta(days=n)).weekday() < 5 and monday + dt.timedelta(days=n) not in closed
    ]
    if not days:
        return {}
    resources = list(session.scalars(sa.select(Resource).options(selectinload(Resource.hours))))  # type: ignore[arg-type]
    resource_ids = {r.code: r.id for r in resources}
    staff = planning.load_staff(session=session)
    closures = list(session.scalars(sa.select(ResourceClosure).where(ResourceClosure.date.in_(days))))
    codes = list(pathway_mix)
    weights = [pathway_mix[c] for c in codes]
    step_ids = {p.code: {s.code: s.id for s in p.steps} for p in pathways.values()}
    eligible = [p for p in patients if not p.opted_out]
    desk = users.get("front_desk")
    coordinator = users.get("coordinator")
    active_volunteers = [v for v in volunteers if v.active]

    visit_rows: list[dict] = []
    step_rows: list[list[dict]] = []
    meta: list[dict] = []
    for day in days:
        progress = (day - monday).days / max((before - monday).days, 1)
        chosen = {
            f"h{n}": (patient, pathways[rng.choices(codes, weights)[0]])
            for n, patient in enumerate(rng.sample(eligible, rng.randint(*plan.visits_per_day)))
        }
        instance = engine.Instance(
            name=f"history-{day.isoformat()}",
            date=day,
            resources=tuple(
                engine.Resource(
                    id=r.code,
                    kind=r.kind.value,
                    capacity=r.capacity,
                    available=planning.availability(r, day, closures),
                    attributes=frozenset(r.attributes or ()),
                )
                for r in resources
                if r.active
            ),
            requests=tuple(
                planning.engine_request(
                    wish=planning.VisitWish(
                        key=key,
                        patient=patient,
                        pathway=pathway,
                        priority=rng.choices([1, 2, 3], [5, 3, 2])[0],
                        arrival=rng.choice(arrival_windows),
                    ),
                    day=day,
                    unit=unit,
                    staff=staff,
                )
                for key, (patient, pathway) in chosen.items()
            ),
        )
        wishes = {r.id: r for r in instance.requests}
        schedule = greedy(instance)
        for placed in sorted(schedule.visits, key=lambda v: int(v.request[1:])):
            request = wishes[placed.request]
            patient, pathway = chosen[placed.request]
            draw = rng.random()
            no_show = plan.no_show_start + (plan.no_show_end - plan.no_show_start) * progress
            status = (
                VisitStatus.CANCELLED if draw < plan.cancel_rate
                else VisitStatus.NO_SHOW if draw < plan.cancel_rate + no_show
                else VisitStatus.COMPLETED
            )  # fmt: skip
            first_start = planning.instant_at(day, min(s.start for s in placed.steps), unit.tz)
            booked_at = first_start - dt.timedelta(days=rng.randint(10, 40), minutes=rng.randint(0, 600))
            cancelled_at = None
            if status == VisitStatus.CANCELLED:
                cancelled_at = first_start - dt.timedelta(minutes=rng.randint(6 * 60, 5 * 24 * 60))
            visit_rows.append(
                {
                    "patient_id": patient.id,
                    "pathway_id": pathway.id,
                    "date": day,
                    "status": status,
                    "priority": request.priority,
                    "booked_at": booked_at,
                    "cancelled_at": cancelled_at,
                    "cancelled_reason": rng.choice(
                        ["Patient ill", "Treatment postponed", "Transport unavailable"]
                    )
                    if cancelled_at
                    else None,
                    "notes": "",
                    "created_at": booked_at,
                    "updated_at": cancelled_at or first_start,
                }
            )
            steps = _steps(placed, step_ids[pathway.code], resource_ids, day, unit.tz, status, rng, plan)
            step_rows.append(steps)
            meta.append(
                {"patient": patient, "pathway": pathway, "day": day, "progress": progress, "placed": placed}
            )
    visit_ids = _insert(session, Visit, visit_rows, ids=True)
    for visit_id, steps in zip(visit_ids, step_rows, strict=True):
        for step in steps:
            step["visit_id"] = visit_id
    _insert(session, VisitStep, [s for steps in step_rows for s in steps])

    counts = {"history visits": len(visit_ids)}
    refills = _refills(
        session, rng, plan, visit_ids, visit_rows, step_rows, meta, eligible, resource_ids, unit.tz, unit
    )
    counts["history refills"] = refills
    _around_visits(
        session, rng, plan, visit_ids, visit_rows, step_rows, meta, zone, unit.tz, unit,
        desk=desk, coordinator=coordinator, volunteers=active_volunteers, counts=counts,
        until=now or dt.datetime.combine(today, dt.time(0), zone).astimezone(dt.UTC),
    )  # fmt: skip
    return counts


def _steps(placed, step_ids, resource_ids, day, tz, status, rng, plan) -> list[dict]:
    """The visit's steps as planned by the engine, with what actually happened for a completed visit."""
    rows = [
        {
            "pathway_step_id": step_ids[s.id],
            "resource_id": resource_ids[s.resource],
            "planned_start": planning.instant_at(day, s.start, tz),
            "planned_end": planning.instant_at(day, s.end, tz),
            "actual_start": None,
            "actual_end": None,
            "status": StepStatus.PLANNED,
            "_code": s.id,
        }
        for s in sorted(placed.steps, key=lambda s: (s.start, s.id))
    ]
    if status == VisitStatus.COMPLETED:
        _happened(rows, day, tz, rng, plan)
    for row in rows:
        del row["_code"]
    return rows


def _happened(rows: list[dict], day: dt.date, tz: str, rng: random.Random, plan: HistoryPlan) -> None:
    """What actually happened to a completed visit's steps (``rows`` in planned order, changed in place):
    each step starts a little late (sometimes much later) and takes a little more or less time; now and
    then a step in the middle is skipped. The same for the history and for the demo's own past visits."""
    skip_one = rng.random() < plan.skipped_step
    skip_code = rng.choice([r["_code"] for r in rows[1:-1]]) if skip_one and len(rows) > 2 else None
    cursor = None
    for row in rows:
        start, end = row["planned_start"], row["planned_end"]
        if row["_code"] == skip_code:
            row.update(status=StepStatus.SKIPPED, actual_start=None, actual_end=None)
            continue
        late = rng.choice([0, 0, 2, 5, 8, 12, 20]) + (rng.randint(20, 60) if rng.random() < 0.08 else 0)
        actual_start = start + dt.timedelta(minutes=late)
        if cursor is not None and actual_start < cursor:
            actual_start = cursor
        minutes = max(1, round((end - start).total_seconds() / 60 * rng.uniform(0.9, 1.2)))
        actual_end = actual_start + dt.timedelta(minutes=minutes)
        if actual_end.astimezone(ZoneInfo(tz)).date() != day:  # a visit is one day
            actual_end = planning.instant_at(day, 23 * 60 + 59, tz)
        row.update(actual_start=actual_start, actual_end=actual_end, status=StepStatus.DONE)
        cursor = actual_end


def _fits(patient: Patient, freed: Patient, day: dt.date, unit: Unit) -> bool:
    """``patient`` can take the freed itinerary as planned: no stricter segment rule than its first patient
    (wheelchair access, long-distance arrival, the 70+ cap on the visit's span)."""
    strict = {"wheelchair", segments.Region.LONG_DISTANCE.value, f"{segments.SENIOR_AGE}+"}
    labels = segments.segments_for(patient, day, unit=unit)
    theirs = segments.segments_for(freed, day, unit=unit)
    return labels & strict <= theirs & strict


def _refills(
    session, rng, plan, visit_ids, visit_rows, step_rows, meta, patients, resource_ids, tz, unit
) -> int:
    """Offers for most cancelled places; an accepted one books a waitlist patient into the freed itinerary."""
    entries: list[dict] = []
    offers: list[dict] = []
    busy = {(row["date"], row["patient_id"]) for row in visit_rows}
    booked: list[tuple[int, dict, list[dict], dict]] = []
    for index, row in enumerate(visit_rows):
        if row["status"] != VisitStatus.CANCELLED or rng.random() >= plan.offered:
            continue
        source_id = visit_ids[index]
        info = meta[index]
        cancelled_at = row["cancelled_at"]
        first_start = min(s["planned_start"] for s in step_rows[index])
        sent = cancelled_at + dt.timedelta(minutes=rng.randint(3, 150))
        accepted = rng.random() < plan.accepted and sent + dt.timedelta(hours=2) < first_start
        wave = 1
        for n in range(rng.randint(1, 3)):
            who = rng.choice(
                [
                    p
                    for p in patients
                    if (row["date"], p.id) not in busy and _fits(p, info["patient"], row["date"], unit)
                ]
            )
            busy.add((row["date"], who.id))
            is_winner = accepted and n == 0
            answered = sent + dt.timedelta(minutes=rng.randint(5, 240)) if is_winner else None
            if answered is not None and answered >= first_start:
                answered = first_start - dt.timedelta(minutes=30)
            entries.append(
                {
                    "patient_id": who.id,
                    "pathway_id": info["pathway"].id,
                    "priority": 3,
                    "added_at": cancelled_at - dt.timedelta(days=rng.randint(3, 30)),
                    "earliest_date": row["date"] - dt.timedelta(days=7),
                    "latest_date": row["date"] + dt.timedelta(days=7),
                    "min_notice_hours": 2,
                    "accepts_short_notice": True,
                    "status": WaitlistStatus.BOOKED if is_winner else WaitlistStatus.REMOVED,
                    "notes": "",
                }
            )
            placed = info["placed"]
            offers.append(
                {
                    "source_visit_id": source_id,
                    "day": row["date"],
                    "slot_start": first_start,
                    "itinerary": {
                        "steps": [
                            {"step": s.id, "resource": s.resource, "start": s.start, "end": s.end}
                            for s in placed.steps
                        ]
                    },
                    "channel": OfferChannel.SMS if n else OfferChannel.PHONE,
                    "wave": wave,
                    "sent_at": sent,
                    "expires_at": sent + dt.timedelta(minutes=30),
                    "status": OfferStatus.ACCEPTED
                    if is_winner
                    else rng.choice([OfferStatus.DECLINED, OfferStatus.EXPIRED]),
                    "answered_at": answered,
                    "seconds_after_cancel": int((sent - cancelled_at).total_seconds()),
                    "booked_visit_id": None,
                }
            )
            if is_winner:
                new_visit = dict(row, patient_id=who.id, status=VisitStatus.COMPLETED, cancelled_at=None,
                                 cancelled_reason=None, booked_at=answered, created_at=answered,
                                 updated_at=first_start)  # fmt: skip
                new_steps = _steps(placed, {s.code: s.id for s in info["pathway"].steps}, resource_ids,
                                   row["date"], tz, VisitStatus.COMPLETED, rng, plan)  # fmt: skip
                booked.append((len(offers) - 1, new_visit, new_steps, dict(info, patient=who)))
    if not offers:
        return 0
    entry_ids = _insert(session, WaitlistEntry, entries, ids=True)
    for offer, entry_id in zip(offers, entry_ids, strict=True):
        offer["entry_id"] = entry_id
    if booked:
        new_ids = _insert(session, Visit, [b[1] for b in booked], ids=True)
        for (offer_index, new_visit, new_steps, info), new_id in zip(booked, new_ids, strict=True):
            offers[offer_index]["booked_visit_id"] = new_id
            for step in new_steps:
                step["visit_id"] = new_id
            visit_ids.append(new_id)
            visit_rows.append(new_visit)
            step_rows.append(new_steps)
            meta.append(info)
        _insert(session, VisitStep, [s for b in booked for s in b[2]])
    _insert(session, WaitlistOffer, offers)
    return len(booked)


def _around_visits(
    session,
    rng,
    plan,
    visit_ids,
    visit_rows,
    step_rows,
    meta,
    zone,
    tz,
    unit,
    *,
    desk,
    coordinator,
    volunteers,
    counts,
    until: dt.datetime | None = None,
    reminders_only: bool = False,
) -> None:
    """Reminders, check-ins, volunteers, gestures, surveys and follow-ups around the visits. Nothing is
    dated at or after ``until`` (the demo's now): reminders not yet due, answers not yet given and surveys
    not yet settled are left out, and a follow-up that would close later is still open. Reminders are in
    the patient's language with dates as their locale writes them (``render_text``, as outreach sends them).
    ``reminders_only`` for visits that have not happened yet."""
    outbox: list[dict] = []
    outbox_meta: list[tuple[dict, Patient, int]] = []
    checkins: list[dict] = []
    assignments: list[dict] = []
    surveys: list[dict] = []
    survey_meta: list[tuple[Patient, int, dt.datetime]] = []
    gestures: list[dict] = []
    for visit_id, row, steps, info in zip(visit_ids, visit_rows, step_rows, meta, strict=True):
        patient: Patient = info["patient"]
        day: dt.date = row["date"]
        progress: float = info["progress"]
        labels = segments.segments_for(patient, day, unit=unit)
        long_distance = segments.Region.LONG_DISTANCE.value in labels
        senior = f"{segments.SENIOR_AGE}+" in labels
        status = row["status"]
        planned_start = min(s["planned_start"] for s in steps)
        planned_end = max(s["planned_end"] for s in steps)
        call = senior or segments.Region.REGIONAL.value in labels
        due_local = dt.datetime.combine(day - dt.timedelta(days=7 if call else 2), dt.time(10), zone)
        due = due_local.astimezone(dt.UTC)
        if (
            row["booked_at"] is not None
            and due > row["booked_at"]
            and (row["cancelled_at"] is None or row["cancelled_at"] > due)
            and (until is None or due < until)
        ):
            delivered_rate = plan.delivered_start + (plan.delivered_end - plan.delivered_start) * progress
            draw = rng.random()
            msg_status = (
                OutboxStatus.DELIVERED if draw < delivered_rate
                else OutboxStatus.FAILED if draw < delivered_rate + (1 - delivered_rate) * 0.7
                else OutboxStatus.SENT
            )  # fmt: skip
            channel = Channel.VOICE if call else Channel.SMS
            sent_at = (
                None if msg_status == OutboxStatus.FAILED else due + dt.timedelta(seconds=rng.randint(5, 90))
            )
            outbox.append(
                {
                    "visit_id": visit_id,
                    "patient_id": patient.id,
                    "action": "reminder",
                    "rule_id": ("senior-reminder-call" if senior else "regional-reminder-call")
                    if call
                    else "basic-reminder",
                    "due_at": due,
                    "next_attempt_at": due,
                    "status": msg_status,
                    "channel": channel,
                    "fallback_channel": None,
                    "language": patient.language,
                    "essential": True,
                    "recipient": patient.phone,
                    "body": render_text(
                        "reminder", language=str(patient.language), tz=tz, visit_id=visit_id,
                        pathway=info["pathway"].name_in(patient.language) if info.get("pathway") else "",
                        starts_at=planned_start,
                    )[:2000],
                    "attempts": 3 if msg_status == OutboxStatus.FAILED else 1,
                    "on_call_list": False,
                    "provider_id": f"hist-out-{visit_id}" if sent_at else None,
                    "last_error": "provider reported undelivered"
                    if msg_status == OutboxStatus.FAILED
                    else None,
                    "created_at": row["booked_at"],
                    "sent_at": sent_at,
                    "updated_at": sent_at or due,
                }
            )
            outbox_meta.append((row, patient, visit_id))
        if reminders_only or (status != VisitStatus.COMPLETED and status != VisitStatus.NO_SHOW):
            continue
        done = [s for s in steps if s["actual_start"] is not None]
        if long_distance and volunteers:
            met = status == VisitStatus.COMPLETED and rng.random() < 0.92
            assignments.append(
                _volunteer_meeting(
                    visit_id, day, rng.choice(volunteers).id, planned_start, planned_end,
                    met=met, outcome_at=planned_start,
                )
            )
        if status != VisitStatus.COMPLETED or not done:
            continue
        first_actual = min(s["actual_start"] for s in done)
        last_actual = max(s["actual_end"] for s in done)
        checkins.append(
            {
                "visit_id": visit_id,
                "checked_in_at": first_actual - dt.timedelta(minutes=rng.randint(2, 15)),
                "checked_in_by": desk.id if desk else None,
                "late_minutes": rng.choice([0, 0, 0, 0, 5, 10]),
                "coffee_voucher": voucher_code(visit_id) if long_distance else None,
                "transport_booked": senior and rng.random() < 0.3,
                "volunteer_id": None,
                "interpreter_needed": patient.needs_interpreter,
                "notes": "",
            }
        )
        if rng.random() < plan.gesture_rate:
            kind, cost = rng.choice(GESTURES)
            gestures.append(
                {
                    "patient_id": patient.id,
                    "visit_id": visit_id,
                    "kind": kind,
                    "cost_cents": cost,
                    "reason": "Long wait during the visit",
                    "status": GestureStatus.GRANTED,
                    "granted_by": coordinator.id if coordinator else None,
                    "decided_by": None,
                    "decided_at": None,
                    "created_at": last_actual,
                }
            )
        if patient.opted_out or rng.random() >= plan.surveyed:
            continue
        asked = last_actual + dt.timedelta(hours=2)
        answered = rng.random() < plan.survey_answered
        answered_at = asked + dt.timedelta(minutes=rng.randint(3, 600)) if answered else None
        settled = answered_at or asked + 2 * unit.survey_reask_after  # two attempts, then "no answer"
        if until is not None and settled >= until:
            continue
        yes = plan.yes_start + (plan.yes_end - plan.yes_start) * progress
        got, good = (True, True) if rng.random() < yes else (rng.random() < 0.5, False)
        channel = (
            SurveyChannel.EMAIL if patient.channel == Channel.EMAIL
            else SurveyChannel.VOICE if patient.channel == Channel.VOICE
            else SurveyChannel.SMS
        )  # fmt: skip
        surveys.append(
            {
                "patient_id": patient.id,
                "visit_id": visit_id,
                "trigger": SurveyTrigger.VISIT,
                "source_ref": f"visit:{visit_id}",
                "channel": channel,
                "language": patient.language,
                "status": SurveyStatus.ANSWERED if answered else SurveyStatus.UNANSWERED,
                "attempts": 1 if answered else 2,
                "next_attempt_at": asked,
                "asked_at": asked,
                "got_what_needed": got if answered else None,
                "good_job": good if answered else None,
                "comment": "" if not answered or (got and good) else "Waited a long time for the consult.",
                "answered_at": answered_at,
                "created_at": last_actual,
            }
        )
        survey_meta.append((patient, visit_id, asked))
    if outbox:
        _insert(session, OutboxMessage, outbox)
        _answers(session, rng, plan, outbox, outbox_meta, until)
    if checkins:
        _insert(session, VisitCheckin, checkins)
    if assignments:
        _insert(session, VolunteerAssignment, assignments)
    if gestures:
        _insert(session, RecoveryGesture, gestures)
    if surveys:
        survey_ids = _insert(session, Survey, surveys, ids=True)
        _followups(session, rng, surveys, survey_ids, desk, until)
    counts.update(
        {
            "history reminders": len(outbox),
            "history check-ins": len(checkins),
            "history volunteer meetings": len(assignments),
            "history surveys": len(surveys),
            "history gestures": len(gestures),
        }
    )


def _answers(session, rng, plan, outbox, outbox_meta, until=None) -> None:
    rows = []
    for message, (_, patient, visit_id) in zip(outbox, outbox_meta, strict=True):
        if message["status"] != OutboxStatus.DELIVERED or rng.random() >= plan.answered:
            continue
        voice = message["channel"] == Channel.VOICE
        received_at = message["sent_at"] + dt.timedelta(minutes=1 if voice else rng.randint(2, 1200))
        if until is not None and received_at >= until:
            continue
        rows.append(
            {
                "received_at": received_at,
                "channel": message["channel"],
                "provider_id": f"hist-in-{visit_id}",
                "from_number": patient.phone,
                "body": "1" if voice else "YES",
                "patient_id": patient.id,
                "visit_id": visit_id,
                "keyword": "yes",
                "outcome": "confirmed",
                "reply": "",
            }
        )
    if rows:
        _insert(session, InboundMessage, rows)


def _followups(session, rng, surveys, survey_ids, desk, until: dt.datetime | None = None) -> None:
    """A follow-up for every "no" and every unanswered survey, closed a few hours to days later; one that
    would close at or after ``until`` (the demo's now) is still open."""
    rows = []
    for survey, survey_id in zip(surveys, survey_ids, strict=True):
        no = survey["status"] == SurveyStatus.ANSWERED and not (
            survey["got_what_needed"] and survey["good_job"]
        )
        if not no and survey["status"] != SurveyStatus.UNANSWERED:
            continue
        opened = survey["answered_at"] or survey["asked_at"] + dt.timedelta(days=1)
        closed_at = opened + dt.timedelta(hours=rng.choice([3, 6, 20, 26, 30, 50, 75]))
        still_open = until is not None and closed_at >= until
        rows.append(
            {
                "patient_id": survey["patient_id"],
                "visit_id": survey["visit_id"],
                "survey_id": survey_id,
                "reason": FollowUpReason.ANSWERED_NO if no else FollowUpReason.NO_ANSWER,
                "status": FollowUpStatus.OPEN if still_open else FollowUpStatus.CLOSED,
                "owner_id": desk.id if desk else None,
                "due_at": opened + dt.timedelta(hours=48),
                "escalated_at": None,
                "closed_at": None if still_open else closed_at,
                "closing_survey_id": None,
                "summary": survey["comment"] or "No answer to the two questions",
                "created_at": opened,
            }
        )
    if not rows:
        return
    ids = _insert(session, FollowUp, rows, ids=True)
    events = []
    for row, follow_up_id in zip(rows, ids, strict=True):
        events.append(
            {
                "follow_up_id": follow_up_id,
                "at": row["created_at"],
                "kind": "opened",
                "user_id": None,
                "note": "",
            }
        )
        if row["closed_at"] is None:
            continue
        events.append(
            {
                "follow_up_id": follow_up_id,
                "at": row["closed_at"],
                "kind": "closed",
                "user_id": row["owner_id"],
                "note": "Called the patient; they answered yes to both questions.",
            }
        )
    _insert(session, FollowUpEvent, events)


def decorate_recent(
    session: Session,
    visits: Sequence[Visit],
    *,
    patients: dict[int, Patient],
    users: dict[str, User],
    volunteers: Sequence[Volunteer],
    unit: Unit,
    today: dt.date,
    plan: HistoryPlan = HistoryPlan(),
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Make the demo's own generated visits before ``today`` happen as the history's do, so the history runs
    on into the last days as one clinic: completed visits get the same late starts, overruns and skipped
    steps (``_happened``), cancellations a cancel time before the day, and the same reminders, check-ins,
    volunteers, surveys and follow-ups around them. Today's visits that have arrived are checked in (and
    long-distance patients met by their volunteer), so the current week's figures are measured too. With
    ``now``, today's completed visits happen as the others did, and the reminders of the coming days that
    were due before ``now`` went out (and were answered) as in the history."""
    zone = ZoneInfo(unit.tz)
    rng = random.Random(plan.random_seed + 1)
    past = sorted((v for v in visits if v.date < today and v.steps), key=lambda v: v.id)
    for visit in past:
        ordered = sorted(visit.steps, key=lambda s: (s.planned_start, s.id))
        if visit.status == VisitStatus.COMPLETED:
            rows = [
                {"planned_start": s.planned_start, "planned_end": s.planned_end, "_code": s.id}
                for s in ordered
            ]
            _happened(rows, visit.date, unit.tz, rng, plan)
            for step, row in zip(ordered, rows, strict=True):
                step.status, step.actual_start, step.actual_end = (
                    row["status"], row["actual_start"], row["actual_end"]
                )  # fmt: skip
        elif visit.status == VisitStatus.CANCELLED:
            visit.cancelled_at = ordered[0].planned_start - dt.timedelta(
                minutes=rng.randint(6 * 60, 5 * 24 * 60)
            )
    session.flush()
    rows = [
        {
            "patient_id": v.patient_id,
            "pathway_id": v.pathway_id,
            "date": v.date,
            "status": v.status,
            "priority": v.priority,
            "booked_at": dt.datetime.combine(v.date - dt.timedelta(days=30), dt.time(9), zone),
            "cancelled_at": v.cancelled_at if v.status == VisitStatus.CANCELLED else None,
            "cancelled_reason": v.cancelled_reason,
            "notes": "",
            "created_at": v.created_at,
            "updated_at": v.updated_at,
        }
        for v in past
    ]
    steps = [
        [
            {
                "planned_start": s.planned_start,
                "planned_end": s.planned_end,
                "actual_start": s.actual_start,
                "actual_end": s.actual_end,
            }
            for s in v.steps
        ]
        for v in past
    ]
    meta = [
        {"patient": patients[v.patient_id], "pathway": v.pathway, "progress": 1.0, "placed": _placed(v, zone)}
        for v in past
    ]
    visit_ids = [v.id for v in past]
    resource_ids = {r.code: r.id for r in session.scalars(sa.select(Resource))}
    eligible = sorted((p for p in patients.values() if not p.opted_out), key=lambda p: p.id)
    counts: dict[str, int] = {
        "history refills": _refills(
            session, rng, plan, visit_ids, rows, steps, meta, eligible, resource_ids, unit.tz, unit
        )
    }
    active = [v for v in volunteers if v.active]
    _around_visits(
        session, rng, plan, visit_ids, rows, steps, meta, zone, unit.tz, unit,
        desk=users.get("front_desk"), coordinator=users.get("coordinator"), volunteers=active, counts=counts,
        until=now or dt.datetime.combine(today, dt.time(0), zone).astimezone(dt.UTC),
    )  # fmt: skip
    arrived = (
        session.exec(
            sa.select(Visit)
            .where(
                Visit.date == today,
                Visit.status.in_([VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS, VisitStatus.COMPLETED]),
            )
            .order_by(Visit.id)
        )
        .scalars()
        .all()
    )
    if now is not None:
        for visit in arrived:
            if visit.status == VisitStatus.COMPLETED:
                _happen_before(visit, now, unit.tz, rng, plan)
        counts["history reminders"] = counts.get("history reminders", 0) + _upcoming_reminders(
            session, today=today, now=now, patients=patients, zone=zone, tz=unit.tz, unit=unit, plan=plan
        )
    checked_in, met = _arrived_today(
        session, rng, arrived, patients=patients, desk=users.get("front_desk"), volunteers=active, unit=unit
    )
    counts["history check-ins"] = counts.get("history check-ins", 0) + checked_in
    counts["history volunteer meetings"] = counts.get("history volunteer meetings", 0) + met
    return counts


def _happen_before(visit: Visit, now: dt.datetime, tz: str, rng: random.Random, plan: HistoryPlan) -> None:
    """Today's completed visit as the others happen (``_happened``), unless that would end it after ``now``."""
    ordered = sorted(visit.steps, key=lambda s: (s.planned_start, s.id))
    rows = [{"planned_start": s.planned_start, "planned_end": s.planned_end, "_code": s.id} for s in ordered]
    _happened(rows, visit.date, tz, rng, plan)
    if any(r["actual_end"] is not None and r["actual_end"] > now for r in rows):
        return
    for step, row in zip(ordered, rows, strict=True):
        step.status, step.actual_start, step.actual_end = (
            row["status"],
            row["actual_start"],
            row["actual_end"],
        )


def _upcoming_reminders(session, *, today, now, patients, zone, tz, unit, plan) -> int:
    """The reminders of today's and the coming week's visits that were due before ``now``: sent, delivered
    or failed and answered as in the history (the dispatcher has nothing left to send for them)."""
    visits = (
        session.exec(
            sa.select(Visit)
            .where(Visit.date >= today, Visit.date <= today + dt.timedelta(days=8))
            .where(Visit.status != VisitStatus.CANCELLED)
            .order_by(Visit.id)
        )
        .scalars()
        .all()
    )
    visits = [v for v in visits if v.steps]
    rows = [
        {
            "date": v.date,
            "status": v.status,
            "booked_at": dt.datetime.combine(v.date - dt.timedelta(days=30), dt.time(9), zone),
            "cancelled_at": None,
        }
        for v in visits
    ]
    steps = [
        [{"planned_start": s.planned_start, "planned_end": s.planned_end} for s in v.steps] for v in visits
    ]
    meta = [{"patient": patients[v.patient_id], "pathway": v.pathway, "progress": 1.0} for v in visits]
    counts: dict[str, int] = {}
    _around_visits(
        session, random.Random(plan.random_seed + 2), plan, [v.id for v in visits], rows, steps, meta, zone,
        tz, unit, desk=None, coordinator=None, volunteers=[], counts=counts, until=now, reminders_only=True,
    )  # fmt: skip
    return counts.get("history reminders", 0)


def _placed(visit: Visit, zone: ZoneInfo) -> SimpleNamespace:
    """A stored visit's itinerary as the engine's placed visit (step code, resource code, local minutes),
    so ``_refills`` can offer it and book it again like a history visit."""

    def minutes(instant: dt.datetime) -> int:
        local = instant.astimezone(zone)
        return local.hour * 60 + local.minute

    return SimpleNamespace(
        steps=[
            SimpleNamespace(
                id=s.pathway_step.code,
                resource=s.resource.code,
                start=minutes(s.planned_start),
                end=minutes(s.planned_end),
            )
            for s in visit.steps
        ]
    )


def _volunteer_meeting(
    visit_id: int, day: dt.date, volunteer_id: int, planned_start: dt.datetime, planned_end: dt.datetime,
    *, met: bool, outcome_at: dt.datetime,
) -> dict:
    """A long-distance patient's automatic volunteer assignment, met or not, as a row to insert."""
    return {
        "visit_id": visit_id,
        "day": day,
        "volunteer_id": volunteer_id,
        "reason": AssignmentReason.LONG_DISTANCE,
        "source": AssignmentSource.AUTO,
        "meet_at": planned_start - dt.timedelta(minutes=15),
        "leave_at": planned_end + dt.timedelta(minutes=10),
        "meeting_place": "Main entrance",
        "match_note": "",
        "outcome": MeetingOutcome.MET if met else MeetingOutcome.NOT_MET,
        "outcome_at": outcome_at,
        "created_at": planned_start - dt.timedelta(days=1),
        "updated_at": planned_start,
    }


def _arrived_today(session, rng, visits, *, patients, desk, volunteers, unit) -> tuple[int, int]:
    """Check-ins (coffee voucher, transport) and met volunteers for today's visits that have arrived, drawn
    as for the history; surveys follow in the app once the visits end."""
    checkins: list[dict] = []
    assignments: list[dict] = []
    for visit in visits:
        if not visit.steps:
            continue
        patient = patients[visit.patient_id]
        labels = segments.segments_for(
            patient, visit.date, unit=unit
        )
        long_distance = segments.Region.LONG_DISTANCE.value in labels
        planned_start = min(s.planned_start for s in visit.steps)
        planned_end = max(s.planned_end for s in visit.steps)
        checkins.append(
            {
                "visit_id": visit.id,
                "checked_in_at": planned_start - dt.timedelta(minutes=rng.randint(2, 15)),
                "checked_in_by": desk.id if desk else None,
                "late_minutes": 0,
                "coffee_voucher": voucher_code(visit.id) if long_distance else None,
                "transport_booked": f"{segments.SENIOR_AGE}+" in labels and rng.random() < 0.3,
                "volunteer_id": None,
                "interpreter_needed": patient.needs_interpreter,
                "notes": "",
            }
        )
        if long_distance and volunteers:
            assignments.append(
                _volunteer_meeting(
                    visit.id, visit.date, rng.choice(volunteers).id, planned_start, planned_end,
                    met=True, outcome_at=planned_start - dt.timedelta(minutes=15),
                )
            )
    _insert(session, VisitCheckin, checkins)
    _insert(session, VolunteerAssignment, assignments)
    return len(checkins), len(assignments)
