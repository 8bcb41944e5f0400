"""The volunteers service on a real database: matching a day, overrides, flags, outcomes, the volunteer's
restricted list and the evening-before SMS."""

import dataclasses
import datetime as dt

import pytest
from sqlmodel import Session, select

from clinic.errors import Conflict, ValidationError
from clinic.messaging.models import OutboxStatus
from clinic.service import volunteer_notices
from clinic.service import volunteers as service
from clinic.service.models import (
    AssignmentReason,
    AssignmentSource,
    MeetingOutcome,
    VolunteerAssignment,
    VolunteerNotice,
)
from clinic.visits.models import VisitStatus
from tests.factories import make_pathway, make_unit
from tests.peers.fakes import RecordingChannel
from tests.volunteer_factories import TZ, at, make_day_visit, make_volunteer, weekday_after

UNIT = make_unit()

DAY = weekday_after(dt.date.today(), 0, min_days=8)  # a Monday at least a week ahead
BEFORE = at(DAY - dt.timedelta(days=1), 15)  # the afternoon before


def _rows(session: Session) -> dict[int, VolunteerAssignment]:
    session.expire_all()
    return {r.visit_id: r for r in session.exec(select(VolunteerAssignment))}


def _match(session: Session, now: dt.datetime = BEFORE, **kw) -> service.MatchReport:
    return service.match_day(session=session, day=DAY, unit=UNIT, now=now, **kw)


def test_long_distance_patients_are_matched_and_local_ones_left_out(session):
    vera = make_volunteer(session, "Vera")
    far = make_day_visit(session, DAY, 10)
    near = make_day_visit(session, DAY, 10, 30, far=False)
    report = _match(session)
    rows = _rows(session)
    assert set(rows) == {far.id} and near.id not in rows
    row = rows[far.id]
    assert row.volunteer_id == vera.id and row.reason == AssignmentReason.LONG_DISTANCE
    assert row.meet_at == at(DAY, 9, 50) and row.leave_at == at(DAY, 10, 40)
    assert row.day == DAY and row.meeting_place == service.MEETING_PLACE
    assert (report.assigned, report.unassigned) == (1, 0)


def test_matching_twice_changes_nothing(session):
    make_volunteer(session, "Vera")
    make_volunteer(session, "Henk")
    visits = [make_day_visit(session, DAY, 9 + i) for i in range(4)]
    _match(session)
    first = {v: (r.id, r.volunteer_id, r.match_note) for v, r in _rows(session).items()}
    report = _match(session)
    assert report.changed == 0 and report.removed == 0
    assert {v: (r.id, r.volunteer_id, r.match_note) for v, r in _rows(session).items()} == first
    assert set(first) == {v.id for v in visits}


def test_the_patients_language_and_the_returning_volunteer_are_preferred(session):
    make_volunteer(session, "Henk", languages=("nl",))
    marie = make_volunteer(session, "Marie", languages=("fr", "nl"))
    french = make_day_visit(session, DAY, 10, language="fr")
    _match(session)
    assert _rows(session)[french.id].volunteer_id == marie.id
    # a returning Dutch patient gets the volunteer who met them last time
    earlier = DAY - dt.timedelta(days=7)
    returning = make_day_visit(session, earlier, 10)
    service.match_day(session=session, day=earlier, unit=UNIT, now=at(earlier, 8))
    last_time = _rows(session)[returning.id].volunteer_id
    again = make_day_visit(session, DAY, 13, pathway=None)
    again.patient_id = returning.patient_id
    session.add(again)
    session.commit()
    _match(session)
    row = _rows(session)[again.id]
    assert row.volunteer_id == last_time and "returning" in row.match_note.split()


def test_nobody_for_the_stay_leaves_the_patient_unassigned_with_a_reason(session):
    assert _match(session).assigned == 0  # an empty day is fine
    visit = make_day_visit(session, DAY, 10)
    _match(session)
    assert _rows(session)[visit.id].match_note == "nobody_available"
    make_volunteer(session, "Early", starts=dt.time(8), ends=dt.time(10))
    _match(session)
    row = _rows(session)[visit.id]
    assert (row.volunteer_id, row.match_note) == (None, "no_cover")


