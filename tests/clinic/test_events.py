"""Domain events: whichever path books or cancels a visit (the booking service, the desk's cancel, an SMS
CANCEL, a key pressed in a call, an e-mail's answer page), once its transaction commits the visit's outreach is
re-planned and volunteers are matched again, each in its own transaction; a failing handler never undoes the
change, and a transaction that rolls back runs no handler. The listeners sit on the app's session factories,
never on SQLAlchemy's global ``Session`` class."""

import datetime as dt
import logging
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import sqlmodel
from sqlmodel import Session, select

from clinic import events, handlers
from clinic.bootstrap import make_session_factory
from clinic.columns import Channel
from clinic.messaging import answers as email_answers
from clinic.messaging import inbound, outreach
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.refill import services as refill
from clinic.service import touchpoints
from clinic.service import transport as transport_service
from clinic.service import volunteers as volunteer_service
from clinic.service.models import TouchChannel, TransportRequest
from clinic.visits import journey
from clinic.visits.models import Visit, VisitStatus
from tests.clinic.booking.test_services_booking import book, propose, unit
from tests.clinic.service.test_services_transport import sent
from tests.factories import make_patient, make_unit, make_user, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
ZONE = ZoneInfo(TZ)
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)  # Monday
DAY = dt.date(2026, 12, 9)  # a Wednesday, nine days on: the reminder is still to come


@pytest.fixture
def matched(monkeypatch) -> list[int]:
    """The visits volunteer matching ran for."""
    seen: list[int] = []

    def match_visit_day(*, visit_id: int, **_kw):
        seen.append(visit_id)
        return []

    monkeypatch.setattr(volunteer_service, "match_visit_day", match_visit_day)
    return seen


@pytest.fixture
def sessions(clean_db: sa.Engine) -> sa.orm.sessionmaker:
    """The app's kind of session factory, with the clinic's handlers on the clock of these tests."""
    bus = handlers.register(events.MessageBus(), unit=make_unit(local_km=25, regional_km=50), clock=lambda: NOW)
    return make_session_factory(clean_db, bus)


def rows(session: Session, visit_id: int) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.visit_id == visit_id)))


def planned_visit(session: Session, *, channel: Channel = Channel.SMS, phone: str = "+31612340001") -> Visit:
    """A booked visit whose outreach is planned: its reminder is queued."""
    patient = make_patient(session, language="en", channel=channel, phone=phone, email="anna@example.org")
    visit = make_visit(session, patient=patient, day=DAY, start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE))
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    assert any(r.action == "reminder" and r.status == OutboxStatus.QUEUED for r in rows(session, visit.id))
    return visit


def assert_withdrawn(session: Session, visit_id: int) -> None:
    statuses = {r.action: r.status for r in rows(session, visit_id)}
    assert statuses["reminder"] == OutboxStatus.WITHDRAWN
    assert OutboxStatus.QUEUED not in statuses.values()


def test_no_listener_sits_on_the_global_session_class(app, sessions, clean_db) -> None:
    for cls in (sa.orm.Session, sqlmodel.Session):
        assert not sa.event.contains(cls, "after_flush", touchpoints._after_flush)
        assert not sa.event.contains(cls, "do_orm_execute", touchpoints._on_execute)
        with cls(clean_db) as plain:
            for name in ("after_flush", "do_orm_execute", "after_commit", "after_transaction_end"):
                assert len(getattr(plain.dispatch, name)) == 0, (cls, name)
    assert sa.event.contains(sessions, "after_flush", touchpoints._after_flush)
    with sessions() as wired:
        assert len(wired.dispatch.after_commit) == 1 and len(wired.dispatch.after_flush) == 1


def test_booking_through_the_service_plans_the_outreach_and_matches(sessions, session, matched) -> None:
    u = unit(session)
    patient = make_patient(session)
    choice = propose(session, patient, u["pathway"]).options[0]
    with sessions() as handled:
        visit = book(handled, patient, u["pathway"], choice.choice)
    assert {r.action for r in rows(session, visit.id)} >= {"confirmation"}
    assert matched == [visit.id]


def test_without_handlers_a_booking_plans_nothing(session, matched) -> None:
    u = unit(session)
    patient = make_patient(session)
    choice = propose(session, patient, u["pathway"]).options[0]
    visit = book(session, patient, u["pathway"], choice.choice)
    assert rows(session, visit.id) == [] and matched == []


