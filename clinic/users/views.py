"""Sign-in and sign-out with Flask-Login around the ``User`` rows of ``clinic.users.services``.

Sessions end on the server too: each carries the account's ``session_version`` from its sign-in, and the
user loader refuses one whose version the account has moved past (sign-out, a new password, disabling).
A session unused for ``IDLE_MINUTES`` ends at its next request, which goes to the sign-in page.
An account given a one-time password (a reset, a new account) opens nothing but the password page until
its owner has chosen a new password.
"""

import math
import time
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from clinic.db import get_session
from clinic.errors import DomainError, Forbidden, SignInError, SignInThrottled
from clinic.extensions import login_manager
from clinic.users import passwords
from clinic.users.federated import sign_in_federated
from clinic.users.services import Throttle, change_password, end_sessions, get_user
from clinic.users.services import sign_in as checked_sign_in
from clinic.web import oidc
from clinic.web.account_messages import account_error
from clinic.web.container import container, settings
from clinic.web.forms import SignInForm, SignOutForm
from clinic.web.redirects import safe_next
from clinic.web.roles import role_value

bp = Blueprint("auth", __name__, template_folder="templates")
VERSION_KEY = "session_version"
SEEN_KEY = "seen"
#: Activity is noted in the session at most this often, so the session (and its cookie) changes once a
#: minute, not on each of a board's refreshes; the idle timeout is counted in whole minutes anyway.
SEEN_STEP_SECONDS = 60
#: Requests that neither end an idle session nor count as activity.
PASSIVE_ENDPOINTS = frozenset({"static", "health.healthz"})
#: What an account that must choose a new password may still open.
NEXT_KEY = "oidc_next"
BEFORE_NEW_PASSWORD = frozenset({"static", "health.healthz", "auth.password", "auth.sign_out", "language.choose"})


class SignedInUser(UserMixin):
    """What a request knows about the person signed in: plain values copied from their ``User`` row."""

    def __init__(self, user: object) -> None:
        self.id: int = user.id
        self.username: str = user.username
        self.display_name: str = user.display_name or user.username
        self.role: str = role_value(user.role)
        self.language: str | None = getattr(user.language, "value", user.language)
        self.volunteer_id: int | None = getattr(user, "volunteer_id", None)
        self.must_change_password = bool(getattr(user, "must_change_password", False))
        self._active = bool(user.active)

    @property
    def is_active(self) -> bool:
        return self._active

    def has_role(self, *roles: object) -> bool:
        return self.role in {role_value(role) for role in roles}


def load_user(user_id: str) -> SignedInUser | None:
    try:
        key = int(user_id)
    except ValueError:
        return None
    user = get_user(session=get_session(), user_id=key)
    if user is None or not user.active or session.get(VERSION_KEY) != user.session_version:
        return None
    return SignedInUser(user)


def end_idle_session():
    """Before each request: a signed-in session unused for ``IDLE_MINUTES`` ends and goes to the sign-in page."""
    if "_user_id" not in session or request.endpoint in PASSIVE_ENDPOINTS:
        return None
    idle = settings().idle_minutes * 60
    now = int(time.time())
    seen = session.get(SEEN_KEY)
    if idle and isinstance(seen, int) and now - seen > idle:
        logout_user()
        _fresh_session()
        flash(ngettext("You were signed out after %(num)d minute without activity. Please sign in again.",
                       "You were signed out after %(num)d minutes without activity. Please sign in again.",
                       settings().idle_minutes), "info")
        if request.endpoint == "auth.sign_in":
            return None
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.sign_in", next=target))
    if not isinstance(seen, int) or now - seen >= SEEN_STEP_SECONDS:
        session[SEEN_KEY] = now
    return None


