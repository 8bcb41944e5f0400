"""After a screen or webhook books, moves or cancels a visit: re-plan that visit's outreach.

The visit's own change is committed first; outreach planning is its own transaction. If it fails the
change stands, the failure is logged, and the dispatcher's send-time check still never sends a
reminder for a cancelled visit; the coordinator's "re-plan upcoming" repairs the rest.
"""

import logging

from flask import current_app
from flask_login import current_user

from clinic import columns
from clinic.db import get_session
from clinic.errors import DomainError
from clinic.messaging.outreach import plan_visit_outreach

log = logging.getLogger(__name__)


def replan_visit_outreach(visit_id: int) -> None:
    config = current_app.config
    session = get_session()
    actor = getattr(current_user, "id", None) if current_user and current_user.is_authenticated else None
    try:
        plan_visit_outreach(
            session=session,
            visit_id=visit_id,
            now=columns.utcnow(),
            tz=config["CLINIC_TIMEZONE"],
            local_km=config["REGION_LOCAL_KM"],
            regional_km=config["REGION_REGIONAL_KM"],
            actor_id=actor,
        )
    except DomainError:
        session.rollback()
        log.exception("planning outreach for visit %s failed", visit_id)
    match_volunteers(visit_id)


def match_volunteers(visit_id: int) -> None:
    """Volunteer matching follows every change of a visit; a failure is logged and never undoes the change."""
    from clinic.service.volunteers import match_visit_day

    config = current_app.config
    session = get_session()
    try:
        match_visit_day(
            session=session, visit_id=visit_id, tz=config["CLINIC_TIMEZONE"], now=columns.utcnow(),
            local_km=config["REGION_LOCAL_KM"], regional_km=config["REGION_REGIONAL_KM"],
        )
    except Exception:  # noqa: BLE001 - the booking stands whatever the matching does
        session.rollback()
        log.exception("volunteer matching after a change of visit %s failed", visit_id)