def test_the_desks_cancel_withdraws_the_reminders_and_matches(sessions, session, matched) -> None:
    visit = planned_visit(session)
    with sessions() as handled:
        refill.cancel_visit(session=handled, visit_id=visit.id, reason="ill", now=NOW, actor_id=None)
    assert_withdrawn(session, visit.id)
    assert matched == [visit.id]


def test_a_no_show_is_a_cancellation_too(sessions, session, matched) -> None:
    visit = planned_visit(session)
    with sessions() as handled:
        refill.cancel_visit(session=handled, visit_id=visit.id, reason="did not come", no_show=True, unit=UNIT,
                            now=dt.datetime.combine(DAY, dt.time(11), ZONE))  # its arrival window has passed
    assert_withdrawn(session, visit.id)
    assert matched == [visit.id]


def test_an_sms_cancel_withdraws_the_reminders_and_matches(sessions, session, matched) -> None:
    visit = planned_visit(session, phone="+31612340002")
    with sessions() as handled:
        result = inbound.handle_sms(session=handled, from_number="+31612340002", body="CANCEL", now=NOW, unit=UNIT,
                                    after_cancel=lambda _visit_id: None)
    assert result.outcome == "cancelled"
    assert_withdrawn(session, visit.id)
    assert matched == [visit.id]


def test_a_cancel_key_in_the_reminder_call_withdraws_the_reminders_and_matches(sessions, session, matched) -> None:
    visit = planned_visit(session)
    with sessions() as handled:
        result = inbound.handle_call_choice(session=handled, visit_id=visit.id, digits="2", now=NOW, unit=UNIT,
                                            after_cancel=lambda _visit_id: None)
    assert result.outcome == "cancelled"
    assert_withdrawn(session, visit.id)
    assert matched == [visit.id]


def test_a_cancel_on_the_emails_answer_page_withdraws_the_reminders_and_matches(sessions, session, matched) -> None:
    visit = planned_visit(session, channel=Channel.EMAIL)
    row = sent(session, visit, "confirmation", at=NOW, channel=Channel.EMAIL, recipient="anna@example.org",
               sent_at=NOW)
    with sessions() as handled:
        result = email_answers.answer(session=handled, outbox_id=row.id, choice=email_answers.CANCEL, now=NOW,
                                      unit=UNIT, after_cancel=lambda _visit_id: None)
    assert result.outcome == "cancelled"
    assert_withdrawn(session, visit.id)
    assert matched == [visit.id]


def test_a_failing_handler_never_undoes_the_change(sessions, session, matched, monkeypatch, caplog) -> None:
    visit = planned_visit(session)

    def broken(**_kw):
        raise RuntimeError("planner down")

    monkeypatch.setattr(outreach, "plan_visit_outreach", broken)
    with caplog.at_level(logging.ERROR), sessions() as handled:
        refill.cancel_visit(session=handled, visit_id=visit.id, reason="ill", now=NOW)
    session.expire_all()
    assert session.get(Visit, visit.id).status == VisitStatus.CANCELLED
    assert re.search(r"replan_outreach after VisitCancelled\(visit_id=\d+.*\) failed", caplog.text)
    assert matched == [visit.id]  # the other handler still ran


def test_a_rolled_back_transaction_runs_no_handler(sessions, session, matched) -> None:
    visit = planned_visit(session)
    with sessions() as handled:
        handled_visit = handled.get(Visit, visit.id)
        handled_visit.status = VisitStatus.CANCELLED
        events.record(handled, events.VisitCancelled(visit_id=visit.id))
        handled.rollback()
        handled.commit()  # nothing left to hand over
    assert matched == []
    assert {r.status for r in rows(session, visit.id)} == {OutboxStatus.QUEUED}
    assert session.get(Visit, visit.id).status == VisitStatus.BOOKED


def test_the_actor_travels_with_the_event(sessions, session, matched, monkeypatch) -> None:
    visit = planned_visit(session)
    clerk = make_user(session)
    actors: list[int | None] = []
    real = outreach.plan_visit_outreach

    def spy(**kw):
        actors.append(kw["actor_id"])
        return real(**kw)

    monkeypatch.setattr(outreach, "plan_visit_outreach", spy)
    with sessions() as handled:
        refill.cancel_visit(session=handled, visit_id=visit.id, reason="ill", now=NOW, actor_id=clerk.id)
    assert actors == [clerk.id]
    assert_withdrawn(session, visit.id)


# --- answers withdraw what they answer; a finished visit withdraws what is still queued -------------------


