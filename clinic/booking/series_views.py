"""Moving a visit, and changing a treatment series: ``/visits/<id>/move``, ``/visits/<id>/cancel-cycle``,
``/series/<id>/cancel``.

Move: the clerk says from when the patient can come, the engine proposes itineraries (the visit's own place
counts as free), the clerk picks one. A plain visit moves at once; a cycle of a series first shows the later
cycles re-proposed inside their windows, and the clerk confirms the whole change. Cancelling one cycle
shows the same preview before it frees the place; cancelling the series frees every future cycle.
"""

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from clinic.booking import moves
from clinic.booking import series as series_service
from clinic.booking.nearby import CLOSE_VISIT_DAYS, nearby_visits
from clinic.booking.services import Availability, SlotTaken, decode_choice, propose_visits
from clinic.db import get_session
from clinic.errors import Conflict, DomainError, NotFound, ValidationError
from clinic.i18n import format_date
from clinic.visits.services import get_visit
from clinic.web.clock import clinic_today
from clinic.web.container import unit
from clinic.web.forms import select_choices
from clinic.web.labels import VISIT_STATUS_LABELS, label
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.web.urls import optional_url

bp = Blueprint("series", __name__, template_folder="templates")
DESK = (FRONT_DESK, COORDINATOR, ADMIN)
PARTS = [
    ("any", _l("Any time")),
    ("morning", _l("Mornings (gone by 12:30)")),
    ("afternoon", _l("Afternoons (from 12:00)")),
]
LATER_PREFIX = "later-"


class MoveRequestForm(FlaskForm):
    """When the patient can come instead: a GET form (it only reads)."""

    class Meta:
        csrf = False

    earliest = DateField(_l("Earliest date"), validators=[Optional()], format="%Y-%m-%d")
    latest = DateField(_l("Latest date (optional)"), validators=[Optional()], format="%Y-%m-%d")
    part = SelectField(_l("Time of day"), choices=select_choices(PARTS), default="any")


class MoveForm(FlaskForm):
    choice = HiddenField(validators=[DataRequired(), Length(max=2000)])
    confirmed = HiddenField()


class CancelCycleForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give a reason.")),
            Length(max=300, message=_l("Keep the reason under 300 characters.")),
        ],
        render_kw={"rows": 3, "maxlength": 300},
    )


def _message(error: DomainError) -> str:
    cycle = error.params.get("cycle")
    if isinstance(error, SlotTaken):
        if cycle:
            return _("Cycle %(cycle)d was just taken by another booking: nothing is changed.", cycle=cycle)
        return _("Just taken: another booking got that itinerary first. Choose another one.")
    messages = {
        "visit_started": _("This visit has started (or is today or past): it cannot be moved."),
        "not_movable": _("Only booked or confirmed visits can be moved."),
        "day_passed": _("That day has passed; choose another itinerary."),
        "already_booked": _("The patient already has a visit on that day."),
        "bad_choice": _("That itinerary cannot be booked; choose one of the proposals."),
        "series_changed": _("The series changed meanwhile; look at the later cycles again."),
        "series_cancelled": _("The series is cancelled."),
        "outside_tolerance": _("A cycle is no longer inside its tolerance; look at the series again."),
        "reason_required": _("Give a reason."),
        "not_in_series": _("This visit is not part of a series."),
        "busy": _("Many bookings are being made at this moment. Please try again."),
        "too_far_ahead": _("That date is too far ahead."),
        "horizon_too_long": _("Look at most 90 days ahead."),
    }
    return messages.get(error.code, _("That change cannot be made."))


def _status(error: DomainError) -> int:
    return 409 if isinstance(error, Conflict) else 400


def _visit_or_404(visit_id: int):
    try:
        return get_visit(session=get_session(), visit_id=visit_id)
    except NotFound:
        abort(404)


