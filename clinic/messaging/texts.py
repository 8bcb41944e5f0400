"""Texts sent to patients (SMS replies, offers, call scripts), translated and formatted without Flask.

Each text is a ``_("...")`` literal in ``clinic/`` so ``make messages`` extracts it into the en/nl/fr
catalogs; at run time ``texts(language)`` returns that language's ``gettext``. Dates and times are
formatted by Babel for the patient's locale in the clinic's time zone.
"""

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import dates
from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
LOCALES = {"en": "en_GB", "nl": "nl_NL", "fr": "fr_FR"}
"""Babel locale per patient language (British English: 24-hour clock, day before month)."""
VOICE_LANGUAGES = {"en": "en-GB", "nl": "nl-NL", "fr": "fr-FR"}
"""Twilio ``<Say language=...>`` per patient language."""


@lru_cache(maxsize=8)
def _translations(language: str) -> NullTranslations:
    if language == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")


def texts(language: str) -> Callable[[str], str]:
    """``gettext`` of ``language`` (English when unknown or not translated yet)."""
    return _translations(str(language or "en")).gettext


def locale_for(language: str) -> str:
    return LOCALES.get(str(language or "en"), "en_GB")


def short_day(moment: dt.datetime | dt.date, language: str, tz: str) -> str:
    """``Tue 3 Dec`` / ``di 3 dec`` / ``mar. 3 déc.``"""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(ZoneInfo(tz)).date()
    return dates.format_date(moment, "EEE d MMM", locale=locale_for(language))


def long_day(moment: dt.datetime | dt.date, language: str, tz: str) -> str:
    """``Tuesday 3 December`` for a call."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(ZoneInfo(tz)).date()
    return dates.format_date(moment, "EEEE d MMMM", locale=locale_for(language))


def clock(moment: dt.datetime, language: str, tz: str) -> str:
    """``10:30`` in the clinic's time zone."""
    return dates.format_time(moment, "short", tzinfo=ZoneInfo(tz), locale=locale_for(language))


def offer_sms(*, language: str, slot_start: dt.datetime, expires_at: dt.datetime, sent_at: dt.datetime, tz: str) -> str:
    """"A place opened on Tue 3 Dec at 10:30; reply YES within 30 minutes" in the patient's language."""
    _ = texts(language)
    minutes = max(int(round((expires_at - sent_at).total_seconds() / 60)), 1)
    return _(
        "A place opened on %(day)s at %(time)s; reply YES within %(minutes)s minutes to take it, "
        "or NO if you cannot come."
    ) % {
        "day": short_day(slot_start, language, tz),
        "time": clock(slot_start, language, tz),
        "minutes": minutes,
    }
