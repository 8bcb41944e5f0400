"""``/visits/<id>``: one visit's day (steps with planned and actual times), check-in and step actions."""

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional

from clinic.booking.moves import movable
from clinic.columns import utcnow
from clinic.db import get_session
from clinic.errors import Conflict, DomainError, NotFound
from clinic.messaging.calendar import calendar_download
from clinic.service import transport
from clinic.service.volunteers import active_volunteers, get_volunteer, visit_assignment
from clinic.visits import dayrules, journey, steps, undo
from clinic.visits.day_list import appointment_slip
from clinic.visits.models import VisitStatus
from clinic.visits.services import day_board, get_visit
from clinic.web.clock import clinic_today
from clinic.web.container import unit
from clinic.web.forms import select_choices
from clinic.web.labels import SEGMENT_LABELS, UNDO_LABELS, VISIT_STATUS_LABELS, label
from clinic.web.phones import format_phone
from clinic.web.redirects import safe_next
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.web.urls import optional_url
from clinic.web.visit_errors import FIELD_MESSAGES, day_rule_message

bp = Blueprint("visit", __name__, template_folder="templates")

DESK_ROLES = (FRONT_DESK, COORDINATOR, ADMIN)

STEP_STATUS_LABELS = {
    "planned": _l("Planned"),
    "in_progress": _l("In progress"),
    "done": _l("Done"),
    "skipped": _l("Skipped"),
}

class CheckInForm(FlaskForm):
    transport_booked = BooleanField(_l("Transport home is booked"))
    volunteer_id = SelectField(_l("Volunteer"), choices=[], default="")  # "" (none) is one of the choices
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=500)])
    override_reason = StringField(_l("Reason to override (coordinator)"), validators=[Optional(), Length(max=300)])
    next = HiddenField()
    submit = SubmitField(_l("Check in"))


class StepForm(FlaskForm):
    action = HiddenField(validators=[InputRequired(), AnyOf(["start", "finish", "skip"])])
    override_reason = StringField(validators=[Optional(), Length(max=300)])
    next = HiddenField()


class UndoForm(FlaskForm):
    audit_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)])
    next = HiddenField()


def _override_reason(value: str | None) -> str | None:
    """Only a coordinator's reason counts as an override; a clerk's form never carries one."""
    return (value or "").strip() or None


def _volunteer_choices() -> list[SelectChoice]:
    volunteers = active_volunteers(session=get_session())
    return select_choices([("", _("None"))] + [(str(v.id), v.name) for v in volunteers])


