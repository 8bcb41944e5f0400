"""``/optimise``: the coordinator's "Optimise this day": pick a coming day, see what the engine would move
inside the announced arrivals (before/after waits, idle chair time, step by step), apply it."""

from datetime import date, timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SubmitField
from wtforms.validators import InputRequired, Length

from clinic.db import get_session
from clinic.errors import DomainError, Forbidden
from clinic.visits import optimise
from clinic.web.clock import clinic_today
from clinic.web.container import settings, unit
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, COORDINATOR, roles_required

bp = Blueprint("optimise", __name__, template_folder="templates")
OPTIMISER_ROLES = (COORDINATOR, ADMIN)
add_nav_item("optimise.day", _l("Optimise a day"), OPTIMISER_ROLES)

ERRORS = {
    "past_day": _l("A day that has passed cannot be optimised. Choose today or a coming day."),
    "day_changed": _l("The day changed since this preview was made (a booking, a check-in, a cancellation). "
                      "Here is a new preview."),
    "announced_changed": _l("This would change when a patient was told to arrive. Nothing was changed."),
    "plan_infeasible": _l("The engine could not find a valid plan for this day. Nothing was changed."),
    "nothing_to_move": _l("There is nothing to move."),
    "not_coordinator": _l("Only a coordinator may optimise a day."),
}


class DayForm(FlaskForm):
    """The day to optimise (a GET form, no CSRF)."""

    class Meta:
        csrf = False

    day = DateField(_l("Day to optimise"), format="%Y-%m-%d", validators=[InputRequired()])
    submit = SubmitField(_l("Preview"))


class ApplyForm(FlaskForm):
    day = HiddenField(validators=[InputRequired(), Length(max=10)])
    moves = HiddenField(validators=[InputRequired(), Length(max=400_000)])
    version = HiddenField(validators=[InputRequired(), Length(max=64)])
    submit = SubmitField(_l("Apply the optimisation"))


def _message(error: DomainError) -> str:
    if error.code in ERRORS:
        return str(ERRORS[error.code])
    return _("That could not be done.")


def _seconds() -> float:
    return float(current_app.config.get("OPTIMISE_SECONDS", settings().optimise_seconds))


def _render(form: DayForm, *, preview=None, error: str | None = None, status: int = 200):
    apply_form = None
    if preview is not None and preview.moves:
        apply_form = ApplyForm(
            formdata=None, day=preview.day.isoformat(), moves=preview.encoded_moves(), version=preview.version
        )
    return render_template(
        "visits/optimise_day.html", form=form, preview=preview, apply_form=apply_form, error=error,
        today=clinic_today(),
    ), status


def _preview(form: DayForm, day: date, *, error: str | None = None, status: int = 200):
    try:
        preview = optimise.preview_optimisation(
            session=get_session(), day=day, unit=unit(), time_limit=_seconds(),
            actor_id=current_user.id,
        )
    except Forbidden:
        return _render(form, error=str(ERRORS["not_coordinator"]), status=403)
    except DomainError as exc:
        return _render(form, error=_message(exc), status=400 if exc.code == "past_day" else 409)
    return _render(form, preview=preview, error=error, status=status)


@bp.get("/optimise")
@roles_required(*OPTIMISER_ROLES)
def day():
    """The day picker (tomorrow to start with: the nightly job optimises that one too) and, once a day is
    chosen, the preview (nothing is written)."""
    form = DayForm(request.args)
    if "day" not in request.args:
        form.day.data = clinic_today() + timedelta(days=1)
        return _render(form)
    if not form.validate():
        if not form.day.errors or not request.args.get("day"):
            form.day.errors = [_("Give the day as a date, for example %(example)s.", example=clinic_today().isoformat())]
        else:
            form.day.errors = [_("“%(value)s” is not a date. Use the form %(example)s.",
                                 value=request.args.get("day", "")[:20], example=clinic_today().isoformat())]
        return _render(form, status=400)
    return _preview(form, form.day.data)


@bp.post("/optimise")
@roles_required(*OPTIMISER_ROLES)
def apply():
    apply_form = ApplyForm()
    form = DayForm(formdata=None)
    if not apply_form.validate():
        return _render(form, error=_("The preview could not be read. Make a new one."), status=400)
    try:
        day = date.fromisoformat(apply_form.day.data)
    except ValueError:
        return _render(form, error=_("The preview could not be read. Make a new one."), status=400)
    form.day.data = day
    try:
        count = optimise.apply_optimisation(
            session=get_session(),
            day=day,
            unit=unit(),
            moves=optimise.decode_moves(apply_form.moves.data),
            version=apply_form.version.data,
            actor_id=current_user.id,
        )
    except Forbidden:
        return _render(form, error=str(ERRORS["not_coordinator"]), status=403)
    except DomainError as exc:
        if exc.code == "day_changed":
            return _preview(form, day, error=_message(exc), status=409)
        status = 400 if exc.code in ("past_day", "invalid", "nothing_to_move") else 409
        return _render(form, error=_message(exc) if exc.code in ERRORS else
                       _("The preview could not be read. Make a new one."), status=status)
    flash(ngettext("Day optimised: %(num)d step moved.", "Day optimised: %(num)d steps moved.", count), "success")
    return redirect(url_for("board.day", day=day.isoformat()), code=303)
