"""Moving a booked visit to another day or time, in one transaction.

The clerk picks one of the engine's proposals for the visit (``propose_visits`` with the visit itself
counted as free); ``move_visit`` re-checks it under the new day's booking lock with the engine's validator,
exactly like ``book_proposal``, then rewrites the visit's date and its steps' rooms and times in place.
Outreach and volunteers follow through ``VisitMoved`` (``clinic.handlers`` re-plans the visit's messages
and re-matches the old and the new day). A visit that has started (checked in, a step begun) or ended
cannot be moved.

``place_moves`` is the part shared with treatment series, which move several cycles together.
"""

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from clinic import events, planning
from clinic.audit import record as audit
from clinic.booking.services import (
    Availability,
    SlotTaken,
    choice_bends,
    decode_choice,
    lock_day,
    problems,
    visit_wish,
)
from clinic.errors import Conflict, NotFound, ValidationError, get_or_raise
from clinic.patients import segments
from clinic.patients.models import Patient
from clinic.unit.booking_rules import NO_BENDS, Bends
from clinic.unit.context import Unit
from clinic.unit.models import Resource
from clinic.visits.models import ACTIVE_VISIT_STATUSES, Visit, VisitStatus
from scheduling import instance as engine

MOVABLE = frozenset({VisitStatus.BOOKED, VisitStatus.CONFIRMED})


@dataclass(frozen=True)
class Move:
    """Visit ``visit_id`` to ``day`` with its steps at ``steps``; ``availability`` holds the patient's part of
    the day (re-checked); ``cycle`` names the series cycle in error messages; ``bends`` are the preferences
    the picked proposal bends (checked against the rules, as ``book_proposal`` does)."""

    visit_id: int
    day: dt.date
    steps: tuple[engine.PlacedStep, ...]
    availability: Availability | None = None
    cycle: int | None = None
    bends: Bends = NO_BENDS


def movable(visit: Visit, today: dt.date | None = None) -> bool:
    """Whether the desk may still move ``visit``: booked or confirmed, no step begun, not in the past."""
    if visit.status not in MOVABLE:
        return False
    if any(s.actual_start is not None for s in visit.steps):
        return False
    return today is None or visit.date > today


def check_movable(visit: Visit, today: dt.date | None) -> None:
    """``Conflict`` (``visit_started`` or ``not_movable``) unless ``movable``."""
    if visit.status in (VisitStatus.CHECKED_IN, VisitStatus.IN_PROGRESS, VisitStatus.COMPLETED) or any(
        s.actual_start is not None for s in visit.steps
    ):
        raise Conflict("the visit has started: it cannot be moved", code="visit_started", field="visit_id")
    if visit.status not in MOVABLE:
        raise Conflict(
            f"a {visit.status.value} visit cannot be moved", code="not_movable", field="visit_id"
        )
    if today is not None and visit.date <= today:
        raise Conflict("the visit is today or in the past: it cannot be moved", code="visit_started", field="visit_id")


def _who(cycle: int | None) -> str:
    return f"cycle {cycle}: " if cycle is not None else ""


