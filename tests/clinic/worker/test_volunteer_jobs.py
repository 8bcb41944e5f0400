"""The volunteers' scheduled jobs, run directly (no scheduler sleeping): match the next clinic day and queue
the notices in the afternoon, send them in the evening once, and a second dispatcher does nothing."""

import datetime as dt

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session, select

import clinic.tables  # noqa: F401  (every table on SQLModel.metadata)
from clinic.messaging import lease
from clinic.messaging.models import OutboxStatus
from clinic.service.models import VolunteerAssignment, VolunteerNotice
from clinic.worker import dispatcher, volunteer_jobs
from tests.containers import reset_dispatcher, worker_container
from tests.factories import make_unit
from tests.peers.fakes import RecordingChannel
from tests.volunteer_factories import TZ, at, make_day_visit, make_volunteer, weekday_after

UNIT = make_unit()

MONDAY = weekday_after(dt.date.today(), 0, min_days=8)
FRIDAY = MONDAY - dt.timedelta(days=3)


@pytest.fixture
def configured(database_url):
    channel = RecordingChannel("sms")
    dispatcher.configure(worker_container(database_url, tz=TZ, channels={"sms": channel}), owner="first")
    yield channel
    reset_dispatcher()


def test_friday_afternoon_matches_monday_and_the_notice_goes_out_sunday_evening_once(clock, session, configured):
    vera = make_volunteer(session, "Vera", weekdays=(0,))
    visit = make_day_visit(session, MONDAY, 10)
    clock.move_to(at(FRIDAY, 15))
    result = volunteer_jobs.match_tomorrow_job()
    assert result["lease"] == 1 and result["day"] == MONDAY.isoformat()
    assert (result["assigned"], result["queued"]) == (1, 1)
    row = session.exec(select(VolunteerAssignment)).one()
    assert (row.visit_id, row.volunteer_id) == (visit.id, vera.id)

    clock.move_to(at(FRIDAY, 18, 30))  # Friday evening: the notice is due Sunday 18:00
    assert volunteer_jobs.send_notices_job()["sent"] == 0
    sunday = MONDAY - dt.timedelta(days=1)
    clock.move_to(at(sunday, 18, 5))
    assert volunteer_jobs.send_notices_job()["sent"] == 1
    assert volunteer_jobs.send_notices_job()["sent"] == 0
    assert [m.to for m in configured.sent] == [vera.phone]
    session.expire_all()
    assert session.exec(select(VolunteerNotice)).one().status == OutboxStatus.SENT


def test_a_second_dispatcher_finds_the_lease_taken_and_does_nothing(clock, session, configured):
    make_volunteer(session, "Vera")
    make_day_visit(session, MONDAY, 10)
    now = at(FRIDAY, 15)
    clock.move_to(now)
    with Session(session.get_bind()) as other:
        assert lease.acquire_lease(
            session=other, owner="second", now=now, ttl=dt.timedelta(seconds=60), name=volunteer_jobs.LEASE_NAME
        )
    assert volunteer_jobs.match_tomorrow_job() == {"lease": 0}
    assert volunteer_jobs.send_notices_job() == {"lease": 0}
    assert session.exec(select(VolunteerAssignment)).all() == []


def test_register_adds_both_jobs_once_and_names_the_lease():
    scheduler = BackgroundScheduler()
    scheduler.start(paused=True)
    container = worker_container("sqlite://", tz=TZ)
    try:
        for _ in range(2):  # a restart replaces the jobs instead of adding them again
            volunteer_jobs.register(scheduler, container)
        jobs = scheduler.get_jobs()
        match_job = scheduler.get_job(volunteer_jobs.MATCH_JOB_ID)
    finally:
        scheduler.shutdown(wait=False)
    assert sorted(job.id for job in jobs) == sorted(
        [volunteer_jobs.MATCH_JOB_ID, volunteer_jobs.NOTICES_JOB_ID]
    )
    assert dispatcher.LEASE_NAMES.count(volunteer_jobs.LEASE_NAME) == 1
    assert "hour='15'" in str(match_job.trigger) and str(match_job.trigger.timezone) == TZ
