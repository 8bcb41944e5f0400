"""The SIU feed: a real MLLP receiver on 127.0.0.1 gets S12 on booking, S13 on a move, S14 on a re-arrangement
and S15 on a cancellation, each once and in order, parsed with hl7apy; a receiver that is down is retried until
it takes the message (once); one that answers AE fails the row with its reason (on the Outbox screen, off the
call list); without SIU_MLLP_ADDRESS nothing is queued."""

import datetime as dt

import pytest
from hl7apy.parser import parse_message
from sqlmodel import Session, select

from clinic import events
from clinic.bootstrap import channels_from, siu_feed_from
from clinic.columns import OutboxChannel
from clinic.messaging import outreach, recovery
from clinic.messaging.models import OutboxMessage, OutboxStatus
from clinic.messaging.siu import SiuFeed, escape
from clinic.settings import ConfigError, load_settings
from clinic.visits.models import Visit
from outreach.channels.mllp import MllpChannel
from tests.clinic.messaging.outbound_flow import (
    UNIT,
    book,
    cancel,
    dispatch,
    handled_factory,
    move,
    pathway,
    rows,
)
from tests.factories import make_patient


@pytest.fixture
def feed_flow(clock, clean_db, mllp_peer):
    feed = SiuFeed(address=mllp_peer.address, sending_application="ONEVISIT", receiving_application="HIS")
    channels = {"hl7": MllpChannel(host="127.0.0.1", port=mllp_peer.port, timeout=2)}
    with handled_factory(clean_db, feed=feed)() as session:
        yield session, channels, mllp_peer, clock


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def siu_rows(session: Session, visit_id: int) -> list[OutboxMessage]:
    return rows(session, visit_id, channel=OutboxChannel.HL7)


def test_booking_moving_rearranging_and_cancelling_reach_the_receiver_in_order(feed_flow) -> None:
    session, channels, peer, _clock = feed_flow
    peer.start()
    patient = make_patient(session, mrn="P004711", family_name="Jansen", given_name="Anna")
    visit = book(session, patient.id, pathway(session).id)
    first_start = min(s.planned_start for s in visit.steps).astimezone(UNIT.zone)
    assert dispatch(session, channels, now()).sent == 1
    moved = move(session, session.get(Visit, visit.id))
    events.record(session, events.VisitRearranged(visit_id=visit.id))
    session.commit()
    cancel(session, session.get(Visit, visit.id))
    assert [r.action for r in siu_rows(session, visit.id)] == ["siu_s12", "siu_s13", "siu_s14", "siu_s15"]
    assert dispatch(session, channels, now()).sent == 3
    assert dispatch(session, channels, now()).sent == 0  # each once

    messages = [parse_message(text, find_groups=True) for text in peer.received]
    assert [m.msh.msh_9.to_er7() for m in messages] == [
        "SIU^S12^SIU_S12", "SIU^S13^SIU_S12", "SIU^S14^SIU_S12", "SIU^S15^SIU_S12"]
    control_ids = [m.msh.msh_10.to_er7() for m in messages]
    assert control_ids == [f"OV{r.id}" for r in siu_rows(session, visit.id)] and len(set(control_ids)) == 4
    booked, rescheduled, _changed, cancelled = messages
    assert booked.sch.sch_1.to_er7() == booked.sch.sch_2.to_er7() == f"{visit.id}^ONEVISIT"
    assert booked.sch.sch_25.to_er7().startswith("Booked^") and cancelled.sch.sch_25.to_er7().startswith("Cancelled^")
    assert booked.msh.msh_5.to_er7() == "HIS"
    patient_group = booked.siu_s12_patient
    assert patient_group.pid.pid_3.to_er7() == "P004711^^^ONEVISIT^MR"
    assert patient_group.pid.pid_5.to_er7() == "Jansen^Anna"
    services = booked.siu_s12_resources.siu_s12_service
    assert [s.ais.ais_3.to_er7().split("^")[0] for s in services] == ["reg", "cons", "out"]
    assert len(booked.siu_s12_resources.siu_s12_general_resource) == 3
    assert booked.sch.sch_11.to_er7().split("^")[3] == first_start.strftime("%Y%m%d%H%M%S%z")
    session.refresh(moved)
    assert rescheduled.sch.sch_11.to_er7().split("^")[3] == moved.announced_at.astimezone(UNIT.zone).strftime(
        "%Y%m%d%H%M%S%z")
    assert rescheduled.sch.sch_11.to_er7().split("^")[3].startswith("20261221")
    assert all(r.status == OutboxStatus.SENT and r.provider_id == f"hl7-OV{r.id}" for r in siu_rows(session, visit.id))


