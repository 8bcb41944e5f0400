"""Plain data the engine works on: a clinic day (instance) and what the engine makes of it (schedule).

Times are minutes after midnight of the instance's date; durations and gaps are whole minutes.
Everything here is immutable so that solvers, the validator and callers can share values safely.
The JSON form of these classes (``../shared/specs/day-instance.md``) lives in ``scheduling.jsonio``
(read through the typed models of ``scheduling.contract``).
"""

import datetime as dt
from dataclasses import dataclass, field

DAY_MINUTES = 24 * 60

OPTIMAL = "OPTIMAL"
FEASIBLE = "FEASIBLE"
INFEASIBLE = "INFEASIBLE"


@dataclass(frozen=True)
class Resource:
    id: str
    kind: str
    capacity: int = 1
    available: tuple[tuple[int, int], ...] = ((0, DAY_MINUTES),)
    attributes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PlacedStep:
    id: str
    resource: str
    start: int
    end: int


@dataclass(frozen=True)
class Visit:
    """A placed request (in a schedule) or a booked visit (in an instance).

    ``announced``: the arrival time the patient was told when the visit was booked (a replayed day's
    schedule carries it; nothing else sets it).
    """

    request: str
    steps: tuple[PlacedStep, ...]
    announced: int | None = None


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    duration: int
    after: tuple[str, ...] = ()
    min_gap: int = 0
    max_gap: int | None = None
    resources: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Request:
    id: str
    patient: str
    steps: tuple[Step, ...]
    priority: int = 1
    arrival: tuple[int, int] | None = None
    leave_by: int | None = None
    max_visit_minutes: int | None = None
    requires: frozenset[str] = frozenset()
    #: A booked visit that may still move but must stay on the day: leaving it unscheduled is infeasible.
    must_place: bool = False


@dataclass(frozen=True)
class Instance:
    name: str
    date: dt.date
    resources: tuple[Resource, ...]
    requests: tuple[Request, ...]
    booked: tuple[Visit, ...] = ()


@dataclass(frozen=True)
class Unscheduled:
    request: str
    reason: str


@dataclass(frozen=True)
class Objective:
    scheduled_priority: int
    total_wait_minutes: int


@dataclass(frozen=True)
class Schedule:
    instance: str
    status: str
    visits: tuple[Visit, ...]
    unscheduled: tuple[Unscheduled, ...]
    objective: Objective
    solve_seconds: float = 0.0
    stats: dict = field(default_factory=dict, compare=False)
