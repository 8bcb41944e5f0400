"""The outreach dispatcher: APScheduler 3 with its job store in the app database, in its own process.

Run it with ``flask --app clinic outreach run`` (``make run`` starts it beside the web server) or
``python -m clinic.worker.dispatcher``. Never inside a web worker: one process, one scheduler.

Exactly once:

* only the holder of the ``dispatcher`` lease (a row in ``dispatcher_lease``, renewed every tick)
  sends; a second dispatcher started by mistake finds the lease taken and idles;
* due outbox rows are claimed (``queued`` -> ``sending`` with this process's owner id, committed, a
  few at a time) before the channel is called, so even two lease holders could never send one row
  twice; each outcome is committed right after its send;
* after a crash (SIGKILL mid-batch) the next lease holder recovers the rows left in ``sending``
  (``clinic.messaging.outreach.recover_stale``): it asks the channel whether each went out
  (``lookup``: the Twilio channels read Twilio's message and call lists and match the number, the
  time since the claim, the text, and sids no other row holds) and marks it sent with Twilio's sid
  or queues it again; when nobody can tell (no ``lookup``, or the provider does not answer) it puts
  the patient on the call list instead of risking a second message. Rows are claimed several at a
  time only while their channels can ``lookup``; otherwise one at a time, so at most one row's
  outcome can be lost. ``tests/outreach/test_dispatcher.py`` kills this process mid-request against
  the fake Twilio server, restarts it, and counts every message exactly once at the server.

Jobs are module-level functions taking only ids, added with explicit ids and ``replace_existing``,
so the persistent job store holds one copy of each however often the dispatcher restarts.
"""

import argparse
import datetime as dt
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlmodel import Session

from clinic.bootstrap import Container, assemble, bootstrap, process_container
from clinic.columns import utcnow
from clinic.messaging.lease import acquire_lease, release_lease
from clinic.messaging.links import Links
from clinic.messaging.outreach import plan_visit_outreach
from clinic.messaging.recovery import recover_stale, settle_unknown
from clinic.messaging.sending import dispatch_due
from clinic.refill.offers_sms import advance_offers
from clinic.settings import ConfigError, flatten, load_settings

log = logging.getLogger("clinic.worker.dispatcher")

#: Modules whose ``register(scheduler, container)`` adds their jobs (each with an explicit id and
#: ``replace_existing=True``) to the dispatcher's scheduler.
JOB_MODULES: tuple[str, ...] = (
    "clinic.worker.volunteer_jobs",
    "clinic.worker.survey_jobs",
    "clinic.worker.optimise_jobs",
    "clinic.worker.hold_jobs",
)
#: Every lease a job of this process may hold, released on shutdown.
LEASE_NAMES: list[str] = ["dispatcher", "offers"]
DISPATCH_JOB_ID = "outreach-dispatch"
OFFERS_JOB_ID = "waitlist-offers"
OFFERS_INTERVAL_SECONDS = 60.0
JOBS_TABLE = "apscheduler_jobs"


@dataclass
class _State:
    container: Container | None = None
    owner: str = ""
    ticks: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATE = _State()


def new_owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def configure(container: Container, *, owner: str | None = None) -> None:
    """Set this process up for the jobs below: the container they use, and who we are."""
    _STATE.container = container
    _STATE.owner = owner or new_owner()


def job_context() -> Container:
    """The container of this dispatcher process; built from the environment if nobody configured one."""
    if _STATE.container is None:

        configure(process_container())
    assert _STATE.container is not None
    return _STATE.container


def dispatch_job(lease_name: str = "dispatcher") -> dict[str, int] | None:
    """The scheduled job: hold the lease, recover what a dead dispatcher left, ask again about rows whose
    outcome is unknown (``settle_unknown``), send what is due."""
    container = job_context()
    settings = container.settings
    if not _STATE.lock.acquire(blocking=False):
        return None  # the previous tick is still running
    try:
        _STATE.ticks += 1
        ttl = dt.timedelta(seconds=settings.outreach.lease_seconds)
        with container.session_factory() as session:
            if not acquire_lease(session=session, owner=_STATE.owner, now=utcnow(), ttl=ttl, name=lease_name):
                return {"lease": 0}
            recovered = recover_stale(
                session=session,
                channels=container.channels,
                owner=_STATE.owner,
                now=utcnow(),
                stale_after=dt.timedelta(seconds=settings.outreach.stale_seconds),
                unit=container.unit,
            )
            settled = settle_unknown(session=session, channels=container.channels, now=utcnow())
            report = dispatch_due(
                session=session,
                channels=container.channels,
                owner=_STATE.owner,
                unit=container.unit,
                limit=settings.outreach.batch,
                claim_batch=settings.outreach.claim_batch,
                clock=utcnow,
                lease_ttl=ttl,
                links=Links(public_base_url=settings.public_base_url, secret_key=settings.secret_key),
            )
        if report.handled or recovered or settled:
            log.info(
                "dispatched: %d sent, %d retried, %d fell back, %d failed, %d unknown, %d skipped, %d postponed, "
                "%d recovered, %d unknown settled",
                report.sent, report.retried, report.fell_back, report.failed, report.unknown, report.skipped,
                report.postponed, recovered, settled,
            )
        return {"lease": 1, "sent": report.sent, "recovered": recovered}
    finally:
        _STATE.lock.release()


