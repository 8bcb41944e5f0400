"""Translated names for the values the domain stores as codes (visit statuses, segments, weekdays)."""

from babel import Locale, UnknownLocaleError
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

VISIT_STATUS_LABELS = {
    "requested": _l("Requested"),
    "booked": _l("Booked"),
    "confirmed": _l("Confirmed"),
    "checked_in": _l("Checked in"),
    "in_progress": _l("In progress"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
    "no_show": _l("No-show"),
}

SEGMENT_LABELS = {
    "local": _l("Local"),
    "regional": _l("Regional"),
    "long_distance": _l("Long distance"),
    "70+": _l("70+"),
    "wheelchair": _l("Wheelchair"),
    "interpreter": _l("Interpreter"),
    "hearing": _l("Hearing support"),
}


CONTACT_CHANNEL_LABELS = {"sms": _l("SMS"), "voice": _l("Phone call"), "email": _l("E-mail")}
TOUCH_CHANNEL_LABELS = {
    "phone": _l("Phone"),
    "sms": _l("SMS"),
    "voice": _l("Voice call"),
    "email": _l("E-mail"),
    "walk_in": _l("Walk-in"),
    "web": _l("Web"),
}
"""How a contact took place (``TouchChannel``): touch-points, gestures, transport answers."""


def label(mapping: dict, code: object) -> str:
    """The translated label of ``code`` (an enum member or its value); unknown codes are shown as they are."""
    value = str(getattr(code, "value", code))
    return str(mapping.get(value, value))


def language_label(code: object) -> str:
    """The name of a patient's language in the language of the page ("Engels" on a Dutch page)."""
    value = str(getattr(code, "value", code))
    try:
        name = Locale.parse(value).get_display_name(get_locale())
    except (ValueError, UnknownLocaleError):
        return value
    return name[:1].upper() + name[1:] if name else value
