"""The dispatcher process: APScheduler with the job store in the app database, the lease, and exactly
once across a second dispatcher and a SIGKILL mid-batch (sends counted in a file the fake channel writes,
and at the fake Twilio server for the real Twilio channels)."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clinic.bootstrap import assemble, bootstrap, of_app
from clinic.columns import utcnow
from clinic.messaging import lease, links, outreach, sending
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.messaging.outbox import outbox_counts
from clinic.worker import dispatcher
from tests.conftest import TEST_SECRET_KEY
from tests.containers import channels_for, reset_dispatcher, worker_container
from tests.factories import make_pathway, make_patient, make_unit, make_visit
from tests.peers.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.peers.fakes import RecordingChannel
from tests.peers.fixtures import FROM_NUMBER

ROOT = Path(__file__).resolve().parents[3]
TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
TRAVELLED = (
    "import runpy, sys, time_machine; time_machine.travel(float(sys.argv.pop(1))).start(); "
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)
"""``python -c TRAVELLED TIMESTAMP MODULE ARGS...``: ``python -m MODULE ARGS...`` with its clock ticking from TIMESTAMP."""


def plan_confirmations(session: Session, count: int) -> list[int]:
    """``count`` booked visits of e-mail patients (e-mail has no quiet hours), each with a confirmation
    due now and a reminder due later; returns the confirmation rows' ids."""
    pathway = make_pathway(session)
    start = utcnow().replace(microsecond=0) + dt.timedelta(days=14)
    now = utcnow()
    ids = []
    for n in range(count):
        patient = make_patient(session, channel="email", email=f"patient{n}@example.org", distance_km=5)
        visit = make_visit(session, patient=patient, pathway=pathway, day=start.date(), start=start)
        visit.booked_at = now - dt.timedelta(minutes=1)
        session.add(visit)
        session.commit()
        outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=now, unit=UNIT)
    session.expire_all()
    for row in session.exec(select(OutboxMessage).where(OutboxMessage.action == "confirmation")):
        assert row.status == OutboxStatus.QUEUED
        ids.append(row.id)
    assert len(ids) == count
    return ids


def statuses(engine) -> dict[str, int]:
    with Session(engine) as session:
        return outbox_counts(session=session)


def sent_keys(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip()]


