"""``lookup`` on the Twilio channels: the real client reads the fake server's message and call lists
(Twilio's list JSON, paged) and finds exactly the message a dead dispatcher handed over, or says it
cannot tell."""

import datetime as dt

import pytest
import requests

from outreach.channels import OutgoingMessage
from outreach.channels.base import CannotTell, SentLookup
from outreach.channels.twilio_sms import CLOCK_SKEW, same_number
from tests.containers import channels_for
from tests.peers.fixtures import FROM_NUMBER

TO = "+31612345678"


def message(**kw) -> OutgoingMessage:
    values = {"key": "visit-1-reminder-20261201T0900Z", "channel": "sms", "to": TO, "body": "Tot dinsdag!",
              "language": "nl"}
    values.update(kw)
    return OutgoingMessage(**values)


def ask(message: OutgoingMessage, *, claimed_at: dt.datetime | None = None, known=()) -> SentLookup:
    claimed = claimed_at or dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    return SentLookup(message=message, claimed_at=claimed, known_ids=frozenset(known))


@pytest.fixture
def channels(twilio_config):
    config = {**twilio_config, "PUBLIC_BASE_URL": "https://onevisit.example.org", "SECRET_KEY": "k"}
    return channels_for(config)


def test_an_sms_twilio_has_is_found_by_its_text_and_number(channels, fake_twilio):
    sms = channels["sms"]
    sent = sms.send(message())
    other_text = sms.send(message(body="Something else"))
    other_number = sms.send(message(to="+31687654321"))
    assert sent.ok and other_text.ok and other_number.ok
    claimed = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    found = sms.lookup(ask(message(), claimed_at=claimed))
    assert found is not None and found.ok and found.provider_id == sent.provider_id
    [listing] = fake_twilio.lists()  # one list request, filtered by number and sender
    assert listing.path.endswith("/Messages.json")
    assert listing.param("To") == TO and listing.param("From") == FROM_NUMBER
    # never by DateSent: a message still queued at Twilio has none yet and would be sent twice
    assert listing.param("DateSent>") is None and listing.param("DateSent") is None
    assert len(fake_twilio.messages()) == 3  # list requests are not counted as messages


@pytest.mark.parametrize(
    "why",
    ["never sent", "other text", "already another row's", "sent before the claim"],
)
def test_an_sms_twilio_does_not_have_is_not_found(channels, fake_twilio, why):
    sms = channels["sms"]
    sent = None
    if why != "never sent":
        sent = sms.send(message(body="Something else" if why == "other text" else "Tot dinsdag!"))
    known = [sent.provider_id] if why == "already another row's" else []
    claimed = dt.datetime.now(dt.UTC) + CLOCK_SKEW + dt.timedelta(seconds=5) if why == "sent before the claim" else None
    assert sms.lookup(ask(message(), claimed_at=claimed, known=known)) is None


def test_of_two_identical_texts_each_row_gets_its_own(channels, fake_twilio):
    sms = channels["sms"]
    first, second = sms.send(message()), sms.send(message())
    found = sms.lookup(ask(message()))
    assert found.provider_id in (first.provider_id, second.provider_id)
    again = sms.lookup(ask(message(), known=[found.provider_id]))
    assert {found.provider_id, again.provider_id} == {first.provider_id, second.provider_id}
    assert sms.lookup(ask(message(), known=[first.provider_id, second.provider_id])) is None


def test_a_failed_sms_is_found_as_failed(channels, fake_twilio):
    sent = channels["sms"].send(message())
    fake_twilio.set_status(sent.provider_id, "undelivered")
    found = channels["sms"].lookup(ask(message()))
    assert not found.ok and found.provider_id == sent.provider_id and "undelivered" in found.error


def test_a_call_is_found_by_number_and_time(channels, fake_twilio):
    voice = channels["voice"]
    call = message(channel="voice", metadata={"visit_id": "7"})
    placed = voice.send(call)
    voice.send(message(channel="voice", to="+31687654321", metadata={"visit_id": "8"}))
    found = voice.lookup(ask(call))
    assert found.ok and found.provider_id == placed.provider_id
    started, queued = fake_twilio.lists()
    assert started.param("StartTime>") and started.param("To") == TO
    assert queued.param("Status") == "queued"
    assert voice.lookup(ask(call, known=[placed.provider_id])) is None
    fake_twilio.set_status(placed.provider_id, "no-answer")
    missed = voice.lookup(ask(call))
    assert not missed.ok and missed.provider_id == placed.provider_id


def test_a_queued_call_without_start_time_is_found(channels, fake_twilio):
    """Twilio gives a call no start time until it dials; the status query still sees it."""
    voice = channels["voice"]
    call = message(channel="voice", metadata={"visit_id": "7"})
    placed = voice.send(call)
    fake_twilio.clear_start_time(placed.provider_id)
    found = voice.lookup(ask(call))
    assert found.ok and found.provider_id == placed.provider_id


def test_the_list_is_read_page_by_page(channels, fake_twilio, monkeypatch):
    sms = channels["sms"]
    sent = [sms.send(message(body=f"text {n}")) for n in range(3)]
    raw = requests.get(
        f"{fake_twilio.base_url}/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json",
        params={"To": TO, "PageSize": 2},
        auth=(fake_twilio.account_sid, fake_twilio.auth_token),
        timeout=5,
    ).json()
    assert [m["body"] for m in raw["messages"]] == ["text 2", "text 1"]  # newest first
    assert raw["page"] == 0 and raw["page_size"] == 2 and raw["next_page_uri"].endswith("Page=1")
    assert raw["previous_page_uri"] is None and raw["start"] == 0 and raw["end"] == 1
    fake_twilio.requests.clear()
    monkeypatch.setattr("outreach.channels.twilio_sms.LOOKUP_PAGE", 2)
    assert sms.lookup(ask(message(body="text 0"))).provider_id == sent[0].provider_id  # on the second page
    assert [r.param("Page") for r in fake_twilio.lists()] == [None, "1"]
    monkeypatch.setattr("outreach.channels.twilio_sms.LOOKUP_LIMIT", 2)
    assert sms.lookup(ask(message(body="text 0"))) is None  # past the limit: not read


@pytest.mark.parametrize("status", [500, 503, 401])
def test_no_answer_from_twilio_means_cannot_tell(channels, fake_twilio, status):
    channels["sms"].send(message())
    fake_twilio.fail_with(status)
    with pytest.raises(CannotTell, match=str(status)):
        channels["sms"].lookup(ask(message()))
    fake_twilio.fail_with(503)
    with pytest.raises(CannotTell):
        channels["voice"].lookup(ask(message(channel="voice")))


def test_numbers_compare_by_their_digits():
    assert same_number("+31 6 1234 5678", "+31612345678")
    assert not same_number("+31612345678", "+31612345679")
    assert not same_number("", "")
