"""``POST /language``: the language switch in the header."""

from flask import Blueprint, Flask, abort, redirect, request, session, url_for
from flask_babel import get_locale
from flask_login import current_user

from clinic.db import get_session
from clinic.i18n import LANGUAGE_NAMES, available_languages
from clinic.users.services import set_language
from clinic.web.forms import LanguageForm, select_choices
from clinic.web.redirects import safe_next

bp = Blueprint("language", __name__)


def language_form() -> LanguageForm:
    form = LanguageForm()
    form.language.choices = select_choices((code, LANGUAGE_NAMES[code]) for code in available_languages())
    return form


@bp.post("/language")
def choose():
    """Kept in the session; a signed-in person also keeps it on their account for next time."""
    form = language_form()
    if not form.validate_on_submit():
        abort(400)
    code = form.language.data
    session["language"] = code
    if current_user.is_authenticated:
        set_language(session=get_session(), user_id=current_user.id, language=code)
    target = safe_next(form.next.data) or safe_next(request.args.get("next"))
    return redirect(target or url_for("home.index"))


def init_app(app: Flask) -> None:
    @app.context_processor
    def header_language_form() -> dict:
        form = language_form()
        form.language.data = str(get_locale() or "en")
        form.next.data = request.full_path.rstrip("?") if request.method == "GET" else request.path
        return {"language_form": form}