def _later_choices() -> dict[int, str]:
    out = {}
    for key, value in request.form.items():
        if key.startswith(LATER_PREFIX) and key[len(LATER_PREFIX):].isdigit() and len(value) <= 2000:
            out[int(key[len(LATER_PREFIX):])] = value
    return out


def _patient_url(visit) -> str:
    return optional_url("patient.detail", patient_id=visit.patient_id) or url_for("visit.detail", visit_id=visit.id)


def _availability(visit, form: MoveRequestForm) -> Availability:
    today = clinic_today()
    series = (
        series_service.get_series(session=get_session(), series_id=visit.series_id) if visit.series_id else None
    )
    return Availability(
        earliest=form.earliest.data or today + dt.timedelta(days=1),
        latest=form.latest.data,
        weekdays=series.weekday_set if series is not None and series.weekday_set else frozenset(range(7)),
        part_of_day=form.part.data or "any",
    )


def _nearby(visit, days) -> dict:
    return nearby_visits(
        session=get_session(), patient_id=visit.patient_id, pathway_id=visit.pathway_id, days=days,
        exclude_visit_id=visit.id,
    )


def _render_move(visit, form: MoveRequestForm, *, proposals=None, later=None, choice=None, status: int = 200):
    chosen = decode_choice(choice)[0] if choice else None
    days = [p.day for p in proposals.options] if proposals is not None else []
    return (
        render_template(
            "booking/move.html",
            visit=visit,
            form=form,
            proposals=proposals,
            later=later,
            choice=choice,
            chosen=chosen,
            nearby=_nearby(visit, [*days, *([chosen] if chosen else [])]),
            close_days=CLOSE_VISIT_DAYS,
            move_form=MoveForm(formdata=None),
            query={k: request.args.get(k) for k in ("earliest", "latest", "part") if request.args.get(k)},
            patient_url=_patient_url(visit),
            status_label=lambda code: label(VISIT_STATUS_LABELS, code),
        ),
        status,
    )


@bp.get("/visits/<int:visit_id>/move")
@roles_required(*DESK)
def move(visit_id: int):
    visit = _visit_or_404(visit_id)
    form = MoveRequestForm(request.args)
    if not moves.movable(visit, clinic_today()):
        flash(_("This visit has started (or is today or past): it cannot be moved."), "error")
        return _render_move(visit, form, status=409)
    if not request.args:
        form.earliest.data = clinic_today() + dt.timedelta(days=1)
        return _render_move(visit, form)
    if not form.validate():
        return _render_move(visit, form, status=400)
    try:
        proposals = propose_visits(
            session=get_session(),
            patient_id=visit.patient_id,
            pathway_id=visit.pathway_id,
            unit=unit(),
            availability=_availability(visit, form),
            today=clinic_today(),
            ignore_visits=[visit.id],
        )
    except ValidationError as error:
        field = getattr(form, error.field or "", None)
        if field is not None and error.field in ("earliest", "latest"):
            field.errors = [*field.errors, _message(error)]
        else:
            flash(_message(error), "error")
        return _render_move(visit, form, status=400)
    return _render_move(visit, form, proposals=proposals)


@bp.post("/visits/<int:visit_id>/move")
@roles_required(*DESK)
def move_confirm(visit_id: int):
    visit = _visit_or_404(visit_id)
    form = MoveRequestForm(request.args)
    posted = MoveForm()
    if not posted.validate():
        flash(_("Choose one of the proposals."), "error")
        return _render_move(visit, form, status=400)
    choice = posted.choice.data
    session = get_session()
    today = clinic_today()
    try:
        day, _steps = decode_choice(choice)
        if visit.series_id is not None and visit.cycle is not None:
            if posted.confirmed.data != "yes":
                later = series_service.propose_later_cycles(
                    session=session, visit_id=visit.id, unit=unit(), today=today, new_day=day
                )
                return _render_move(visit, form, later=later, choice=choice)
            series_service.move_cycle(
                session=session, visit_id=visit.id, choice=choice, later_choices=_later_choices(),
                unit=unit(), actor_id=current_user.id, today=today,
            )
        else:
            moves.move_visit(
                session=session, visit_id=visit.id, choice=choice, unit=unit(), actor_id=current_user.id,
                today=today,
            )
    except NotFound:
        abort(404)
    except DomainError as error:
        session.rollback()
        flash(_message(error), "error")
        return _render_move(_visit_or_404(visit_id), form, status=_status(error))
    flash(_("Moved to %(day)s.", day=format_date(day, "full")), "success")
    _warn_nearby(visit, day)
    return redirect(_patient_url(visit), code=303)


