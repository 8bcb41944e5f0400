"""``/board``: the front desk's day board (counts, every visit of the day per patient and a timeline per
resource), the fragment ``board.js`` fetches to keep it current, and re-planning the rest of today."""

from datetime import datetime, timedelta
from functools import lru_cache

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import HiddenField, IntegerField, SubmitField, TimeField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from clinic.booking.holds import held_places
from clinic.columns import utcnow
from clinic.db import get_session
from clinic.errors import DomainError, NotFound
from clinic.i18n import format_time, named
from clinic.visits import journey, undo
from clinic.visits.board_filters import LATE, BoardFilter, filter_board, filter_options, replan_time
from clinic.visits.day_list import MAX_DAYS, day_list
from clinic.visits.services import day_board, get_visit
from clinic.web.clock import clinic_today, clinic_zone
from clinic.web.container import unit
from clinic.web.forms import BlankableSelectField, BoardDayForm, DayField, select_choices
from clinic.web.labels import SEGMENT_LABELS, UNDO_LABELS, VISIT_STATUS_LABELS, label
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.web.visit_errors import error_message

bp = Blueprint("board", __name__, template_folder="templates")

DESK_ROLES = (FRONT_DESK, COORDINATOR, ADMIN)
#: The engine's time for a re-plan preview (the clerk waits for it): the search first tries the whole rest
#: of the day and stops when that is proven optimal (docs/performance.md, "Re-plan preview").
REPLAN_SECONDS = 0.4

PHASE_LABELS = {
    "expected": _l("Expected"),
    "arrived": _l("Arrived"),
    "in_step": _l("In a step"),
    "waiting": _l("Waiting"),
    "done": _l("Done"),
}


class ReplanForm(FlaskForm):
    """Optional: a late patient's visit and when they are now expected (a GET form, no CSRF)."""

    class Meta:
        csrf = False

    visit = IntegerField(_l("Late visit"), validators=[Optional(), NumberRange(min=1)])
    expected = TimeField(_l("Patient now expected at"), validators=[Optional()])


class BoardFilterForm(FlaskForm):
    """The board's filters (a GET form, no CSRF); every one is optional and they combine."""

    class Meta:
        csrf = False

    pathway = BlankableSelectField(_l("Pathway"))
    resource = BlankableSelectField(_l("Resource or room"))
    status = BlankableSelectField(_l("Status"))
    consultant = BlankableSelectField(_l("Consultant"))


FILTER_KEYS = ("pathway", "resource", "status", "consultant")
NO_FILTER = BoardFilter()


def _filters(args, *, shown: bool = True) -> tuple[BoardFilterForm, BoardFilter, dict[str, str], bool]:
    """The filter form, the filters it gives, the query that keeps them in links, and whether it was valid.
    Without ``shown`` (the live fragment, which has no form) the choices are only read to check given filters."""
    form = BoardFilterForm(args)
    given = {key: args.get(key, "") for key in FILTER_KEYS if args.get(key, "").strip()}
    if not given and not shown:
        return form, NO_FILTER, {}, True
    options = filter_options(session=get_session(), language=str(get_locale() or "en"))
    everything = [("", _("All"))]
    form.pathway.choices = select_choices(everything + [(str(i), n) for i, n in options.pathways])
    form.resource.choices = select_choices(everything + [(str(i), n) for i, n in options.resources])
    form.consultant.choices = select_choices(everything + [(str(i), n) for i, n in options.consultants])
    form.status.choices = select_choices(
        everything
        + [(code, label(VISIT_STATUS_LABELS, code)) for code in VISIT_STATUS_LABELS]
        + [(code, label(PHASE_LABELS, code)) for code in PHASE_LABELS]
        + [(LATE, _("Late or running late"))]
    )
    if not given:
        return form, BoardFilter(), {}, True
    if not form.validate():
        return form, BoardFilter(), {}, False

    def number(value: str | None) -> int | None:
        return int(value) if value else None

    filters = BoardFilter(
        pathway_id=number(form.pathway.data),
        resource_id=number(form.resource.data),
        status=form.status.data or None,
        consultant_id=number(form.consultant.data),
    )
    return form, filters, given, True


class DayListForm(FlaskForm):
    """Which days the printed day list covers (a GET form, no CSRF)."""

    class Meta:
        csrf = False

    day = DayField(_l("First day"), validators=[Optional()])
    days = IntegerField(
        _l("Number of days"),
        validators=[Optional(), NumberRange(min=1, max=MAX_DAYS, message=_l("Choose from 1 to 14 days."))],
    )


class ApplyReplanForm(FlaskForm):
    moves = HiddenField(validators=[InputRequired(), Length(max=200_000)])
    fingerprint = HiddenField(validators=[InputRequired(), Length(max=64)])
    submit = SubmitField(_l("Apply the re-plan"))


