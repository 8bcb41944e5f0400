"""``/admin/accounts``: the administrator's screen to create accounts, set roles, disable or enable them and
reset passwords. The services check the role again (``Forbidden``), so this page is not the only guard."""

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, SubmitField
from wtforms.validators import AnyOf, DataRequired, Length

from clinic.db import get_session
from clinic.errors import DomainError, Forbidden, NotFound
from clinic.i18n import LANGUAGE_NAMES
from clinic.users import services as accounts
from clinic.users.models import Role, User
from clinic.web.account_messages import account_error
from clinic.web.forms import BlankableSelectField, select_choices
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, ROLE_LABELS, roles_required

bp = Blueprint("accounts", __name__, template_folder="templates")
add_nav_item("accounts.index", _l("Accounts"), (ADMIN,))


def _role_choices() -> list:
    return select_choices((role.value, ROLE_LABELS[role.value]) for role in Role)


class NewAccountForm(FlaskForm):
    username = StringField(
        _l("User name"), validators=[DataRequired(message=_l("Enter a user name.")), Length(max=40)],
        render_kw={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"},
    )
    display_name = StringField(
        _l("Name"), validators=[DataRequired(message=_l("Enter the person's name.")), Length(max=120)]
    )
    role = SelectField(_l("Role"), validators=[DataRequired()])
    language = BlankableSelectField(_l("Language"))
    volunteer_id = BlankableSelectField(_l("Volunteer record (volunteers only)"))
    submit = SubmitField(_l("Create account"))


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), validators=[DataRequired()])
    submit = SubmitField(_l("Change role"))


class ActiveForm(FlaskForm):
    active = HiddenField(validators=[AnyOf(["0", "1"])])


class ResetForm(FlaskForm):
    submit = SubmitField(_l("Reset password"))


def _actor() -> User:
    user = accounts.get_user(session=get_session(), user_id=current_user.id)
    if user is None:
        abort(403)
    return user


def _new_account_form() -> NewAccountForm:
    form = NewAccountForm()
    form.role.choices = _role_choices()
    form.language.choices = select_choices([("", _l("As the browser asks"))] + list(LANGUAGE_NAMES.items()))
    form.volunteer_id.choices = select_choices(
        [("", _l("None"))] + [(str(vid), name) for vid, name in accounts.volunteer_choices(session=get_session())]
    )
    return form


def _index(form: NewAccountForm, status: int = 200):
    try:
        users = accounts.list_accounts(session=get_session(), actor=_actor())
    except Forbidden:
        abort(403)
    return render_template("users/accounts.html", users=users, form=form), status


@bp.get("/admin/accounts")
@roles_required(ADMIN)
def index():
    return _index(_new_account_form())


@bp.post("/admin/accounts")
@roles_required(ADMIN)
def create():
    form = _new_account_form()
    if not form.validate_on_submit():
        return _index(form, 400)
    try:
        user, password = accounts.create_account(
            session=get_session(), actor=_actor(), username=form.username.data, display_name=form.display_name.data,
            role=form.role.data, language=form.language.data or None,
            volunteer_id=int(form.volunteer_id.data) if form.volunteer_id.data else None,
        )
    except Forbidden:
        abort(403)
    except DomainError as error:
        get_session().rollback()
        field = getattr(form, error.field or "", None) or form.username
        field.errors = [account_error(error)]
        return _index(form, 400)
    return render_template("users/one_time_password.html", user=user, password=password, created=True), 201


def _account_or_404(user_id: int) -> User:
    try:
        return accounts.get_account(session=get_session(), user_id=user_id)
    except NotFound:
        abort(404)


def _detail(user: User, status: int = 200, error: str | None = None, role_form: RoleForm | None = None):
    if role_form is None:
        role_form = RoleForm(data={"role": user.role.value})
    role_form.role.choices = _role_choices()
    return render_template(
        "users/account.html", user=user, role_form=role_form, active_form=ActiveForm(), reset_form=ResetForm(),
        error=error,
    ), status


@bp.get("/admin/accounts/<int:user_id>")
@roles_required(ADMIN)
def detail(user_id: int):
    return _detail(_account_or_404(user_id))


def _change(user_id: int, change: Callable[..., object], success: str, **kw: object):
    """Apply ``change`` to the account: ``None`` when done (``success`` flashed), else the page with the error."""
    user = _account_or_404(user_id)
    try:
        change(session=get_session(), actor=_actor(), user_id=user.id, **kw)
    except Forbidden:
        abort(403)
    except DomainError as error:
        get_session().rollback()
        return _detail(_account_or_404(user_id), 409, account_error(error))
    flash(success, "success")
    return None


@bp.post("/admin/accounts/<int:user_id>/role")
@roles_required(ADMIN)
def set_role(user_id: int):
    form = RoleForm()
    form.role.choices = _role_choices()
    if not form.validate_on_submit():
        return _detail(_account_or_404(user_id), 400, role_form=form)
    failed = _change(user_id, accounts.set_role, _("The role is changed."), role=form.role.data)
    return failed or redirect(url_for("accounts.detail", user_id=user_id))


@bp.post("/admin/accounts/<int:user_id>/active")
@roles_required(ADMIN)
def set_active(user_id: int):
    form = ActiveForm()
    if not form.validate_on_submit():
        return _detail(_account_or_404(user_id), 400)
    active = form.active.data == "1"
    message = _("The account is enabled.") if active else _("The account is disabled; its sessions have ended.")
    failed = _change(user_id, accounts.set_active, message, active=active)
    return failed or redirect(url_for("accounts.detail", user_id=user_id))


@bp.post("/admin/accounts/<int:user_id>/reset")
@roles_required(ADMIN)
def reset(user_id: int):
    form = ResetForm()
    if not form.validate_on_submit():
        return _detail(_account_or_404(user_id), 400)
    user = _account_or_404(user_id)
    try:
        password = accounts.reset_password(session=get_session(), actor=_actor(), user_id=user.id)
    except Forbidden:
        abort(403)
    return render_template("users/one_time_password.html", user=user, password=password, created=False)
