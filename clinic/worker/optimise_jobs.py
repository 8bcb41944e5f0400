"""The nightly optimisation of the coming days, run by the outreach dispatcher's scheduler (its own process).

``optimise_days_job`` — every night at ``ONEVISIT_OPTIMISE_HOUR`` (clinic time): re-arrange the not-started
visits of the next ``ONEVISIT_OPTIMISE_DAYS_AHEAD`` days inside their announced arrivals
(``clinic.visits.optimise.optimise_coming_days``). It holds its own ``optimise`` lease (not the
dispatcher's), renewed before each day, so a second dispatcher started by mistake does nothing; running it
twice is harmless (an optimised day previews without moves and nothing is written).
"""

import logging
from typing import Any

from clinic.columns import utcnow
from clinic.visits import optimise
from clinic.worker import dispatcher
from clinic.worker.dispatcher import hold_lease, job_context

log = logging.getLogger("clinic.worker.optimise")

LEASE_NAME = "optimise"
JOB_ID = "optimise-coming-days"


def optimise_days_job() -> dict[str, Any]:
    """Optimise the coming days under the ``optimise`` lease; a summary per day (also logged)."""
    container = job_context()
    settings = container.settings
    with container.session_factory() as session:
        if not hold_lease(session, LEASE_NAME):
            log.info("optimise: another process holds the lease; nothing done")
            return {"lease": 0}

        def keep_going() -> bool:
            with container.session_factory() as lease_session:
                return hold_lease(lease_session, LEASE_NAME)

        results = optimise.optimise_coming_days(
            session=session,
            unit=container.unit,
            days=settings.optimise_days_ahead,
            now=utcnow(),
            time_limit=settings.optimise_seconds,
            keep_going=keep_going,
        )
    for result in results:
        if result.skipped:
            log.warning("optimise %s: skipped (%s)", result.day, result.skipped)
        else:
            log.info(
                "optimise %s: %d steps moved, waiting %d -> %d min",
                result.day, result.applied, result.wait_before, result.wait_after,
            )
    return {
        "lease": 1,
        "days": [
            {"day": r.day.isoformat(), "moved": r.applied, "wait_before": r.wait_before,
             "wait_after": r.wait_after, "skipped": r.skipped}
            for r in results
        ],
    }


def register(scheduler: Any, container: Any) -> None:
    """Add the nightly job (explicit id, ``replace_existing``) to the dispatcher's scheduler."""
    if LEASE_NAME not in dispatcher.LEASE_NAMES:
        dispatcher.LEASE_NAMES.append(LEASE_NAME)
    scheduler.add_job(
        optimise_days_job,
        "cron",
        id=JOB_ID,
        name="optimise the coming days",
        replace_existing=True,
        hour=container.settings.optimise_hour,
        minute=0,
        timezone=container.unit.zone,
        misfire_grace_time=3 * 3600,
        coalesce=True,
    )