def _shown_day() -> tuple:
    form = BoardDayForm(request.args)
    today = clinic_today()
    shown, status = today, 200
    if "day" in request.args:
        if form.validate() and form.day.data is not None:
            shown = form.day.data
        elif request.args.get("day"):
            status = 400
    form.day.data = shown
    return form, today, shown, status


def _cell_renderer(visit_base: str, hm):
    """Render one timeline cell's chips in Python: a busy day has ~750 chips, and building each one
    with a handful of Jinja lookups was the largest part of the board's render time. Everything
    shown is escaped here."""
    names: dict[str, Markup] = {}

    def render(cell) -> Markup:
        parts = []
        for step in cell:
            name = names.get(step.patient_name)
            if name is None:
                name = names[step.patient_name] = escape(step.patient_name)
            parts.append(
                f'<a class="chip chip--{step.status.value}{" chip--overrun" if step.overrun else ""}" '
                f'href="{visit_base}{step.visit_id}"><span class="chip__time">{escape(hm(step.planned_start))}</span> '
                f"{name} · {escape(named(step.name))}</a>"
            )
        return Markup("".join(parts))

    return render


def _time_formatter():
    """``format_time`` for a whole board: Babel formats one sample time per clinic-local hour (minute 37)
    and every other minute of that hour reuses it with its own minutes. Identical output, but a busy
    board shows ~600 distinct times and Babel was a third of the render time."""
    zone = clinic_zone()
    per_hour: dict[tuple, str] = {}

    def hm(value: datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(zone)
        key = (local.date(), local.hour, local.fold)
        sample = per_hour.get(key)
        if sample is None:
            text = format_time(local.replace(minute=37, second=0, microsecond=0))
            sample = per_hour[key] = text if "37" in text else ""
        if not sample:  # a locale whose digits are not ASCII: format every time the slow way
            return format_time(value)
        return sample.replace("37", f"{local.minute:02d}", 1)

    return hm


def _row_texts() -> dict[str, str]:
    """The board's per-row texts, translated once per request (formatted per row with ``|format``)."""
    return {
        "arrived_at": _("Arrived at %(time)s"),
        "in_step": _("In step: %(step)s"),
        "waiting": _("Waiting since %(time)s"),
        "late": _("Late %(num)d min"),
        "overrun": _("Step running over"),
        "delay": _("Next step about %(num)d min late"),
        "now": _("Now: %(step)s"),
        "next": _("Next: %(step)s"),
        "check_in_name": _("Check in %(name)s"),
        "running_late": _("Running late"),
        "running_late_name": _("%(name)s is running late: re-plan with a new arrival time"),
        "replan": _("Re-plan"),
        "replan_name": _("Re-plan the day for %(name)s"),
        "not_planned": _("Not planned"),
    }


def _board_context(shown, today, filters: BoardFilter = NO_FILTER, query: dict | None = None) -> dict:
    query = query or {}
    board = day_board(
        session=get_session(),
        day=shown,
        unit=unit(),
    )
    board = filter_board(session=get_session(), board=board, filters=filters)
    visit_base = url_for("visit.detail", visit_id=0)[: -len("0")]
    patient_base = url_for("patient.detail", patient_id=0)[: -len("0")] if "patient.detail" in current_app.view_functions else None
    here = url_for("board.day", day=shown.isoformat(), **query) if shown != today else url_for("board.day", **query)
    hm = _time_formatter()
    expected_at = replan_time(board.now) if board.is_today and board.now else None
    return {
        "board": board,
        "held": held_places(session=get_session(), day=shown, now=utcnow(), tz=unit().tz),
        "filtered": filters.active,
        "replan_base": url_for("board.replan"),
        "late_expected": hm(expected_at) if expected_at else "",
        "late_expected_value": expected_at.astimezone(clinic_zone()).strftime("%H:%M") if expected_at else "",
        "day": shown,
        "today": today,
        "visit_base": visit_base,
        "patient_base": patient_base,
        "here": here,
        "live_url": url_for("board.live", day=shown.isoformat(), **query),
        "refresh_seconds": unit().board_refresh_seconds,
        # memoised for this request only (the locale is per request): a busy board repeats the same
        # times and labels hundreds of times, and Babel formatting is what makes the page slow
        "hm": hm,
        "timeline_cell": _cell_renderer(visit_base, hm),
        "texts": _row_texts(),
        "status_label": lru_cache(maxsize=None)(lambda code: label(VISIT_STATUS_LABELS, code)),
        "segment_label": lru_cache(maxsize=None)(lambda code: label(SEGMENT_LABELS, code)),
        "phase_label": lambda code: label(PHASE_LABELS, code),
        "user": current_user,
    }


def _undo_context() -> dict:
    """The signed-in clerk's last check-in or step action while they may still undo it."""
    last = undo.last_action(session=get_session(), actor_id=current_user.id, now=utcnow())
    if last is None:
        return {"undo_action": None}
    try:
        patient = get_visit(session=get_session(), visit_id=last.visit_id).patient.display_name
    except NotFound:
        return {"undo_action": None}
    return {
        "undo_action": last,
        "undo_patient": patient,
        "undo_label": str(UNDO_LABELS.get(last.action, last.action)),
    }


@bp.get("/board")
@roles_required(*DESK_ROLES)
def day():
    form, today, shown, status = _shown_day()
    filter_form, filters, query, valid = _filters(request.args)
    if not valid:
        status = 400
    return (
        render_template(
            "visits/board_day.html",
            form=form,
            **_undo_context(),
            filter_form=filter_form,
            filter_query=query,
            previous_url=url_for("board.day", day=(shown - timedelta(days=1)).isoformat(), **query),
            next_url=url_for("board.day", day=(shown + timedelta(days=1)).isoformat(), **query),
            today_url=url_for("board.day", **query),
            print_url=url_for("board.day_list_print", day=shown.isoformat()),
            **_board_context(shown, today, filters, query),
        ),
        status,
    )


@bp.get("/board/live")
@roles_required(*DESK_ROLES)
def live():
    """The live part of the board (counts, list, timeline) as an HTML fragment for ``board.js``."""
    _form, today, shown, status = _shown_day()
    _filter_form, filters, query, valid = _filters(request.args, shown=False)
    if not valid:
        status = 400
    response = current_app.make_response(
        (render_template("visits/_board_live.html", **_board_context(shown, today, filters, query)), status)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/board/print")
@roles_required(*DESK_ROLES)
def day_list_print():
    """The desk's printable day list: one page per day, every held visit with its steps, rooms, transport
    and volunteer."""
    form = DayListForm(request.args)
    status = 200
    first, count = clinic_today(), 1
    if request.args and not form.validate():
        status = 400
    else:
        first, count = form.day.data or first, form.days.data or 1
    form.day.data, form.days.data = first, count
    days = [first + timedelta(days=n) for n in range(count)]
    lists = [(day, day_list(session=get_session(), day=day)) for day in days]
    return (
        render_template(
            "visits/day_list.html", form=form, lists=lists, board_url=url_for("board.day", day=first.isoformat()),
            status_label=lambda code: label(VISIT_STATUS_LABELS, code),
        ),
        status,
    )


def _render_replan(proposal=None, *, form: ReplanForm, apply_form: ApplyReplanForm | None = None,
                   error: str | None = None, status: int = 200, prefill: bool = False):
    if proposal is not None and apply_form is None:
        apply_form = ApplyReplanForm(formdata=None, moves=proposal.encoded_moves(), fingerprint=proposal.fingerprint)
    return (
        render_template(
            "visits/board_replan.html", proposal=proposal, form=form, apply_form=apply_form, error=error,
            today=clinic_today(), prefill=prefill,
        ),
        status,
    )


@bp.get("/board/replan")
@roles_required(*DESK_ROLES)
def replan():
    """What the engine would move for the rest of today (nothing is written until the clerk applies it)."""
    form = ReplanForm(request.args)
    if request.args and not form.validate():
        return _render_replan(form=form, status=400)
    if request.args.get("prefill") and form.visit.data:
        # a board row's "running late": the visit is filled in, the clerk sets the time before the engine runs
        return _render_replan(form=form, prefill=True)
    late = {}
    if form.visit.data and form.expected.data:
        late[form.visit.data] = datetime.combine(clinic_today(), form.expected.data, clinic_zone())
    elif form.visit.data or form.expected.data:
        form.expected.errors = [_("Give both the late visit and when the patient is now expected.")]
        return _render_replan(form=form, status=400)
    try:
        proposal = journey.propose_replan(
            session=get_session(),
            day=clinic_today(),
            unit=unit(),
            late_arrivals=late,
            time_limit=float(current_app.config.get("REPLAN_SECONDS", REPLAN_SECONDS)),
        )
    except DomainError as error:
        return _render_replan(form=form, error=error_message(error), status=409)
    return _render_replan(proposal, form=form)


@bp.post("/board/replan")
@roles_required(*DESK_ROLES)
def replan_apply():
    apply_form = ApplyReplanForm()
    form = ReplanForm(formdata=None)
    if not apply_form.validate():
        return _render_replan(form=form, error=_("The re-plan could not be read. Make a new one."), status=400)
    try:
        moves = journey.decode_moves(apply_form.moves.data)
        count = journey.apply_replan(
            session=get_session(),
            day=clinic_today(),
            tz=unit().tz,
            moves=moves,
            fingerprint=apply_form.fingerprint.data,
            actor_id=current_user.id,
        )
    except DomainError as error:
        status = 409 if error.code in ("day_changed",) else 400
        return _render_replan(form=form, error=error_message(error), status=status)
    flash(ngettext("Re-plan applied: %(num)d step moved.", "Re-plan applied: %(num)d steps moved.", count), "success")
    return redirect(url_for("board.day"), code=303)