def test_a_receiver_that_is_down_is_retried_and_then_gets_the_message_once(feed_flow) -> None:
    session, channels, peer, clock = feed_flow
    patient = make_patient(session)
    visit = book(session, patient.id, pathway(session).id)
    report = dispatch(session, channels, now())
    assert report.retried == 1 and peer.received == []
    [row] = siu_rows(session, visit.id)
    assert row.status == OutboxStatus.QUEUED and row.attempts == 1 and "ConnectionRefusedError" in row.last_error
    assert not row.on_call_list
    peer.start()
    assert dispatch(session, channels, now()).sent == 0  # not before its backoff
    clock.shift(dt.timedelta(minutes=6))
    assert dispatch(session, channels, now()).sent == 1
    assert dispatch(session, channels, now() + dt.timedelta(hours=1)).sent == 0
    assert len(peer.received) == 1 and f"|OV{row.id}|" in peer.received[0]
    [row] = siu_rows(session, visit.id)
    assert row.status == OutboxStatus.SENT and row.attempts == 2 and row.last_error is None


def test_a_silent_receiver_is_a_retryable_failure(feed_flow) -> None:
    session, channels, peer, _clock = feed_flow
    peer.state.silent = True
    peer.start()
    channels = {"hl7": MllpChannel(host="127.0.0.1", port=peer.port, timeout=0.3)}
    visit = book(session, make_patient(session).id, pathway(session).id)
    assert dispatch(session, channels, now()).retried == 1
    [row] = siu_rows(session, visit.id)
    assert row.status == OutboxStatus.QUEUED and "no ACK within 0.3 s" in row.last_error


def test_an_application_error_fails_the_row_with_the_receiver_s_reason(feed_flow, coordinator_client,
                                                                       form_token) -> None:
    session, channels, peer, _clock = feed_flow
    peer.state.answer, peer.state.reason = "AE", "Unknown patient P000999"
    peer.start()
    visit = book(session, make_patient(session).id, pathway(session).id)
    report = dispatch(session, channels, now())
    assert report.failed == 1 and len(peer.received) == 1
    [row] = siu_rows(session, visit.id)
    assert row.status == OutboxStatus.FAILED and not row.on_call_list
    assert row.last_error.startswith("HL7 AE: Unknown patient P000999")
    assert "\r" in row.body  # segments, shown one a line on the Outbox screen
    assert dispatch(session, channels, now() + dt.timedelta(hours=1)).sent == 0 and len(peer.received) == 1
    page = coordinator_client.get("/outbox?channel=hl7").get_data(as_text=True)
    assert "HL7 feed (SIU)" in page and "Unknown patient P000999" in page and "SIU S12: visit booked" in page
    assert f"SIU^S12^SIU_S12|OV{row.id}|P|2.5\nSCH|" in page and "Call the patient" not in page
    for language, words in (("nl", ("HL7-koppeling (SIU)", "SIU S12: bezoek geboekt")),
                            ("fr", ("Flux HL7 (SIU)", "SIU S12 : visite réservée"))):
        token = form_token(coordinator_client, "/outbox")
        coordinator_client.post("/language", data={"language": language, "next": "/outbox", "csrf_token": token})
        page = coordinator_client.get("/outbox?channel=hl7").get_data(as_text=True)
        assert all(word in page for word in words), language


