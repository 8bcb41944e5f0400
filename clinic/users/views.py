"""Sign-in and sign-out with Flask-Login around the ``User`` rows of ``clinic.users.services``."""

from flask import Blueprint, Flask, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_user, logout_user

from clinic.db import get_session
from clinic.errors import SignInError
from clinic.extensions import login_manager
from clinic.users.services import authenticate, get_user
from clinic.web.forms import SignInForm, SignOutForm
from clinic.web.redirects import safe_next
from clinic.web.roles import role_value

bp = Blueprint("auth", __name__, template_folder="templates")


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
    if user is None or not user.active:
        return None
    return SignedInUser(user)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = _l("Please sign in to open that page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @app.context_processor
    def sign_out_form() -> dict:
        return {"sign_out_form": SignOutForm() if current_user.is_authenticated else None}


def _fresh_session() -> None:
    """Drop everything from the previous session except the chosen language."""
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    target = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target or url_for("home.index"))
    form = SignInForm()
    sign_in_error = None
    if form.validate_on_submit():
        try:
            user = authenticate(
                session=get_session(), username=form.username.data.strip(), password=form.password.data
            )
        except SignInError:
            sign_in_error = _("Wrong user name or password.")
        else:
            _fresh_session()
            session.permanent = True
            login_user(SignedInUser(user))
            return redirect(target or url_for("home.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("users/sign_in.html", form=form, sign_in_error=sign_in_error), status


@bp.post("/sign-out")
def sign_out():
    form = SignOutForm()
    if form.validate_on_submit():
        logout_user()
        _fresh_session()
        flash(_("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"))
