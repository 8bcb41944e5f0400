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
  (``clinic.messaging.recovery.recover_stale``): it asks the channel whether each went out
  (``lookup``: the Twilio channels read Twilio's message and call lists and match the number, the
  time since the claim, the text, and sids no other row holds) and marks it sent with Twilio's sid
  or queues it again; when nobody can tell (no ``lookup``, or the provider does not answer) it puts
  the patient on the call list instead of risking a second message. Rows are claimed several at a
  time only while their channels can ``lookup``; otherwise one at a time, so at most one row's
  outcome can be lost. ``tests/outreach/test_dispatcher.py`` kills this process mid-request against
  the fake Twilio server, restarts it, and counts every message exactly once at the server.

Jobs are module-level functions taking only ids, added with explicit ids and ``replace_existing``,
so the persistent job store holds one copy of each however often the dispatcher restarts.
The jobs here and in ``JOB_MODULES`` read the time as ``columns.utcnow()`` when they run: one clock for
the process, which the tests move.
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
from sqlalchemy.engine import Engine
from sqlmodel import Session

from clinic import columns
from clinic.db import make_engine
from clinic.messaging.lease import acquire_lease, release_lease
from clinic.messaging.links import Links
from clinic.messaging.outreach import plan_visit_outreach
from clinic.messaging.recovery import recover_stale
from clinic.messaging.sending import dispatch_due
from clinic.refill.offers_sms import advance_offers
from outreach.channels.registry import channels_from_config, setting

log = logging.getLogger("clinic.worker.dispatcher")

#: Modules whose ``register(scheduler, settings)`` adds their jobs (each with an explicit id and
#: ``replace_existing=True``) to the dispatcher's scheduler.
JOB_MODULES: tuple[str, ...] = ("clinic.worker.volunteer_jobs", "clinic.worker.survey_jobs")
#: Every lease a job of this process may hold, released on shutdown.
LEASE_NAMES: list[str] = ["dispatcher", "offers"]
DISPATCH_JOB_ID = "outreach-dispatch"
OFFERS_JOB_ID = "waitlist-offers"
OFFERS_INTERVAL_SECONDS = 60.0
JOBS_TABLE = "apscheduler_jobs"


@dataclass
class DispatcherSettings:
    database_url: str
    tz: str = "Europe/Amsterdam"
    interval: float = 5.0
    batch: int = 100
    claim_batch: int = 10
    lease_ttl: float = 60.0
    stale_after: float = 120.0
    channels: Mapping[str, Any] = field(default_factory=dict)
    #: Where patients reach the app and the key that signs their links (e-mails' answer pages).
    public_base_url: str = ""
    secret_key: str = ""


@dataclass
class _State:
    settings: DispatcherSettings | None = None
    engine: Engine | None = None
    owner: str = ""
    ticks: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATE = _State()


def new_owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def configure(settings: DispatcherSettings, *, owner: str | None = None) -> None:
    """Set this process up for the jobs below (the engine, the channels, who we are)."""
    _STATE.settings = settings
    _STATE.engine = make_engine(settings.database_url)
    _STATE.owner = owner or new_owner()


def dispatch_job(lease_name: str = "dispatcher") -> dict[str, int] | None:
    """The scheduled job: hold the lease, recover what a dead dispatcher left, send what is due."""
    settings, engine = _STATE.settings, _STATE.engine
    if settings is None or engine is None:
        raise RuntimeError("clinic.worker.dispatcher.configure() was not called in this process")
    if not _STATE.lock.acquire(blocking=False):
        return None  # the previous tick is still running
    try:
        _STATE.ticks += 1
        ttl = dt.timedelta(seconds=settings.lease_ttl)
        with Session(engine, expire_on_commit=False) as session:
            if not acquire_lease(session=session, owner=_STATE.owner, now=columns.utcnow(), ttl=ttl, name=lease_name):
                return {"lease": 0}
            recovered = recover_stale(
                session=session,
                channels=settings.channels,
                owner=_STATE.owner,
                now=columns.utcnow(),
                stale_after=dt.timedelta(seconds=settings.stale_after),
                tz=settings.tz,
            )
            report = dispatch_due(
                session=session,
                channels=settings.channels,
                owner=_STATE.owner,
                tz=settings.tz,
                limit=settings.batch,
                claim_batch=settings.claim_batch,
                clock=columns.utcnow,
                lease_ttl=ttl,
                links=Links(public_base_url=settings.public_base_url, secret_key=settings.secret_key),
            )
        if report.handled or recovered:
            log.info(
                "dispatched: %d sent, %d retried, %d fell back, %d failed, %d skipped, %d postponed, %d recovered",
                report.sent, report.retried, report.fell_back, report.failed, report.skipped,
                report.postponed, recovered,
            )
        return {"lease": 1, "sent": report.sent, "recovered": recovered}
    finally:
        _STATE.lock.release()


def offers_job(lease_name: str = "offers") -> dict[str, int] | None:
    """The scheduled job for freed places: expire answered-too-late offers, send the next SMS wave.

    It holds its own lease, so a second dispatcher started by mistake never sends a wave twice."""
    settings, engine = _STATE.settings, _STATE.engine
    if settings is None or engine is None:
        raise RuntimeError("clinic.worker.dispatcher.configure() was not called in this process")
    ttl = dt.timedelta(seconds=settings.lease_ttl)
    with Session(engine, expire_on_commit=False) as session:
        if not _acquire(session, lease_name, ttl):
            return {"lease": 0}
        waves = advance_offers(session=session, now=columns.utcnow(), channels=settings.channels, tz=settings.tz)
    if waves:
        log.info("waitlist offers: %d waves sent", len(waves))
    return {"lease": 1, "waves": len(waves)}


