"""Flask-WTF forms of the app shell; every POST form carries a CSRF token."""

from collections.abc import Iterable
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

FIRST_YEAR, LAST_YEAR = 1900, 2999
"""Dates outside these years are refused as input: years 1 and 9999 overflow date arithmetic (the day after,
a time zone's offset) and mean nothing to a clinic."""


def in_calendar(day: date | None) -> bool:
    """Whether ``day`` (``None`` passes) lies in the years a date input accepts."""
    return day is None or FIRST_YEAR <= day.year <= LAST_YEAR


class BlankableSelectField(SelectField):
    """A select whose blank option means "none" or "all": left blank, or given only spaces, its data is ``""``.

    WTForms' ``Optional`` lets a value of only spaces through as valid without checking it against the
    choices, so such a value, typed into a URL, would otherwise reach the view as data (``int("\\r")``)."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        super().__init__(label, validators if validators is not None else [Optional()], **kwargs)

    def process_formdata(self, valuelist: list) -> None:
        super().process_formdata(valuelist)
        if isinstance(self.data, str) and not self.data.strip():
            self.data = ""


class DayField(DateField):
    """A ``YYYY-MM-DD`` date from 1900 to 2999; others are a field error, never a server error later."""

    def __init__(self, label: Any = None, validators: Any = None, format: str = "%Y-%m-%d", **kwargs: Any) -> None:
        super().__init__(label, validators, format=format, **kwargs)

    def process_formdata(self, valuelist: list) -> None:
        super().process_formdata(valuelist)
        if not in_calendar(self.data):
            self.data = None
            raise ValueError(_("Choose a date from %(first)d to %(last)d.", first=FIRST_YEAR, last=LAST_YEAR))


def select_choices(pairs: Iterable[tuple[Any, Any] | SelectChoice]) -> list[SelectChoice]:
    """``(value, label)`` pairs as the ``SelectChoice`` options WTForms wants for ``choices=``.

    The same conversion WTForms itself applied to tuples (``SelectChoice(*pair)``), so values, labels,
    ``coerce`` and the rendered HTML are unchanged. Labels are kept as given: a ``lazy_gettext`` label stays
    lazy and is translated when the option is rendered, in the language of that request. A third element
    (``render_kw``) and ready-made ``SelectChoice`` objects pass through too.
    """
    return [pair if isinstance(pair, SelectChoice) else SelectChoice(*pair) for pair in pairs]


class SignInForm(FlaskForm):
    username = StringField(
        _l("User name"),
        validators=[DataRequired(message=_l("Enter your user name.")), Length(max=80)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Enter your password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Sign in"))


class SignOutForm(FlaskForm):
    submit = SubmitField(_l("Sign out"))


class LanguageForm(FlaskForm):
    language = SelectField(_l("Language"), validators=[InputRequired()])
    next = HiddenField()
    submit = SubmitField(_l("Change"))


class BoardDayForm(FlaskForm):
    """The date picker on the day board: a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    day = DayField(_l("Day"), validators=[Optional()])
    submit = SubmitField(_l("Show"))