def test_one_volunteer_cannot_meet_two_patients_at_nearly_the_same_time(session):
    vera = make_volunteer(session, "Vera")
    first = make_day_visit(session, DAY, 10)
    second = make_day_visit(session, DAY, 10, 10)
    _match(session, min_gap=20)
    rows = _rows(session)
    assert sorted([rows[first.id].volunteer_id, rows[second.id].volunteer_id], key=str) == sorted([vera.id, None], key=str)
    assert {rows[first.id].match_note, rows[second.id].match_note} >= {"all_busy"}


def test_overrides_are_kept_and_cancelled_visits_lose_their_row(session):
    vera = make_volunteer(session, "Vera")
    henk = make_volunteer(session, "Henk")
    visit = make_day_visit(session, DAY, 10)
    other = make_day_visit(session, DAY, 14)
    _match(session)
    row = _rows(session)[visit.id]
    chosen = henk if row.volunteer_id == vera.id else vera
    service.override(session=session, assignment_id=row.id, volunteer_id=chosen.id, actor_id=None, tz=TZ)
    _match(session)
    row = _rows(session)[visit.id]
    assert (row.volunteer_id, row.source) == (chosen.id, AssignmentSource.OVERRIDE)
    other.status = VisitStatus.CANCELLED
    visit.status = VisitStatus.CANCELLED
    session.add_all([other, visit])
    session.commit()
    assert _match(session).removed == 2
    assert _rows(session) == {}


def test_an_override_must_be_available_and_can_go_back_to_automatic(session):
    make_volunteer(session, "Vera")
    late = make_volunteer(session, "Late", starts=dt.time(14), ends=dt.time(18))
    visit = make_day_visit(session, DAY, 10)
    _match(session)
    row = _rows(session)[visit.id]
    with pytest.raises(ValidationError) as refused:
        service.override(session=session, assignment_id=row.id, volunteer_id=late.id, actor_id=None, tz=TZ)
    assert refused.value.code == "not_available"
    with pytest.raises(ValidationError):
        service.override(session=session, assignment_id=row.id, volunteer_id=99999, actor_id=None, tz=TZ)
    service.override(session=session, assignment_id=row.id, volunteer_id=None, actor_id=None, tz=TZ)
    assert _rows(session)[visit.id].source == AssignmentSource.AUTO


def test_a_flagged_local_visit_gets_a_volunteer_and_a_flag_is_idempotent(session):
    vera = make_volunteer(session, "Vera")
    visit = make_day_visit(session, DAY, 11, far=False)
    now = at(DAY, 8)
    first = service.flag_visit(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=now)
    again = service.flag_visit(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=now)
    assert first.id == again.id and again.reason == AssignmentReason.FLAGGED
    _match(session, now=now)
    assert _rows(session)[visit.id].volunteer_id == vera.id
    cancelled = make_day_visit(session, DAY, 12, status=VisitStatus.CANCELLED)
    with pytest.raises(Conflict):
        service.flag_visit(session=session, visit_id=cancelled.id, actor_id=None, unit=UNIT, now=now)
    with pytest.raises(Conflict):
        service.flag_visit(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=at(DAY + dt.timedelta(days=1), 9))


def test_a_meeting_already_due_keeps_its_volunteer(session):
    vera = make_volunteer(session, "Vera")
    visit = make_day_visit(session, DAY, 10)
    _match(session)
    henk = make_volunteer(session, "Henk", languages=("nl",))
    french_speaker = visit.patient
    french_speaker.language = "fr"
    session.add(french_speaker)
    make_volunteer(session, "Marie", languages=("fr",))
    session.commit()
    _match(session, now=at(DAY, 9, 55))  # past the meeting time: nothing moves
    assert _rows(session)[visit.id].volunteer_id == vera.id
    assert henk.id != vera.id


