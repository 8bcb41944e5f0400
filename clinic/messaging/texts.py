"""Texts sent to patients (outreach messages, SMS replies, offers, call scripts), translated and formatted
without Flask.

Each text is a ``_("...")`` literal in ``clinic/`` so ``make messages`` extracts it into the en/nl/fr
catalogs; at run time ``texts(language)`` returns that language's ``gettext``. The outreach messages
(``TEMPLATES``, planned into the outbox) are marked with ``N_`` instead and translated by ``render_text``.
Dates and times are formatted by Babel for the patient's locale in the clinic's time zone.
"""

import datetime as dt
import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import dates
from babel.support import NullTranslations, Translations

from clinic.translatable import N_

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


# --- outreach messages -----------------------------------------------------------------------------


TEMPLATES: dict[str, str] = {
    "confirmation": N_(
        "OneVisit: your visit (%(pathway)s) is booked for %(date)s at %(time)s. Every step of your "
        "day-care process takes place in this one visit. Reply STOP to stop non-essential messages."
    ),
    "reminder": N_(
        "OneVisit reminder: your visit (%(pathway)s) is on %(date)s at %(time)s. "
        "Reply YES to confirm or CANCEL to cancel."
    ),
    "coffee_voucher": N_(
        "OneVisit: you travel far to see us, so the coffee is on us. "
        "Show voucher %(voucher)s at check-in on %(date)s."
    ),
    "transport_offer": N_(
        "OneVisit can arrange transport and help at home for your visit on %(date)s. "
        "Reply YES if you would like this, or NO if not."
    ),
}


def voucher_code(visit_id: int) -> str:
    """A short code the desk can recognise at check-in, stable for the visit."""
    digest = hashlib.sha256(f"onevisit-coffee-{visit_id}".encode()).hexdigest()[:5].upper()
    return f"C{visit_id}-{digest}"


def render_text(
    template: str, *, language: str, tz: str, visit_id: int, pathway: str, starts_at: dt.datetime
) -> str:
    """The message in the patient's language, with date and time formatted by Babel for their locale."""
    locale = locale_for(language)
    zone = ZoneInfo(tz)
    text = texts(language)(TEMPLATES[template])
    return text % {
        "pathway": pathway,
        "date": dates.format_date(starts_at.astimezone(zone).date(), "full", locale=locale),
        "time": dates.format_time(starts_at, "short", tzinfo=zone, locale=locale),
        "voucher": voucher_code(visit_id),
    }


def volunteer_text(
    *, language: str, first_name: str, place: str, meet_at: dt.datetime, tz: str, same_day: bool
) -> str:
    """The patient's announcement of the volunteer who meets them: first name, time and place (``place`` an
    untranslated label such as ``MEETING_PLACES``' "Main entrance"), sent the day before ("tomorrow") or,
    for a visit matched on its own day, that day ("today")."""
    _ = texts(language)
    if same_day:
        text = _("OneVisit: today at %(time)s %(name)s, a volunteer, meets you. Where: %(place)s.")
    else:
        text = _("OneVisit: tomorrow at %(time)s %(name)s, a volunteer, meets you. Where: %(place)s.")
    return text % {"time": clock(meet_at, language, tz), "name": first_name, "place": _(place)}
