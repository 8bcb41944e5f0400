"""The dispatcher's jobs for the two questions and follow-ups (``clinic.feedback.surveys`` / ``followups``).

* ``surveys_job`` (every minute): makes the surveys of visits completed today or yesterday, gives up on
  surveys asked twice without an answer (a follow-up ``no_answer`` opens), and asks every due survey by
  the patient's channel (quiet hours respected);
* ``escalate_job`` (every five minutes): marks overdue open follow-ups escalated (the coordinator sees them).

Each holds a lease of its own, so a second dispatcher started by mistake never asks anybody twice. The
links patients get (survey calls' TwiML, e-mailed answer pages) need ``PUBLIC_BASE_URL`` and ``SECRET_KEY``:
they are read from the app's configuration when the dispatcher is started by ``flask --app clinic outreach
run``, else from the environment.
"""

import datetime as dt
import logging
import os
from typing import Any

from sqlmodel import Session

from clinic import columns
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

_CONFIG: dict[str, Any] = {}


def _config_value(key: str, default: Any) -> Any:
    if key in _CONFIG and _CONFIG[key] not in (None, ""):
        return _CONFIG[key]
    raw = os.environ.get(f"ONEVISIT_{key}") or (os.environ.get(key) if key == "SECRET_KEY" else None)
    return default if raw in (None, "") else raw


def capture_config(config: Any | None = None) -> None:
    """Remember the settings the jobs need (from ``config``, else the current Flask app's, if any)."""
    if config is None:
        try:
            from flask import current_app

            config = dict(current_app.config)
        except RuntimeError:  # not inside an app context (``python -m clinic.worker.dispatcher``)
            config = {}
    for key in ("PUBLIC_BASE_URL", "SECRET_KEY", "FOLLOW_UP_DUE_WORKING_DAYS", "SURVEY_REASK_HOURS"):
        if key in config:
            _CONFIG[key] = config[key]


def register(scheduler: Any, settings: Any) -> None:
    """Add this module's jobs to the dispatcher's scheduler."""
    capture_config()
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
    settings, engine = dispatcher.job_context()
    links = Links(public_base_url=str(_config_value("PUBLIC_BASE_URL", "")),
                  secret_key=str(_config_value("SECRET_KEY", "")))
    with Session(engine, expire_on_commit=False) as session:
        if not dispatcher.hold_lease(session, SURVEYS_LEASE):
            return {"lease": 0}
        now = columns.utcnow()
        made = surveys.create_visit_surveys(session=session, now=now, tz=settings.tz)
        report = surveys.send_due(
            session=session, channels=settings.channels, now=now, tz=settings.tz, links=links,
            reask_after=dt.timedelta(hours=int(_config_value("SURVEY_REASK_HOURS", 24))),
            due_working_days=int(_config_value("FOLLOW_UP_DUE_WORKING_DAYS", 2)),
        )
    if made or report.sent or report.gave_up or report.failed:
        log.info("surveys: %d made, %d sent, %d failed, %d postponed, %d gave up", len(made), report.sent,
                 report.failed, report.postponed, report.gave_up)
    return {"lease": 1, "made": len(made), "sent": report.sent, "gave_up": report.gave_up}


def escalate_job() -> dict[str, int] | None:
    _settings, engine = dispatcher.job_context()
    with Session(engine, expire_on_commit=False) as session:
        if not dispatcher.hold_lease(session, ESCALATE_LEASE):
            return {"lease": 0}
        escalated = followups.escalate_overdue(session=session, now=columns.utcnow())
    if escalated:
        log.info("follow-ups escalated: %s", escalated)
    return {"lease": 1, "escalated": len(escalated)}
