"""``/volunteers``: the coordinator's day of volunteers (who meets whom, who is left and why, override,
re-run the matching, a printable list per volunteer) and the desk's "ask for a volunteer" on a visit.

Every POST is CSRF-checked by the app-wide ``CSRFProtect``.
"""

import datetime as dt

import click
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from clinic.columns import utcnow
from clinic.db import get_session, get_session_factory
from clinic.errors import DomainError, NotFound
from clinic.service import volunteers as service
from clinic.service.models import VolunteerAssignment
from clinic.service.volunteer_notices import queue_notices
from clinic.service.volunteers import day_overview, match_day
from clinic.web.clock import clinic_today
from clinic.web.container import unit
from clinic.web.errors import row_or_404
from clinic.web.forms import in_calendar
from clinic.web.labels import volunteer_labels
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required

bp = Blueprint(
    "volunteers", __name__, template_folder="templates", url_prefix="/volunteers", cli_group="volunteers"
)
COORDINATORS = (COORDINATOR, ADMIN)
DESK_ROLES = (FRONT_DESK, COORDINATOR, ADMIN)
add_nav_item("volunteers.day", _l("Volunteers"), COORDINATORS)

ERRORS = {
    "not_flaggable": _l("Only a booked or running visit can get a volunteer."),
    "past_visit": _l("This visit is in the past."),
    "no_steps": _l("This visit has no planned steps yet."),
    "already_recorded": _l("The volunteer already recorded this meeting; it cannot be reassigned."),
    "not_available": _l("This volunteer is not available for the whole stay."),
    "match_busy": _l("The matching was running already; try again."),
}


def _message(error: DomainError) -> str:
    if error.code in ERRORS:
        return str(ERRORS[error.code])
    if error.field == "volunteer_id":
        return _("Choose a volunteer from the list.")
    return _("That could not be done: %(reason)s", reason=error.message)


def _day_arg(value: str | None) -> dt.date | None:
    """The ``day`` of the query or form (``YYYY-MM-DD``); today when absent, ``None`` when malformed."""
    if not value:
        return clinic_today()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return day if in_calendar(day) else None


def _match(session, day: dt.date) -> None:
    report = match_day(session=session, day=day, now=utcnow(), unit=unit())
    flash(
        _("Matching done: %(assigned)d with a volunteer, %(left)d without.", assigned=report.assigned + report.kept,
          left=report.unassigned),
        "success",
    )


@bp.get("/")
@roles_required(*COORDINATORS)
def day():
    chosen = _day_arg(request.args.get("day"))
    status = 200
    error = None
    if chosen is None:
        error, chosen, status = _("Give the day as YYYY-MM-DD."), clinic_today(), 400
    overview = day_overview(session=get_session(), day=chosen, tz=unit().tz)
    return (
        render_template(
            "service/volunteers/day.html",
            overview=overview,
            day=chosen,
            previous_day=chosen - dt.timedelta(days=1),
            next_day=chosen + dt.timedelta(days=1),
            error=error,
            **volunteer_labels(),
        ),
        status,
    )


@bp.post("/match")
@roles_required(*COORDINATORS)
def rerun():
    chosen = _day_arg(request.form.get("day"))
    if chosen is None:
        flash(_("Give the day as YYYY-MM-DD."), "error")
        return redirect(url_for("volunteers.day"), code=303)
    try:
        _match(get_session(), chosen)
    except DomainError as error:
        flash(_message(error), "error")
    return redirect(url_for("volunteers.day", day=chosen.isoformat()), code=303)


@bp.post("/assignments/<int:assignment_id>/override")
@roles_required(*COORDINATORS)
def override(assignment_id: int):
    session = get_session()
    row = row_or_404(VolunteerAssignment, assignment_id)
    day = row.day
    raw = (request.form.get("volunteer_id") or "").strip()
    if raw and not raw.isdigit():
        flash(_("Choose a volunteer from the list."), "error")
        return redirect(url_for("volunteers.day", day=day.isoformat()), code=303)
    try:
        service.override(
            session=session, assignment_id=assignment_id, volunteer_id=int(raw) if raw else None,
            actor_id=current_user.id, tz=unit().tz,
        )
        flash(_("Assignment changed.") if raw else _("Back to automatic matching."), "success")
        _match(session, day)
    except DomainError as error:
        session.rollback()
        flash(_message(error), "error")
    return redirect(url_for("volunteers.day", day=day.isoformat()) + f"#assignment-{assignment_id}", code=303)


@bp.post("/visits/<int:visit_id>/flag")
@roles_required(*DESK_ROLES)
def flag(visit_id: int):
    session = get_session()
    try:
        row = service.flag_visit(session=session, visit_id=visit_id, actor_id=current_user.id, now=utcnow(), unit=unit())
    except NotFound:
        abort(404)
    except DomainError as error:
        flash(_message(error), "error")
        return redirect(url_for("visit.detail", visit_id=visit_id), code=303)
    try:
        service.match_day(session=session, day=row.day, now=utcnow(), unit=unit())
    except DomainError as error:
        flash(_message(error), "error")
    row = service.visit_assignment(session=session, visit_id=visit_id)
    if row is not None and row.volunteer_id is not None:
        name = service.get_volunteer(session=session, volunteer_id=row.volunteer_id).name
        flash(_("A volunteer is asked for: %(name)s will meet the patient.", name=name), "success")
    else:
        flash(_("A volunteer is asked for; nobody is free yet, the coordinator sees it on the volunteers' day."), "success")
    return redirect(url_for("visit.detail", visit_id=visit_id), code=303)


@bp.get("/<int:volunteer_id>/print")
@roles_required(*COORDINATORS)
def printable(volunteer_id: int):
    chosen = _day_arg(request.args.get("day"))
    if chosen is None:
        abort(400)
    session = get_session()
    try:
        volunteer = service.get_volunteer(session=session, volunteer_id=volunteer_id)
    except NotFound:
        abort(404)
    rows = service.volunteer_list(session=session, volunteer_id=volunteer_id, days=[chosen])
    return render_template("service/volunteers/print.html", volunteer=volunteer, day=chosen, rows=rows, **volunteer_labels())


@bp.cli.command("match")
@click.option("--day", "day_text", help="YYYY-MM-DD (default: today and the next clinic day).")
def match_command(day_text: str | None) -> None:
    """Match volunteers for a day (default: today and the next clinic day) and queue the next day's SMS."""
    with get_session_factory()() as session:
        if day_text:
            try:
                days = [dt.date.fromisoformat(day_text)]
            except ValueError:
                raise click.BadParameter("give the day as YYYY-MM-DD", param_hint="--day") from None
        else:
            today = utcnow().astimezone(unit().zone).date()
            days = [today, service.next_clinic_day(session=session, after=today)]
        for day in days:
            report = service.match_day(session=session, day=day, now=utcnow(), unit=unit())
            click.echo(f"Volunteers on {day}: {report.assigned + report.kept} matched, {report.unassigned} without.")
        if not day_text:
            notices = queue_notices(session=session, day=days[-1], now=utcnow(), tz=unit().tz)
            click.echo(f"Volunteer SMS for {days[-1]}: {notices.queued} queued, {notices.updated} updated.")
