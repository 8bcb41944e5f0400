"""``/board``: the front desk's day board (counts, every visit of the day per patient and a timeline per
resource), the fragment ``board.js`` fetches to keep it current, and re-planning the rest of today."""

from datetime import datetime, timedelta
from functools import lru_cache

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import HiddenField, IntegerField, SubmitField, TimeField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from clinic.columns import utcnow
from clinic.db import get_session
from clinic.errors import DomainError, NotFound
from clinic.i18n import format_time, named
from clinic.visits import journey, undo
from clinic.visits.services import day_board, get_visit
from clinic.web.clock import clinic_today, clinic_zone
from clinic.web.container import unit
from clinic.web.forms import BoardDayForm
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
        "not_planned": _("Not planned"),
    }


def _board_context(shown, today) -> dict:
    board = day_board(
        session=get_session(),
        day=shown,
        unit=unit(),
    )
    visit_base = url_for("visit.detail", visit_id=0)[: -len("0")]
    patient_base = url_for("patient.detail", patient_id=0)[: -len("0")] if "patient.detail" in current_app.view_functions else None
    here = url_for("board.day", day=shown.isoformat()) if shown != today else url_for("board.day")
    hm = _time_formatter()
    return {
        "board": board,
        "day": shown,
        "today": today,
        "visit_base": visit_base,
        "patient_base": patient_base,
        "here": here,
        "live_url": url_for("board.live", day=shown.isoformat()),
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
    return (
        render_template(
            "visits/board_day.html",
            form=form,
            **_undo_context(),
            previous_url=url_for("board.day", day=(shown - timedelta(days=1)).isoformat()),
            next_url=url_for("board.day", day=(shown + timedelta(days=1)).isoformat()),
            today_url=url_for("board.day"),
            **_board_context(shown, today),
        ),
        status,
    )


@bp.get("/board/live")
@roles_required(*DESK_ROLES)
def live():
    """The live part of the board (counts, list, timeline) as an HTML fragment for ``board.js``."""
    _form, today, shown, status = _shown_day()
    response = current_app.make_response(
        (render_template("visits/_board_live.html", **_board_context(shown, today)), status)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_replan(proposal=None, *, form: ReplanForm, apply_form: ApplyReplanForm | None = None,
                   error: str | None = None, status: int = 200):
    if proposal is not None and apply_form is None:
        apply_form = ApplyReplanForm(formdata=None, moves=proposal.encoded_moves(), fingerprint=proposal.fingerprint)
    return (
        render_template(
            "visits/board_replan.html", proposal=proposal, form=form, apply_form=apply_form, error=error,
            today=clinic_today(),
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