def test_outcomes_only_by_the_assigned_volunteer_and_only_on_the_day(session):
    vera = make_volunteer(session, "Vera")
    henk = make_volunteer(session, "Henk", weekdays=())
    visit = make_day_visit(session, DAY, 10)
    _match(session)
    row = _rows(session)[visit.id]
    with pytest.raises(service.NotYours):
        service.record_outcome(session=session, assignment_id=row.id, volunteer_id=henk.id, outcome="met",
                               now=at(DAY, 11), tz=TZ)
    with pytest.raises(Conflict) as wrong_day:
        service.record_outcome(session=session, assignment_id=row.id, volunteer_id=vera.id, outcome="met",
                               now=BEFORE, tz=TZ)
    assert wrong_day.value.code == "not_today"
    with pytest.raises(ValidationError):
        service.record_outcome(session=session, assignment_id=row.id, volunteer_id=vera.id, outcome="maybe",
                               now=at(DAY, 11), tz=TZ)
    service.record_outcome(session=session, assignment_id=row.id, volunteer_id=vera.id, outcome="not_met",
                           now=at(DAY, 11), tz=TZ)
    assert _rows(session)[visit.id].outcome == MeetingOutcome.NOT_MET


def test_the_volunteers_list_holds_only_what_helping_needs(session):
    vera = make_volunteer(session, "Vera")
    visit = make_day_visit(session, DAY, 10, given_name="Johanna", family_name="van Dijk", needs_wheelchair=True,
                           needs_hearing=True, language="fr")
    _match(session)
    rows = service.volunteer_list(session=session, volunteer_id=vera.id, days=[DAY])
    assert len(rows) == 1
    row = rows[0]
    assert {f.name for f in dataclasses.fields(row)} == {
        "assignment_id", "day", "first_name", "family_initial", "meet_at", "leave_at", "meeting_place", "language",
        "wheelchair", "hearing", "outcome",
    }
    assert (row.short_name, row.language, row.wheelchair, row.hearing) == ("Johanna V.", "fr", True, True)
    shown = " ".join(str(getattr(row, f.name)) for f in dataclasses.fields(row))
    for secret in (visit.patient.mrn, visit.patient.phone, "van Dijk", visit.patient.address_line):
        assert secret not in shown
    assert service.volunteer_list(session=session, volunteer_id=vera.id, days=[DAY + dt.timedelta(days=1)]) == []


def test_notices_one_per_volunteer_in_their_language_due_the_evening_before(session):
    marie = make_volunteer(session, "Marie", languages=("fr", "nl"))
    make_day_visit(session, DAY, 10, given_name="Anna", family_name="Jansen", needs_wheelchair=True)
    _match(session)
    report = volunteer_notices.queue_notices(session=session, day=DAY, now=BEFORE, tz=TZ)
    assert report.queued == 1
    notice = session.exec(select(VolunteerNotice)).one()
    assert notice.volunteer_id == marie.id and notice.recipient == marie.phone
    assert notice.due_at == at(DAY - dt.timedelta(days=1), 18)
    assert "Anna J." in notice.body and "Jansen" not in notice.body and "09:50" in notice.body
    assert "lun." in notice.body  # the day in French (Babel), whatever the catalogs hold
    again = volunteer_notices.queue_notices(session=session, day=DAY, now=BEFORE, tz=TZ)
    assert (again.queued, again.updated) == (0, 0)
    make_day_visit(session, DAY, 13, given_name="Bram", family_name="Bakker")
    _match(session)
    assert volunteer_notices.queue_notices(session=session, day=DAY, now=BEFORE, tz=TZ).updated == 1
    session.refresh(notice)
    assert "Bram B." in notice.body
    assert len(session.exec(select(VolunteerNotice)).all()) == 1


def test_a_late_match_queues_the_notice_outside_quiet_hours(session):
    make_volunteer(session, "Vera")
    make_day_visit(session, DAY, 10)
    _match(session)
    late = at(DAY - dt.timedelta(days=1), 21)
    volunteer_notices.queue_notices(session=session, day=DAY, now=late, tz=TZ)
    assert session.exec(select(VolunteerNotice)).one().due_at == at(DAY, 9)