def require_new_password():
    """Before each request: an account on a one-time password is sent to the password page first."""
    if request.endpoint in BEFORE_NEW_PASSWORD or not current_user.is_authenticated:
        return None
    if current_user.must_change_password:
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.password", next=target))
    return None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = _l("Please sign in to open that page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    oidc.init_app(app, container(app).settings.oidc)
    app.before_request(end_idle_session)
    app.before_request(require_new_password)

    @app.context_processor
    def sign_out_form() -> dict:
        return {"sign_out_form": SignOutForm() if current_user.is_authenticated else None}


def _fresh_session() -> None:
    """Drop everything from the previous session except the chosen language."""
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language


def _begin_session(user: object) -> None:
    """Sign ``user`` in on a fresh session that carries their session version (sign-out raises it)."""
    _fresh_session()
    session.permanent = True
    session[VERSION_KEY] = user.session_version
    session[SEEN_KEY] = int(time.time())
    login_user(SignedInUser(user))


def _sign_in_page(form: SignInForm, sign_in_error: str | None, status: int, headers: dict | None = None):
    return render_template(
        "users/sign_in.html", form=form, sign_in_error=sign_in_error, hospital=oidc.client() is not None,
        local_passwords=settings().local_passwords, next=safe_next(request.args.get("next")),
    ), status, headers or {}


def _throttle() -> Throttle:
    config = settings()
    return Throttle(account_failures=config.sign_in_account_failures,
                    address_failures=config.sign_in_address_failures,
                    window=timedelta(minutes=config.sign_in_window_minutes))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    target = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target or url_for("home.index"))
    form = SignInForm()
    sign_in_error = None
    status = 400 if request.method == "POST" else 200
    headers = {}
    if request.method == "POST" and not settings().local_passwords:
        return _sign_in_page(form, _("Passwords are not used here: sign in with the hospital."), 403)
    if form.validate_on_submit():
        try:
            user = checked_sign_in(
                session=get_session(), username=form.username.data, password=form.password.data,
                address=request.remote_addr or "unknown", now=datetime.now(UTC), throttle=_throttle(),
            )
        except SignInThrottled as error:
            minutes = max(1, math.ceil(error.retry_after.total_seconds() / 60))
            sign_in_error = ngettext(
                "Too many wrong passwords. Please wait %(num)d minute and try again.",
                "Too many wrong passwords. Please wait %(num)d minutes and try again.", minutes)
            status, headers = 429, {"Retry-After": str(math.ceil(error.retry_after.total_seconds()))}
        except SignInError:
            sign_in_error = _("Wrong user name or password.")
        else:
            _begin_session(user)
            if user.must_change_password:
                return redirect(url_for("auth.password", next=target))
            return redirect(target or url_for("home.index"))
    return _sign_in_page(form, sign_in_error, status, headers)


@bp.get("/sign-in/hospital")
def hospital_sign_in():
    """Send the browser to the hospital's identity provider (authorization code, PKCE, state, nonce)."""
    hospital = oidc.client()
    if hospital is None:
        abort(404)
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    try:
        return hospital.authorize_redirect(url_for("auth.hospital_callback", _external=True))
    except oidc.UNREACHABLE:
        return _sign_in_page(SignInForm(), _("The hospital's sign-in service does not answer. Please try again "
                                             "in a moment, or ask the IT service desk."), 502)


@bp.get("/sign-in/hospital/callback")
def hospital_callback():
    """The provider's redirect back: verify it, then sign in the local account of the person it names."""
    hospital = oidc.client()
    if hospital is None:
        abort(404)
    form = SignInForm()
    if request.args.get("error"):
        return _sign_in_page(form, _("The hospital's sign-in service did not sign you in (%(reason)s).",
                                     reason=request.args.get("error", "")[:80]), 403)
    config = settings().oidc
    try:
        who = oidc.identity(hospital, wanted_claim=config.roles_claim)
    except oidc.NOT_VERIFIED:
        return _sign_in_page(form, _("This sign-in could not be verified (it may have expired or been "
                                     "tampered with). Please sign in with the hospital again."), 400)
    except oidc.UNREACHABLE:
        return _sign_in_page(form, _("The hospital's sign-in service does not answer. Please try again "
                                     "in a moment, or ask the IT service desk."), 502)
    try:
        user = sign_in_federated(session=get_session(), issuer=who.issuer, subject=who.subject, claims=who.claims,
                                 roles_claim=config.roles_claim, role_map=config.role_map)
    except Forbidden:
        return _sign_in_page(form, _("The hospital's sign-in service knows you, but gives you no role in "
                                     "OneVisit. Ask your manager or the IT service desk for access."), 403)
    except SignInError:
        return _sign_in_page(form, _("This account is disabled in OneVisit. Ask an administrator."), 403)
    target = session.get(NEXT_KEY)
    _begin_session(user)
    return redirect(safe_next(target) or url_for("home.index"))


@bp.post("/sign-out")
def sign_out():
    """Ends every session of the account, on every device, not only this browser's."""
    form = SignOutForm()
    if form.validate_on_submit():
        if current_user.is_authenticated:
            end_sessions(session=get_session(), user_id=current_user.id)
        logout_user()
        _fresh_session()
        flash(_("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"))


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(message=_l("Enter your current password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(message=_l("Enter a new password.")), Length(max=200)],
        render_kw={"autocomplete": "new-password"},
    )
    repeat = PasswordField(
        _l("New password again"),
        validators=[DataRequired(message=_l("Enter the new password again.")),
                    EqualTo("new_password", message=_l("The two new passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Change password"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    """Change one's own password (the current one first); other sessions of the account end, this one stays."""
    form = PasswordForm()
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        try:
            user = change_password(
                session=get_session(), user_id=current_user.id, password=form.new_password.data,
                current_password=form.current_password.data,
            )
        except DomainError as error:
            field = form.current_password if error.field == "current_password" else form.new_password
            field.errors = [account_error(error)]
        else:
            session[VERSION_KEY] = user.session_version
            flash(_("Your password is changed. You are signed out on every other device."), "success")
            return redirect(safe_next(request.args.get("next")) or url_for("home.index"))
    return render_template(
        "users/password.html", form=form, forced=current_user.must_change_password, min_length=passwords.MIN_LENGTH,
    ), status
