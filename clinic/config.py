"""Configuration: defaults, ``ONEVISIT_*`` environment variables and start-up checks.

Order of precedence (last wins): the defaults below, plain ``DATABASE_URL`` / ``SECRET_KEY``,
``ONEVISIT_<KEY>`` variables, then the ``test_config`` given to ``create_app``.
"""

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

ENV_PREFIX = "ONEVISIT_"
SEED_DIR = Path(__file__).resolve().parent.parent / "seed_data"
SUPPORTED_LANGUAGES = ("en", "nl", "fr")


class ConfigError(click.ClickException):
    """The configuration cannot work; the message says which setting and how to fix it.

    A ``ClickException`` so that ``flask --app clinic ...`` prints ``Error: <message>`` and exits
    with status 1 instead of a stack trace.
    """


def defaults(instance_path: str) -> dict[str, Any]:
    """Defaults for a clinic; ``instance_path`` holds the SQLite file and the development key."""
    return {
        "ENV": "production",
        "DATABASE_URL": f"sqlite:///{Path(instance_path) / 'onevisit.db'}",
        "CLINIC_TIMEZONE": "Europe/Amsterdam",
        "LANGUAGES": SUPPORTED_LANGUAGES,
        "REGION_LOCAL_KM": 25,
        "REGION_REGIONAL_KM": 50,
        "CURRENCY": "EUR",
        "VAT_RATE_BP": None,  # None: each step type's own rate (0 % in the demo); else every invoice line
        "SEED_DIR": str(SEED_DIR),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": True,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=10),
        "WTF_CSRF_TIME_LIMIT": 10 * 3600,
        "PROXY_COUNT": 0,
        # messaging (see ``MESSAGING_SETTINGS_DOC``): Twilio when SID, token and number are all set,
        # SMTP e-mail when SMTP_HOST is set, the development channel otherwise
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "TWILIO_FROM_NUMBER": "",
        "TWILIO_API_BASE_URL": "",
        "TWILIO_WEBHOOK_SECRET": "",
        "TWILIO_TIMEOUT_SECONDS": 10,
        "SMTP_HOST": "",
        "SMTP_PORT": 25,
        "SMTP_USERNAME": "",
        "SMTP_PASSWORD": "",
        "SMTP_FROM": "onevisit@localhost",
        "SMTP_STARTTLS": False,
        "SMTP_TIMEOUT_SECONDS": 10,
        "PUBLIC_BASE_URL": "",
        "DESK_PHONE": "",
        # the two questions and follow-ups (docs/follow-ups.md)
        "FOLLOW_UP_DUE_WORKING_DAYS": 2,
        "SURVEY_REASK_HOURS": 24,
    }


MESSAGING_SETTINGS_DOC = """Messaging settings (environment ``ONEVISIT_<NAME>``):

``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_FROM_NUMBER``
    Twilio credentials and the E.164 number SMS and calls come from; with all three set, SMS and
    voice go through Twilio, otherwise through the development channel (visible in the Outbox).
``TWILIO_API_BASE_URL``
    Where the Twilio REST client sends its requests instead of ``https://api.twilio.com`` (tests point
    it at a local fake server); empty means Twilio itself.
``TWILIO_WEBHOOK_SECRET``
    The SharedKey secret for webhooks that carry ``X-Twilio-Webhooks-Signature-Settings``; without it
    (and for the classic signature) webhooks are checked with ``TWILIO_AUTH_TOKEN``. Without either,
    every webhook is refused.
``TWILIO_TIMEOUT_SECONDS``
    How long one request to Twilio may take before it counts as a retryable failure (default 10).
``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_USERNAME``, ``SMTP_PASSWORD``, ``SMTP_FROM``, ``SMTP_STARTTLS``,
``SMTP_TIMEOUT_SECONDS``
    E-mail goes through this SMTP server when ``SMTP_HOST`` is set, else the development channel.
``PUBLIC_BASE_URL``
    The address Twilio and patients reach this app at, e.g. ``https://onevisit.example.org``: webhook
    signatures are computed over the public URL, which differs from the one Flask sees behind a proxy;
    also the base of the status-callback and voice URLs handed to Twilio and of the links in e-mails
    (answer pages, the two questions), so it is required outside development once ``SMTP_HOST`` is set.
    Empty: the request's own URL.
``DESK_PHONE``
    The front desk's number: given in HELP replies and dialled when a caller presses 3.
"""


