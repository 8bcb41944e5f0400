"""Due times relative to booking, visit and cancellation; channels; quiet hours; late bookings."""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from outreach.planning import due_time, plan_messages, resolve_channel
from outreach.rules import Firing, PatientFacts, Rule, Timing, VisitFacts, load_rules

TZ = "Europe/Amsterdam"
AMS = ZoneInfo(TZ)
NOW = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
START = dt.datetime(2026, 12, 15, 9, 30, tzinfo=dt.UTC)
VISIT = VisitFacts(date=dt.date(2026, 12, 15), pathway="x", starts_at=START, booked_at=NOW)
PATIENT = PatientFacts(birth_date=dt.date(1960, 1, 1), region="local", language="nl", channel="sms")


def local(y, m, d, h, mi=0):
    return dt.datetime(y, m, d, h, mi, tzinfo=AMS).astimezone(dt.UTC)


def rule(timing: Timing, *, channel="sms", essential=True, kind="message", action="reminder") -> Firing:
    return Firing(Rule(id="r", layer="basic", action=action, kind=kind, channel=channel, timing=timing,
                       template="reminder" if kind == "message" else None, essential=essential), why="test")


@pytest.mark.parametrize(
    ("timing", "expected"),
    [
        (Timing("booking"), NOW),
        (Timing("booking", dt.timedelta(hours=2)), NOW + dt.timedelta(hours=2)),
        (Timing("visit", dt.timedelta(days=-2)), START - dt.timedelta(days=2)),
        (Timing("visit", dt.timedelta(days=-2), dt.time(10)), local(2026, 12, 13, 10)),
        (Timing("visit", dt.timedelta(days=-7), dt.time(10)), local(2026, 12, 8, 10)),
    ],
)
def test_due_times(timing, expected):
    assert due_time(timing, VISIT, tz=TZ, now=NOW) == expected


def test_due_time_across_the_dst_change_keeps_the_local_hour():
    visit = VisitFacts(date=dt.date(2026, 3, 30), pathway="x", starts_at=local(2026, 3, 30, 10))
    assert due_time(Timing("visit", dt.timedelta(days=-2), dt.time(10)), visit, tz=TZ, now=NOW) == local(2026, 3, 28, 10)


def test_a_visit_without_planned_steps_counts_from_nine():
    visit = VisitFacts(date=dt.date(2026, 12, 15), pathway="x")
    assert due_time(Timing("visit", dt.timedelta(hours=-1)), visit, tz=TZ, now=NOW) == local(2026, 12, 15, 8)


def test_cancellation_timing_counts_from_the_cancellation():
    cancelled = VisitFacts(date=VISIT.date, pathway="x", status="cancelled", cancelled_at=NOW + dt.timedelta(hours=1))
    assert due_time(Timing("cancellation"), cancelled, tz=TZ, now=NOW) == NOW + dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("rule_channel", "patient_channel", "has_email", "expected"),
    [
        ("patient", "sms", False, ("sms", "voice")),
        ("patient", "voice", False, ("voice", "sms")),
        ("patient", "email", True, ("email", "sms")),
        ("patient", "email", False, ("sms", "voice")),
        ("voice", "email", True, ("voice", "sms")),
    ],
)
def test_channels(rule_channel, patient_channel, has_email, expected):
    facts = PatientFacts(birth_date=dt.date(1960, 1, 1), region="local", language="en", channel=patient_channel,
                         has_email=has_email)
    assert resolve_channel(rule_channel, facts) == expected


def test_plan_messages_skips_services_and_respects_quiet_hours():
    night = local(2026, 12, 1, 22)
    planned = plan_messages(
        [rule(Timing("booking"), action="confirmation"), rule(Timing("visit"), kind="service", action="meet")],
        PATIENT, VISIT, now=night, tz=TZ,
    )
    assert [(p.action, p.status, p.due_at, p.send_at) for p in planned] == [
        ("confirmation", "queued", NOW, local(2026, 12, 2, 9))  # due at booking, sent at 09:00
    ]