def test_a_later_message_waits_for_the_visit_s_earlier_one(feed_flow) -> None:
    session, channels, peer, clock = feed_flow
    visit = book(session, make_patient(session).id, pathway(session).id)
    assert dispatch(session, channels, now()).retried == 1  # S12: nobody listens yet
    cancel(session, session.get(Visit, visit.id))
    peer.start()
    report = dispatch(session, channels, now())
    assert report.postponed == 1 and peer.received == []  # S15 does not overtake S12
    clock.shift(dt.timedelta(minutes=6))
    assert dispatch(session, channels, now()).sent == 2
    assert [text.split("\r")[0].split("|")[8] for text in peer.received] == ["SIU^S12^SIU_S12", "SIU^S15^SIU_S12"]


def test_without_the_setting_nothing_is_queued(clock, clean_db) -> None:
    with handled_factory(clean_db)() as session:
        visit = book(session, make_patient(session).id, pathway(session).id)
        cancel(session, session.get(Visit, visit.id))
        assert siu_rows(session, visit.id) == []
        assert session.exec(select(OutboxMessage).where(OutboxMessage.channel == OutboxChannel.HL7)).all() == []
    plain = load_settings({"TESTING": True})
    assert siu_feed_from(plain) is None and "hl7" not in channels_from(plain)


def test_the_setting_builds_the_feed_and_its_channel_and_refuses_a_bad_address() -> None:
    settings = load_settings({"TESTING": True, "SIU_MLLP_ADDRESS": "hl7.hospital.local:2575",
                              "SIU_TIMEOUT_SECONDS": 4, "SIU_RECEIVING_APPLICATION": "HIS"})
    feed = siu_feed_from(settings)
    assert feed.address == "hl7.hospital.local:2575" and feed.receiving_application == "HIS"
    channel = channels_from(settings)["hl7"]
    assert (channel.host, channel.port, channel.timeout) == ("hl7.hospital.local", 2575, 4)
    for bad in ("hl7.hospital.local", "host:0", "host:http"):
        with pytest.raises(ConfigError, match="SIU_MLLP_ADDRESS"):
            load_settings({"TESTING": True, "SIU_MLLP_ADDRESS": bad})


def test_names_with_hl7_delimiters_are_escaped() -> None:
    assert escape("A|B^C&D~E\\F\nG") == "A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F G"


def test_a_completed_visit_keeps_its_queued_messages_and_a_dead_dispatcher_s_claim_is_sent_again(feed_flow) -> None:
    session, channels, peer, clock = feed_flow
    visit = book(session, make_patient(session).id, pathway(session).id)
    [row] = siu_rows(session, visit.id)
    outreach.withdraw_visit_outreach(session=session, visit_id=visit.id, why="visit completed")
    assert siu_rows(session, visit.id)[0].status == OutboxStatus.QUEUED  # the feed tells the whole story
    row.status, row.claimed_by, row.claimed_at = OutboxStatus.SENDING, "dead", now() - dt.timedelta(minutes=5)
    session.add(row)
    session.commit()
    assert recovery.recover_stale(session=session, channels=channels, owner="test", now=now(), unit=UNIT) == 1
    [row] = siu_rows(session, visit.id)
    assert row.status == OutboxStatus.QUEUED and not row.on_call_list and "same control id" in row.last_error
    peer.start()
    assert dispatch(session, channels, now()).sent == 1 and f"|OV{row.id}|" in peer.received[0]


def test_a_no_show_is_s26(feed_flow) -> None:
    session, _channels, _peer, _clock = feed_flow
    visit = book(session, make_patient(session).id, pathway(session).id)
    events.record(session, events.VisitCancelled(visit_id=visit.id, no_show=True))
    session.commit()
    [_booked, no_show] = siu_rows(session, visit.id)
    message = parse_message(no_show.body, find_groups=True)
    assert no_show.action == "siu_s26" and message.msh.msh_9.to_er7() == "SIU^S26^SIU_S12"
    assert message.sch.sch_25.to_er7().startswith("Noshow^")