def _render(visit_id: int, *, form: CheckInForm | None = None, error: str | None = None,
            step_errors: dict | None = None, status: int = 200):
    session = get_session()
    try:
        visit = get_visit(session=session, visit_id=visit_id)
    except NotFound:
        abort(404)
    today = clinic_today()
    coordinator = current_user.role == COORDINATOR
    on_its_day = visit.date == today
    step_views = steps.visit_steps(session=session, visit_id=visit_id)
    checkin = journey.get_checkin(session=session, visit_id=visit_id)
    can_check_in = visit.status in journey.CHECKIN_FROM and (on_its_day or coordinator)
    flags = journey.checkin_flags(session=session, visit_id=visit_id, unit=unit()) if can_check_in else None
    transport_request = transport.for_visit(session=session, visit_id=visit_id)
    assignment = visit_assignment(session=session, visit_id=visit_id)
    assigned_name = None
    if assignment is not None and assignment.volunteer_id is not None:
        try:
            assigned_name = get_volunteer(session=session, volunteer_id=assignment.volunteer_id).name
        except NotFound:
            assigned_name = None
    if form is None:
        form = CheckInForm(formdata=None)
        form.transport_booked.data = bool(transport_request and transport_request.arranged_at)
        if assigned_name is not None:
            form.volunteer_id.data = str(assignment.volunteer_id)
    form.volunteer_id.choices = _volunteer_choices()
    row = None
    if visit.date == today:
        board = day_board(session=session, day=today, unit=unit())
        row = next((r for r in board.rows if r.visit_id == visit_id), None)
    checked_in = visit.status in dayrules.CHECKED_IN
    open_steps = visit.status in steps.STARTABLE_VISITS and ((checked_in and on_its_day) or coordinator)
    step_override = coordinator and visit.status in steps.STARTABLE_VISITS and not (checked_in and on_its_day)
    last = undo.last_action(session=session, actor_id=current_user.id, now=utcnow())
    in_progress = [s for s in step_views if s.status.value == "in_progress"]
    planned = [s for s in step_views if s.status.value == "planned"]
    next_start = planned[0].id if open_steps and planned and not in_progress else None
    volunteer_name = None
    if checkin is not None and checkin.volunteer_id is not None:
        try:
            volunteer_name = get_volunteer(session=session, volunteer_id=checkin.volunteer_id).name
        except NotFound:
            volunteer_name = None
    active = visit.status not in (VisitStatus.CANCELLED, VisitStatus.NO_SHOW, VisitStatus.COMPLETED)
    return (
        render_template(
            "visits/detail.html",
            visit=visit,
            patient=visit.patient,
            steps=step_views,
            checkin=checkin,
            volunteer_name=volunteer_name,
            transport_request=transport_request,
            transport_state=transport.state_of(transport_request) if transport_request else None,
            transport_open=visit.status in transport.ON_LIST
            and (transport_request is not None or transport.offered(session=session, visit_id=visit_id)),
            flags=flags,
            form=form,
            can_check_in=can_check_in,
            check_in_override=can_check_in and not on_its_day,
            on_its_day=on_its_day,
            checked_in=checked_in,
            open_steps=open_steps,
            step_override=step_override,
            assignment=assignment,
            assigned_name=assigned_name,
            undo_action=last if last is not None and last.visit_id == visit.id else None,
            undo_form=UndoForm(formdata=None),
            next_start=next_start,
            row=row,
            error=error,
            step_errors=step_errors or {},
            checkout_url=optional_url("checkout.start", visit_id=visit.id)
            if visit.status in (VisitStatus.IN_PROGRESS, VisitStatus.COMPLETED, VisitStatus.CHECKED_IN)
            and (on_its_day or coordinator)
            else None,
            cancel_url=optional_url("refill.cancel", visit_id=visit.id) if active else None,
            slip_url=url_for("visit.slip", visit_id=visit.id)
            if visit.status in (VisitStatus.BOOKED, VisitStatus.CONFIRMED) and visit.steps
            else None,
            calendar_url=url_for("visit.calendar_file", visit_id=visit.id)
            if visit.status in (VisitStatus.BOOKED, VisitStatus.CONFIRMED) and visit.steps
            else None,
            move_url=optional_url("series.move", visit_id=visit.id) if movable(visit, today) else None,
            cycle_cancel_url=optional_url("series.cancel_cycle", visit_id=visit.id)
            if visit.series_id is not None and visit.status in (VisitStatus.BOOKED, VisitStatus.CONFIRMED)
            else None,
            replan_url=url_for("board.replan") if row is not None and row.needs_replan else None,
            status_label=lambda code: label(VISIT_STATUS_LABELS, code),
            step_status_label=lambda code: label(STEP_STATUS_LABELS, code),
            segment_label=lambda code: label(SEGMENT_LABELS, code),
            undo_label=lambda code: str(UNDO_LABELS.get(code, code)),
            here=url_for("visit.detail", visit_id=visit.id),
        ),
        status,
    )


@bp.get("/visits/<int:visit_id>")
@roles_required(*DESK_ROLES)
def detail(visit_id: int):
    return _render(visit_id)


def _status_of(error: DomainError) -> int:
    if isinstance(error, NotFound):
        return 404
    return 409 if isinstance(error, Conflict) else 400


@bp.get("/visits/<int:visit_id>/slip")
@roles_required(FRONT_DESK, COORDINATOR, ADMIN)
def slip(visit_id: int):
    """The patient's appointment slip, printed in the patient's language."""
    try:
        slip = appointment_slip(session=get_session(), visit_id=visit_id)
    except NotFound:
        abort(404)
    except Conflict as error:
        flash(
            _("This visit has no appointment slip: it is not booked, or has started.")
            if error.code == "no_slip"
            else _("This visit has no planned steps yet: there is nothing to print."),
            "error",
        )
        return redirect(url_for("visit.detail", visit_id=visit_id), code=303)
    here = unit()
    with force_locale(slip.language):
        page = render_template(
            "visits/slip.html",
            slip=slip,
            unit_name=here.name,
            unit_address=here.address,
            desk_phone=format_phone(here.desk_phone) if here.desk_phone else "",
            back_url=url_for("visit.detail", visit_id=visit_id),
        )
    return page