def test_a_reminder_whose_time_has_passed_is_skipped_not_sent_late():
    late_booking = START - dt.timedelta(days=1)
    planned = plan_messages([rule(Timing("visit", dt.timedelta(days=-2), dt.time(10)))], PATIENT, VISIT,
                            now=late_booking, tz=TZ)
    assert planned[0].status == "skipped" and "too late" in planned[0].reason


def test_non_essential_messages_are_skipped_for_opted_out_patients():
    opted_out = PatientFacts(birth_date=dt.date(1960, 1, 1), region="local", language="nl", channel="sms",
                             opted_out=True)
    planned = plan_messages([rule(Timing("booking"), essential=False), rule(Timing("booking"), action="c")],
                            opted_out, VISIT, now=NOW, tz=TZ)
    assert [p.status for p in planned] == ["skipped", "queued"]


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        plan_messages([], PATIENT, VISIT, now=dt.datetime(2026, 1, 1), tz=TZ)


def test_when_every_reminder_is_too_late_the_basic_one_goes_at_the_earliest_allowed_moment():
    call = Firing(Rule(id="call", layer="segment", action="reminder", kind="message", channel="voice",
                       timing=Timing("visit", dt.timedelta(days=-7), dt.time(10)), template="reminder",
                       essential=True, replaces=False), why="test")
    basic = rule(Timing("visit", dt.timedelta(days=-2), dt.time(10)))
    evening = local(2026, 12, 13, 21)  # the basic reminder was due this morning; the visit is 37 hours ahead
    planned = plan_messages([basic, call], PATIENT, VISIT, now=evening, tz=TZ)
    assert [(p.rule_id, p.status) for p in planned] == [("r", "queued"), ("call", "skipped")]
    assert planned[0].due_at == local(2026, 12, 13, 10)  # the outbox key stays put when re-planned later
    assert planned[0].send_at == local(2026, 12, 14, 9)  # after the quiet hours
    assert "earliest" in planned[0].reason


def test_no_late_reminder_when_the_visit_is_a_day_away_or_less():
    planned = plan_messages([rule(Timing("visit", dt.timedelta(days=-2), dt.time(10)))], PATIENT, VISIT,
                            now=START - dt.timedelta(hours=23), tz=TZ)
    assert planned[0].status == "skipped"


RULES = load_rules(Path(__file__).resolve().parents[2] / "seed_data" / "outreach_rules.yaml")
SEGMENTS = {
    "local": (40, "local"),
    "regional": (40, "regional"),
    "long-distance": (40, "long_distance"),
    "70+": (75, "local"),
    "70+ regional": (75, "regional"),
    "70+ long-distance": (75, "long_distance"),
}


@pytest.mark.parametrize("segment", SEGMENTS)
@pytest.mark.parametrize("lead_days", range(11))
@pytest.mark.parametrize("booked_at", [dt.time(7, 30), dt.time(11, 0), dt.time(16, 0), dt.time(21, 30)])
def test_every_visit_more_than_a_day_ahead_gets_a_reminder_in_time(segment, lead_days, booked_at):
    age, region = SEGMENTS[segment]
    day = dt.date(2026, 12, 15)
    start = local(2026, 12, 15, 9)
    booked = dt.datetime.combine(day - dt.timedelta(days=lead_days), booked_at, AMS).astimezone(dt.UTC)
    patient = PatientFacts(birth_date=dt.date(day.year - age, 1, 1), region=region, language="nl", channel="sms")
    visit = VisitFacts(date=day, pathway="x", starts_at=start, booked_at=booked)
    planned = plan_messages(RULES.actions_for(patient, visit, now=booked), patient, visit, now=booked, tz=TZ)
    reminders = [p for p in planned if p.action == "reminder" and p.status == "queued"]
    assert all(booked <= p.send_at < start for p in reminders)
    if start - booked > dt.timedelta(days=1):
        assert reminders, f"{segment} booked {lead_days} days ahead at {booked_at}: no reminder"
