"""Follow-ups: who owns one, when it is due, its history, and that only "yes" to both closes it."""

import datetime as dt

import pytest
from sqlmodel import Session, select

from clinic.errors import Conflict, ValidationError
from clinic.feedback import followups, surveys
from clinic.feedback.models import (
    FollowUp,
    FollowUpEvent,
    FollowUpReason,
    FollowUpStatus,
    Survey,
    SurveyChannel,
    SurveyStatus,
    SurveyTrigger,
)
from clinic.users.models import Role
from tests.factories import make_patient, make_unit, make_user

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
FRIDAY = dt.datetime(2026, 11, 27, 14, 0, tzinfo=dt.UTC)  # 15:00 in Amsterdam
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)  # Monday


def answer(session: Session, patient, got: bool, good: bool, *, now: dt.datetime = NOW, comment: str = "", ref=None,
           trigger=SurveyTrigger.INBOUND):
    survey = Survey(patient_id=patient.id, trigger=trigger, source_ref=ref or f"t:{now.timestamp()}:{got}{good}",
                    channel=SurveyChannel.SMS, language=patient.language, next_attempt_at=now, asked_at=now,
                    attempts=1, created_at=now)
    session.add(survey)
    session.commit()
    return surveys.record_answer(session=session, survey_id=survey.id, got_what_needed=got, good_job=good,
                                 comment=comment, now=now, unit=UNIT)


def kinds(session: Session, follow_up: FollowUp) -> list[str]:
    return [e.kind for e in session.exec(
        select(FollowUpEvent).where(FollowUpEvent.follow_up_id == follow_up.id).order_by(FollowUpEvent.id))]


def test_due_in_two_working_days_skipping_the_weekend():
    assert followups.add_working_days(NOW, 2, TZ) == NOW + dt.timedelta(days=2)
    assert followups.add_working_days(FRIDAY, 2, TZ) == FRIDAY + dt.timedelta(days=4)  # Tuesday 15:00
    saturday = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
    assert followups.add_working_days(saturday, 2, TZ) == dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def test_a_no_opens_a_follow_up_owned_by_the_least_loaded_front_desk_user(session):
    busy = make_user(session, username="busy", role=Role.FRONT_DESK)
    free = make_user(session, username="free", role=Role.FRONT_DESK)
    gone = make_user(session, username="gone", role=Role.FRONT_DESK)
    gone.active = False
    session.add(gone)
    session.commit()
    make_user(session, username="coord", role=Role.COORDINATOR)
    first, _ = answer(session, make_patient(session), False, True)
    answer(session, make_patient(session), True, False)
    answer(session, make_patient(session), False, False)
    owners = [f.owner_id for f in session.exec(select(FollowUp).order_by(FollowUp.id))]
    assert owners == [busy.id, free.id, busy.id]
    follow_up = session.exec(select(FollowUp).order_by(FollowUp.id)).first()
    assert follow_up.reason == FollowUpReason.ANSWERED_NO and follow_up.survey_id == first.id
    assert follow_up.due_at == NOW + dt.timedelta(days=2)
    assert kinds(session, follow_up) == ["opened"]
    assert "needed: no, good job: yes" in follow_up.summary


def test_yes_to_both_without_a_follow_up_opens_nothing(session):
    survey, follow_up = answer(session, make_patient(session), True, True)
    assert follow_up is None and survey.status == SurveyStatus.ANSWERED
    assert session.exec(select(FollowUp)).all() == []


def test_it_closes_only_after_yes_to_both(session):
    desk = make_user(session, username="desk1", role=Role.FRONT_DESK)
    patient = make_patient(session, language="en")
    _, follow_up = answer(session, patient, False, True, comment="nobody called back")
    asked = followups.re_ask(session=session, follow_up_id=follow_up.id, user_id=desk.id, now=NOW + dt.timedelta(hours=1), unit=UNIT)
    assert (asked.trigger, asked.channel, asked.source_ref) == (SurveyTrigger.FOLLOW_UP, SurveyChannel.SMS,
                                                                f"follow_up:{follow_up.id}:1")
    surveys.record_answer(session=session, survey_id=asked.id, got_what_needed=True, good_job=False,
                          now=NOW + dt.timedelta(hours=2), unit=UNIT)
    session.refresh(follow_up)
    assert follow_up.status == FollowUpStatus.OPEN and follow_up.closing_survey_id is None
    assert len(session.exec(select(FollowUp)).all()) == 1  # the second "no" did not open another
    again = followups.re_ask(session=session, follow_up_id=follow_up.id, user_id=desk.id, now=NOW + dt.timedelta(hours=3), unit=UNIT)
    assert again.source_ref == f"follow_up:{follow_up.id}:2"
    surveys.record_answer(session=session, survey_id=again.id, got_what_needed=True, good_job=True,
                          now=NOW + dt.timedelta(hours=4), unit=UNIT)
    session.refresh(follow_up)
    assert follow_up.status == FollowUpStatus.CLOSED and follow_up.closing_survey_id == again.id
    assert follow_up.closed_at == NOW + dt.timedelta(hours=4)
    assert kinds(session, follow_up) == ["opened", "re-asked", "answered", "re-asked", "answered", "closed"]
    with pytest.raises(Conflict):
        followups.re_ask(session=session, follow_up_id=follow_up.id, user_id=desk.id, now=NOW + dt.timedelta(hours=5), unit=UNIT)