def start_dispatcher(
    database_url: str, record: Path, *, delay: float = 0.0, where: str = "before"
) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OUTREACH_FAKE_FILE": str(record),
        "OUTREACH_FAKE_DELAY": str(delay),
        "OUTREACH_FAKE_DELAY_WHERE": where,
        "ONEVISIT_SECRET_KEY": TEST_SECRET_KEY,
    }
    command = [
        sys.executable, "-m", "clinic.worker.dispatcher", "--database-url", database_url, "--interval", "0.2",
        "--lease-seconds", "2", "--stale-seconds", "1", "--batch", "100",
        "--channels", "tests.peers.fakes:from_env",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for(predicate, timeout: float, what: str, processes=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for process in processes:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise AssertionError(f"dispatcher exited with {process.returncode} while waiting for {what}:\n{output}")
        time.sleep(0.05)
    output = ""
    for process in processes:  # what the dispatchers said, to see why
        process.kill()
        output += process.stdout.read().decode(errors="replace")[-5000:] if process.stdout else ""
    raise AssertionError(f"timed out waiting for {what}\n{output}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


JOB_IDS = [dispatcher.DISPATCH_JOB_ID, dispatcher.OFFERS_JOB_ID]


@pytest.fixture
def reset_state():
    yield
    reset_dispatcher()


def test_the_job_sends_due_messages_and_a_second_dispatcher_idles(session, database_url, reset_state):
    plan_confirmations(session, 3)
    channel = RecordingChannel("email")
    dispatcher.configure(worker_container(database_url, tz=TZ, channels={"email": channel}), owner="first")
    assert dispatcher.dispatch_job() == {"lease": 1, "sent": 3, "recovered": 0}
    assert len(channel.sent) == 3
    # another process (simulated: another owner) finds the lease held and does nothing
    with Session(session.get_bind()) as other:
        assert not lease.acquire_lease(session=other, owner="second", now=utcnow(), ttl=dt.timedelta(seconds=60))
    dispatcher.release()
    with Session(session.get_bind()) as other:
        assert lease.acquire_lease(session=other, owner="second", now=utcnow(), ttl=dt.timedelta(seconds=60))
    assert dispatcher.dispatch_job() == {"lease": 0}


def test_the_jobs_emails_link_to_their_answer_pages_at_the_public_address(session, database_url, reset_state,
                                                                          monkeypatch):
    [row_id] = plan_confirmations(session, 1)
    monkeypatch.setenv("ONEVISIT_PUBLIC_BASE_URL", "https://ov.example.org/")
    container = bootstrap({"DATABASE_URL": database_url, "SECRET_KEY": "another-secret"})
    settings = container.settings
    assert (settings.public_base_url, settings.secret_key) == ("https://ov.example.org/", "another-secret")
    channel = RecordingChannel("email")
    dispatcher.configure(assemble(settings, engine=container.engine, channels={"email": channel}), owner="first")
    assert dispatcher.dispatch_job()["sent"] == 1
    [message] = channel.sent
    [link] = [line for line in message.body.splitlines() if "/answer/" in line]
    assert link.startswith("https://ov.example.org/answer/")
    assert links.outbox_for_token("another-secret", link.rsplit("/", 1)[1]) == row_id


def test_the_dispatcher_runs_on_the_apps_settings_engine_and_channels(monkeypatch, app_config, twilio_config,
                                                                     reset_state):
    from clinic import create_app
    from outreach.channels.twilio_sms import TwilioSmsChannel

    monkeypatch.setenv("ONEVISIT_OUTREACH_BATCH", "7")
    app = create_app({**app_config, **twilio_config, "CLINIC_TIMEZONE": "Europe/Brussels"})
    container = dispatcher.for_dispatcher(of_app(app), overrides={"OUTREACH_INTERVAL_SECONDS": 0.5})
    assert container.engine is of_app(app).engine and container.unit == of_app(app).unit
    assert container.unit.tz == "Europe/Brussels"
    assert (container.settings.outreach.batch, container.settings.outreach.interval_seconds) == (7, 0.5)
    assert isinstance(container.channels["sms"], TwilioSmsChannel)


def test_the_scheduler_keeps_one_persistent_job_and_runs_it(session, database_url, reset_state):
    plan_confirmations(session, 2)
    channel = RecordingChannel("email")
    container = worker_container(database_url, tz=TZ, channels={"email": channel}, OUTREACH_INTERVAL_SECONDS=0.2)
    jobs: list[str] = []
    for _ in range(2):  # a restart replaces the stored jobs instead of adding second copies
        scheduler = dispatcher.build_scheduler(container, blocking=False)
        scheduler.start()
        try:
            wait_for(lambda: len(channel.sent) >= 2, 15, "two sends")
            jobs = sorted(job.id for job in scheduler.get_jobs())
            assert set(JOB_IDS) <= set(jobs) and len(set(jobs)) == len(jobs)
        finally:
            scheduler.shutdown(wait=True)
    with session.get_bind().connect() as connection:
        stored = connection.execute(sa.text("SELECT id FROM apscheduler_jobs")).scalars().all()
    assert sorted(stored) == jobs
    assert len(channel.sent) == 2


def test_two_dispatcher_processes_never_send_twice(session, database_url, tmp_path):
    ids = plan_confirmations(session, 20)
    record = tmp_path / "sent.jsonl"
    first = start_dispatcher(database_url, record, delay=0.01)
    second = start_dispatcher(database_url, record, delay=0.01)
    try:
        wait_for(lambda: statuses(session.get_bind()).get("sent", 0) >= len(ids), 60, "every message sent",
                 [first, second])
        time.sleep(0.5)  # give a (wrong) second send the chance to happen
    finally:
        stop(first)
        stop(second)
    keys = sent_keys(record)
    assert len(keys) == len(ids) and len(set(keys)) == len(ids)


@pytest.mark.parametrize("where", ["before", "after"])
def test_sigkill_mid_batch_then_restart_sends_every_message_exactly_once(session, database_url, tmp_path, where):
    """``before``: killed while the provider has not accepted the message yet (it must be sent after the
    restart); ``after``: killed after the provider accepted it but before the outbox recorded that (it
    must not be sent again)."""
    ids = plan_confirmations(session, 30)
    record = tmp_path / "sent.jsonl"
    first = start_dispatcher(database_url, record, delay=0.1, where=where)
    try:
        wait_for(
            lambda: len(sent_keys(record)) >= 8 and statuses(session.get_bind()).get("sending", 0) >= 1,
            60,
            "the first sends, then one in flight",
            [first],
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    sent_before = len(sent_keys(record))
    assert 1 <= statuses(session.get_bind()).get("sending", 0) <= 10  # claimed, in flight, then killed
    assert sent_before < len(ids), "the batch finished before the kill; make the fake channel slower"
    second = start_dispatcher(database_url, record, delay=0.0)
    try:
        wait_for(lambda: statuses(session.get_bind()).get("sent", 0) >= len(ids), 60, "every message sent",
                 [second])
        time.sleep(0.5)
    finally:
        stop(second)
    keys = sent_keys(record)
    assert sorted(keys) == sorted(set(keys)) and len(keys) == len(ids)
    counts = statuses(session.get_bind())
    assert counts.get("sent") == len(ids) and "sending" not in counts and "failed" not in counts


def plan_texts_and_calls(session: Session) -> list[OutboxMessage]:
    """Six local patients under 70 (a confirmation SMS each) and three long-distance patients over 70
    (confirmation and coffee voucher by SMS, the transport offer by call), booked now (on the clock fixture's
    afternoon, so quiet hours hold nothing); returns the 15 rows due now."""
    pathway = make_pathway(session)
    start = utcnow().replace(microsecond=0) + dt.timedelta(days=14)
    for n in range(9):
        senior_far = {"birth_date": dt.date(1950, 1, 1), "distance_km": 80.0} if n >= 6 else {}
        patient = make_patient(session, channel="sms", **senior_far)
        visit = make_visit(session, patient=patient, pathway=pathway, day=start.date(), start=start)
        visit.booked_at = utcnow() - dt.timedelta(minutes=1)
        session.add(visit)
        session.commit()
        outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=utcnow(), unit=UNIT)
    session.expire_all()
    ids = sending.due_ids(session=session, now=utcnow(), limit=100)
    rows = [session.get(OutboxMessage, row_id) for row_id in ids]
    assert Counter(row.channel.value for row in rows) == {"sms": 12, "voice": 3}
    return rows


def start_twilio_dispatcher(database_url: str, fake: FakeTwilio, now: dt.datetime) -> subprocess.Popen:
    """``python -m clinic.worker.dispatcher`` as deployed: no ``--channels``, Twilio from the environment,
    its API base URL pointed at the fake server; its clock ticks from ``now`` (the test's clock)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ONEVISIT_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "ONEVISIT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "ONEVISIT_TWILIO_FROM_NUMBER": FROM_NUMBER,
        "ONEVISIT_TWILIO_API_BASE_URL": fake.base_url,
        "ONEVISIT_PUBLIC_BASE_URL": "https://onevisit.example.org",
        "ONEVISIT_SECRET_KEY": TEST_SECRET_KEY,
    }
    command = [
        sys.executable, "-c", TRAVELLED, str(now.timestamp()), "clinic.worker.dispatcher",
        "--database-url", database_url, "--tz", TZ,
        "--interval", "0.2", "--lease-seconds", "2", "--stale-seconds", "1", "--batch", "100",
        "--claim-batch", "10",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_sigkill_while_twilio_holds_a_request_then_restart_sends_every_message_once(clock, session, database_url,
                                                                                   fake_twilio):
    """The real dispatcher with the real Twilio channels: killed while the fake Twilio server holds the
    fourth request (Twilio has the message, the outbox does not know), with six more rows claimed and not
    sent. After the restart the fake server has received every due message exactly once."""
    rows = plan_texts_and_calls(session)
    engine = session.get_bind()
    fake_twilio.hold_from(4)
    first = start_twilio_dispatcher(database_url, fake_twilio, clock.now())
    try:
        wait_for(lambda: fake_twilio.held == 1, 15, "the fourth request held at the fake Twilio", [first])
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    fake_twilio.release()
    assert len(fake_twilio.messages()) + len(fake_twilio.calls()) == 4
    counts = statuses(engine)
    assert counts.get("sent") == 3 and counts.get("sending") == 7  # a claim of ten: 3 sent, 1 held, 6 waiting
    held = [*fake_twilio.created("messages"), *fake_twilio.created("calls")]
    held_sid = next(r["sid"] for r in held if r["sid"] not in {m.provider_id for m in _outbox(engine)})

    clock.shift(dt.timedelta(minutes=1))  # restarted a minute later: the dead one's lease and claims are stale
    second = start_twilio_dispatcher(database_url, fake_twilio, clock.now())
    try:
        wait_for(lambda: statuses(engine).get("sent", 0) >= len(rows), 15, "every due message sent", [second])
    finally:
        stop(second)

    texts = Counter((r.field("To"), r.field("Body")) for r in fake_twilio.messages())
    calls = Counter(r.field("To") for r in fake_twilio.calls())
    assert texts == Counter({(_phone(session, row), row.body): 1 for row in rows if row.channel.value == "sms"})
    assert calls == Counter({_phone(session, row): 1 for row in rows if row.channel.value == "voice"})
    outbox = {row.id: row for row in _outbox(engine)}
    assert {outbox[row.id].status for row in rows} == {OutboxStatus.SENT}
    assert not any(row.on_call_list for row in outbox.values())
    received = {r["sid"] for r in [*fake_twilio.created("messages"), *fake_twilio.created("calls")]}
    assert {outbox[row.id].provider_id for row in rows} == received  # each row has its own Twilio sid
    assert held_sid in received and len(fake_twilio.lists()) >= 7  # the recovered rows were looked up


def _outbox(engine) -> list[OutboxMessage]:
    with Session(engine) as other:
        return list(other.exec(select(OutboxMessage)))


def _phone(session: Session, row: OutboxMessage) -> str:
    from clinic.patients.models import Patient

    return session.get(Patient, row.patient_id).phone


def test_the_benchmark_runs_on_a_small_instance():
    from clinic.messaging import bench

    figures = bench.run(None, 30, 10)
    # 30 visits: a third long-distance (coffee voucher), half 70+ (transport offer); all get a confirmation
    assert figures["visits"] == 30 and figures["outbox_rows"] > 60
    assert figures["sent"] >= 30 and figures["plan_visits_per_s"] > 0


def test_the_offers_job_texts_a_wave_for_a_freed_place_once(clock, session, database_url, reset_state,
                                                             fake_twilio, twilio_config):
    """The scheduled offers job sends the first SMS wave through the real Twilio client; a second
    dispatcher (another owner) finds the offers lease held and sends nothing."""
    from tests.clinic.refill.test_offers_sms import NOW, freed_place

    freed_place(session)
    clock.move_to(NOW)
    dispatcher.configure(worker_container(database_url, tz=TZ, channels=channels_for(twilio_config)), owner="first")
    assert dispatcher.offers_job() == {"lease": 1, "waves": 1}
    texted = len(fake_twilio.messages())
    assert texted >= 1
    with Session(session.get_bind()) as other:
        assert not lease.acquire_lease(session=other, owner="second", now=NOW, ttl=dt.timedelta(seconds=60),
                                         name="offers")
    assert dispatcher.offers_job() == {"lease": 1, "waves": 0}  # nothing more is owed until offers expire
    assert len(fake_twilio.messages()) == texted
