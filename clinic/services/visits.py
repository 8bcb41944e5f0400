"""Visits for the front desk: the day board and the status changes a visit goes through."""

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic import segments
from clinic.errors import Conflict, NotFound
from clinic.models import PathwayStep, StepStatus, Visit, VisitStatus, VisitStep, utcnow
from clinic.services import audit


@dataclass(frozen=True)
class DayBoardRow:
    visit_id: int
    patient_id: int
    patient_name: str
    pathway_name: str
    first_start: dt.datetime | None
    last_end: dt.datetime | None
    status: VisitStatus
    current_step: str | None
    next_step: str | None
    segments: frozenset[str]


@dataclass(frozen=True)
class DayBoard:
    day: dt.date
    tz: str
    counts: dict[VisitStatus, int] = field(default_factory=dict)
    rows: list[DayBoardRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def local_day_bounds(day: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants at which local ``day`` starts and ends (23 or 25 hours around DST changes)."""
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(day, dt.time(0), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _step_name(step: VisitStep) -> str:
    return step.pathway_step.step_type.name


def _current_and_next(steps: list[VisitStep]) -> tuple[str | None, str | None]:
    current = next((s for s in steps if s.status == StepStatus.IN_PROGRESS), None)
    waiting = [s for s in steps if s.status == StepStatus.PLANNED]
    upcoming = waiting[0] if waiting else None
    return (_step_name(current) if current else None), (_step_name(upcoming) if upcoming else None)


def day_board(
    *, session: Session, day: dt.date, tz: str, local_km: float = 25, regional_km: float = 50
) -> DayBoard:
    """Every visit on local ``day`` with counts per status, ordered by first planned start."""
    statement = (
        select(Visit)
        .where(Visit.date == day)
        .options(
            selectinload(Visit.patient),  # type: ignore[arg-type]
            selectinload(Visit.pathway),  # type: ignore[arg-type]
            selectinload(Visit.steps)  # type: ignore[arg-type]
            .selectinload(VisitStep.pathway_step)  # type: ignore[arg-type]
            .selectinload(PathwayStep.step_type),  # type: ignore[arg-type]
        )
    )
    counts = {status: 0 for status in VisitStatus}
    rows: list[DayBoardRow] = []
    for visit in session.exec(statement):
        counts[visit.status] += 1
        steps = sorted(visit.steps, key=lambda s: (s.planned_start, s.id))
        current, upcoming = _current_and_next(steps)
        rows.append(
            DayBoardRow(
                visit_id=visit.id,
                patient_id=visit.patient_id,
                patient_name=visit.patient.display_name,
                pathway_name=visit.pathway.name,
                first_start=steps[0].planned_start if steps else None,
                last_end=max(s.planned_end for s in steps) if steps else None,
                status=visit.status,
                current_step=current,
                next_step=upcoming,
                segments=segments.segments_for(
                    visit.patient, day, local_km=local_km, regional_km=regional_km
                ),
            )
        )
    far_future = dt.datetime.max.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda r: (r.first_start or far_future, r.patient_name, r.visit_id))
    return DayBoard(day=day, tz=tz, counts=counts, rows=rows)


def get_visit(*, session: Session, visit_id: int) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise NotFound(f"visit {visit_id} does not exist", field="visit_id")
    return visit


_ALLOWED: dict[VisitStatus, set[VisitStatus]] = {
    VisitStatus.REQUESTED: {VisitStatus.BOOKED, VisitStatus.CANCELLED},
    VisitStatus.BOOKED: {
        VisitStatus.CONFIRMED,
        VisitStatus.CHECKED_IN,
        VisitStatus.CANCELLED,
        VisitStatus.NO_SHOW,
    },
    VisitStatus.CONFIRMED: {VisitStatus.CHECKED_IN, VisitStatus.CANCELLED, VisitStatus.NO_SHOW},
    VisitStatus.CHECKED_IN: {VisitStatus.IN_PROGRESS, VisitStatus.COMPLETED, VisitStatus.CANCELLED},
    VisitStatus.IN_PROGRESS: {VisitStatus.COMPLETED},
    VisitStatus.COMPLETED: set(),
    VisitStatus.CANCELLED: set(),
    VisitStatus.NO_SHOW: set(),
}


def change_status(
    *,
    session: Session,
    visit_id: int,
    status: VisitStatus | str,
    actor_id: int | None,
    reason: str | None = None,
) -> Visit:
    """Move a visit along its life cycle (booked -> checked in -> ... -> completed); ``Conflict`` otherwise."""
    visit = get_visit(session=session, visit_id=visit_id)
    target = VisitStatus(status)
    if target not in _ALLOWED[visit.status]:
        raise Conflict(
            f"a {visit.status.value} visit cannot become {target.value}",
            code="bad_transition",
            field="status",
            current=visit.status.value,
            target=target.value,
        )
    previous = visit.status
    visit.status = target
    if target == VisitStatus.CANCELLED:
        visit.cancelled_at = utcnow()
        visit.cancelled_reason = (reason or "").strip() or None
    session.add(visit)
    audit.record(
        session=session,
        actor_id=actor_id,
        action=f"visit.{target.value}",
        entity="visit",
        entity_id=visit.id,
        details={"from": previous.value, "reason": reason} if reason else {"from": previous.value},
    )
    session.commit()
    return visit


def visits_on(
    *, session: Session, day: dt.date, statuses: frozenset[VisitStatus] | None = None
) -> list[Visit]:
    statement = select(Visit).where(Visit.date == day).order_by(col(Visit.id))
    if statuses is not None:
        statement = statement.where(col(Visit.status).in_(list(statuses)))
    return list(session.exec(statement))
