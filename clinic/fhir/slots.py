"""Free capacity per pathway and day, as the booking engine sees it (for FHIR ``Slot``).

A day has a free slot for a pathway when one more visit of that pathway fits around the visits already
booked: the engine's insertion model (``scheduling.insert``, as ``insert_request`` builds it) places it, nobody moves, no
patient's own rules apply (those are the booking's business). One query set for all the days
(``planning.build_instances``) and one small solve per pathway and open day keep a month cheap.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from clinic import planning
from clinic.unit.context import Unit
from clinic.unit.models import Pathway
from scheduling import instance as engine
from scheduling.insert import (
    FreeTime,
    Model,
    add_one_place,
    add_patient_window,
    add_precedence,
    add_steps,
    request_bounds,
    solve_model,
    start_domains,
)

#: Seconds for one "does it still fit" solve; these models answer in milliseconds.
SOLVE_SECONDS = 0.2
#: The most days one Slot search may cover.
MAX_DAYS = 62


@dataclass(frozen=True)
class DaySlot:
    pathway: Pathway
    day: dt.date
    #: The unit's opening on that day (the earliest opening to the latest closing of its resources), UTC.
    start: dt.datetime
    end: dt.datetime
    free: bool

    @property
    def id(self) -> str:
        return f"{self.pathway.id}-{self.day:%Y%m%d}"


def fits(request: engine.Request, free: FreeTime, *, not_before: int | None = None) -> bool:
    """Whether ``request`` can be placed in ``free`` time: ``insert_request``'s model without its objective,
    since a Slot only asks whether a place exists, not which is best (no optimum to prove)."""
    lo, hi = request_bounds(request, frozenset(), not_before)
    model = Model()
    v = add_steps(model, request, start_domains(free, request, frozenset(), lo, hi), lo, hi)
    if v is None:
        return False
    add_precedence(model, request, v)
    add_one_place(model, request, v)
    add_patient_window(model, request, v, frozenset())
    return solve_model(model, SOLVE_SECONDS)[1]


def opening(instance: engine.Instance) -> tuple[int, int] | None:
    windows = [window for resource in instance.resources for window in resource.available]
    if not windows:
        return None
    return min(a for a, _ in windows), max(b for _, b in windows)


def day_slots(
    *, session: Session, unit: Unit, pathways: Sequence[Pathway], days: Sequence[dt.date], now: dt.datetime,
) -> list[DaySlot]:
    """One slot per pathway per day the unit opens (days before today have none), in day then pathway order."""
    today = now.astimezone(unit.zone).date()
    days = [day for day in days if day >= today]
    if not days or not pathways:
        return []
    instances = planning.build_instances(session=session, days=days, unit=unit)
    staff = planning.load_staff(session=session)
    steps = {p.id: planning.engine_steps(p, staff=staff) for p in pathways}
    unqualified = {p.id for p in pathways if planning.unqualified_steps(p, staff)}
    slots = []
    for day in days:
        instance = instances[day]
        hours = opening(instance)
        if hours is None:
            continue
        not_before = planning.minutes_at(now, day, unit.tz) if day == today else None
        start, end = (planning.instant_at(day, minutes, unit.tz) for minutes in hours)
        free_time = FreeTime.for_day(instance)
        for pathway in pathways:
            free = False
            if pathway.id not in unqualified and (not_before is None or not_before < hours[1]):
                request = engine.Request(id=f"slot-{pathway.id}", patient="slot", steps=steps[pathway.id],
                                         max_visit_minutes=pathway.max_visit_minutes)
                free = fits(request, free_time, not_before=max(0, not_before) if not_before is not None else None)
            slots.append(DaySlot(pathway=pathway, day=day, start=start, end=end, free=free))
    return slots