def job_context() -> tuple[DispatcherSettings, Any]:
    """The settings and database engine of this dispatcher process, for jobs defined in other modules."""
    settings, engine = _STATE.settings, _STATE.engine
    if settings is None or engine is None:
        raise RuntimeError("clinic.worker.dispatcher.configure() was not called in this process")
    return settings, engine


def hold_lease(session: Session, name: str) -> bool:
    """Take or renew lease ``name`` for this process, so a second dispatcher never runs the same job."""
    settings, _engine = job_context()
    return _acquire(session, name, dt.timedelta(seconds=settings.lease_ttl))


def _acquire(session: Session, name: str, ttl: dt.timedelta) -> bool:
    return acquire_lease(session=session, owner=_STATE.owner, now=columns.utcnow(), ttl=ttl, name=name)


def plan_visit_job(visit_id: int) -> None:
    """(Re)plan one visit's outreach in the dispatcher process (for callers that prefer a job)."""
    settings, engine = _STATE.settings, _STATE.engine
    if settings is None or engine is None:
        raise RuntimeError("clinic.worker.dispatcher.configure() was not called in this process")
    with Session(engine, expire_on_commit=False) as session:
        plan_visit_outreach(session=session, visit_id=visit_id, tz=settings.tz)


def build_scheduler(settings: DispatcherSettings, *, blocking: bool = True):
    """A scheduler with the persistent SQLAlchemy job store in the app database and the dispatch job."""
    if _STATE.engine is None:
        configure(settings)
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(engine=_STATE.engine, tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone=dt.UTC,
    )
    scheduler.add_job(
        "clinic.worker.dispatcher:dispatch_job",
        "interval",
        seconds=settings.interval,
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
        importlib.import_module(module).register(scheduler, settings)
    return scheduler


def release() -> None:
    if _STATE.engine is None or not _STATE.owner:
        return
    try:
        with Session(_STATE.engine) as session:
            for name in LEASE_NAMES:
                release_lease(session=session, owner=_STATE.owner, name=name)
    except Exception:  # noqa: BLE001 - shutting down; the lease expires on its own
        log.exception("could not release the dispatcher lease")


def run(settings: DispatcherSettings, *, echo: Callable[[str], None] = print) -> None:
    """Run until SIGTERM / SIGINT; releases the lease on a clean stop."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    configure(settings)
    scheduler = build_scheduler(settings, blocking=True)

    def stop(signum: int, _frame: Any) -> None:
        echo(f"Outreach dispatcher stopping (signal {signum}).")
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    names = ", ".join(f"{key}={getattr(channel, 'name', type(channel).__name__)}" for key, channel in settings.channels.items())
    echo(f"Outreach dispatcher {_STATE.owner} running every {settings.interval:g}s (channels: {names}).")
    try:
        scheduler.start()
    finally:
        release()


def load_channels(spec: str | None, config: Mapping[str, Any]) -> dict[str, Any]:
    """The channels: ``module:function`` called with the config, else messaging's registry."""
    if spec:
        module_name, _, attr = spec.partition(":")
        factory = getattr(importlib.import_module(module_name), attr or "channels_from_config")
        return dict(factory(config))

    return dict(channels_from_config(config))


def settings_from_config(config: Mapping[str, Any], *, channels_spec: str | None = None, **overrides: Any):
    values = {
        "database_url": config["DATABASE_URL"],
        "tz": config.get("CLINIC_TIMEZONE", "Europe/Amsterdam"),
        "interval": float(config.get("OUTREACH_INTERVAL_SECONDS", 5)),
        "batch": int(config.get("OUTREACH_BATCH", 100)),
        "claim_batch": int(config.get("OUTREACH_CLAIM_BATCH", 10)),
        "lease_ttl": float(config.get("OUTREACH_LEASE_SECONDS", 60)),
        "stale_after": float(config.get("OUTREACH_STALE_SECONDS", 120)),
        "public_base_url": str(setting(config, "PUBLIC_BASE_URL")),
        "secret_key": str(setting(config, "SECRET_KEY")),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return DispatcherSettings(channels=load_channels(channels_spec, config), **values)


def main(argv: list[str] | None = None) -> int:
    """``python -m clinic.worker.dispatcher``: the same as ``flask --app clinic outreach run`` without Flask."""
    parser = argparse.ArgumentParser(prog="python -m clinic.worker.dispatcher", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--tz", default=os.environ.get("ONEVISIT_CLINIC_TIMEZONE", "Europe/Amsterdam"))
    parser.add_argument("--interval", type=float)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--claim-batch", type=int, dest="claim_batch")
    parser.add_argument("--lease-seconds", type=float, dest="lease_ttl")
    parser.add_argument("--stale-seconds", type=float, dest="stale_after")
    parser.add_argument("--channels", help="module:function returning {'sms': channel, ...}")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required")
    config = {**os.environ, "DATABASE_URL": args.database_url, "CLINIC_TIMEZONE": args.tz}
    settings = settings_from_config(
        config,
        channels_spec=args.channels,
        interval=args.interval,
        batch=args.batch,
        claim_batch=args.claim_batch,
        lease_ttl=args.lease_ttl,
        stale_after=args.stale_after,
    )
    run(settings)
    return 0


if __name__ == "__main__":
    # run the imported module, not this __main__ copy: the job store refers to clinic.worker.dispatcher's jobs
    from clinic.worker.dispatcher import main as _main

    sys.exit(_main())
