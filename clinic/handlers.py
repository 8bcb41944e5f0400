"""What follows a change of a visit, whichever path made it (a screen, an SMS, a call, an e-mail's page, a job).

After a visit is booked, moved or cancelled its outreach is re-planned (a cancelled visit's pending
reminders are withdrawn) and volunteers are matched again for its day. An answer to the transport offer
(by SMS, a key pressed in a call, an e-mail's page, or the desk noting or arranging it) withdraws the
offers still queued for that visit; a completed visit (last step done, or checked out) withdraws every
message still queued for it. A visit re-arranged by another booking (``VisitRearranged``: internal step
times only, the announced arrival stands) is deliberately not handled for the patient: its patient is told
nothing, and the booking's own ``VisitBooked`` re-matches the day's volunteers; only the SIU feed reports it.
A move or a cancellation of a visit in the patient's calendar queues its updated calendar file
(``clinic.messaging.calendar``); with ``SIU_MLLP_ADDRESS`` set every change is queued for the SIU feed
(``clinic.messaging.siu``). Each runs after the change is
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
    VisitRearranged,
)
from clinic.messaging import calendar, outreach, siu
from clinic.service import volunteers
from clinic.unit.context import Unit

VisitChange = VisitBooked | VisitMoved | VisitCancelled


def register(
    bus: MessageBus,
    *,
    unit: Unit,
    clock: Callable[[], dt.datetime] = utcnow,
    siu_feed: siu.SiuFeed | None = None,
) -> MessageBus:
    """Subscribe the clinic's handlers; they plan with the ``unit``'s time zone and region thresholds. With a
    ``siu_feed`` every booked, moved, re-arranged and cancelled visit is queued for it too."""

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

    def update_calendar(event: VisitMoved | VisitCancelled, session: Session) -> None:
        if isinstance(event, VisitCancelled) and event.no_show:
            return  # the visit's time has passed: nothing to take out of a calendar
        calendar.queue_calendar_change(
            session=session, visit_id=event.visit_id, now=clock(), cancelled=isinstance(event, VisitCancelled)
        )

    def feed_siu(event: VisitChange | VisitRearranged, session: Session) -> None:
        if isinstance(event, VisitCancelled):
            trigger = "S26" if event.no_show else "S15"
        else:
            trigger = {VisitBooked: "S12", VisitMoved: "S13", VisitRearranged: "S14"}[type(event)]
        siu.queue_siu(session=session, visit_id=event.visit_id, event=trigger, unit=unit, feed=siu_feed, now=clock())

    for event_type in (VisitBooked, VisitMoved, VisitCancelled):
        bus.subscribe(event_type, replan_outreach)
        bus.subscribe(event_type, match_volunteers)
    bus.subscribe(VisitMoved, update_calendar)
    bus.subscribe(VisitCancelled, update_calendar)
    if siu_feed is not None:
        for event_type in (VisitBooked, VisitMoved, VisitRearranged, VisitCancelled):
            bus.subscribe(event_type, feed_siu)
    bus.subscribe(TransportAnswered, withdraw_answered_offers)
    bus.subscribe(VisitCompleted, withdraw_after_visit)
    return bus
