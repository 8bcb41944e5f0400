"""The dispatcher's jobs for the two questions and follow-ups (``clinic.feedback.surveys`` / ``followups``).

* ``surveys_job`` (every minute): makes the surveys of visits completed today or yesterday, gives up on
  surveys asked twice without an answer (a follow-up ``no_answer`` opens), and asks every due survey by
  the patient's channel (quiet hours respected);
* ``escalate_job`` (every five minutes): marks overdue open follow-ups escalated (the coordinator sees them).

Each holds a lease of its own, so a second dispatcher started by mistake never asks anybody twice. The
links patients get (survey calls' TwiML, e-mailed answer pages) are built from the dispatcher's settings
(``PUBLIC_BASE_URL``, ``SECRET_KEY``).
"""

import datetime as dt
import logging
from typing import Any

from clinic.columns import utcnow
from clinic.feedback import followups, surveys
from clinic.messaging.links import Links
from clinic.worker import dispatcher

log = logging.getLogger(__name__)
SURVEYS_JOB_ID = "surveys"
ESCALATE_JOB_ID = "follow-up-escalation"
SURVEYS_LEASE = "surveys"
ESCALATE_LEASE = "follow-up-escalation"
SURVEYS_INTERVAL_SECONDS = 60.0
ESCALATE_INTERVAL_SECONDS = 300.0

def register(scheduler: Any, container: Any) -> None:
    """Add this module's jobs to the dispatcher's scheduler."""
    for lease in (SURVEYS_LEASE, ESCALATE_LEASE):
        if lease not in dispatcher.LEASE_NAMES:
            dispatcher.LEASE_NAMES.append(lease)
    now = dt.datetime.now(dt.UTC)
    scheduler.add_job(
        "clinic.worker.survey_jobs:surveys_job", "interval", seconds=SURVEYS_INTERVAL_SECONDS, id=SURVEYS_JOB_ID,
        name="ask the two questions", replace_existing=True, next_run_time=now,
    )
    scheduler.add_job(
        "clinic.worker.survey_jobs:escalate_job", "interval", seconds=ESCALATE_INTERVAL_SECONDS, id=ESCALATE_JOB_ID,
        name="escalate overdue follow-ups", replace_existing=True, next_run_time=now,
    )


def surveys_job() -> dict[str, int] | None:

    container = dispatcher.job_context()
    unit, settings = container.unit, container.settings
    links = Links(public_base_url=settings.public_base_url, secret_key=settings.secret_key)
    with container.session_factory() as session:
        if not dispatcher.hold_lease(session, SURVEYS_LEASE):
            return {"lease": 0}
        now = utcnow()
        made = surveys.create_visit_surveys(session=session, now=now, unit=unit)
        report = surveys.send_due(
            session=session, channels=container.channels, now=now, unit=unit, links=links,
        )
    if made or report.sent or report.gave_up or report.failed:
        log.info("surveys: %d made, %d sent, %d failed, %d postponed, %d gave up", len(made), report.sent,
                 report.failed, report.postponed, report.gave_up)
    return {"lease": 1, "made": len(made), "sent": report.sent, "gave_up": report.gave_up}


def escalate_job() -> dict[str, int] | None:

    with dispatcher.job_context().session_factory() as session:
        if not dispatcher.hold_lease(session, ESCALATE_LEASE):
            return {"lease": 0}
        escalated = followups.escalate_overdue(session=session, now=utcnow())
    if escalated:
        log.info("follow-ups escalated: %s", escalated)
    return {"lease": 1, "escalated": len(escalated)}
