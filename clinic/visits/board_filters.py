"""The day board narrowed to what one clerk looks after: a pathway, a resource or room, a status (a visit
status, where the patient is, or late) and a consultant. The board is built whole (``day_board``) and then
filtered, so counts, rows and the timeline always agree."""

import dataclasses
import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from clinic.unit.models import Pathway, Resource, ResourceKind
from clinic.visits.models import Visit, VisitStatus
from clinic.visits.services import PHASES, DayBoard, DayBoardRow, ResourceLane

LATE = "late"
STATUS_CODES = (*(s.value for s in VisitStatus), *PHASES, LATE)
"""What the status filter accepts: a visit status, a phase (``expected``, ``waiting``...) or ``late``."""


@dataclass(frozen=True)
class BoardFilter:
    pathway_id: int | None = None
    resource_id: int | None = None
    status: str | None = None
    consultant_id: int | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in dataclasses.astuple(self))


@dataclass(frozen=True)
class FilterOptions:
    """The choices of each filter: ``(id, name)`` pairs."""

    pathways: list[tuple[int, str]]
    resources: list[tuple[int, str]]
    consultants: list[tuple[int, str]]


def filter_options(*, session: Session, language: str = "en") -> FilterOptions:
    """Every active pathway (named in ``language``) and resource (not only today's: a filter kept in a link
    survives another day)."""
    pathways = sorted(
        ((p.id, p.name_in(language)) for p in session.exec(select(Pathway).where(col(Pathway.active)))),
        key=lambda item: item[1],
    )
    resources = session.exec(
        select(Resource.id, Resource.name, Resource.kind).where(col(Resource.active)).order_by(Resource.name)
    ).all()
    return FilterOptions(
        pathways=[(pid, name) for pid, name in pathways],
        resources=[(rid, name) for rid, name, _kind in resources],
        consultants=[(rid, name) for rid, name, kind in resources if ResourceKind(kind) == ResourceKind.CONSULT],
    )


def _status_matches(row: DayBoardRow, status: str) -> bool:
    if status == LATE:
        return row.late or row.delayed or row.overrun
    if status in PHASES:
        return row.phase == status
    return row.status.value == status


def filter_board(*, session: Session, board: DayBoard, filters: BoardFilter) -> DayBoard:
    """``board`` with only the rows matching every filter given; counts, phases and the timeline are those
    of the rows kept."""
    if not filters.active:
        return board
    pathway_of: dict[int, int] = {}
    if filters.pathway_id is not None and board.rows:
        ids = [r.visit_id for r in board.rows]
        pathway_of = dict(session.exec(select(Visit.id, Visit.pathway_id).where(col(Visit.id).in_(ids))).all())
    rows = [
        r
        for r in board.rows
        if (filters.pathway_id is None or pathway_of.get(r.visit_id) == filters.pathway_id)
        and (filters.resource_id is None or any(s.resource_id == filters.resource_id for s in r.steps))
        and (filters.consultant_id is None or any(s.resource_id == filters.consultant_id for s in r.steps))
        and (filters.status is None or _status_matches(r, filters.status))
    ]
    kept = {r.visit_id for r in rows}
    counts = {status: 0 for status in VisitStatus}
    phases = {phase: 0 for phase in PHASES}
    for r in rows:
        counts[r.status] += 1
        if r.phase in phases:
            phases[r.phase] += 1
    lanes: list[ResourceLane] = []
    for lane in board.lanes:
        cells = tuple(tuple(s for s in cell if s.visit_id in kept) for cell in lane.cells)
        if any(cells):
            lanes.append(dataclasses.replace(lane, cells=cells))
    return dataclasses.replace(board, rows=rows, counts=counts, phases=phases, lanes=tuple(lanes))


def replan_time(now: dt.datetime, *, step_minutes: int = 5) -> dt.datetime:
    """``now`` rounded up to the next ``step_minutes``: when a late patient is expected, at the earliest."""
    rounded = now.replace(second=0, microsecond=0)
    extra = (-rounded.minute) % step_minutes
    if rounded < now or extra:
        rounded += dt.timedelta(minutes=extra or step_minutes)
    return rounded
