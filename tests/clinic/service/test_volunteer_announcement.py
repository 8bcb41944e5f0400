"""Issue 25, "the volunteer is never announced": matching a long-distance patient queues one outbox row
(action ``volunteer``) telling them the volunteer's first name, the meeting place and time, in their
language, due the day before at the reminder's time; a change of volunteer updates it, no volunteer
withdraws it, and the dispatcher sends it once."""

import datetime as dt

from sqlmodel import Session, select

from clinic.messaging import outreach
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.service import volunteers as service
from clinic.service.models import VolunteerAssignment
from clinic.visits.models import VisitStatus
from clinic.worker import dispatcher
from tests.containers import channels_for, reset_dispatcher, worker_container
from tests.factories import make_unit
from tests.volunteer_factories import TZ, at, make_day_visit, make_volunteer

UNIT = make_unit(tz=TZ)
DAY = dt.date(2027, 1, 11)  # a Monday
BEFORE = at(DAY - dt.timedelta(days=1), 15)  # the afternoon before: the daily matching


def _announcements(session: Session, visit_id: int) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(
        OutboxMessage.visit_id == visit_id, OutboxMessage.action == outreach.VOLUNTEER_ACTION)))


def _match(session: Session, now: dt.datetime = BEFORE) -> service.MatchReport:
    return service.match_day(session=session, day=DAY, unit=UNIT, now=now)


def test_matching_a_long_distance_patient_queues_the_announcement_in_their_language(session):
    make_volunteer(session, "Vera Vrijwilliger")
    dutch = make_day_visit(session, DAY, 10, language="nl")
    local = make_day_visit(session, DAY, 11, far=False)
    _match(session)
    [row] = _announcements(session, dutch.id)
    assert row.status == OutboxStatus.QUEUED and row.language.value == "nl"
    assert row.body == "OneVisit: morgen om 09:50 wacht Vera, een vrijwilliger, u op. Waar: Hoofdingang."
    assert row.due_at == at(DAY - dt.timedelta(days=1), 10)  # the reminder's time, the day before
    assert row.next_attempt_at == BEFORE  # never in the past: as soon as matched
    assert row.channel.value == "sms" and row.recipient == dutch.patient.phone
    assert _announcements(session, local.id) == []
    assert len(list(session.exec(select(OutboxMessage)))) == 1
    _match(session)  # matching again changes nothing
    assert [(r.id, r.body, r.status) for r in _announcements(session, dutch.id)] == [
        (row.id, row.body, OutboxStatus.QUEUED)]


def test_english_and_french_wording(session):
    make_volunteer(session, "Marie Dubois", languages=("fr", "en"))
    english = make_day_visit(session, DAY, 10, language="en")
    french = make_day_visit(session, DAY, 13, language="fr")
    _match(session)
    [en] = _announcements(session, english.id)
    [fr] = _announcements(session, french.id)
    assert en.body == "OneVisit: tomorrow at 09:50 Marie, a volunteer, meets you. Where: Main entrance."
    assert fr.body == "OneVisit: demain à 12:50, Marie, bénévole, vous attend. Où: Entrée principale."


def test_a_change_of_volunteer_updates_the_queued_row(session):
    vera = make_volunteer(session, "Vera Vrijwilliger")
    henk = make_volunteer(session, "Henk Mulder")
    visit = make_day_visit(session, DAY, 10, language="en")
    _match(session)
    assignment = session.exec(select(VolunteerAssignment)).one()
    first = assignment.volunteer_id
    [row] = _announcements(session, visit.id)
    # the coordinator chooses the other volunteer
    other = henk.id if first == vera.id else vera.id
    service.override(session=session, assignment_id=assignment.id, volunteer_id=other, actor_id=None, tz=TZ)
    [updated] = _announcements(session, visit.id)
    name = "Henk" if other == henk.id else "Vera"
    assert updated.id == row.id and updated.status == OutboxStatus.QUEUED
    assert updated.body == f"OneVisit: tomorrow at 09:50 {name}, a volunteer, meets you. Where: Main entrance."
    # automatic matching again, the chosen volunteer gone from the roster: the first one is back
    service.override(session=session, assignment_id=assignment.id, volunteer_id=None, actor_id=None, tz=TZ)
    gone = session.get(type(vera), other)
    gone.active = False
    session.add(gone)
    session.commit()
    _match(session)
    [again] = _announcements(session, visit.id)
    assert again.id == row.id and again.body == row.body


