"""Reading the audit trail for the audit log screen: filter by entity, user and local dates, newest first."""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from clinic.audit.models import AuditEvent
from clinic.errors import ValidationError
from clinic.users.models import User

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    entity: str
    entity_id: int
    details: dict | None


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def entities(*, session: Session) -> list[str]:
    """Every entity name the trail holds (``visit``, ``invoice``, ...), sorted."""
    return sorted(session.exec(select(AuditEvent.entity).distinct()).all())


def actors(*, session: Session) -> list[tuple[int, str]]:
    """(id, display name) of every user, for the filter."""
    users = session.exec(select(User).order_by(col(User.display_name), col(User.id))).all()
    return [(user.id, f"{user.display_name} ({user.username})") for user in users]


def search(
    *,
    session: Session,
    tz: str,
    entity: str | None = None,
    entity_id: int | None = None,
    actor_id: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    page: int = 1,
    page_size: int = 50,
) -> AuditPage:
    """Events matching every given filter; dates are local days in ``tz`` (both ends included)."""
    if date_from and date_to and date_to < date_from:
        raise ValidationError("the end date is before the start date", field="date_to")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(f"page size must be 1-{MAX_PAGE_SIZE}", field="page_size")
    page = max(1, page)
    zone = ZoneInfo(tz)
    conditions = []
    if entity:
        conditions.append(AuditEvent.entity == entity)
    if entity_id is not None:
        conditions.append(AuditEvent.entity_id == entity_id)
    if actor_id is not None:
        conditions.append(AuditEvent.actor_id == actor_id)
    if date_from is not None:
        start = dt.datetime.combine(date_from, dt.time(0), zone).astimezone(dt.UTC)
        conditions.append(col(AuditEvent.at) >= start)
    if date_to is not None:
        end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.UTC)
        conditions.append(col(AuditEvent.at) < end)
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    statement = (
        select(AuditEvent, User)
        .join(User, col(User.id) == col(AuditEvent.actor_id), isouter=True)
        .where(*conditions)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    rows = [
        AuditRow(
            id=event.id,
            at=event.at,
            actor_id=event.actor_id,
            actor_name=user.display_name if user is not None else None,
            action=event.action,
            entity=event.entity,
            entity_id=event.entity_id,
            details=event.details,
        )
        for event, user in session.exec(statement)
    ]
    return AuditPage(rows=rows, total=total, page=page, page_size=page_size)