def offer_queued(session: Session, *, phone: str = "+31612340009") -> tuple[Visit, OutboxMessage]:
    """A 78-year-old's visit: the rules queue its transport offer at booking (the SMS went out, the offer's
    call still waits for 9:00, as the Outbox showed)."""
    patient = make_patient(session, language="en", channel=Channel.SMS, phone=phone, email="old@example.org",
                           birth_date=dt.date(1948, 3, 1))  # fmt: skip
    visit = make_visit(session, patient=patient, day=DAY, start=dt.datetime.combine(DAY, dt.time(10, 30), ZONE))
    sent(session, visit, transport_service.OFFER_ACTION, at=NOW - dt.timedelta(hours=1))
    call = sent(session, visit, transport_service.OFFER_ACTION, at=NOW + dt.timedelta(hours=2), channel=Channel.VOICE,
                status=OutboxStatus.QUEUED, sent_at=None)  # fmt: skip
    return visit, call


def _by_sms(handled, visit, call):
    inbound.handle_sms(session=handled, from_number=visit.patient.phone, body="YES", now=NOW, unit=UNIT,
                       after_cancel=lambda _visit_id: None)  # fmt: skip


def _by_call_keypress(handled, visit, call):
    inbound.handle_call_choice(session=handled, visit_id=visit.id, digits="2", now=NOW, unit=UNIT,
                               action=transport_service.OFFER_ACTION)  # fmt: skip


def _by_email_page(handled, visit, call):
    mail = sent(handled, visit, transport_service.OFFER_ACTION, at=NOW - dt.timedelta(minutes=30),
                channel=Channel.EMAIL)  # fmt: skip
    email_answers.answer(session=handled, outbox_id=mail.id, choice=email_answers.TRANSPORT_YES, now=NOW, unit=UNIT)


def _by_the_desk(handled, visit, call):
    transport_service.record_answer(session=handled, visit_id=visit.id, wanted=True, channel=TouchChannel.PHONE,
                                    now=NOW, actor_id=None)  # fmt: skip


@pytest.mark.parametrize("answer", [_by_sms, _by_call_keypress, _by_email_page, _by_the_desk])
def test_an_answer_by_any_channel_withdraws_the_queued_offer(sessions, session, matched, answer) -> None:
    visit, call = offer_queued(session)
    with sessions() as handled:
        answer(handled, handled.get(Visit, visit.id), call)
    session.expire_all()
    row = session.get(OutboxMessage, call.id)
    assert row.status == OutboxStatus.WITHDRAWN and row.last_error.startswith(outreach.ANSWERED)
    assert session.exec(select(TransportRequest).where(TransportRequest.visit_id == visit.id)).one()
    # a later re-plan (the visit moved, say) does not queue the answered offer again
    outreach.plan_visit_outreach(session=session, visit_id=visit.id, now=NOW, unit=UNIT)
    queued = [r for r in rows(session, visit.id) if r.status == OutboxStatus.QUEUED]
    assert transport_service.OFFER_ACTION not in {r.action for r in queued}


def test_marking_transport_arranged_withdraws_the_queued_offer(sessions, session, matched) -> None:
    visit, call = offer_queued(session)
    request = TransportRequest(visit_id=visit.id, patient_id=visit.patient_id, wanted=True,
                               channel=TouchChannel.PHONE, answered_at=NOW)  # fmt: skip
    session.add(request)
    session.commit()
    with sessions() as handled:
        transport_service.mark_arranged(session=handled, request_id=request.id, actor_id=None, now=NOW, note="taxi")
    session.expire_all()
    assert session.get(OutboxMessage, call.id).status == OutboxStatus.WITHDRAWN


def test_a_completed_visit_withdraws_its_queued_messages(sessions, session, matched) -> None:
    visit, call = offer_queued(session)
    visit.status = VisitStatus.CHECKED_IN
    session.add(visit)
    session.commit()
    day_unit = make_unit(tz=TZ)
    with sessions() as handled:
        for step in sorted(handled.get(Visit, visit.id).steps, key=lambda s: s.planned_start):
            for action in ("start", "finish"):
                journey.step_action(session=handled, visit_id=visit.id, visit_step_id=step.id, action=action,
                                    actor_id=None, unit=day_unit, at=step.planned_end)  # fmt: skip
    session.expire_all()
    assert session.get(Visit, visit.id).status == VisitStatus.COMPLETED
    assert session.get(OutboxMessage, call.id).status == OutboxStatus.WITHDRAWN
    assert OutboxStatus.QUEUED not in {r.status for r in rows(session, visit.id)}
