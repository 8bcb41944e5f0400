"""The dispatcher's survey and escalation jobs: registered once, each behind a lease of its own."""

import datetime as dt

import pytest
from sqlmodel import Session, select

from clinic.columns import utcnow
from clinic.feedback import surveys
from clinic.feedback.models import FollowUp, Survey, SurveyChannel, SurveyStatus, SurveyTrigger
from clinic.messaging import lease
from clinic.users.models import Role
from clinic.visits.models import VisitStatus
from clinic.worker import dispatcher, survey_jobs
from tests.containers import reset_dispatcher, worker_container
from tests.factories import make_patient, make_unit, make_user, make_visit
from tests.peers.fakes import RecordingChannel

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)


@pytest.fixture
def configured(session, database_url):
    channel = RecordingChannel("sms")
    container = worker_container(database_url, tz=TZ, channels={"sms": channel})
    dispatcher.configure(container, owner="first")
    yield container, channel
    reset_dispatcher()


def test_register_adds_both_jobs_and_their_leases(configured):
    class Recorder:
        def __init__(self):
            self.jobs = []

        def add_job(self, func, trigger, **kw):
            self.jobs.append((func, kw["id"], kw["replace_existing"]))

    recorder = Recorder()
    survey_jobs.register(recorder, configured[0])
    assert recorder.jobs == [
        ("clinic.worker.survey_jobs:surveys_job", survey_jobs.SURVEYS_JOB_ID, True),
        ("clinic.worker.survey_jobs:escalate_job", survey_jobs.ESCALATE_JOB_ID, True),
    ]
    assert {survey_jobs.SURVEYS_LEASE, survey_jobs.ESCALATE_LEASE} <= set(dispatcher.LEASE_NAMES)


def test_the_survey_job_makes_visit_surveys_gives_up_and_holds_its_lease(session, configured):
    make_user(session, username="desk1", role=Role.FRONT_DESK)
    visit = make_visit(session, patient=make_patient(session, language="en"), day=dt.datetime.now(dt.UTC).date(),
                       status=VisitStatus.COMPLETED)
    silent = make_patient(session, language="en")
    long_ago = utcnow() - dt.timedelta(days=3)
    session.add(Survey(patient_id=silent.id, trigger=SurveyTrigger.INBOUND, source_ref="silent", channel=SurveyChannel.SMS,
                       language=silent.language, attempts=surveys.MAX_ATTEMPTS, asked_at=long_ago,
                       next_attempt_at=long_ago + UNIT.survey_reask_after, created_at=long_ago))
    session.commit()
    result = survey_jobs.surveys_job()
    assert result["lease"] == 1 and result["made"] == 1 and result["gave_up"] == 1
    assert session.exec(select(Survey).where(Survey.visit_id == visit.id)).one().status == SurveyStatus.PENDING
    assert session.exec(select(FollowUp)).one().patient_id == silent.id
    with Session(session.get_bind()) as other:
        assert not lease.acquire_lease(session=other, owner="second", now=utcnow(), ttl=dt.timedelta(seconds=60),
                                         name=survey_jobs.SURVEYS_LEASE)


def test_the_escalation_job_escalates_overdue_follow_ups(session, configured):
    patient = make_patient(session)
    follow_up = FollowUp(patient_id=patient.id, reason="answered_no", due_at=utcnow() - dt.timedelta(minutes=1))
    session.add(follow_up)
    session.commit()
    assert survey_jobs.escalate_job() == {"lease": 1, "escalated": 1}
    session.refresh(follow_up)
    assert follow_up.escalated_at is not None
    assert survey_jobs.escalate_job() == {"lease": 1, "escalated": 0}