def place_moves(
    *,
    session: Session,
    moves: Sequence[Move],
    unit: Unit,
    actor_id: int | None,
    today: dt.date | None,
    action: str = "visit.moved",
) -> list[Visit]:
    """Apply ``moves`` inside the session's transaction (not committed): the new days' locks first, in date
    order (the old days only lose capacity), then each move re-checked against the pathway, the patient and
    the day's other visits, then written.

    Raises ``SlotTaken`` / ``ValidationError`` / ``Conflict`` naming the cycle when one does not fit;
    the caller rolls back, so nothing is moved.
    """
    if not moves:
        return []
    ids = [m.visit_id for m in moves]
    if len(set(ids)) != len(ids):
        raise ValidationError("a visit is moved twice", field="choice")
    for day in sorted({m.day for m in moves}):
        lock_day(session=session, day=day)
    visits = {m.visit_id: get_or_raise(session, Visit, m.visit_id, what="visit") for m in moves}
    for move in moves:
        check_movable(visits[move.visit_id], today)
        if today is not None and move.day <= today:
            raise ValidationError(
                _who(move.cycle) + "the chosen day has passed", code="day_passed", field="choice", cycle=move.cycle
            )
    if len({(visits[m.visit_id].patient_id, m.day) for m in moves}) != len(moves):
        raise Conflict("two visits of the patient on one day", code="already_booked", field="choice")
    staff = planning.load_staff(session=session)
    moved: list[Visit] = []
    for move in moves:
        visit = visits[move.visit_id]
        patient = get_or_raise(session, Patient, visit.patient_id, what="patient")
        pathway = planning.load_pathway(session=session, pathway_id=visit.pathway_id)
        if pathway is None:
            raise NotFound(f"pathway {visit.pathway_id} does not exist", field="pathway_id")
        applying = planning.applying_rules(segments.segments_for(patient, move.day, unit=unit))
        if not move.bends.allowed_by(unit.booking_rules, applying):
            raise ValidationError(
                _who(move.cycle) + "the chosen itinerary bends a rule that may not be bent",
                code="bad_choice", field="choice", cycle=move.cycle,
            )
        wish = visit_wish(
            patient=patient,
            pathway=pathway,
            day=move.day,
            unit=unit,
            availability=move.availability or Availability(earliest=move.day),
            bends=move.bends,
        )
        request = planning.engine_request(wish=wish, day=move.day, unit=unit, staff=staff, bends=move.bends)
        placed = engine.Visit(request=request.id, steps=move.steps)
        alone = engine.Instance(
            name=f"move-{move.day.isoformat()}",
            date=move.day,
            resources=planning.engine_resources(session=session, day=move.day),
            requests=(request,),
        )
        own = problems(alone, placed)
        if own:
            raise ValidationError(
                _who(move.cycle) + "the chosen itinerary does not fit the pathway or the patient: " + "; ".join(own[:3]),
                code="bad_choice",
                field="choice",
                cycle=move.cycle,
            )
        others = session.exec(
            select(Visit.id).where(
                Visit.patient_id == visit.patient_id,
                Visit.date == move.day,
                col(Visit.status).in_(list(ACTIVE_VISIT_STATUSES)),
                col(Visit.id).not_in(ids),
            )
        ).first()
        if others is not None:
            raise Conflict(
                _who(move.cycle) + "the patient already has a visit on that day",
                code="already_booked",
                field="choice",
                cycle=move.cycle,
            )
        booked = planning.engine_booked(session=session, day=move.day, tz=unit.tz, exclude=ids)
        clash = problems(dataclasses.replace(alone, booked=booked), placed)
        if clash:
            raise SlotTaken(
                _who(move.cycle) + "just taken: another booking got this slot first",
                field="choice",
                details="; ".join(clash[:3]),
                cycle=move.cycle,
            )
        moved.append(_rewrite(session, visit, pathway, move, unit, actor_id, action))
    session.flush()
    return moved


def _rewrite(session: Session, visit: Visit, pathway, move: Move, unit: Unit, actor_id: int | None, action: str) -> Visit:
    by_code = {s.code: s for s in pathway.steps}
    placed = {s.id: s for s in move.steps}
    if set(by_code) != set(placed):
        raise ValidationError("the chosen itinerary does not cover the pathway's steps", code="bad_choice", field="choice")
    codes = {s.resource for s in move.steps}
    resources = {r.code: r for r in session.exec(select(Resource).where(col(Resource.code).in_(codes)))}
    before = {
        "day": visit.date.isoformat(),
        "steps": [
            f"{s.pathway_step.code}@{s.resource.code}@{s.planned_start.isoformat()}" for s in visit.steps
        ],
    }
    for step in visit.steps:
        new = placed[step.pathway_step.code]
        if new.resource not in resources:
            raise ValidationError(f"unknown resource {new.resource!r}", field="choice")
        step.resource_id = resources[new.resource].id
        step.planned_start = planning.instant_at(move.day, new.start, unit.tz)
        step.planned_end = planning.instant_at(move.day, new.end, unit.tz)
        session.add(step)
    visit.date = move.day
    # a move is told to the patient (``VisitMoved`` re-plans the messages): the new arrival is announced
    visit.announced_at = planning.instant_at(move.day, min(s.start for s in move.steps), unit.tz)
    session.add(visit)
    audit.record(
        session=session,
        actor_id=actor_id,
        action=action,
        entity="visit",
        entity_id=visit.id,  # type: ignore[arg-type]
        details={
            "from": before,
            "to": {"day": move.day.isoformat(), "steps": [f"{s.id}@{s.resource}@{s.start}-{s.end}" for s in move.steps]},
            **({"cycle": move.cycle} if move.cycle is not None else {}),
        },
    )
    events.record(session, events.VisitMoved(visit_id=visit.id, actor_id=actor_id))  # type: ignore[arg-type]
    return visit


def move_visit(
    *,
    session: Session,
    visit_id: int,
    choice: str,
    unit: Unit,
    actor_id: int | None,
    today: dt.date | None = None,
    availability: Availability | None = None,
) -> Visit:
    """Move one visit to the picked itinerary (``choice`` of a ``Proposal``): another day or another time,
    in one transaction (committed, audited, ``VisitMoved``). ``Conflict`` for a visit that has started;
    ``SlotTaken`` when the capacity was taken meanwhile; nothing changes in either case."""
    day, steps = decode_choice(choice)
    bends = choice_bends(choice)
    try:
        place_moves(
            session=session,
            moves=[Move(visit_id=visit_id, day=day, steps=steps, availability=availability, bends=bends)],
            unit=unit,
            actor_id=actor_id,
            today=today,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_or_raise(session, Visit, visit_id, what="visit")

