"""Which channel serves ``sms``, ``voice`` and ``email``, chosen from typed channel settings.

Twilio (SMS and voice) when the account SID, auth token and sending number are all set; SMTP e-mail
when an SMTP host is set; the development channel for whatever is left. The app hands
over the Twilio and SMTP groups of its own settings (``clinic.bootstrap``).
"""

from typing import Protocol

from outreach.channels.base import Channel
from outreach.channels.development import DevelopmentChannel
from outreach.channels.email_smtp import SmtpEmailChannel
from outreach.channels.twilio_sms import TwilioSmsChannel
from outreach.channels.twilio_voice import TwilioVoiceChannel


class TwilioAccount(Protocol):
    """What the Twilio channels need; an empty ``api_base_url`` means Twilio itself."""

    account_sid: str
    auth_token: str
    from_number: str
    api_base_url: str

    @property
    def timeout_seconds(self) -> float: ...

    @property
    def configured(self) -> bool: ...


class SmtpServer(Protocol):
    """What the e-mail channel needs; an empty ``host`` means no e-mail leaves this machine."""

    host: str
    port: int
    username: str
    password: str
    sender: str
    starttls: bool

    @property
    def timeout_seconds(self) -> float: ...


def build_channels(
    *, twilio: TwilioAccount, smtp: SmtpServer, public_base_url: str, secret_key: str
) -> dict[str, Channel]:
    """``{"sms": ..., "voice": ..., "email": ...}``; ``public_base_url`` is where Twilio reaches the app
    (status callbacks, voice TwiML URLs), ``secret_key`` signs the visit key in a call's TwiML URL."""
    channels: dict[str, Channel] = {}
    if twilio.configured:
        account = {
            "account_sid": twilio.account_sid,
            "auth_token": twilio.auth_token,
            "from_number": twilio.from_number,
            "base_url": twilio.api_base_url,
            "timeout": float(twilio.timeout_seconds),
        }
        channels["sms"] = TwilioSmsChannel(**account, public_base_url=public_base_url)
        channels["voice"] = TwilioVoiceChannel(
            **account, public_base_url=public_base_url, secret_key=secret_key
        )
    else:
        channels["sms"] = DevelopmentChannel("sms")
        channels["voice"] = DevelopmentChannel("voice")
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