def test_due_notices_are_sent_once_and_failures_are_not_retried(session):
    make_volunteer(session, "Vera")
    make_volunteer(session, "Henk")
    make_day_visit(session, DAY, 9)
    make_day_visit(session, DAY, 13)
    _match(session)
    volunteer_notices.queue_notices(session=session, day=DAY, now=BEFORE, tz=TZ)
    assert len(session.exec(select(VolunteerNotice)).all()) == 2
    channel = RecordingChannel("sms", fail=1, retryable=True)
    assert volunteer_notices.send_due_notices(session=session, channels={"sms": channel}, now=BEFORE, unit=UNIT).sent == 0
    evening = at(DAY - dt.timedelta(days=1), 18, 1)
    report = volunteer_notices.send_due_notices(session=session, channels={"sms": channel}, now=evening, unit=UNIT)
    assert (report.sent, report.failed) == (1, 1)
    again = volunteer_notices.send_due_notices(session=session, channels={"sms": channel}, now=evening, unit=UNIT)
    assert (again.sent, again.failed) == (0, 0)
    assert len(channel.sent) == 1 and len(channel.refused) == 1
    statuses = sorted(n.status.value for n in session.exec(select(VolunteerNotice)))
    assert statuses == ["failed", "sent"]
    # a queued notice is brought up to date, a sent one is never queued again
    assert volunteer_notices.queue_notices(session=session, day=DAY, now=evening, tz=TZ) == volunteer_notices.NoticeReport(0, 0, 0)


def test_notices_wait_for_the_end_of_quiet_hours_and_skip_past_days(session):
    make_volunteer(session, "Vera")
    make_day_visit(session, DAY, 10)
    _match(session)
    volunteer_notices.queue_notices(session=session, day=DAY, now=BEFORE, tz=TZ)
    channel = RecordingChannel("sms")
    night = at(DAY - dt.timedelta(days=1), 22)
    assert volunteer_notices.send_due_notices(session=session, channels={"sms": channel}, now=night, unit=UNIT).postponed == 1
    notice = session.exec(select(VolunteerNotice)).one()
    session.refresh(notice)
    assert notice.due_at == at(DAY, 9) and channel.sent == []
    after = at(DAY + dt.timedelta(days=1), 10)
    assert volunteer_notices.send_due_notices(session=session, channels={"sms": channel}, now=after, unit=UNIT).skipped == 1
    session.refresh(notice)
    assert notice.status == OutboxStatus.SKIPPED and channel.sent == []


def test_a_notice_claimed_by_another_sender_is_not_sent_again(session):
    make_volunteer(session, "Vera")
    make_day_visit(session, DAY, 10)
    _match(session)
    volunteer_notices.queue_notices(session=session, day=DAY, now=BEFORE, tz=TZ)
    notice = session.exec(select(VolunteerNotice)).one()
    notice.status = OutboxStatus.SENDING  # another sender (or one that died) holds it
    session.add(notice)
    session.commit()
    channel = RecordingChannel("sms")
    volunteer_notices.send_due_notices(session=session, channels={"sms": channel}, now=at(DAY - dt.timedelta(days=1), 19), unit=UNIT)
    assert channel.sent == []


def test_a_visit_moved_to_another_day_takes_its_row_along(session):
    make_volunteer(session, "Vera")
    visit = make_day_visit(session, DAY, 10)
    _match(session)
    other_day = DAY + dt.timedelta(days=1)
    visit.date = other_day
    for step in visit.steps:
        step.planned_start += dt.timedelta(days=1)
        step.planned_end += dt.timedelta(days=1)
    session.add(visit)
    session.commit()
    reports = service.match_visit_day(session=session, visit_id=visit.id, unit=UNIT, now=BEFORE)
    assert [r.day for r in reports] == [DAY, other_day]
    row = _rows(session)[visit.id]
    assert row.day == other_day and row.volunteer_id is not None


def test_next_clinic_day_skips_days_the_clinic_is_closed(session):
    friday = weekday_after(dt.date(2030, 1, 1), 4)
    assert service.next_clinic_day(session=session, after=friday) == friday + dt.timedelta(days=3)
    make_pathway(session)  # resources open Monday to Friday come with visits; none here: default weekdays