def offers_job(lease_name: str = "offers") -> dict[str, int] | None:
    """The scheduled job for freed places: expire answered-too-late offers, send the next SMS wave.

    It holds its own lease, so a second dispatcher started by mistake never sends a wave twice."""

    container = job_context()
    with container.session_factory() as session:
        if not hold_lease(session, lease_name):
            return {"lease": 0}
        waves = advance_offers(session=session, now=utcnow(), channels=container.channels, unit=container.unit)
    if waves:
        log.info("waitlist offers: %d waves sent", len(waves))
    return {"lease": 1, "waves": len(waves)}


def hold_lease(session: Session, name: str) -> bool:
    """Take or renew lease ``name`` for this process, so a second dispatcher never runs the same job."""
    ttl = dt.timedelta(seconds=job_context().settings.outreach.lease_seconds)
    return acquire_lease(session=session, owner=_STATE.owner, now=utcnow(), ttl=ttl, name=name)


def plan_visit_job(visit_id: int) -> None:
    """(Re)plan one visit's outreach in the dispatcher process (for callers that prefer a job)."""
    container = job_context()
    with container.session_factory() as session:
        plan_visit_outreach(session=session, visit_id=visit_id, unit=container.unit)


def build_scheduler(container: Container, *, blocking: bool = True):
    """A scheduler with the persistent SQLAlchemy job store in the app database and the dispatch job."""
    if _STATE.container is None:
        configure(container)
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(engine=container.engine, tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone=dt.UTC,
    )
    scheduler.add_job(
        "clinic.worker.dispatcher:dispatch_job",
        "interval",
        seconds=container.settings.outreach.interval_seconds,
        id=DISPATCH_JOB_ID,
        name="send due outreach messages",
        replace_existing=True,
        kwargs={"lease_name": "dispatcher"},
        next_run_time=dt.datetime.now(dt.UTC),
    )
    scheduler.add_job(
        "clinic.worker.dispatcher:offers_job",
        "interval",
        seconds=OFFERS_INTERVAL_SECONDS,
        id=OFFERS_JOB_ID,
        name="expire waitlist offers and send the next wave",
        replace_existing=True,
        kwargs={"lease_name": "offers"},
        next_run_time=dt.datetime.now(dt.UTC),
    )
    for module in JOB_MODULES:
        importlib.import_module(module).register(scheduler, container)
    return scheduler


def release() -> None:

    if _STATE.container is None or not _STATE.owner:
        return
    try:
        with _STATE.container.session_factory() as session:
            for name in LEASE_NAMES:
                release_lease(session=session, owner=_STATE.owner, name=name)
    except Exception:  # noqa: BLE001 - shutting down; the lease expires on its own
        log.exception("could not release the dispatcher lease")


def run(container: Container, *, echo: Callable[[str], None] = print) -> None:
    """Run until SIGTERM / SIGINT; releases the lease on a clean stop."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    configure(container)
    scheduler = build_scheduler(container, blocking=True)

    def stop(signum: int, _frame: Any) -> None:
        echo(f"Outreach dispatcher stopping (signal {signum}).")
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    names = ", ".join(
        f"{key}={getattr(channel, 'name', type(channel).__name__)}" for key, channel in container.channels.items()
    )
    interval = container.settings.outreach.interval_seconds
    echo(f"Outreach dispatcher {_STATE.owner} running every {interval:g}s (channels: {names}).")
    try:
        scheduler.start()
    finally:
        release()


def load_channels(spec: str, settings: Any) -> dict[str, Any]:
    """The channels of ``module:function``, called with the settings (tests' fake channels)."""
    module_name, _, attr = spec.partition(":")
    return dict(getattr(importlib.import_module(module_name), attr)(settings))


def for_dispatcher(
    container: Container, *, channels_spec: str | None = None, overrides: Mapping[str, Any] | None = None
) -> Container:
    """``container`` with the command line's settings (flat names) and channels, on the same engine."""
    changes = {key: value for key, value in (overrides or {}).items() if value is not None}
    if not changes and not channels_spec:
        return container
    settings = load_settings({**flatten(container.settings), **changes})
    channels = load_channels(channels_spec, settings) if channels_spec else None
    return assemble(settings, engine=container.engine, channels=channels)


def main(argv: list[str] | None = None) -> int:
    """``python -m clinic.worker.dispatcher``: the same as ``flask --app clinic outreach run`` without Flask."""
    parser = argparse.ArgumentParser(prog="python -m clinic.worker.dispatcher", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: the configured database (DATABASE_URL)")
    parser.add_argument("--tz", help="default: the clinic's time zone (ONEVISIT_CLINIC_TIMEZONE)")
    parser.add_argument("--interval", type=float)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--claim-batch", type=int, dest="claim_batch")
    parser.add_argument("--lease-seconds", type=float, dest="lease_ttl")
    parser.add_argument("--stale-seconds", type=float, dest="stale_after")
    parser.add_argument("--channels", help="module:function returning {'sms': channel, ...}")
    args = parser.parse_args(argv)
    overrides = {
        "DATABASE_URL": args.database_url,
        "CLINIC_TIMEZONE": args.tz,
        "OUTREACH_INTERVAL_SECONDS": args.interval,
        "OUTREACH_BATCH": args.batch,
        "OUTREACH_CLAIM_BATCH": args.claim_batch,
        "OUTREACH_LEASE_SECONDS": args.lease_ttl,
        "OUTREACH_STALE_SECONDS": args.stale_after,
    }
    try:
        container = bootstrap({key: value for key, value in overrides.items() if value is not None})
        container = for_dispatcher(container, channels_spec=args.channels)
    except ConfigError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc.message}\n")
    run(container)
    return 0


if __name__ == "__main__":
    # run the imported module, not this __main__ copy: the job store refers to clinic.worker.dispatcher's jobs
    from clinic.worker.dispatcher import main as _main

    sys.exit(_main())
