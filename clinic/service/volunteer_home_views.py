"""``/volunteer/``: a volunteer's own page on their phone: their patients today and tomorrow (only what
meeting and helping them needs), big "Met" / "Not met" buttons for today, and when they are available.

A volunteer only ever sees their own list: the list is read for ``current_user.volunteer_id`` and an
outcome for another volunteer's patient is refused with 403.
"""

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from clinic.columns import utcnow
from clinic.db import get_session
from clinic.errors import DomainError, NotFound
from clinic.i18n import format_date
from clinic.service.models import Volunteer
from clinic.service.volunteers import NotYours, record_outcome, volunteer_list
from clinic.web.clock import clinic_today
from clinic.web.container import unit
from clinic.web.errors import row_or_404
from clinic.web.labels import volunteer_labels
from clinic.web.roles import VOLUNTEER, roles_required

bp = Blueprint("volunteer", __name__, template_folder="templates", url_prefix="/volunteer")


@bp.get("/")
@roles_required(VOLUNTEER)
def home():
    session = get_session()
    today = clinic_today()
    tomorrow = today + dt.timedelta(days=1)
    volunteer = None
    if current_user.volunteer_id is not None:
        volunteer = row_or_404(Volunteer, current_user.volunteer_id)
    slots = sorted(volunteer.availability, key=lambda a: (a.weekday, a.starts)) if volunteer else []
    weekdays = {
        weekday: format_date(today.fromordinal(today.toordinal() - today.weekday() + weekday), "EEEE")
        for weekday in range(7)
    }
    rows = volunteer_list(session=session, volunteer_id=volunteer.id, days=[today, tomorrow]) if volunteer else []
    return render_template(
        "service/volunteers/home.html",
        today=today,
        tomorrow=tomorrow,
        volunteer=volunteer,
        today_rows=[r for r in rows if r.day == today],
        tomorrow_rows=[r for r in rows if r.day == tomorrow],
        today_slots=[slot for slot in slots if slot.weekday == today.weekday()],
        slots=slots,
        weekdays=weekdays,
        **volunteer_labels(),
    )


@bp.post("/assignments/<int:assignment_id>/outcome")
@roles_required(VOLUNTEER)
def outcome(assignment_id: int):
    if current_user.volunteer_id is None:
        abort(403)
    choice = request.form.get("outcome", "")
    if choice not in ("met", "not_met"):
        flash(_("Choose met or not met."), "error")
        return redirect(url_for("volunteer.home"), code=303)
    try:
        record_outcome(
            session=get_session(), assignment_id=assignment_id, volunteer_id=current_user.volunteer_id,
            outcome=choice, now=utcnow(), tz=unit().tz, actor_id=current_user.id,
        )
    except (NotYours, NotFound):
        abort(403)
    except DomainError:
        flash(_("A meeting can only be marked on its day."), "error")
        return redirect(url_for("volunteer.home"), code=303)
    flash(_("Thank you: marked as met.") if choice == "met" else _("Thank you: marked as not met."), "success")
    return redirect(url_for("volunteer.home") + f"#patient-{assignment_id}", code=303)
