"""``/``: sends each signed-in person to the page for their role."""

from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required

from clinic.web.roles import VOLUNTEER

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    if current_user.role == VOLUNTEER:
        return redirect(url_for("volunteer.home"))
    return redirect(url_for("board.day"))
