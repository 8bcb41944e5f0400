"""What follows a change of a visit, whichever path made it (a screen, an SMS, a call, an e-mail's page, a job).

After a visit is booked, moved or cancelled its outreach is re-planned (a cancelled visit's pending
reminders are withdrawn) and volunteers are matched again for its day. An answer to the transport offer
(by SMS, a key pressed in a call, an e-mail's page, or the desk noting or arranging it) withdraws the
offers still queued for that visit; a completed visit (last step done, or checked out) withdraws every
message still queued for it. A visit re-arranged by another booking (``VisitRearranged``: internal step
times only, the announced arrival stands) is deliberately not handled: its patient is told nothing, and
the booking's own ``VisitBooked`` re-matches the day's volunteers. Each runs after the change is
committed, in its own transaction; a failure is logged by the bus and never undoes the change. The
dispatcher's send-time check still never sends a reminder for a cancelled visit, and the coordinator's
"re-plan upcoming" repairs the rest.
"""

import datetime as dt
from collections.abc import Callable

from sqlmodel import Session

from clinic.columns import utcnow
from clinic.events import (
    MessageBus,
    TransportAnswered,
    VisitBooked,
    VisitCancelled,
    VisitCompleted,
    VisitMoved,
)
from clinic.messaging import outreach
from clinic.service import volunteers
from clinic.unit.context import Unit

VisitChange = VisitBooked | VisitMoved | VisitCancelled


def register(
    bus: MessageBus,
    *,
    unit: Unit,
    clock: Callable[[], dt.datetime] = utcnow,
) -> MessageBus:
    """Subscribe the clinic's handlers; they plan with the ``unit``'s time zone and region thresholds."""

    def replan_outreach(event: VisitChange, session: Session) -> None:
        outreach.plan_visit_outreach(
            session=session, visit_id=event.visit_id, now=clock(), unit=unit, actor_id=event.actor_id,
        )

    def match_volunteers(event: VisitChange, session: Session) -> None:
        volunteers.match_visit_day(
            session=session, visit_id=event.visit_id, unit=unit, now=clock(),
        )

    def withdraw_answered_offers(event: TransportAnswered, session: Session) -> None:
        outreach.withdraw_answered(
            session=session, visit_id=event.visit_id, actions=outreach.OFFER_ACTIONS,
            why="the patient's answer to the transport offer is known", actor_id=event.actor_id,
        )

    def withdraw_after_visit(event: VisitCompleted, session: Session) -> None:
        outreach.withdraw_visit_outreach(
            session=session, visit_id=event.visit_id, now=clock(), actor_id=event.actor_id, why="visit completed"
        )

    for event_type in (VisitBooked, VisitMoved, VisitCancelled):
        bus.subscribe(event_type, replan_outreach)
        bus.subscribe(event_type, match_volunteers)
    bus.subscribe(TransportAnswered, withdraw_answered_offers)
    bus.subscribe(VisitCompleted, withdraw_after_visit)
    return bus
