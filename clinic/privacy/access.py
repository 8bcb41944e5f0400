"""Recording and reading the access log; who may act on a patient's rights."""

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from clinic.errors import Forbidden, ValidationError, get_or_raise
from clinic.patients.models import Patient
from clinic.privacy.models import AccessKind, AccessLog
from clinic.unit.context import Unit
from clinic.users.models import Role, User

PRIVACY_ROLES = frozenset({Role.COORDINATOR, Role.ADMIN})
"""Who may export, erase and read the access log: a clerk may not, whatever the screen shows."""

MAX_PAGE_SIZE = 200


def require_privacy_role(*, session: Session, actor_id: int | None) -> User:
    """The acting user when they are an active coordinator or administrator, else ``Forbidden``."""
    user = session.get(User, actor_id) if actor_id is not None and 0 < actor_id < 2**31 else None
    if user is None or not user.active or user.role not in PRIVACY_ROLES:
        raise Forbidden("only a coordinator or an administrator may do this", code="privacy_role")
    return user


def record_access(
    *, session: Session, unit: Unit, patient_id: int, user_id: int | None, kind: AccessKind, commit: bool = True
) -> AccessLog:
    """One row: ``user_id`` opened ``patient_id``'s page or export now. Committed unless ``commit=False``."""
    del unit
    get_or_raise(session, Patient, patient_id, what="patient")
    row = AccessLog(patient_id=patient_id, user_id=user_id, kind=kind)
    session.add(row)
    if commit:
        session.commit()
    else:
        session.flush()
    return row


@dataclass(frozen=True)
class AccessRow:
    at: dt.datetime
    kind: AccessKind
    user_id: int | None
    user_name: str | None
    patient_id: int
    patient_mrn: str


@dataclass(frozen=True)
class AccessPage:
    rows: list[AccessRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def access_log(
    *,
    session: Session,
    unit: Unit,
    actor_id: int | None,
    patient_id: int | None = None,
    user_id: int | None = None,
    page: int = 1,
    page_size: int = 50,
) -> AccessPage:
    """The log, newest first, for a coordinator or an administrator (``Forbidden`` for anyone else)."""
    del unit
    require_privacy_role(session=session, actor_id=actor_id)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(f"page size must be 1-{MAX_PAGE_SIZE}", field="page_size")
    page = max(1, page)
    conditions = []
    if patient_id is not None:
        conditions.append(AccessLog.patient_id == patient_id)
    if user_id is not None:
        conditions.append(AccessLog.user_id == user_id)
    total = session.exec(select(func.count()).select_from(AccessLog).where(*conditions)).one()
    statement = (
        select(AccessLog, User, Patient.mrn)
        .join(User, col(User.id) == col(AccessLog.user_id), isouter=True)
        .join(Patient, col(Patient.id) == col(AccessLog.patient_id))
        .where(*conditions)
        .order_by(col(AccessLog.at).desc(), col(AccessLog.id).desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    rows = [
        AccessRow(
            at=entry.at,
            kind=entry.kind,
            user_id=entry.user_id,
            user_name=user.display_name if user is not None else None,
            patient_id=entry.patient_id,
            patient_mrn=mrn,
        )
        for entry, user, mrn in session.exec(statement)
    ]
    return AccessPage(rows=rows, total=total, page=page, page_size=page_size)


def staff(*, session: Session) -> list[tuple[int, str]]:
    """(id, name) of every staff account that is not a volunteer, for the filter."""
    users = session.exec(
        select(User).where(User.role != Role.VOLUNTEER).order_by(col(User.display_name), col(User.id))
    ).all()
    return [(user.id, f"{user.display_name} ({user.username})") for user in users]
