"""Locale and time-zone selection plus the Jinja formatting filters (dates, times, money).

Everything shown to a person goes through Babel in their locale; times are shown in the clinic's
time zone. Naive datetimes are taken as UTC (that is how they are stored).
"""

from datetime import date, datetime
from decimal import Decimal

import flask_babel
from flask import Flask, has_request_context, request, session
from flask_login import current_user

from clinic.extensions import babel
from clinic.web.container import unit

LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands", "fr": "Français"}


def available_languages() -> tuple[str, ...]:
    return unit().languages


def select_locale() -> str:
    """Session choice, then the signed-in user's language, then Accept-Language, then English."""
    languages = available_languages()
    fallback = "en" if "en" in languages else languages[0]
    if not has_request_context():
        return fallback
    chosen = session.get("language")
    if chosen in languages:
        return chosen
    user_language = getattr(current_user, "language", None) if current_user else None
    if user_language in languages:
        return user_language
    return request.accept_languages.best_match(languages) or fallback


def select_timezone() -> str:
    return unit().tz


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    """A date (or the clinic-local date of a datetime) in the current locale."""
    if value is None:
        return ""
    return flask_babel.format_date(value, format)


def format_time(value: datetime | None, format: str = "short") -> str:
    """The clinic-local time of day of a (UTC) datetime, e.g. ``09:30``."""
    if value is None:
        return ""
    return flask_babel.format_time(value, format)


def format_datetime(value: datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    return flask_babel.format_datetime(value, format)


def format_money(cents: int | None, currency: str | None = None) -> str:
    """An amount held as whole cents, e.g. ``123450`` -> ``€ 1.234,50`` in Dutch."""
    if cents is None:
        return ""
    return flask_babel.format_currency(Decimal(cents) / 100, currency or unit().currency)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(app.root_path + "/translations"))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.add_template_filter(format_date, "date")
    app.add_template_filter(format_time, "time")
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_filter(format_money, "money")

    @app.context_processor
    def language_context() -> dict:
        return {
            "current_locale": str(flask_babel.get_locale() or "en"),
        }
