"""Locale and time-zone selection plus the Jinja formatting filters (dates, times, money).

Everything shown to a person goes through Babel in their locale; times are shown in the clinic's
time zone. Naive datetimes are taken as UTC (that is how they are stored). The *shape* of a named
format (``short``, ``medium``, ``long``, ``full``: order, separators, 24-hour clock) is the unit's
(``FORMAT_LOCALE``, e.g. ``nl_NL``), the words (month and day names, "at") the reader's, so an English
page in a Dutch unit says "7 Dec 2026, 05:02", never "12/7/26, 5:02 AM". Explicit patterns such as
``"EEEE"`` are used as given.
"""

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

import flask_babel
from babel import Locale
from flask import Flask, has_request_context, request, session
from flask_login import current_user

from clinic.extensions import babel
from clinic.translatable import named_in
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


NAMED_FORMATS = ("short", "medium", "long", "full")


@lru_cache(maxsize=64)
def date_pattern(format_locale: str, format: str) -> str:
    """The pattern of a named date format in ``format_locale`` (``"medium"`` -> ``"d MMM y"``); any other
    ``format`` is already a pattern."""
    if format not in NAMED_FORMATS:
        return format
    return Locale.parse(format_locale).date_formats[format].pattern


@lru_cache(maxsize=64)
def time_pattern(format_locale: str, format: str) -> str:
    if format not in NAMED_FORMATS:
        return format
    return Locale.parse(format_locale).time_formats[format].pattern


@lru_cache(maxsize=64)
def datetime_pattern(format_locale: str, reader_locale: str, format: str) -> str:
    """Date and time patterns of ``format_locale``, joined the reader's way (``"{1} 'at' {0}"`` in English:
    the joining word is a word, so it is the reader's)."""
    if format not in NAMED_FORMATS:
        return format
    glue = Locale.parse(reader_locale).datetime_formats[format]
    glue = getattr(glue, "pattern", glue)
    return glue.replace("{1}", date_pattern(format_locale, format)).replace("{0}", time_pattern(format_locale, format))


def format_locale() -> str:
    return unit().format_locale


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    """A date (or the clinic-local date of a datetime) in the unit's format, the reader's words."""
    if value is None:
        return ""
    return flask_babel.format_date(value, date_pattern(format_locale(), format))


def format_time(value: datetime | None, format: str = "short") -> str:
    """The clinic-local time of day of a (UTC) datetime, e.g. ``09:30``."""
    if value is None:
        return ""
    return flask_babel.format_time(value, time_pattern(format_locale(), format))


def format_datetime(value: datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    reader = str(flask_babel.get_locale() or "en")
    return flask_babel.format_datetime(value, datetime_pattern(format_locale(), reader, format))


def format_number(value: float | int | Decimal | None, digits: int = 1) -> str:
    """A number in the reader's locale with at most ``digits`` decimals (``140,5`` in Dutch and French)."""
    if value is None:
        return ""
    return flask_babel.format_decimal(round(value, digits), format="#,##0." + "#" * digits if digits else "#,##0")


def format_money(cents: int | None, currency: str | None = None) -> str:
    """An amount held as whole cents, e.g. ``123450`` -> ``€ 1.234,50`` in Dutch."""
    if cents is None:
        return ""
    return flask_babel.format_currency(Decimal(cents) / 100, currency or unit().currency)


def named(value: object) -> str:
    """A seed file's name (``Named``: a step type's, a pathway's) in the reader's language."""
    return named_in(value, flask_babel.get_locale() or "en")


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(app.root_path + "/translations"))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.add_template_filter(format_date, "date")
    app.add_template_filter(format_time, "time")
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_filter(format_money, "money")
    app.add_template_filter(format_number, "number")
    app.add_template_filter(named, "named")

    @app.context_processor
    def language_context() -> dict:
        return {
            "current_locale": str(flask_babel.get_locale() or "en"),
        }
