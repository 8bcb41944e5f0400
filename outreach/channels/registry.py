"""Which channel serves ``sms``, ``voice`` and ``email``, chosen from typed channel settings.

Twilio (SMS and voice) when the account SID, auth token and sending number are all set; SMTP e-mail
when an SMTP host is set; the development channel for whatever is left. The app builds
``ChannelSettings`` from its own settings (``clinic.bootstrap``).
"""

from dataclasses import dataclass, field

from outreach.channels.base import Channel
from outreach.channels.development import DevelopmentChannel
from outreach.channels.email_smtp import SmtpEmailChannel
from outreach.channels.twilio_sms import TwilioSmsChannel
from outreach.channels.twilio_voice import TwilioVoiceChannel


@dataclass(frozen=True)
class TwilioAccount:
    account_sid: str = ""
    auth_token: str = ""
    from_number: str = ""
    #: Empty: Twilio itself; tests point it at a fake server.
    api_base_url: str = ""
    timeout_seconds: float = 10

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token and self.from_number)


@dataclass(frozen=True)
class SmtpServer:
    #: Empty: no e-mail leaves this machine.
    host: str = ""
    port: int = 25
    username: str = ""
    password: str = ""
    sender: str = "onevisit@localhost"
    starttls: bool = False
    timeout_seconds: float = 10


@dataclass(frozen=True)
class ChannelSettings:
    twilio: TwilioAccount = field(default_factory=TwilioAccount)
    smtp: SmtpServer = field(default_factory=SmtpServer)
    #: Where Twilio reaches the app (status callbacks, voice TwiML URLs).
    public_base_url: str = ""
    #: Signs the visit key in a call's TwiML URL.
    secret_key: str = ""


def build_channels(settings: ChannelSettings) -> dict[str, Channel]:
    """``{"sms": ..., "voice": ..., "email": ...}`` for these settings."""
    channels: dict[str, Channel] = {}
    twilio = settings.twilio
    if twilio.configured:
        account = {
            "account_sid": twilio.account_sid,
            "auth_token": twilio.auth_token,
            "from_number": twilio.from_number,
            "base_url": twilio.api_base_url,
            "timeout": float(twilio.timeout_seconds),
        }
        channels["sms"] = TwilioSmsChannel(**account, public_base_url=settings.public_base_url)
        channels["voice"] = TwilioVoiceChannel(
            **account, public_base_url=settings.public_base_url, secret_key=settings.secret_key
        )
    else:
        channels["sms"] = DevelopmentChannel("sms")
        channels["voice"] = DevelopmentChannel("voice")
    smtp = settings.smtp
    if smtp.host:
        channels["email"] = SmtpEmailChannel(
            host=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            sender=smtp.sender,
            starttls=smtp.starttls,
            timeout=float(smtp.timeout_seconds),
        )
    else:
        channels["email"] = DevelopmentChannel("email")
    return channels
