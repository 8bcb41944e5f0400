"""The dispatcher's lease: one row per lease name, so only one live dispatcher sends at a time."""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from clinic.messaging.models import DispatcherLease

LEASE_NAME = "dispatcher"


def acquire_lease(
    *, session: Session, owner: str, now: dt.datetime, ttl: dt.timedelta, name: str = LEASE_NAME
) -> bool:
    """Take or renew the lease; ``False`` while another live dispatcher holds it."""
    table = DispatcherLease.__table__
    expires = now + ttl
    try:
        updated = session.execute(
            table.update()
            .where(table.c.name == name, sa.or_(table.c.owner == owner, table.c.expires_at < now))
            .values(owner=owner, expires_at=expires, heartbeat_at=now)
        ).rowcount
        if not updated:
            session.execute(table.insert().values(name=name, owner=owner, expires_at=expires, heartbeat_at=now))
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False


def release_lease(*, session: Session, owner: str, name: str = LEASE_NAME) -> None:
    table = DispatcherLease.__table__
    session.execute(table.delete().where(table.c.name == name, table.c.owner == owner))
    session.commit()


def lease_holder(*, session: Session, now: dt.datetime, name: str = LEASE_NAME) -> str | None:
    lease = session.get(DispatcherLease, name)
    session.commit()
    return lease.owner if lease is not None and lease.expires_at >= now else None
