"""The queries behind the FHIR searches: one page of rows and the total, nothing loaded twice."""

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, or_
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from clinic.patients.models import Patient
from clinic.unit.models import Pathway, PathwayStep, PathwayStepDependency
from clinic.visits.models import Visit, VisitStatus, VisitStep


def _page(session: Session, statement, order, count: int, offset: int) -> tuple[list, int]:
    total = session.exec(select(func.count()).select_from(statement.order_by(None).subquery())).one()
    if count == 0:
        return [], total
    return list(session.exec(statement.order_by(*order).limit(count).offset(offset))), total


def find_patients(
    *, session: Session, mrn: str | None = None, name: str | None = None,
    birth_from: dt.date | None = None, birth_to: dt.date | None = None, ids: Iterable[int] | None = None,
    count: int, offset: int,
) -> tuple[list[Patient], int]:
    """Patients by record number (exact), name (start of the given or family name, any case) and birth
    dates (both ends included)."""
    statement = select(Patient)
    if mrn is not None:
        statement = statement.where(Patient.mrn == mrn.strip().upper())
    if name is not None:
        start = name.strip().lower().replace("%", r"\%").replace("_", r"\_") + "%"
        statement = statement.where(or_(func.lower(Patient.given_name).like(start, escape="\\"),
                                        func.lower(Patient.family_name).like(start, escape="\\"),
                                        func.lower(Patient.given_name + " " + Patient.family_name)
                                        .like(start, escape="\\")))
    if birth_from is not None:
        statement = statement.where(col(Patient.birth_date) >= birth_from)
    if birth_to is not None:
        statement = statement.where(col(Patient.birth_date) <= birth_to)
    if ids is not None:
        statement = statement.where(col(Patient.id).in_(list(ids)))
    return _page(session, statement, (col(Patient.id),), count, offset)


def _with_steps(statement):
    return statement.options(
        selectinload(Visit.patient),  # type: ignore[arg-type]
        selectinload(Visit.pathway),  # type: ignore[arg-type]
        selectinload(Visit.steps).selectinload(VisitStep.resource),  # type: ignore[arg-type]
        selectinload(Visit.steps).selectinload(VisitStep.pathway_step)  # type: ignore[arg-type]
        .selectinload(PathwayStep.step_type),  # type: ignore[arg-type]
    )


def visit_with_steps(*, session: Session, visit_id: int) -> Visit | None:
    if not 0 < visit_id < 2**31:
        return None
    return session.exec(_with_steps(select(Visit).where(Visit.id == visit_id))).first()


def find_visits(
    *, session: Session, patient_id: int | None = None, date_from: dt.date | None = None,
    date_to: dt.date | None = None, statuses: Iterable[VisitStatus] | None = None, count: int, offset: int,
) -> tuple[list[Visit], int]:
    """Visits (appointments) by patient, local dates (both ends included) and statuses, by date then id."""
    statement = select(Visit)
    if patient_id is not None:
        statement = statement.where(Visit.patient_id == patient_id)
    if date_from is not None:
        statement = statement.where(col(Visit.date) >= date_from)
    if date_to is not None:
        statement = statement.where(col(Visit.date) <= date_to)
    if statuses is not None:
        statement = statement.where(col(Visit.status).in_(list(statuses)))
    rows, total = _page(session, statement, (col(Visit.date), col(Visit.id)), count, offset)
    if rows:
        ids = [visit.id for visit in rows]
        loaded = {v.id: v for v in session.exec(_with_steps(select(Visit).where(col(Visit.id).in_(ids))))}
        rows = [loaded[i] for i in ids]
    return rows, total


def active_pathways(*, session: Session, ids: Iterable[int] | None = None) -> list[Pathway]:
    """Active pathways with their steps, step types and dependencies loaded (what the engine's steps need)."""
    statement = select(Pathway).where(col(Pathway.active).is_(True)).order_by(col(Pathway.id)).options(
        selectinload(Pathway.steps).selectinload(PathwayStep.step_type),  # type: ignore[arg-type]
        selectinload(Pathway.steps).selectinload(PathwayStep.dependencies)  # type: ignore[arg-type]
        .selectinload(PathwayStepDependency.depends_on),  # type: ignore[arg-type]
    )
    if ids is not None:
        statement = statement.where(col(Pathway.id).in_(list(ids)))
    return list(session.exec(statement))
