"""Translated messages for the domain errors the visit page and the day board show."""

import datetime as dt

from flask_babel import format_date, format_time
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from clinic.errors import DomainError, NotFound

ERROR_MESSAGES = {
    "already_checked_in": _l("This patient is already checked in."),
    "bad_transition": _l("That is not possible in the visit's or step's current state."),
    "not_today": _l("Only today's visits can be checked in."),
    "not_checked_in": _l("Check the patient in first: steps are recorded only after check-in."),
    "override_not_allowed": _l("Only a coordinator can override this rule; ask a coordinator."),
    "not_completed": _l("Only a completed visit can be invoiced."),
    "use_journey": _l("Use check-in, the steps or checkout on the visit page for this."),
    "undo_not_yours": _l("You can only undo your own action."),
    "undo_not_last": _l("Only your last action can be undone, once."),
    "undo_moved_on": _l("The visit has changed since; this action can no longer be undone."),
    "undo_not_possible": _l("This action can no longer be undone."),
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


def _parse(value: object, kind: type) -> dt.date | dt.datetime | None:
    try:
        return kind.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def day_rule_message(error: DomainError) -> str:
    """The translated message for a broken rule of the day, with its dates and times in the clerk's
    language; other errors as ``error_message``."""
    if error.code == "not_visit_day":
        day = _parse(error.params.get("day"), dt.date)
        if day is not None:
            return _(
                "This visit is on %(day)s: check-in, steps and checkout happen only on the visit's day.",
                day=format_date(day, "full"),
            )
        return _("Check-in, steps and checkout happen only on the visit's day.")
    if error.code == "arrival_not_passed":
        until = _parse(error.params.get("until"), dt.datetime)
        if until is not None:
            return _(
                "The patient may still arrive: a no-show can be recorded from %(time)s.",
                time=format_time(until, "short"),
            )
        return _("The patient may still arrive: a no-show can be recorded once the arrival window has passed.")
    if error.code == "undo_expired":
        return _("An action can be undone for %(minutes)s minutes only.", minutes=error.params.get("minutes", 10))
    return error_message(error)


def error_message(error: DomainError) -> str:
    """The translated message for a domain error (its code first, then its field)."""
    if error.code in ("not_visit_day", "arrival_not_passed", "undo_expired"):
        return day_rule_message(error)
    if error.code in ERROR_MESSAGES:
        return str(ERROR_MESSAGES[error.code])
    if isinstance(error, NotFound):
        return _("That record does not exist.")
    if error.field in FIELD_MESSAGES:
        return str(FIELD_MESSAGES[error.field])
    return _("That could not be done.")
