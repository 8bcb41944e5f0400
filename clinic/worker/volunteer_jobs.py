"""The volunteers' scheduled jobs, run by the outreach dispatcher's scheduler (its own process).

* ``match_tomorrow_job`` — every afternoon (15:00 clinic time): match the next clinic day's patients to
  volunteers, then queue each volunteer's SMS with their list (due 18:00 the evening before).
* ``send_notices_job`` — every few minutes: send the notices that are due, outside the quiet hours
  (09:00–20:00), each at most once.

Both hold the ``volunteers`` lease, so a second dispatcher started by mistake does nothing.
"""

import datetime as dt
import logging
from typing import Any

from clinic.columns import utcnow
from clinic.service import volunteer_notices, volunteers
from clinic.worker import dispatcher
from clinic.worker.dispatcher import hold_lease, job_context

log = logging.getLogger("outreach.volunteers")

LEASE_NAME = "volunteers"
MATCH_JOB_ID = "volunteers-match-tomorrow"
NOTICES_JOB_ID = "volunteers-send-notices"
MATCH_AT = dt.time(15, 0)
NOTICES_INTERVAL_SECONDS = 300.0


def match_tomorrow_job() -> dict[str, Any] | None:
    """Match the next clinic day and queue the volunteers' notices for it."""
    container = job_context()
    unit = container.unit
    with container.session_factory() as session:
        if not hold_lease(session, LEASE_NAME):
            return {"lease": 0}
        now = utcnow()
        today = now.astimezone(unit.zone).date()
        day = volunteers.next_clinic_day(session=session, after=today)
        report = volunteers.match_day(session=session, day=day, unit=unit, now=now)
        notices = volunteer_notices.queue_notices(session=session, day=day, now=now, tz=unit.tz)
    log.info(
        "volunteers for %s: %d matched, %d without a volunteer, %d notices queued",
        day, report.assigned + report.kept, report.unassigned, notices.queued,
    )
    return {"lease": 1, "day": day.isoformat(), "assigned": report.assigned + report.kept,
            "unassigned": report.unassigned, "queued": notices.queued, "updated": notices.updated}


def send_notices_job() -> dict[str, int] | None:
    """Send the volunteers' notices that are due."""
    container = job_context()
    with container.session_factory() as session:
        if not hold_lease(session, LEASE_NAME):
            return {"lease": 0}
        report = volunteer_notices.send_due_notices(
            session=session, channels=container.channels, now=utcnow(), unit=container.unit
        )
    if report.sent or report.failed:
        log.info("volunteer notices: %d sent, %d failed", report.sent, report.failed)
    return {"lease": 1, "sent": report.sent, "failed": report.failed, "postponed": report.postponed}


def register(scheduler: Any, container: Any) -> None:
    """Add this module's jobs to the dispatcher's scheduler."""
    if LEASE_NAME not in dispatcher.LEASE_NAMES:
        dispatcher.LEASE_NAMES.append(LEASE_NAME)
    scheduler.add_job(
        match_tomorrow_job,
        "cron",
        id=MATCH_JOB_ID,
        replace_existing=True,
        hour=MATCH_AT.hour,
        minute=MATCH_AT.minute,
        timezone=container.unit.zone,
        misfire_grace_time=3 * 3600,
        coalesce=True,
    )
    scheduler.add_job(
        send_notices_job,
        "interval",
        id=NOTICES_JOB_ID,
        replace_existing=True,
        seconds=NOTICES_INTERVAL_SECONDS,
        coalesce=True,
    )
