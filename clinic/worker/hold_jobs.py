"""Expiring held itineraries, run by the outreach dispatcher's scheduler (its own process).

``release_expired_holds_job`` — every minute: mark the holds whose time ran out ``expired``
(``clinic.booking.holds.release_expired``). Readers already ignore an expired hold, so this only tidies the
rows; it needs no lease (marking twice changes nothing).
"""

import logging
from typing import Any

from clinic.booking import holds
from clinic.columns import utcnow
from clinic.worker.dispatcher import job_context

log = logging.getLogger("clinic.worker.holds")

JOB_ID = "booking-holds-expire"
INTERVAL_SECONDS = 60.0


def release_expired_holds_job() -> dict[str, int]:
    container = job_context()
    with container.session_factory() as session:
        expired = holds.release_expired(session=session, now=utcnow())
    if expired:
        log.info("holds: %d expired", expired)
    return {"expired": expired}


def register(scheduler: Any, container: Any) -> None:
    """Add the job (explicit id, ``replace_existing``) to the dispatcher's scheduler."""
    del container
    scheduler.add_job(
        release_expired_holds_job,
        "interval",
        seconds=INTERVAL_SECONDS,
        id=JOB_ID,
        name="expire held itineraries",
        replace_existing=True,
        coalesce=True,
    )