def _warn_nearby(visit, day: dt.date) -> None:
    for near in _nearby(visit, [day]).get(day, []):
        flash(
            _("Note: the patient has another visit of this pathway on %(day)s.", day=format_date(near.day, "full")),
            "warning",
        )


def _render_cancel_cycle(visit, form: CancelCycleForm, later, status: int = 200):
    return (
        render_template(
            "booking/cancel_cycle.html",
            visit=visit,
            form=form,
            later=later,
            patient_url=_patient_url(visit),
            status_label=lambda code: label(VISIT_STATUS_LABELS, code),
        ),
        status,
    )


@bp.route("/visits/<int:visit_id>/cancel-cycle", methods=["GET", "POST"])
@roles_required(*DESK)
def cancel_cycle(visit_id: int):
    visit = _visit_or_404(visit_id)
    session = get_session()
    today = clinic_today()
    form = CancelCycleForm()
    try:
        later = series_service.propose_later_cycles(
            session=session, visit_id=visit.id, unit=unit(), today=today, new_day=None
        )
    except DomainError as error:
        flash(_message(error), "error")
        return redirect(_patient_url(visit), code=303)
    if not form.is_submitted():
        return _render_cancel_cycle(visit, form, later)
    if not form.validate():
        return _render_cancel_cycle(visit, form, later, status=400)
    try:
        series_service.cancel_cycle(
            session=session, visit_id=visit.id, reason=form.reason.data, now=dt.datetime.now(dt.UTC),
            later_choices=_later_choices(), unit=unit(), actor_id=current_user.id, today=today,
        )
    except DomainError as error:
        session.rollback()
        flash(_message(error), "error")
        return _render_cancel_cycle(_visit_or_404(visit_id), form, later, status=_status(error))
    flash(_("Cycle %(cycle)d is cancelled; its place can be offered now.", cycle=visit.cycle), "success")
    return redirect(_patient_url(visit), code=303)


@bp.route("/series/<int:series_id>/cancel", methods=["GET", "POST"])
@roles_required(*DESK)
def cancel_series(series_id: int):
    session = get_session()
    try:
        series = series_service.get_series(session=session, series_id=series_id)
    except NotFound:
        abort(404)
    form = CancelCycleForm()
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            try:
                cancelled = series_service.cancel_series(
                    session=session, series_id=series.id, reason=form.reason.data, now=dt.datetime.now(dt.UTC),
                    actor_id=current_user.id, today=clinic_today(),
                )
            except DomainError as error:
                session.rollback()
                flash(_message(error), "error")
                status = _status(error)
            else:
                flash(
                    ngettext(
                        "The series is cancelled: %(num)d future cycle is freed.",
                        "The series is cancelled: %(num)d future cycles are freed.",
                        len(cancelled),
                    ),
                    "success",
                )
                target = optional_url("patient.detail", patient_id=series.patient_id) or url_for("board.day")
                return redirect(target, code=303)
    views = series_service.series_of_patient(session=session, patient_id=series.patient_id, today=clinic_today())
    view = next(v for v in views if v.series.id == series.id)
    return (
        render_template(
            "booking/cancel_series.html",
            view=view,
            form=form,
            patient_url=optional_url("patient.detail", patient_id=series.patient_id),
            status_label=lambda code: label(VISIT_STATUS_LABELS, code),
        ),
        status,
    )
