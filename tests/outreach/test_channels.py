"""The channels: the real ``twilio`` client against the fake Twilio server, SMTP against a tiny server."""

import time

import pytest

from clinic.bootstrap import of_app
from outreach.channels import OutgoingMessage
from outreach.channels.development import DevelopmentChannel
from outreach.channels.email_smtp import SmtpEmailChannel
from outreach.channels.twilio_sms import TwilioSmsChannel
from outreach.channels.twilio_voice import TwilioVoiceChannel
from tests.containers import channels_for
from tests.peers.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.peers.fixtures import FROM_NUMBER


def sms(**kw) -> OutgoingMessage:
    values = {"key": "visit-1:reminder", "channel": "sms", "to": "+31612345678", "body": "Tot dinsdag!", "language": "nl"}
    values.update(kw)
    return OutgoingMessage(**values)


@pytest.fixture
def sms_channel(twilio_config) -> TwilioSmsChannel:
    return channels_for(twilio_config)["sms"]


def test_an_sms_reaches_the_fake_server_through_the_real_client(sms_channel, fake_twilio):
    result = sms_channel.send(sms(status_callback="https://clinic.example/twilio/status"))
    assert result.ok and result.provider_id.startswith("SM") and not result.error
    [request] = fake_twilio.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (request.user, request.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.field("To") == "+31612345678"
    assert request.field("From") == FROM_NUMBER
    assert request.field("Body") == "Tot dinsdag!"
    assert request.field("StatusCallback") == "https://clinic.example/twilio/status"


def test_a_call_asks_twilio_to_fetch_the_twiml(twilio_config, fake_twilio):
    voice = channels_for(twilio_config)["voice"]
    assert isinstance(voice, TwilioVoiceChannel)
    message = sms(channel="voice", voice_url="https://clinic.example/twilio/voice/abc",
                  status_callback="https://clinic.example/twilio/status")
    result = voice.send(message)
    assert result.ok and result.provider_id.startswith("CA")
    [request] = fake_twilio.calls()
    assert request.field("Url") == "https://clinic.example/twilio/voice/abc"
    assert request.field("Method") == "POST"
    assert request.field("StatusCallback") == "https://clinic.example/twilio/status"
    assert request.form["StatusCallbackEvent"] == ["completed"]


def test_a_call_without_twiml_url_is_refused_without_a_request(twilio_config, fake_twilio):
    result = channels_for(twilio_config)["voice"].send(sms(channel="voice"))
    assert not result.ok and not result.retryable and fake_twilio.requests == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_throttling_are_retryable(sms_channel, fake_twilio, status):
    fake_twilio.fail_with(status, code=20500)
    result = sms_channel.send(sms())
    assert not result.ok and result.retryable and str(status) in result.error
    assert len(fake_twilio.requests) == 1


def test_a_refused_number_is_not_retryable(sms_channel, fake_twilio):
    fake_twilio.fail_with(400, code=21211, message="The 'To' number is not a valid phone number.")
    result = sms_channel.send(sms())
    assert not result.ok and not result.retryable and "21211" in result.error


def test_wrong_credentials_are_not_retryable(twilio_config, fake_twilio):
    channel = channels_for({**twilio_config, "TWILIO_AUTH_TOKEN": "wrong"})["sms"]
    result = channel.send(sms())
    assert not result.ok and not result.retryable and "401" in result.error


def test_a_time_out_is_retryable_and_does_not_hang(sms_channel, fake_twilio):
    fake_twilio.delay(3.0)
    started = time.monotonic()
    result = sms_channel.send(sms())
    assert time.monotonic() - started < 2.5
    assert not result.ok and result.retryable and "time-out" in result.error
    assert result.answer_lost  # Twilio may have created it: ask before retrying


def test_a_dropped_connection_is_an_answer_lost(sms_channel, fake_twilio):
    fake_twilio.drop()
    result = sms_channel.send(sms())
    assert not result.ok and result.retryable and result.answer_lost
    assert len(fake_twilio.created()) == 1


def test_an_unreachable_server_is_retryable():
    channel = TwilioSmsChannel(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM_NUMBER,
                               base_url="http://127.0.0.1:9", timeout=1)
    result = channel.send(sms())
    assert not result.ok and result.retryable
    assert not result.answer_lost  # nothing reached Twilio: a plain retry


def test_without_credentials_everything_goes_to_the_development_channel(fake_twilio):
    channels = channels_for({"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": ""})
    assert {name: type(c) for name, c in channels.items()} == {
        "sms": DevelopmentChannel, "voice": DevelopmentChannel, "email": DevelopmentChannel,
    }
    result = channels["sms"].send(sms())
    assert result.ok and result.provider_id.startswith("dev-")
    assert channels["sms"].sent == [sms()] and fake_twilio.requests == []


def test_environment_variables_are_understood(twilio_config, monkeypatch):
    for key, value in twilio_config.items():
        monkeypatch.setenv(f"ONEVISIT_{key}", str(value))
    monkeypatch.setenv("ONEVISIT_SMTP_HOST", "mail.example")
    channels = channels_for({})
    assert isinstance(channels["sms"], TwilioSmsChannel) and isinstance(channels["email"], SmtpEmailChannel)


def test_the_app_has_the_messaging_settings_and_channels(app):
    container = of_app(app)
    assert container.settings.twilio.account_sid == "" and container.settings.smtp.port == 25
    assert set(container.channels) == {"sms", "voice", "email"}


def test_email_goes_through_smtp(smtp_server):
    host, port, mailbox = smtp_server
    channel = channels_for({"SMTP_HOST": host, "SMTP_PORT": port, "SMTP_FROM": "desk@clinic.example"})["email"]
    result = channel.send(sms(channel="email", to="anna@example.org", subject="Uw afspraak", body="Tot dinsdag!"))
    assert result.ok and result.provider_id
    [mail] = mailbox.messages
    assert mail["to"] == ["<anna@example.org>"]
    assert "Subject: Uw afspraak" in mail["data"] and "Tot dinsdag!" in mail["data"]
    assert "Content-Language: nl" in mail["data"]


@pytest.mark.parametrize(("reply", "retryable"), [("550 no such user", False), ("451 try again later", True)])
def test_smtp_refusals(smtp_server, reply, retryable):
    host, port, mailbox = smtp_server
    mailbox.reject_rcpt = reply
    channel = SmtpEmailChannel(host=host, port=port)
    result = channel.send(sms(channel="email", to="anna@example.org"))
    assert not result.ok and result.retryable is retryable and mailbox.messages == []


def test_an_unreachable_smtp_server_is_retryable():
    result = SmtpEmailChannel(host="127.0.0.1", port=9, timeout=1).send(sms(channel="email", to="a@example.org"))
    assert not result.ok and result.retryable


def test_without_explicit_urls_a_call_gets_its_twiml_and_status_urls_from_the_public_base(twilio_config, fake_twilio):
    from outreach.channels.twilio_urls import call_for_key

    config = {**twilio_config, "PUBLIC_BASE_URL": "https://onevisit.example.org/", "SECRET_KEY": "k"}
    channels = channels_for(config)
    assert channels["voice"].send(sms(channel="voice", metadata={"visit_id": "42"})).ok
    assert channels["sms"].send(sms()).ok
    offer = sms(channel="voice", metadata={"visit_id": "42", "action": "transport_offer"})
    assert channels["voice"].send(offer).ok
    (call, offer_call), text = fake_twilio.calls(), fake_twilio.messages()[0]
    prefix = "https://onevisit.example.org/twilio/voice/"
    assert call.field("Url").startswith(prefix)
    assert call_for_key("k", call.field("Url").removeprefix(prefix)) == (42, "reminder")
    assert call_for_key("k", offer_call.field("Url").removeprefix(prefix)) == (42, "transport_offer")
    assert call_for_key("other-key", call.field("Url").removeprefix(prefix)) is None
    assert call.field("StatusCallback") == text.field("StatusCallback") == "https://onevisit.example.org/twilio/status"
