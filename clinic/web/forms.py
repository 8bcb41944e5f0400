"""Flask-WTF forms of the app shell; every POST form carries a CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, Optional


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