def _coerce(key: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{key}={raw!r}: expected true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{key}={raw!r}: expected a whole number") from None
    if isinstance(default, timedelta):
        try:
            return timedelta(seconds=int(raw))
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{key}={raw!r}: expected a number of seconds") from None
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def from_environment(environ: Mapping[str, str], base: Mapping[str, Any]) -> dict[str, Any]:
    """Settings read from the environment, typed like the defaults in ``base``."""
    found: dict[str, Any] = {}
    for plain in ("DATABASE_URL", "SECRET_KEY"):
        if environ.get(plain):
            found[plain] = environ[plain]
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == f"{ENV_PREFIX}ENV":
            continue
        key = name.removeprefix(ENV_PREFIX)
        found[key] = _coerce(key, raw, base.get(key, ""))
    if environ.get(f"{ENV_PREFIX}ENV", "").strip().lower() == "development":
        found["ENV"] = "development"
    return found


def is_relaxed(config: Mapping[str, Any]) -> bool:
    """Development and testing may run over plain HTTP and without a configured secret key."""
    return config.get("ENV") == "development" or bool(config.get("TESTING"))


def development_secret_key(instance_path: str) -> str:
    """Create once and reuse ``instance/secret_key`` (mode 0600) so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def vat_rate_bp(raw: Any) -> int | None:
    """``VAT_RATE_BP``: empty means "each step type's own rate"; else 0-10000 basis points (2100 = 21 %)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = -1
    if not 0 <= value <= 10000:
        raise ConfigError(
            f"VAT_RATE_BP={raw!r}: expected basis points from 0 to 10000 (900 = 9 %, 2100 = 21 %) or empty"
        )
    return value


def finish(config: dict[str, Any], instance_path: str) -> None:
    """Fill derived settings and refuse settings that cannot work, with a message naming them."""
    relaxed = is_relaxed(config)
    if not config.get("SECRET_KEY"):
        if config.get("ENV") == "development":
            config["SECRET_KEY"] = development_secret_key(instance_path)
        elif not config.get("TESTING"):
            raise ConfigError(
                "SECRET_KEY is not set: set the SECRET_KEY (or ONEVISIT_SECRET_KEY) environment variable "
                "to a long random string, or set ONEVISIT_ENV=development on a development machine."
            )
    if relaxed:
        config["SESSION_COOKIE_SECURE"] = False
        config["REMEMBER_COOKIE_SECURE"] = False
    try:
        ZoneInfo(str(config["CLINIC_TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"CLINIC_TIMEZONE={config['CLINIC_TIMEZONE']!r} is not a known time zone (e.g. Europe/Amsterdam)"
        ) from None
    languages = tuple(config["LANGUAGES"])
    unknown = [code for code in languages if code not in SUPPORTED_LANGUAGES]
    if not languages or unknown:
        raise ConfigError(f"LANGUAGES={','.join(languages)!r}: choose from {', '.join(SUPPORTED_LANGUAGES)}")
    config["LANGUAGES"] = languages
    if not 0 < int(config["REGION_LOCAL_KM"]) <= int(config["REGION_REGIONAL_KM"]):
        raise ConfigError(
            "REGION_LOCAL_KM must be above 0 and at most REGION_REGIONAL_KM "
            f"(got {config['REGION_LOCAL_KM']} and {config['REGION_REGIONAL_KM']})"
        )
    if config.get("SMTP_HOST") and not relaxed and not str(config.get("PUBLIC_BASE_URL") or "").startswith(
        ("https://", "http://")
    ):
        raise ConfigError(
            "SMTP_HOST is set but PUBLIC_BASE_URL is not an http(s) address: e-mails link patients to pages of "
            "this app, so set ONEVISIT_PUBLIC_BASE_URL to the address they reach it at (https://...)."
        )
    config["VAT_RATE_BP"] = vat_rate_bp(config.get("VAT_RATE_BP"))
    if str(config["DATABASE_URL"]).startswith("postgres://"):
        config["DATABASE_URL"] = "postgresql://" + str(config["DATABASE_URL"]).removeprefix("postgres://")