def test_an_old_yes_yes_answered_late_does_not_close_a_newer_follow_up(session):
    patient = make_patient(session, language="en")
    early = Survey(patient_id=patient.id, trigger=SurveyTrigger.INBOUND, source_ref="early", channel=SurveyChannel.SMS,
                   language=patient.language, next_attempt_at=NOW, created_at=NOW - dt.timedelta(days=1))
    session.add(early)
    session.commit()
    _, follow_up = answer(session, patient, False, False)
    surveys.record_answer(session=session, survey_id=early.id, got_what_needed=True, good_job=True, now=NOW, unit=UNIT)
    session.refresh(follow_up)
    assert follow_up.status == FollowUpStatus.OPEN


def test_re_ask_withdraws_a_pending_survey_and_respects_stop(session):
    desk = make_user(session, username="desk1", role=Role.FRONT_DESK)
    patient = make_patient(session, language="en")
    _, follow_up = answer(session, patient, False, False)
    other = Survey(patient_id=patient.id, trigger=SurveyTrigger.INBOUND, source_ref="pending", channel=SurveyChannel.SMS,
                   language=patient.language, next_attempt_at=NOW, created_at=NOW)
    session.add(other)
    session.commit()
    followups.re_ask(session=session, follow_up_id=follow_up.id, user_id=desk.id, now=NOW, unit=UNIT)
    session.refresh(other)
    assert other.status == SurveyStatus.WITHDRAWN
    patient.opted_out = True
    session.add(patient)
    session.commit()
    with pytest.raises(Conflict) as error:
        followups.re_ask(session=session, follow_up_id=follow_up.id, user_id=desk.id, now=NOW, unit=UNIT)
    assert error.value.code == "opted_out"
    on_tablet = followups.re_ask(session=session, follow_up_id=follow_up.id, user_id=desk.id, now=NOW, tablet=True, unit=UNIT)
    assert on_tablet.channel == SurveyChannel.TABLET


def test_notes_calls_and_a_new_owner_are_kept_in_the_history(session):
    desk = make_user(session, username="desk1", role=Role.FRONT_DESK)
    coord = make_user(session, username="coord", role=Role.COORDINATOR)
    _, follow_up = answer(session, make_patient(session), False, True)
    followups.add_note(session=session, follow_up_id=follow_up.id, user_id=desk.id, note="left a voicemail", kind="called")
    followups.add_note(session=session, follow_up_id=follow_up.id, user_id=desk.id, note="will try tomorrow")
    followups.reassign(session=session, follow_up_id=follow_up.id, owner_id=coord.id, user_id=desk.id)
    session.refresh(follow_up)
    assert follow_up.owner_id == coord.id
    assert kinds(session, follow_up) == ["opened", "called", "note", "reassigned"]
    with pytest.raises(ValidationError):
        followups.add_note(session=session, follow_up_id=follow_up.id, user_id=desk.id, note="   ")
    with pytest.raises(ValidationError):
        followups.add_note(session=session, follow_up_id=follow_up.id, user_id=desk.id, note="x" * 1001)
    with pytest.raises(ValidationError):
        followups.add_note(session=session, follow_up_id=follow_up.id, user_id=desk.id, note="x", kind="closed")
    volunteer = make_user(session, username="vol", role=Role.VOLUNTEER)
    with pytest.raises(ValidationError):
        followups.reassign(session=session, follow_up_id=follow_up.id, owner_id=volunteer.id, user_id=desk.id)
    assert kinds(session, follow_up) == ["opened", "called", "note", "reassigned"]


def test_overdue_open_follow_ups_are_escalated_once(session):
    make_user(session, username="desk1", role=Role.FRONT_DESK)
    _, late = answer(session, make_patient(session), False, True, now=FRIDAY)
    _, on_time = answer(session, make_patient(session), False, True, now=NOW)
    _, closed = answer(session, make_patient(session), False, True, now=FRIDAY - dt.timedelta(days=7))
    closed.status = FollowUpStatus.CLOSED
    session.add(closed)
    session.commit()
    tuesday_evening = dt.datetime(2026, 12, 1, 18, 0, tzinfo=dt.UTC)
    assert followups.escalate_overdue(session=session, now=tuesday_evening) == [late.id]
    assert followups.escalate_overdue(session=session, now=tuesday_evening) == []
    session.refresh(late)
    assert late.escalated_at == tuesday_evening and kinds(session, late)[-1] == "escalated"
    rows = followups.board(session=session, now=tuesday_evening, show="escalated")
    assert [r.follow_up.id for r in rows] == [late.id] and rows[0].overdue
    assert on_time.id not in [r.follow_up.id for r in rows]


def test_the_board_lists_open_first_then_recently_closed_and_filters_mine(session):
    desk = make_user(session, username="desk1", role=Role.FRONT_DESK)
    other = make_user(session, username="desk2", role=Role.FRONT_DESK)
    _, a = answer(session, make_patient(session), False, True, now=NOW)
    _, b = answer(session, make_patient(session), False, True, now=NOW - dt.timedelta(days=3))  # Friday: due Tuesday
    patient_c = make_patient(session)
    _, c = answer(session, patient_c, False, True, now=NOW - dt.timedelta(days=4))
    answer(session, patient_c, True, True, now=NOW)
    rows = followups.board(session=session, now=NOW)
    assert [r.follow_up.id for r in rows] == [b.id, a.id, c.id]
    assert [r.follow_up.status for r in rows] == [FollowUpStatus.OPEN, FollowUpStatus.OPEN, FollowUpStatus.CLOSED]
    mine = followups.board(session=session, now=NOW, show="mine", user_id=desk.id)
    assert all(r.follow_up.owner_id == desk.id for r in mine) and mine
    assert {r.follow_up.owner_id for r in rows} == {desk.id, other.id}
    assert [r.follow_up.id for r in followups.board(session=session, now=NOW, show="closed")] == [c.id]
    with pytest.raises(ValidationError):
        followups.board(session=session, now=NOW, show="everything")
