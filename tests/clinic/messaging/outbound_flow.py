"""What the calendar and SIU tests share: a unit, a pathway over three resources, sessions whose committed
events run the clinic's handlers (with or without the SIU feed), and a visit booked, moved and cancelled
through the real booking services."""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from clinic import handlers
from clinic.booking import moves
from clinic.booking import services as booking
from clinic.bootstrap import make_session_factory
from clinic.events import MessageBus
from clinic.messaging import sending
from clinic.messaging.models import OutboxMessage
from clinic.messaging.siu import SiuFeed
from clinic.unit.models import Pathway, ResourceKind
from clinic.visits import services as visit_service
from clinic.visits.models import Visit, VisitStatus
from tests.factories import make_pathway, make_resource, make_unit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ, public_base_url="https://onevisit.example.org", name="Dagbehandeling Oost",
                 address="Heidelberglaan 100, 3584 CX Utrecht")
TODAY = dt.date(2026, 12, 2)  # the clock fixture's Wednesday
FIRST_DAY = dt.date(2026, 12, 14)
LATER_DAY = dt.date(2026, 12, 21)


def pathway(session: Session) -> Pathway:
    """A desk, a doctor and a checkout (open Monday-Friday) and a three-step pathway over them."""
    for code, kind in (("desk", ResourceKind.REGISTRATION), ("doc", ResourceKind.CONSULT),
                       ("out", ResourceKind.CHECKOUT)):
        make_resource(session, code=code, kind=kind)
    return make_pathway(session, name="Infusion")


def handled_factory(engine: Engine, *, feed: SiuFeed | None = None) -> sessionmaker:
    """Sessions whose committed events run the clinic's handlers for ``UNIT`` (and the SIU feed, if given)."""
    return make_session_factory(engine, handlers.register(MessageBus(), unit=UNIT, siu_feed=feed))


def book(session: Session, patient_id: int, pathway_id: int, day: dt.date = FIRST_DAY) -> Visit:
    option = booking.propose_visits(
        session=session, patient_id=patient_id, pathway_id=pathway_id, unit=UNIT, today=TODAY,
        availability=booking.Availability(earliest=day, latest=day),
    ).options[0]
    return booking.book_proposal(session=session, patient_id=patient_id, pathway_id=pathway_id,
                                 choice=option.choice, unit=UNIT, actor_id=None, today=TODAY)


def move(session: Session, visit: Visit, day: dt.date = LATER_DAY) -> Visit:
    option = booking.propose_visits(
        session=session, patient_id=visit.patient_id, pathway_id=visit.pathway_id, unit=UNIT, today=TODAY,
        availability=booking.Availability(earliest=day, latest=day), ignore_visits=[visit.id],
    ).options[0]
    return moves.move_visit(session=session, visit_id=visit.id, choice=option.choice, unit=UNIT, actor_id=None,
                            today=TODAY)


def cancel(session: Session, visit: Visit) -> None:
    visit_service.change_status(session=session, visit_id=visit.id, status=VisitStatus.CANCELLED, actor_id=None,
                                reason="ill")


def dispatch(session: Session, channels: Mapping[str, Any], now: dt.datetime) -> sending.DispatchReport:
    return sending.dispatch_due(session=session, channels=channels, owner="test", now=now, unit=UNIT)


def rows(session: Session, visit_id: int, **where: Any) -> list[OutboxMessage]:
    session.expire_all()
    statement = select(OutboxMessage).where(OutboxMessage.visit_id == visit_id).order_by(col(OutboxMessage.id))
    return [row for row in session.exec(statement) if all(getattr(row, k) == v for k, v in where.items())]
