"""Which channel serves ``sms``, ``voice`` and ``email``, chosen from the configuration.

Twilio (SMS and voice) when ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` and ``TWILIO_FROM_NUMBER`` are
all set; SMTP e-mail when ``SMTP_HOST`` is set; the development channel for whatever is left. Keys are
read as the app config holds them (``TWILIO_ACCOUNT_SID``) or as environment variables
(``ONEVISIT_TWILIO_ACCOUNT_SID``); see ``clinic.config.MESSAGING_SETTINGS_DOC``.
"""

from collections.abc import Mapping
from typing import Any

from outreach.channels.base import Channel
from outreach.channels.development import DevelopmentChannel
from outreach.channels.email_smtp import SmtpEmailChannel
from outreach.channels.twilio_sms import TwilioSmsChannel
from outreach.channels.twilio_voice import TwilioVoiceChannel

PREFIX = "ONEVISIT_"


def _get(config: Mapping[str, Any], key: str, default: Any = "") -> Any:
    value = config.get(key)
    if value in (None, ""):
        value = config.get(PREFIX + key)
    return default if value in (None, "") else value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def twilio_configured(config: Mapping[str, Any]) -> bool:
    return all(_get(config, key) for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"))


def channels_from_config(config: Mapping[str, Any]) -> dict[str, Channel]:
    """``{"sms": ..., "voice": ..., "email": ...}`` for this configuration."""
    channels: dict[str, Channel] = {}
    if twilio_configured(config):
        twilio = {
            "account_sid": str(_get(config, "TWILIO_ACCOUNT_SID")),
            "auth_token": str(_get(config, "TWILIO_AUTH_TOKEN")),
            "from_number": str(_get(config, "TWILIO_FROM_NUMBER")),
            "base_url": str(_get(config, "TWILIO_API_BASE_URL")),
            "timeout": float(_get(config, "TWILIO_TIMEOUT_SECONDS", 10)),
        }
        public = str(_get(config, "PUBLIC_BASE_URL"))
        channels["sms"] = TwilioSmsChannel(**twilio, public_base_url=public)
        channels["voice"] = TwilioVoiceChannel(
            **twilio, public_base_url=public, secret_key=str(_get(config, "SECRET_KEY"))
        )
    else:
        channels["sms"] = DevelopmentChannel("sms")
        channels["voice"] = DevelopmentChannel("voice")
    if _get(config, "SMTP_HOST"):
        channels["email"] = SmtpEmailChannel(
            host=str(_get(config, "SMTP_HOST")),
            port=int(_get(config, "SMTP_PORT", 25)),
            username=str(_get(config, "SMTP_USERNAME")),
            password=str(_get(config, "SMTP_PASSWORD")),
            sender=str(_get(config, "SMTP_FROM", "onevisit@localhost")),
            starttls=_truthy(_get(config, "SMTP_STARTTLS", False)),
            timeout=float(_get(config, "SMTP_TIMEOUT_SECONDS", 10)),
        )
    else:
        channels["email"] = DevelopmentChannel("email")
    return channels
