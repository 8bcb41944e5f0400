"""Domain events: what happened to a visit, recorded by the service that made it happen, and handled
once that service's transaction has committed.

A service calls ``record(session, event)`` next to the change it describes. Sessions made by a factory
that ``MessageBus.attach`` wired up hand their recorded events to the bus when their transaction commits;
each handler then runs in its own session (and transaction) from the same factory. A handler that fails is
logged and skipped: the change that caused the event stands. Events of a transaction that rolls back are
dropped. Sessions from a factory without a bus just collect and forget their events.
"""

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

log = logging.getLogger(__name__)

PENDING = "onevisit.events.pending"
COMMITTED = "onevisit.events.committed"


@dataclass(frozen=True)
class Event:
    """Something that happened; ``actor_id`` is the user who did it (``None``: a patient or the system)."""


@dataclass(frozen=True)
class VisitBooked(Event):
    visit_id: int
    actor_id: int | None = None


@dataclass(frozen=True)
class VisitMoved(Event):
    """Planned times or resources of the visit's steps changed (the board's re-plan)."""

    visit_id: int
    actor_id: int | None = None


@dataclass(frozen=True)
class DayOptimised(Event):
    """The not-started visits of ``day`` were re-arranged within their announced arrivals (``visits`` moved)."""

    day: dt.date
    visits: int
    actor_id: int | None = None


@dataclass(frozen=True)
class VisitRearranged(Event):
    """A booking re-arranged the visit's internal step times or resources; its announced arrival stands,
    so nothing is said to the patient (outreach does not handle it, on purpose)."""

    visit_id: int
    actor_id: int | None = None


@dataclass(frozen=True)
class VisitCancelled(Event):
    """The visit was cancelled, or marked a no-show (``no_show``): its capacity is free."""

    visit_id: int
    actor_id: int | None = None
    no_show: bool = False


@dataclass(frozen=True)
class VisitCheckedIn(Event):
    visit_id: int
    actor_id: int | None = None


@dataclass(frozen=True)
class StepFinished(Event):
    visit_id: int
    visit_step_id: int
    actor_id: int | None = None


@dataclass(frozen=True)
class VisitCompleted(Event):
    """The visit's last step was done or skipped, or it was checked out: the patient has gone home."""

    visit_id: int
    actor_id: int | None = None


@dataclass(frozen=True)
class TransportAnswered(Event):
    """The patient's answer to the transport offer is known (by SMS, a call, an e-mail's page or the desk),
    or the desk marked the transport arranged: the offer needs no further asking."""

    visit_id: int
    actor_id: int | None = None


@dataclass(frozen=True)
class OfferAccepted(Event):
    """A waitlist offer for freed place ``source_visit_id`` was accepted and booked as ``visit_id``."""

    offer_id: int
    source_visit_id: int
    visit_id: int
    actor_id: int | None = None


@dataclass(frozen=True)
class MessageAnswered(Event):
    """A patient's answer (an SMS, a key pressed in a call, a choice on an e-mail's page) was acted on."""

    message_id: int
    channel: str
    outcome: str
    patient_id: int | None = None
    visit_id: int | None = None


Handler = Callable[[Any, Session], None]


def record(session: Session, event: Event) -> None:
    """Keep ``event`` with the session's transaction; it is handled only if that transaction commits."""
    session.info.setdefault(PENDING, []).append(event)


@dataclass
class MessageBus:
    """The handlers of each event type, run after the transaction that recorded the event commits."""

    handlers: dict[type, list[Handler]] = field(default_factory=dict)

    def subscribe(self, event_type: type, handler: Handler) -> None:
        self.handlers.setdefault(event_type, []).append(handler)

    def handle(self, events: Iterable[Event], session_factory: Callable[[], Session]) -> None:
        """Run every handler of every event, each in its own session; failures are logged, never raised."""
        for event in events:
            for handler in self.handlers.get(type(event), ()):
                try:
                    with session_factory() as session:
                        handler(event, session)
                        session.commit()
                except Exception:  # noqa: BLE001 - the change that caused the event stands
                    log.exception("%s after %s failed", getattr(handler, "__name__", handler), event)

    def attach(self, factory: sessionmaker) -> None:
        """Hand the events of ``factory``'s sessions to this bus when their transactions commit."""

        def committed(session: Session) -> None:
            if session.in_nested_transaction():
                return
            session.info.setdefault(COMMITTED, []).extend(session.info.pop(PENDING, ()))

        def ended(session: Session, transaction: SessionTransaction) -> None:
            if transaction.parent is not None:
                return
            session.info.pop(PENDING, None)
            events = session.info.pop(COMMITTED, None)
            if events:
                self.handle(events, factory)

        sa_event.listen(factory, "after_commit", committed)
        sa_event.listen(factory, "after_transaction_end", ended)
