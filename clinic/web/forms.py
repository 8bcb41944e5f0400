"""Flask-WTF forms of the app shell; every POST form carries a CSRF token."""

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional


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

    day = DateField(_l("Day"), validators=[Optional()], format="%Y-%m-%d")
    submit = SubmitField(_l("Show"))
