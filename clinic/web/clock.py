""" "Today" and "now" as the clinic sees them (its configured time zone, not the server's)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

from clinic.web.container import unit


def clinic_tz() -> str:
    """The clinic's time zone name (``CLINIC_TIMEZONE``), as services take it."""
    return unit().tz


def clinic_zone() -> ZoneInfo:
    return unit().zone


def clinic_today() -> date:
    return datetime.now(UTC).astimezone(clinic_zone()).date()


def messaging_now() -> datetime:
    """Now, for what patients send and answer; tests fix it with a ``MESSAGING_NOW`` callable in the config."""
    fixed = current_app.config.get("MESSAGING_NOW") if current_app.config.get("TESTING") else None
    return fixed() if callable(fixed) else datetime.now(UTC)
