"""``/volunteer/``: a volunteer's own landing page (their name, today, and when they are available)."""

from flask import Blueprint, abort, render_template
from flask_babel import format_date
from flask_login import current_user

from clinic.web.clock import clinic_today
from clinic.web.roles import VOLUNTEER, roles_required

bp = Blueprint("volunteer", __name__, url_prefix="/volunteer")


@bp.get("/")
@roles_required(VOLUNTEER)
def home():
    from clinic.db import get_session
    from clinic.models import Volunteer

    today = clinic_today()
    volunteer = None
    if current_user.volunteer_id is not None:
        volunteer = get_session().get(Volunteer, current_user.volunteer_id)
    if current_user.volunteer_id is not None and volunteer is None:
        abort(404)
    slots = sorted(volunteer.availability, key=lambda a: (a.weekday, a.starts)) if volunteer else []
    weekdays = {
        weekday: format_date(today.fromordinal(today.toordinal() - today.weekday() + weekday), "EEEE")
        for weekday in range(7)
    }
    return render_template(
        "volunteer/home.html",
        today=today,
        volunteer=volunteer,
        today_slots=[slot for slot in slots if slot.weekday == today.weekday()],
        slots=slots,
        weekdays=weekdays,
    )
