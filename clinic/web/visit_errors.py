"""Translated messages for the domain errors the visit page and the day board show."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from clinic.errors import DomainError, NotFound

ERROR_MESSAGES = {
    "already_checked_in": _l("This patient is already checked in."),
    "bad_transition": _l("That is not possible in the visit's or step's current state."),
    "not_today": _l("Only today's visits can be checked in."),
    "visit_closed": _l("This visit is closed: its steps cannot change any more."),
    "day_changed": _l("The day changed since this re-plan was made. Make a new one."),
    "nothing_to_move": _l("There is nothing to move."),
    "replan_failed": _l("The engine could not re-plan this day."),
}
FIELD_MESSAGES = {
    "volunteer_id": _l("Choose an active volunteer."),
    "notes": _l("Notes can be at most 500 characters."),
    "at": _l("A step cannot finish before it started."),
}


def error_message(error: DomainError) -> str:
    """The translated message for a domain error (its code first, then its field)."""
    if error.code in ERROR_MESSAGES:
        return str(ERROR_MESSAGES[error.code])
    if isinstance(error, NotFound):
        return _("That record does not exist.")
    if error.field in FIELD_MESSAGES:
        return str(FIELD_MESSAGES[error.field])
    return _("That could not be done.")
