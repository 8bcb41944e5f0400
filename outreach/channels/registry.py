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


def setting(config: Mapping[str, Any], key: str, default: Any = "") -> Any:
    """``config[key]``, else ``config["ONEVISIT_" + key]`` (the environment's name), else ``default``."""
    value = config.get(key)
    if value in (None, ""):
        value = config.get(PREFIX + key)
    return default if value in (None, "") else value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def twilio_configured(config: Mapping[str, Any]) -> bool:
    return all(setting(config, key) for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"))


def channels_from_config(config: Mapping[str, Any]) -> dict[str, Channel]:
    """``{"sms": ..., "voice": ..., "email": ...}`` for this configuration."""
    channels: dict[str, Channel] = {}
    if twilio_configured(config):
        twilio = {
            "account_sid": str(setting(config, "TWILIO_ACCOUNT_SID")),
            "auth_token": str(setting(config, "TWILIO_AUTH_TOKEN")),
            "from_number": str(setting(config, "TWILIO_FROM_NUMBER")),
            "base_url": str(setting(config, "TWILIO_API_BASE_URL")),
            "timeout": float(setting(config, "TWILIO_TIMEOUT_SECONDS", 10)),
        }
        public = str(setting(config, "PUBLIC_BASE_URL"))
        channels["sms"] = TwilioSmsChannel(**twilio, public_base_url=public)
        channels["voice"] = TwilioVoiceChannel(
            **twilio, public_base_url=public, secret_key=str(setting(config, "SECRET_KEY"))
        )
    else:
        channels["sms"] = DevelopmentChannel("sms")
        channels["voice"] = DevelopmentChannel("voice")
    if setting(config, "SMTP_HOST"):
        channels["email"] = SmtpEmailChannel(
            host=str(setting(config, "SMTP_HOST")),
            port=int(setting(config, "SMTP_PORT", 25)),
            username=str(setting(config, "SMTP_USERNAME")),
            password=str(setting(config, "SMTP_PASSWORD")),
            sender=str(setting(config, "SMTP_FROM", "onevisit@localhost")),
            starttls=_truthy(setting(config, "SMTP_STARTTLS", False)),
            timeout=float(setting(config, "SMTP_TIMEOUT_SECONDS", 10)),
        )
    else:
        channels["email"] = DevelopmentChannel("email")
    return channels
