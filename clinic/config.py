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
    }


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
    if str(config["DATABASE_URL"]).startswith("postgres://"):
        config["DATABASE_URL"] = "postgresql://" + str(config["DATABASE_URL"]).removeprefix("postgres://")