@bp.get("/visits/<int:visit_id>/calendar.ics")
@roles_required(FRONT_DESK, COORDINATOR, ADMIN)
def calendar_file(visit_id: int):
    """The visit's calendar file (.ics, in the patient's language) to print or send."""
    try:
        ics = calendar_download(session=get_session(), visit_id=visit_id, unit=unit())
    except NotFound:
        abort(404)
    except Conflict as error:
        flash(
            _("This visit has no calendar file: it is not booked, or has started.")
            if error.code == "no_calendar"
            else _("This visit has no planned steps yet: there is nothing to put in a calendar."),
            "error",
        )
        return redirect(url_for("visit.detail", visit_id=visit_id), code=303)
    return Response(
        ics.data, mimetype="text/calendar", content_type=ics.content_type,
        headers={"Content-Disposition": f'attachment; filename="{ics.filename}"'},
    )


@bp.post("/visits/<int:visit_id>/check-in")
@roles_required(*DESK_ROLES)
def check_in(visit_id: int):
    form = CheckInForm()
    form.volunteer_id.choices = _volunteer_choices()
    if not form.validate():
        return _render(visit_id, form=form, status=400)
    raw = (form.volunteer_id.data or "").strip()
    if not form.volunteer_id.raw_data:  # the board's one-tap check-in: the volunteer the matching assigned
        assignment = visit_assignment(session=get_session(), visit_id=visit_id)
        raw = str(assignment.volunteer_id) if assignment is not None and assignment.volunteer_id else ""
    if raw and not raw.isdigit():
        form.volunteer_id.errors = [str(FIELD_MESSAGES["volunteer_id"])]
        return _render(visit_id, form=form, status=400)
    volunteer_id = int(raw) if raw else None
    try:
        checkin = journey.check_in(
            session=get_session(),
            visit_id=visit_id,
            actor_id=current_user.id,
            unit=unit(),
            transport_booked=form.transport_booked.data,
            volunteer_id=volunteer_id,
            notes=form.notes.data or "",
            override_reason=_override_reason(form.override_reason.data),
        )
    except NotFound:
        abort(404)
    except DomainError as error:
        if error.field in form._fields and error.field != "visit_id":
            form[error.field].errors = [day_rule_message(error)]
            return _render(visit_id, form=form, status=_status_of(error))
        return _render(visit_id, form=form, error=day_rule_message(error), status=_status_of(error))
    if checkin.coffee_voucher:
        flash(_("Checked in. Coffee voucher: %(code)s", code=checkin.coffee_voucher), "success")
    else:
        flash(_("Checked in."), "success")
    return redirect(safe_next(form.next.data) or url_for("visit.detail", visit_id=visit_id), code=303)


@bp.post("/visits/<int:visit_id>/steps/<int:step_id>")
@roles_required(*DESK_ROLES)
def step(visit_id: int, step_id: int):
    form = StepForm()
    if not form.validate():
        return _render(visit_id, error=_("Choose start or finish."), status=400)
    try:
        journey.step_action(
            session=get_session(), visit_id=visit_id, visit_step_id=step_id, action=form.action.data,
            actor_id=current_user.id, unit=unit(), override_reason=_override_reason(form.override_reason.data),
        )
    except DomainError as error:
        if isinstance(error, NotFound) and error.field == "visit_id":
            abort(404)
        return _render(visit_id, step_errors={step_id: day_rule_message(error)}, status=_status_of(error))
    messages = {"start": _("Step started."), "finish": _("Step finished."), "skip": _("Step skipped.")}
    flash(messages[form.action.data], "success")
    target = safe_next(form.next.data) or url_for("visit.detail", visit_id=visit_id)
    return redirect(target, code=303)



@bp.post("/visits/<int:visit_id>/undo")
@roles_required(*DESK_ROLES)
def undo_last(visit_id: int):
    """Undo the signed-in clerk's own last check-in or step action (within ``undo.UNDO_MINUTES``)."""
    form = UndoForm()
    if not form.validate():
        return _render(visit_id, error=_("There is nothing to undo."), status=400)
    try:
        done = undo.undo(session=get_session(), audit_id=form.audit_id.data, actor_id=current_user.id, now=utcnow())
    except NotFound:
        return _render(visit_id, error=_("There is nothing to undo."), status=404)
    except DomainError as error:
        return _render(visit_id, error=day_rule_message(error), status=_status_of(error))
    flash(_("Undone: %(action)s.", action=str(UNDO_LABELS.get(done.action, done.action))), "success")
    target = safe_next(form.next.data) or url_for("visit.detail", visit_id=done.visit_id)
    return redirect(target, code=303)
