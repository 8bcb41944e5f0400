"""Visits of the same pathway close to a day: the desk is warned before booking or moving a visit within
``CLOSE_VISIT_DAYS`` of another of the patient's visits of that pathway (a double booking, or a cycle
moved onto the next one), and may still go ahead."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from clinic.visits.models import ACTIVE_VISIT_STATUSES, Visit, VisitStatus

CLOSE_VISIT_DAYS = 7
"""Two visits of one pathway this many days apart (or fewer) are "close": the Book and Move screens warn."""


@dataclass(frozen=True)
class NearbyVisit:
    visit_id: int
    day: dt.date
    status: VisitStatus
    days_apart: int


def nearby_visits(
    *,
    session: Session,
    patient_id: int,
    pathway_id: int,
    days: Iterable[dt.date],
    exclude_visit_id: int | None = None,
    within_days: int = CLOSE_VISIT_DAYS,
) -> dict[dt.date, list[NearbyVisit]]:
    """For each of ``days``, the patient's other held visits (booked to completed) of ``pathway_id`` at most
    ``within_days`` away, nearest first; days without any are left out."""
    wanted = sorted(set(days))
    if not wanted:
        return {}
    reach = dt.timedelta(days=within_days)
    statement = select(Visit.id, Visit.date, Visit.status).where(
        Visit.patient_id == patient_id,
        Visit.pathway_id == pathway_id,
        col(Visit.status).in_(list(ACTIVE_VISIT_STATUSES)),
        col(Visit.date) >= wanted[0] - reach,
        col(Visit.date) <= wanted[-1] + reach,
    )
    if exclude_visit_id is not None:
        statement = statement.where(Visit.id != exclude_visit_id)
    held = session.exec(statement).all()
    out: dict[dt.date, list[NearbyVisit]] = {}
    for day in wanted:
        close = [
            NearbyVisit(visit_id=vid, day=vday, status=VisitStatus(status), days_apart=abs((vday - day).days))
            for vid, vday, status in held
            if abs((vday - day).days) <= within_days
        ]
        if close:
            out[day] = sorted(close, key=lambda n: (n.days_apart, n.day, n.visit_id))
    return out
