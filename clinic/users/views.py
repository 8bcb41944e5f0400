"""Sign-in and sign-out with Flask-Login around the ``User`` rows of ``clinic.users.services``.

Sessions end on the server too: each carries the account's ``session_version`` from its sign-in, and the
user loader refuses one whose version the account has moved past (sign-out, a new password, disabling).
A session unused for ``IDLE_MINUTES`` ends at its next request, which goes to the sign-in page.
"""

import math
import time
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Flask, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import UserMixin, current_user, login_user, logout_user

from clinic.db import get_session
from clinic.errors import SignInError, SignInThrottled
from clinic.extensions import login_manager
from clinic.users.services import Throttle, end_sessions, get_user
from clinic.users.services import sign_in as checked_sign_in
from clinic.web.container import settings
from clinic.web.forms import SignInForm, SignOutForm
from clinic.web.redirects import safe_next
from clinic.web.roles import role_value

bp = Blueprint("auth", __name__, template_folder="templates")
VERSION_KEY = "session_version"
SEEN_KEY = "seen"
#: Requests that neither end an idle session nor count as activity.
PASSIVE_ENDPOINTS = frozenset({"static", "health.healthz"})


class SignedInUser(UserMixin):
    """What a request knows about the person signed in: plain values copied from their ``User`` row."""

    def __init__(self, user: object) -> None:
        self.id: int = user.id
        self.username: str = user.username
        self.display_name: str = user.display_name or user.username
        self.role: str = role_value(user.role)
        self.language: str | None = getattr(user.language, "value", user.language)
        self.volunteer_id: int | None = getattr(user, "volunteer_id", None)
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
    if seen != now:
        session[SEEN_KEY] = now
    return None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = _l("Please sign in to open that page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    app.before_request(end_idle_session)

    @app.context_processor
    def sign_out_form() -> dict:
        return {"sign_out_form": SignOutForm() if current_user.is_authenticated else None}


def _fresh_session() -> None:
    """Drop everything from the previous session except the chosen language."""
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language


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
            _fresh_session()
            session.permanent = True
            session[VERSION_KEY] = user.session_version
            session[SEEN_KEY] = int(time.time())
            login_user(SignedInUser(user))
            return redirect(target or url_for("home.index"))
    return render_template("users/sign_in.html", form=form, sign_in_error=sign_in_error), status, headers


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
