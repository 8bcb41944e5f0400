"""The JSON form of instances and schedules (``/work/shared/specs/day-instance.md``).

Reading goes through the typed models of ``scheduling.contract``, which report every problem of a
malformed document at once, each with its JSON path, by raising
:class:`~scheduling.errors.InstanceFormatError`; the documents are then turned into the frozen
dataclasses of ``scheduling.instance`` the engine works on. A step whose kind no resource offers is
*not* a format problem: such a request can never be placed, which is the solver's (and
``explain``'s) business, not the parser's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scheduling.contract import (
    INSTANCE_FORMAT,
    SCHEDULE_FORMAT,
    BookedDoc,
    InstanceDoc,
    PlacedStepDoc,
    RequestDoc,
    ResourceDoc,
    ScheduleDoc,
    StepDoc,
    hhmm_to_minutes,
    minutes_to_hhmm,
    read_instance,
    read_schedule,
)
from scheduling.errors import InstanceFormatError, Problem
from scheduling.instance import (
    DAY_MINUTES,
    FEASIBLE,
    INFEASIBLE,
    OPTIMAL,
    Instance,
    Objective,
    PlacedStep,
    Request,
    Resource,
    Schedule,
    Step,
    Unscheduled,
    Visit,
)

__all__ = [
    "INSTANCE_FORMAT",
    "SCHEDULE_FORMAT",
    "hhmm_to_minutes",
    "instance_to_json",
    "load_instance",
    "load_schedule",
    "minutes_to_hhmm",
    "parse_instance",
    "parse_schedule",
    "schedule_to_json",
]

STATUSES = (OPTIMAL, FEASIBLE, INFEASIBLE)


# ---------------------------------------------------------------- instance


def parse_instance(data: object) -> Instance:
    """Build an :class:`Instance` from decoded JSON, or raise ``InstanceFormatError`` listing every problem."""
    return _instance(read_instance(data))


def _instance(doc: InstanceDoc) -> Instance:
    return Instance(
        name=doc.name,
        date=doc.date,
        resources=tuple(_resource(r) for r in doc.resources),
        requests=tuple(_request(r) for r in doc.requests),
        booked=tuple(_booked(b) for b in doc.booked or ()),
    )


def _window(window: tuple[str, str]) -> tuple[int, int]:
    return (hhmm_to_minutes(window[0]), hhmm_to_minutes(window[1]))


def _resource(doc: ResourceDoc) -> Resource:
    available = tuple(sorted(_window(w) for w in doc.available)) if doc.available is not None else ((0, DAY_MINUTES),)
    return Resource(
        id=doc.id,
        kind=doc.kind,
        capacity=1 if doc.capacity is None else doc.capacity,
        available=available,
        attributes=frozenset(doc.attributes or ()),
    )


def _placed_step(doc: PlacedStepDoc) -> PlacedStep:
    return PlacedStep(id=doc.id, resource=doc.resource, start=hhmm_to_minutes(doc.start), end=hhmm_to_minutes(doc.end))


def _booked(doc: BookedDoc) -> Visit:
    return Visit(request=doc.request, steps=tuple(_placed_step(s) for s in doc.steps))


def _request(doc: RequestDoc) -> Request:
    return Request(
        id=doc.id,
        patient=doc.patient,
        steps=tuple(_step(s) for s in doc.steps),
        priority=1 if doc.priority is None else doc.priority,
        arrival=_window(doc.arrival) if doc.arrival is not None else None,
        leave_by=hhmm_to_minutes(doc.leave_by) if doc.leave_by is not None else None,
        max_visit_minutes=doc.max_visit_minutes,
        requires=frozenset(doc.requires or ()),
        must_place=bool(doc.must_place),
    )


def _step(doc: StepDoc) -> Step:
    return Step(
        id=doc.id,
        kind=doc.kind,
        duration=doc.duration,
        after=tuple(doc.after or ()),
        min_gap=doc.min_gap or 0,
        max_gap=doc.max_gap,
        resources=tuple(doc.resources) if doc.resources is not None else None,
    )


def load_instance(path: str | Path) -> Instance:
    """Read and parse an instance file; unreadable files and invalid JSON are reported as problems too."""
    return parse_instance(_load_json(path))


def _load_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InstanceFormatError([Problem(str(path), f"cannot read the file: {exc}")]) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InstanceFormatError(
            [Problem(str(path), f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")]
        ) from exc
    except RecursionError:
        raise InstanceFormatError([Problem(str(path), "not valid JSON: nested too deeply")]) from None


def _window_json(window: tuple[int, int]) -> list[str]:
    return [minutes_to_hhmm(window[0]), minutes_to_hhmm(window[1])]


def _visit_json(visit: Visit) -> dict:
    out: dict[str, Any] = {
        "request": visit.request,
        "steps": [
            {"id": s.id, "resource": s.resource, "start": minutes_to_hhmm(s.start), "end": minutes_to_hhmm(s.end)}
            for s in visit.steps
        ],
    }
    if visit.announced is not None:
        out["announced"] = minutes_to_hhmm(visit.announced)
    return out


def instance_to_json(instance: Instance) -> dict:
    """The JSON form of an instance; ``parse_instance(instance_to_json(x)) == x``."""
    requests = []
    for r in instance.requests:
        out: dict[str, Any] = {"id": r.id, "patient": r.patient, "priority": r.priority}
        if r.arrival is not None:
            out["arrival"] = _window_json(r.arrival)
        if r.leave_by is not None:
            out["leave_by"] = minutes_to_hhmm(r.leave_by)
        if r.max_visit_minutes is not None:
            out["max_visit_minutes"] = r.max_visit_minutes
        if r.requires:
            out["requires"] = sorted(r.requires)
        if r.must_place:
            out["must_place"] = True
        steps = []
        for s in r.steps:
            step: dict[str, Any] = {"id": s.id, "kind": s.kind, "duration": s.duration}
            if s.after:
                step["after"] = list(s.after)
            if s.min_gap:
                step["min_gap"] = s.min_gap
            if s.max_gap is not None:
                step["max_gap"] = s.max_gap
            if s.resources is not None:
                step["resources"] = list(s.resources)
            steps.append(step)
        out["steps"] = steps
        requests.append(out)
    return {
        "format": INSTANCE_FORMAT,
        "name": instance.name,
        "date": instance.date.isoformat(),
        "resources": [
            {
                "id": res.id,
                "kind": res.kind,
                "capacity": res.capacity,
                "available": [_window_json(w) for w in res.available],
                "attributes": sorted(res.attributes),
            }
            for res in instance.resources
        ],
        "booked": [_visit_json(v) for v in instance.booked],
        "requests": requests,
    }


# ---------------------------------------------------------------- schedule


def schedule_to_json(schedule: Schedule) -> dict:
    """The JSON form of a schedule; ``stats`` is written only when it is non-empty."""
    out: dict[str, Any] = {
        "format": SCHEDULE_FORMAT,
        "instance": schedule.instance,
        "status": schedule.status,
        "visits": [_visit_json(v) for v in schedule.visits],
        "unscheduled": [{"request": u.request, "reason": u.reason} for u in schedule.unscheduled],
        "objective": {
            "scheduled_priority": schedule.objective.scheduled_priority,
            "total_wait_minutes": schedule.objective.total_wait_minutes,
        },
        "solve_seconds": round(schedule.solve_seconds, 3),
    }
    if schedule.stats:
        out["stats"] = json.loads(json.dumps(schedule.stats, default=str))
    return out


def parse_schedule(data: object) -> Schedule:
    """Build a :class:`Schedule` from decoded JSON, or raise ``InstanceFormatError`` listing every problem.

    Only the form is checked here; whether the schedule fits its instance is ``scheduling.check``'s job.
    """
    return _schedule(read_schedule(data))


def _schedule(doc: ScheduleDoc) -> Schedule:
    return Schedule(
        instance=doc.instance,
        status=doc.status,
        visits=tuple(
            Visit(
                request=v.request,
                steps=tuple(_placed_step(s) for s in v.steps),
                announced=hhmm_to_minutes(v.announced) if v.announced is not None else None,
            )
            for v in doc.visits
        ),
        unscheduled=tuple(Unscheduled(request=u.request, reason=u.reason) for u in doc.unscheduled),
        objective=Objective(doc.objective.scheduled_priority, doc.objective.total_wait_minutes),
        solve_seconds=float(doc.solve_seconds or 0.0),
        stats=dict(doc.stats or {}),
    )


def load_schedule(path: str | Path) -> Schedule:
    """Read and parse a schedule file; reading and JSON problems raise ``InstanceFormatError`` as well."""
    return parse_schedule(_load_json(path))
