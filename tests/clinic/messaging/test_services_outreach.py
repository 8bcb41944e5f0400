"""Outreach service: planning a visit's outbox from the default rules, re-planning, dispatching, delivery."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.messaging import delivery, lease, outbox, outreach, preview, recovery, rules_file, sending
from clinic.messaging.models import OutboxMessage, OutboxStatus, OutreachRuleSet
from clinic.visits.models import Visit, VisitStatus
from outreach.channels.base import OutgoingMessage, SendResult
from tests.factories import make_pathway, make_patient, make_unit, make_visit
from tests.peers.fakes import RecordingChannel

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
AMS = ZoneInfo(TZ)
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)  # Tuesday 11:00 in Amsterdam
VISIT_DAY = dt.date(2026, 12, 15)
VISIT_START = dt.datetime(2026, 12, 15, 9, 30, tzinfo=dt.UTC)  # 10:30 local


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=AMS).astimezone(dt.UTC)


def book(session: Session, *, start: dt.datetime = VISIT_START, **patient_fields) -> Visit:
    patient = make_patient(session, **patient_fields)
    visit = make_visit(session, patient=patient, pathway=make_pathway(session), day=start.astimezone(AMS).date(),
                       start=start)
    visit.booked_at = NOW
    session.add(visit)
    session.commit()
    return visit


def rows(session: Session, visit_id: int) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit_id)))


def queued(session: Session, visit_id: int) -> set[tuple[str, str, dt.datetime]]:
    return {(r.action, r.channel.value, r.due_at) for r in rows(session, visit_id) if r.status == OutboxStatus.QUEUED}


SEVEN_DAYS = local(VISIT_DAY - dt.timedelta(days=7), 10)
TWO_DAYS = local(VISIT_DAY - dt.timedelta(days=2), 10)


@pytest.mark.parametrize(
    ("label", "birth_date", "distance", "expected"),
    [
        ("local under 70", dt.date(1980, 1, 1), 10, {("confirmation", "sms", NOW), ("reminder", "sms", TWO_DAYS)}),
        (
            "regional",
            dt.date(1980, 1, 1),
            30,
            {("confirmation", "sms", NOW), ("reminder", "voice", SEVEN_DAYS), ("reminder", "sms", TWO_DAYS)},
        ),
        (
            "long-distance",
            dt.date(1980, 1, 1),
            80,
            {("confirmation", "sms", NOW), ("reminder", "sms", TWO_DAYS), ("coffee_voucher", "sms", NOW)},
        ),
        (
            "70+",
            dt.date(1950, 1, 1),
            10,
            {
                ("confirmation", "sms", NOW),
                ("reminder", "voice", SEVEN_DAYS),
                ("reminder", "sms", TWO_DAYS),
                ("transport_offer", "sms", NOW),
            },
        ),
        (
            "70+ and long-distance",
            dt.date(1950, 1, 1),
            80,
            {
                ("confirmation", "sms", NOW),
                ("reminder", "voice", SEVEN_DAYS),
                ("reminder", "sms", TWO_DAYS),
                ("coffee_voucher", "sms", NOW),
                ("transport_offer", "voice", NOW),
            },
        ),
    ],
)
def test_the_default_rules_plan_the_right_messages_per_segment(session, label, birth_date, distance, expected):
    visit = book(session, birth_date=birth_date, distance_km=distance)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    assert queued(session, visit.id) == expected, label
    reminders = [r for r in rows(session, visit.id) if r.action == "reminder"]
    assert len(reminders) == len({r for r in expected if r[0] == "reminder"})  # per rule, never per step (3 steps)


def test_replanning_is_idempotent_and_audited(session):
    visit = book(session)
    first = outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    second = outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    assert first.queued == 2 and second.queued == 0 and second.kept == 2
    assert len(rows(session, visit.id)) == 2
    events = session.exec(select(AuditEvent).where(AuditEvent.entity_id == visit.id)).all()
    assert [e.action for e in events if e.action.startswith("visit.outreach")] == ["visit.outreach_planned"]


def test_a_reschedule_moves_the_reminder_and_keeps_what_was_sent(session):
    visit = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    confirmation = next(r for r in rows(session, visit.id) if r.action == "confirmation")
    confirmation.status = OutboxStatus.SENT
    session.add(confirmation)
    session.commit()
    # reschedule to a week later
    new_start = VISIT_START + dt.timedelta(days=7)
    visit = session.get(Visit, visit.id)
    visit.date = VISIT_DAY + dt.timedelta(days=7)
    for step in visit.steps:
        step.planned_end += dt.timedelta(days=7)
        step.planned_start += dt.timedelta(days=7)
    session.add(visit)
    session.commit()
    result = outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    assert result.withdrawn == 1 and result.queued == 1
    by_status = {(r.action, r.status, r.due_at) for r in rows(session, visit.id)}
    assert ("reminder", OutboxStatus.WITHDRAWN, TWO_DAYS) in by_status
    assert ("reminder", OutboxStatus.QUEUED, TWO_DAYS + dt.timedelta(days=7)) in by_status
    assert ("confirmation", OutboxStatus.SENT, NOW) in by_status
    assert new_start.isoformat()  # the visit start moved with its steps


def test_cancelling_withdraws_and_the_dispatcher_never_reminds_a_cancelled_visit(session):
    visit = book(session)
    other = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    outreach.plan_visit_outreach(session=session, visit_id=other.id, now=NOW, unit=UNIT)
    assert outreach.withdraw_visit_outreach(session=session, visit_id=visit.id, now=NOW) == 2
    assert {r.status for r in rows(session, visit.id)} == {OutboxStatus.WITHDRAWN}
    # the other visit is cancelled without anyone withdrawing: the dispatcher re-checks at send time
    cancelled = session.get(Visit, other.id)
    cancelled.status = VisitStatus.CANCELLED
    session.add(cancelled)
    session.commit()
    channel = RecordingChannel()
    report = sending.dispatch_due(session=session, channels={"sms": channel, "voice": channel}, owner="a",
                                   now=TWO_DAYS + dt.timedelta(minutes=1), unit=UNIT)
    assert channel.sent == [] and report.skipped == 2
    assert {r.status for r in rows(session, other.id)} == {OutboxStatus.WITHDRAWN}


def test_planning_a_cancelled_visit_withdraws_its_messages(session):
    visit = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    visit = session.get(Visit, visit.id)
    visit.status = VisitStatus.CANCELLED
    session.add(visit)
    session.commit()
    result = outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    assert result.withdrawn == 2 and queued(session, visit.id) == set()


def test_dispatch_sends_what_is_due_in_the_patients_language(session):
    visit = book(session, language="nl", birth_date=dt.date(1950, 1, 1), distance_km=80)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    sms, voice = RecordingChannel("sms"), RecordingChannel("voice")
    report = sending.dispatch_due(session=session, channels={"sms": sms, "voice": voice}, owner="a", now=NOW,
                                   unit=UNIT)
    assert report.sent == 3  # confirmation, coffee voucher, transport call; the reminder is not due yet
    assert sorted(m.metadata["action"] for m in sms.sent) == ["coffee_voucher", "confirmation"]
    assert [m.metadata["action"] for m in voice.sent] == ["transport_offer"]
    assert all(m.language == "nl" for m in sms.sent + voice.sent)
    confirmation = next(m for m in sms.sent if m.metadata["action"] == "confirmation")
    assert "dinsdag 15 december 2026" in confirmation.body and "10:30" in confirmation.body
    # nothing is sent twice
    again = sending.dispatch_due(session=session, channels={"sms": sms, "voice": voice}, owner="a", now=NOW, unit=UNIT)
    assert again.sent == 0 and len(sms.sent) == 2
    # a week before, the reminder call goes out
    sending.dispatch_due(session=session, channels={"sms": sms, "voice": voice}, owner="a",
                          now=SEVEN_DAYS, unit=UNIT)
    assert [m.metadata["action"] for m in voice.sent] == ["transport_offer", "reminder"]


def test_french_dates_are_formatted_for_the_patient(session):
    visit = book(session, language="fr")
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    body = next(r.body for r in rows(session, visit.id) if r.action == "reminder")
    assert "mardi 15 décembre 2026" in body


def test_quiet_hours_postpone_calls_and_sms_to_nine(session):
    visit = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    channel = RecordingChannel()
    evening = local(dt.date(2026, 12, 1), 21, 30)
    report = sending.dispatch_due(session=session, channels={"sms": channel}, owner="a", now=evening, unit=UNIT)
    assert report.postponed == 1 and channel.sent == []
    confirmation = next(r for r in rows(session, visit.id) if r.action == "confirmation")
    assert confirmation.status == OutboxStatus.QUEUED
    assert confirmation.next_attempt_at == local(dt.date(2026, 12, 2), 9)


def test_planning_at_night_schedules_the_confirmation_for_nine(session):
    visit = book(session)
    night = local(dt.date(2026, 12, 1), 23)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=night, unit=UNIT)
    confirmation = next(r for r in rows(session, visit.id) if r.action == "confirmation")
    assert confirmation.next_attempt_at == local(dt.date(2026, 12, 2), 9)


def test_retries_back_off_then_fall_back_then_the_call_list(session):
    visit = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    sms = RecordingChannel("sms", fail=99)
    voice = RecordingChannel("voice", fail=99)
    channels = {"sms": sms, "voice": voice}
    moment = NOW
    seen = []
    for _ in range(10):
        sending.dispatch_due(session=session, channels=channels, owner="a", now=moment, unit=UNIT)
        row = next(r for r in rows(session, visit.id) if r.action == "confirmation")
        seen.append((row.status, row.channel.value, row.attempts))
        if row.status == OutboxStatus.FAILED:
            break
        moment = row.next_attempt_at
    assert len(sms.refused) == 3 and len(voice.refused) == 3
    assert row.on_call_list and row.status == OutboxStatus.FAILED
    assert seen[0] == (OutboxStatus.QUEUED, "sms", 1) and seen[3] == (OutboxStatus.QUEUED, "voice", 1)
    # backoff doubles: 5 then 10 minutes between the SMS attempts
    assert [m.key for m in sms.refused] == [sms.refused[0].key] * 3
    listed = outbox.list_outbox(session=session, filters=outbox.OutboxFilter(call_list=True), unit=UNIT)
    assert [r.id for r, _ in listed] == [row.id]


def test_a_refusal_that_will_not_improve_falls_back_at_once(session):
    visit = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    sms = RecordingChannel("sms", fail=1, retryable=False)
    voice = RecordingChannel("voice")
    sending.dispatch_due(session=session, channels={"sms": sms, "voice": voice}, owner="a", now=NOW, unit=UNIT)
    sending.dispatch_due(session=session, channels={"sms": sms, "voice": voice}, owner="a", now=NOW, unit=UNIT)
    assert len(sms.refused) == 1 and [m.channel for m in voice.sent] == ["voice"]


def test_opted_out_patients_get_only_essential_messages(session):
    visit = book(session, opted_out=True, distance_km=80)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    statuses = {r.action: r.status for r in rows(session, visit.id)}
    assert statuses == {
        "confirmation": OutboxStatus.QUEUED,
        "reminder": OutboxStatus.QUEUED,
        "coffee_voucher": OutboxStatus.SKIPPED,
    }


def test_a_claimed_row_cannot_be_claimed_again(session):
    visit = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    row_id = sending.due_ids(session=session, now=NOW, limit=10)[0]
    assert [r.id for r in sending._claim(session, [row_id], "a", NOW)] == [row_id]
    assert sending._claim(session, [row_id], "b", NOW) == []
    channel = RecordingChannel()
    report = sending.dispatch_due(session=session, channels={"sms": channel}, owner="b", now=NOW, unit=UNIT)
    assert report.sent == 0 and channel.sent == []


def test_the_lease_admits_one_dispatcher_until_it_expires(session):
    ttl = dt.timedelta(seconds=30)
    assert lease.acquire_lease(session=session, owner="a", now=NOW, ttl=ttl)
    assert not lease.acquire_lease(session=session, owner="b", now=NOW + dt.timedelta(seconds=10), ttl=ttl)
    assert lease.acquire_lease(session=session, owner="a", now=NOW + dt.timedelta(seconds=20), ttl=ttl)
    assert not lease.acquire_lease(session=session, owner="b", now=NOW + dt.timedelta(seconds=40), ttl=ttl)
    assert lease.acquire_lease(session=session, owner="b", now=NOW + dt.timedelta(seconds=51), ttl=ttl)
    assert lease.lease_holder(session=session, now=NOW + dt.timedelta(seconds=52)) == "b"
    lease.release_lease(session=session, owner="b")
    assert lease.lease_holder(session=session, now=NOW) is None


def test_stale_sending_rows_are_recovered_without_a_second_send(session, tmp_path):
    visits = [book(session) for _ in range(3)]
    for visit in visits:
        outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    path = tmp_path / "sent.jsonl"
    channel = RecordingChannel("sms", path=path)
    ids = sending.due_ids(session=session, now=NOW, limit=10)
    # a dead dispatcher claimed three rows and sent only the first
    assert len(sending._claim(session, ids, "dead", NOW)) == 3
    first = session.get(OutboxMessage, ids[0])
    channel.send(OutgoingMessage(key=sending.message_key(first), channel="sms", to="x", body="b",
                                          language="nl"))
    later = NOW + dt.timedelta(minutes=5)
    assert recovery.recover_stale(session=session, channels={"sms": channel}, owner="new", now=later, unit=UNIT) == 3
    sending.dispatch_due(session=session, channels={"sms": channel}, owner="new", now=later, unit=UNIT)
    keys = [line.split('"key": "')[1].split('"')[0] for line in path.read_text().splitlines()]
    assert len(keys) == 3 and len(set(keys)) == 3
    # without a way to ask the provider, an unknown outcome goes to the call list, never a second send
    visit = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    row_id = sending.due_ids(session=session, now=NOW, limit=10)[0]
    sending._claim(session, [row_id], "dead", NOW)
    plain = {"sms": type("Plain", (), {"send": lambda self, m: None})()}
    assert recovery.recover_stale(session=session, channels=plain, owner="new", now=later, unit=UNIT) == 1
    row = session.get(OutboxMessage, row_id)
    session.refresh(row)
    assert row.status == OutboxStatus.FAILED and row.on_call_list


def test_delivery_status_is_recorded_by_provider_id(session):
    visit = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    channel = RecordingChannel()
    sending.dispatch_due(session=session, channels={"sms": channel}, owner="a", now=NOW, unit=UNIT)
    row = next(r for r in rows(session, visit.id) if r.action == "confirmation")
    assert row.status == OutboxStatus.SENT and row.provider_id
    assert delivery.record_delivery(session=session, provider_id="nope", status="delivered", now=NOW, unit=UNIT) is None
    delivery.record_delivery(session=session, provider_id=row.provider_id, status="sent", now=NOW, unit=UNIT)
    assert next(r for r in rows(session, visit.id) if r.id == row.id).status == OutboxStatus.SENT
    delivery.record_delivery(session=session, provider_id=row.provider_id, status="delivered", now=NOW, unit=UNIT)
    assert next(r for r in rows(session, visit.id) if r.id == row.id).status == OutboxStatus.DELIVERED


def test_an_undelivered_message_is_retried(session):
    visit = book(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    channel = RecordingChannel()
    sending.dispatch_due(session=session, channels={"sms": channel}, owner="a", now=NOW, unit=UNIT)
    row = next(r for r in rows(session, visit.id) if r.action == "confirmation")
    delivery.record_delivery(session=session, provider_id=row.provider_id, status="undelivered", now=NOW, unit=UNIT)
    row = next(r for r in rows(session, visit.id) if r.id == row.id)
    assert row.status == OutboxStatus.QUEUED and row.next_attempt_at > NOW


def test_a_bad_rule_file_is_rejected_whole_and_the_rules_in_force_stay(session):
    before = rules_file.rules_in_force(session=session)
    assert before.version is None and len(before.rules.rules) == 9
    bad = before.text.replace("offset: -2d", "offset: -2x").replace("gte: 70", "gte: seventy")
    with pytest.raises(rules_file.RulesRejected) as caught:
        rules_file.save_rules(session=session, text=bad, filename="mine.yaml", actor_id=None)
    problems = caught.value.problems
    assert "mine.yaml: rule basic-reminder: field timing.offset: '-2x' is not an offset" in problems[0]
    assert any("rule senior-reminder-call: field condition.age.gte" in p for p in problems)
    assert session.exec(select(OutreachRuleSet)).all() == []
    good = before.text.replace("offset: -2d", "offset: -3d")
    saved = rules_file.save_rules(session=session, text=good, filename="mine.yaml", actor_id=None)
    assert saved.version == 1
    now_in_force = rules_file.rules_in_force(session=session)
    assert now_in_force.version == 1 and "offset: -3d" in now_in_force.text


def test_preview_says_which_actions_fire_and_why(session):
    visit = book(session, birth_date=dt.date(1950, 1, 1), distance_km=30)
    rows_ = preview.preview_for_date(session=session, day=VISIT_DAY, now=NOW, unit=UNIT)
    assert [r.visit_id for r in rows_] == [visit.id]
    fired = {f.rule.id: (f.why, f.replaced) for f in rows_[0].evaluation.fired}
    assert fired["regional-reminder-call"] == ("region regional = regional", ("senior-reminder-call",))
    assert fired["basic-reminder"] == ("every patient (basic service)", ())  # the call adds to it
    assert "senior-reminder-call" not in fired  # same layer: the first rule in the file wins
    assert {m.action for m in rows_[0].messages} == {"confirmation", "reminder", "transport_offer"}
    by_patient = preview.preview_for_patient(session=session, patient_id=visit.patient_id, now=NOW, unit=UNIT)
    assert [r.visit_id for r in by_patient] == [visit.id]
    what_if = preview.preview_for_patient(session=session, patient_id=visit.patient_id,
                                           day=dt.date(2026, 12, 20), now=NOW, unit=UNIT)
    assert what_if[0].visit_id is None and what_if[0].evaluation.fired


def test_claims_are_batched_only_when_the_channel_can_say_what_it_sent(session):
    for _ in range(4):
        outreach.plan_visit_outreach(session=session, visit_id=book(session).id, now=NOW, unit=UNIT)
    engine = session.get_bind()

    def in_flight() -> int:
        from sqlmodel import Session as Plain

        with Plain(engine) as other:
            return outbox.outbox_counts(session=other).get("sending", 0)

    class Blind:
        name = "blind"

        def __init__(self):
            self.seen = []

        def send(self, message):
            self.seen.append(in_flight())
            return SendResult(ok=True, provider_id=f"b-{len(self.seen)}")

    class Telling(Blind):
        def lookup(self, key):
            return None

    blind = Blind()
    sending.dispatch_due(session=session, channels={"sms": blind}, owner="a", now=NOW, unit=UNIT, limit=2)
    assert blind.seen == [1, 1]
    telling = Telling()
    sending.dispatch_due(session=session, channels={"sms": telling}, owner="a", now=NOW, unit=UNIT, claim_batch=2)
    assert telling.seen == [2, 1]


def test_a_late_booking_still_gets_its_reminder_at_the_earliest_allowed_moment(session):
    evening = local(VISIT_DAY - dt.timedelta(days=2), 21)  # the call and the SMS were both due earlier
    visit = book(session, birth_date=dt.date(1950, 1, 1), distance_km=80)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=evening, unit=UNIT)
    reminders = {r.rule_id: r for r in rows(session, visit.id) if r.action == "reminder"}
    assert reminders["senior-reminder-call"].status == OutboxStatus.SKIPPED
    sms = reminders["basic-reminder"]
    assert (sms.status, sms.channel.value, sms.due_at) == (OutboxStatus.QUEUED, "sms", TWO_DAYS)
    assert sms.next_attempt_at == local(VISIT_DAY - dt.timedelta(days=1), 9)  # after the quiet hours
    result = outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=evening + dt.timedelta(hours=1),
                                          unit=UNIT)
    assert (result.queued, result.withdrawn, result.updated) == (0, 0, 0)  # the same row, kept
