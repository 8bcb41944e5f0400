"""The nightly optimisation job: registered with its id in the persistent job store, run under its own
lease, idempotent, and idle while another process holds that lease."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

import clinic.tables  # noqa: F401  (every table on SQLModel.metadata)
from clinic.messaging import lease
from clinic.visits.models import VisitStep
from clinic.worker import dispatcher, optimise_jobs
from tests.containers import reset_dispatcher, worker_container
from tests.factories import make_pathway, make_visit

TZ = "Europe/Amsterdam"
DAY = dt.date(2026, 12, 1)  # a Tuesday
NIGHT_BEFORE = dt.datetime(2026, 11, 30, 2, 0, tzinfo=ZoneInfo(TZ))


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), ZoneInfo(TZ))


def _waiting_visit(session: Session) -> VisitStep:
    """A check-up told 08:00 whose consult is booked 40 minutes after its registration; its consult step."""
    visit = make_visit(session, pathway=make_pathway(session), day=DAY, start=_at(8))
    _reg, cons, out = visit.steps
    for step, start in ((cons, _at(8, 50)), (out, _at(9, 10))):
        step.planned_end = start + (step.planned_end - step.planned_start)
        step.planned_start = start
        session.add(step)
    session.commit()
    return cons


@pytest.fixture
def configured(database_url):
    container = worker_container(database_url, tz=TZ, OPTIMISE_DAYS_AHEAD=2, OPTIMISE_SECONDS=1.0)
    dispatcher.configure(container, owner="first")
    yield container
    reset_dispatcher()


def test_the_job_optimises_the_coming_days_under_its_own_lease_once(clock, session, configured):
    cons = _waiting_visit(session)
    clock.move_to(NIGHT_BEFORE)
    result = optimise_jobs.optimise_days_job()
    assert result["lease"] == 1
    assert [d["day"] for d in result["days"]] == ["2026-12-01", "2026-12-02"]
    first = result["days"][0]
    assert (first["wait_before"], first["wait_after"], first["skipped"]) == (40, 0, "")
    assert first["moved"] == 2
    session.expire_all()
    assert session.get(VisitStep, cons.id).planned_start == _at(8, 10)
    assert lease.lease_holder(session=session, now=NIGHT_BEFORE, name=optimise_jobs.LEASE_NAME) == "first"
    assert lease.lease_holder(session=session, now=NIGHT_BEFORE, name="dispatcher") is None  # not the dispatcher's

    again = optimise_jobs.optimise_days_job()  # idempotent: nothing left to gain, nothing written
    assert [d["moved"] for d in again["days"]] == [0, 0]


def test_a_second_dispatcher_finds_the_optimise_lease_taken_and_does_nothing(clock, session, configured):
    cons = _waiting_visit(session)
    clock.move_to(NIGHT_BEFORE)
    with Session(session.get_bind()) as other:
        assert lease.acquire_lease(
            session=other, owner="second", now=NIGHT_BEFORE, ttl=dt.timedelta(seconds=60),
            name=optimise_jobs.LEASE_NAME,
        )
    assert optimise_jobs.optimise_days_job() == {"lease": 0}
    session.expire_all()
    assert session.get(VisitStep, cons.id).planned_start == _at(8, 50)


def test_the_job_is_stored_once_in_the_persistent_job_store(session, database_url):
    container = worker_container(database_url, tz=TZ, OPTIMISE_HOUR=3)
    try:
        for _ in range(2):  # a restart replaces the stored job instead of adding a second copy
            scheduler = dispatcher.build_scheduler(container, blocking=False)
            scheduler.start(paused=True)
            job = scheduler.get_job(optimise_jobs.JOB_ID)
            scheduler.shutdown(wait=False)
        with session.get_bind().connect() as connection:
            stored = connection.execute(sa.text("SELECT id FROM apscheduler_jobs")).scalars().all()
    finally:
        reset_dispatcher()
    assert stored.count(optimise_jobs.JOB_ID) == 1
    assert job.func is optimise_jobs.optimise_days_job
    assert (str(job.trigger.fields[5]), str(job.trigger.fields[6])) == ("3", "0")  # hour, minute
    assert str(job.trigger.timezone) == TZ
    assert optimise_jobs.LEASE_NAME in dispatcher.LEASE_NAMES
    assert session.exec(select(VisitStep)).all() == []


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [("OPTIMISE_HOUR", 24, "an hour from 0 to 23"), ("OPTIMISE_DAYS_AHEAD", 61, "from 0"),
     ("OPTIMISE_SECONDS", 0, "seconds from 0.5 to 600")],
)
def test_bad_job_settings_name_the_setting(name, value, words):
    from clinic.settings import ConfigError, load_settings

    with pytest.raises(ConfigError) as error:
        load_settings({"TESTING": True, name: value})
    assert name in error.value.message and words in error.value.message