def test_nobody_left_or_a_cancelled_visit_withdraws_it(session):
    vera = make_volunteer(session, "Vera Vrijwilliger")
    visit = make_day_visit(session, DAY, 10)
    other = make_day_visit(session, DAY, 14)
    _match(session)
    assert {r.status for r in _announcements(session, visit.id)} == {OutboxStatus.QUEUED}
    vera.active = False  # nobody available any more: unassigned
    session.add(vera)
    session.commit()
    _match(session)
    assert [r.status for r in _announcements(session, visit.id)] == [OutboxStatus.WITHDRAWN]
    # back on the roster: the same row queued again
    vera.active = True
    session.add(vera)
    session.commit()
    _match(session)
    assert [r.status for r in _announcements(session, visit.id)] == [OutboxStatus.QUEUED]
    # the other visit is cancelled: its assignment goes, and its announcement with it
    other.status = VisitStatus.CANCELLED
    session.add(other)
    session.commit()
    _match(session)
    assert [r.status for r in _announcements(session, other.id)] == [OutboxStatus.WITHDRAWN]
    assert [r.status for r in _announcements(session, visit.id)] == [OutboxStatus.QUEUED]


def test_a_visit_replanned_keeps_its_announcement(session):
    make_volunteer(session, "Vera Vrijwilliger")
    visit = make_day_visit(session, DAY, 10)
    _match(session)
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=BEFORE, unit=UNIT)
    assert [r.status for r in _announcements(session, visit.id)] == [OutboxStatus.QUEUED]


def test_an_announcement_already_sent_is_not_sent_again(session):
    make_volunteer(session, "Vera Vrijwilliger")
    henk = make_volunteer(session, "Henk Mulder")
    visit = make_day_visit(session, DAY, 10, language="en")
    _match(session)
    [row] = _announcements(session, visit.id)
    row.status = OutboxStatus.SENT
    session.add(row)
    session.commit()
    assignment = session.exec(select(VolunteerAssignment)).one()
    service.override(session=session, assignment_id=assignment.id, volunteer_id=henk.id, actor_id=None, tz=TZ)
    [same] = _announcements(session, visit.id)
    assert (same.status, same.body) == (OutboxStatus.SENT, row.body)


def test_the_dispatcher_sends_it_through_twilio_exactly_once(clock, session, fake_twilio, database_url,
                                                            twilio_config):
    clock.move_to(BEFORE)
    dispatcher.configure(worker_container(database_url, tz=TZ, channels=channels_for(twilio_config)),
                         owner="announce")
    try:
        make_volunteer(session, "Vera Vrijwilliger")
        visit = make_day_visit(session, DAY, 10, language="en")
        _match(session)
        assert dispatcher.dispatch_job()["sent"] == 1
        [sms] = fake_twilio.messages()
        assert sms.field("To") == visit.patient.phone
        assert sms.field("Body") == "OneVisit: tomorrow at 09:50 Vera, a volunteer, meets you. Where: Main entrance."
        assert dispatcher.dispatch_job()["sent"] == 0
        _match(session)  # a re-run after sending queues nothing new
        clock.move_to(BEFORE + dt.timedelta(minutes=10))
        assert dispatcher.dispatch_job()["sent"] == 0
        assert len(fake_twilio.messages()) == 1
        assert [r.status for r in _announcements(session, visit.id)] == [OutboxStatus.SENT]
    finally:
        reset_dispatcher()


def test_by_e_mail_for_a_patient_who_reads_e_mail_with_its_own_words(session):
    from clinic.messaging import answers

    make_volunteer(session, "Vera Vrijwilliger")
    visit = make_day_visit(session, DAY, 10, language="en", channel="email", email="anna@example.org")
    caller = make_day_visit(session, DAY, 13, language="en", channel="voice")
    _match(session)
    [row] = _announcements(session, visit.id)
    assert (row.channel.value, row.fallback_channel.value, row.recipient) == ("email", "sms", "anna@example.org")
    [by_sms] = _announcements(session, caller.id)  # a call cannot carry a name and place well: SMS
    assert by_sms.channel.value == "sms" and by_sms.fallback_channel is None
    subject, body = answers.email_words(
        patient=visit.patient, action=row.action, day=DAY, start=at(DAY, 10), pathway="Check-up",
        voucher="", link="https://x/answer/t", tz=TZ, note=row.body,
    )
    assert subject == "Who meets you on Monday 11 January"
    assert "tomorrow at 09:50 Vera, a volunteer, meets you. Where: Main entrance." in body
    assert "https://x/answer/t" in body
