"""``/waitlist``: who is waiting for a visit sooner; add, prioritise, see days waited and notice, remove."""

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from clinic.db import get_session
from clinic.errors import DomainError, NotFound
from clinic.i18n import named
from clinic.patients.services import patient_by_mrn
from clinic.refill.services import days_waited
from clinic.refill.waitlist import add_to_waitlist, list_waitlist, set_priority, set_status
from clinic.unit.services import active_pathways
from clinic.web.clock import clinic_tz
from clinic.web.forms import DayField, select_choices
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required

bp = Blueprint("waitlist", __name__, template_folder="templates")
add_nav_item("waitlist.index", _l("Waitlist"), (FRONT_DESK, COORDINATOR, ADMIN))

DESK_ROLES = (FRONT_DESK, COORDINATOR, ADMIN)
PRIORITIES = [
    (5, _l("5 – urgent")),
    (4, _l("4 – high")),
    (3, _l("3 – normal")),
    (2, _l("2 – low")),
    (1, _l("1 – lowest")),
]
STATUS_LABELS = {"waiting": _l("Waiting"), "offered": _l("Offer out")}
MESSAGES = {
    "already_waiting": _l("This patient is already waiting for this pathway."),
    "bad_transition": _l("This entry is no longer on the waitlist."),
}
FIELD_MESSAGES = {
    "patient_id": _l("No patient with this record number."),
    "pathway_id": _l("Choose a pathway."),
    "latest_date": _l("The latest date must not be before the earliest date."),
    "priority": _l("Choose a priority from 1 to 5."),
    "min_notice_hours": _l("Notice cannot be negative."),
}


class AddForm(FlaskForm):
    patient = StringField(
        _l("Patient record number"),
        validators=[DataRequired(message=_l("Enter the patient's record number.")), Length(max=20)],
        render_kw={"autocomplete": "off", "spellcheck": "false", "placeholder": "P000123"},
    )
    pathway = SelectField(
        _l("Pathway"), coerce=int, validators=[InputRequired(message=_l("Choose a pathway."))]
    )
    priority = SelectField(_l("Priority"), coerce=int, choices=select_choices(PRIORITIES), default=3)
    earliest_date = DayField(
        _l("Earliest date"), validators=[InputRequired(message=_l("Enter a date."))], format="%Y-%m-%d"
    )
    latest_date = DayField(
        _l("Latest date"), validators=[InputRequired(message=_l("Enter a date."))], format="%Y-%m-%d"
    )
    min_notice_hours = IntegerField(
        _l("Minimum notice (hours)"),
        default=24,
        validators=[
            InputRequired(message=_l("Enter the hours of notice the patient needs.")),
            NumberRange(min=0, max=720, message=_l("Between 0 and 720 hours.")),
        ],
    )
    accepts_short_notice = BooleanField(_l("Can also come at short notice"))
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=1000)], render_kw={"rows": 2})


class PriorityForm(FlaskForm):
    priority = SelectField(_l("Priority"), coerce=int, choices=select_choices(PRIORITIES))


class RemoveForm(FlaskForm):
    pass



def _add_form(formdata=...) -> AddForm:
    form = AddForm() if formdata is ... else AddForm(formdata=formdata)
    pathways = active_pathways(session=get_session())
    form.pathway.choices = select_choices((p.id, named(p.named)) for p in pathways)
    return form


def _render(form: AddForm, *, row_errors: dict | None = None, status: int = 200):
    now = datetime.now(UTC)
    entries = list_waitlist(session=get_session())
    rows = [(e, days_waited(e, now, clinic_tz())) for e in entries]
    return (
        render_template(
            "refill/waitlist.html",
            form=form,
            rows=rows,
            priority_form=PriorityForm(formdata=None),
            remove_form=RemoveForm(formdata=None),
            priorities=PRIORITIES,
            row_errors=row_errors or {},
            status_labels=STATUS_LABELS,
        ),
        status,
    )


@bp.get("/waitlist")
@roles_required(*DESK_ROLES)
def index():
    return _render(_add_form(formdata=None))


@bp.post("/waitlist")
@roles_required(*DESK_ROLES)
def add():
    form = _add_form()
    if not form.validate():
        return _render(form, status=400)
    session = get_session()
    mrn = form.patient.data.strip().upper()
    patient = patient_by_mrn(session=session, mrn=mrn)
    if patient is None:
        form.patient.errors = [str(FIELD_MESSAGES["patient_id"])]
        return _render(form, status=400)
    try:
        entry = add_to_waitlist(
            session=session,
            patient_id=patient.id,
            pathway_id=form.pathway.data,
            earliest_date=form.earliest_date.data,
            latest_date=form.latest_date.data,
            actor_id=current_user.id,
            priority=form.priority.data,
            min_notice_hours=form.min_notice_hours.data,
            accepts_short_notice=bool(form.accepts_short_notice.data),
            notes=form.notes.data or "",
        )
    except DomainError as error:
        session.rollback()
        fields = {"patient_id": form.patient, "pathway_id": form.pathway, "latest_date": form.latest_date,
                  "priority": form.priority, "min_notice_hours": form.min_notice_hours}  # fmt: skip
        target = fields.get(error.field or "", form.patient)
        message = MESSAGES.get(error.code) or FIELD_MESSAGES.get(error.field or "") or error.message
        target.errors = [*target.errors, str(message)]
        return _render(form, status=409 if error.code == "already_waiting" else 400)
    flash(_("%(name)s is on the waitlist.", name=entry.patient.display_name), "success")
    return redirect(url_for("waitlist.index"))


def _entry_id_ok(entry_id: int) -> int:
    if entry_id >= 2**31:
        abort(404)
    return entry_id


@bp.post("/waitlist/<int:entry_id>/priority")
@roles_required(*DESK_ROLES)
def prioritise(entry_id: int):
    _entry_id_ok(entry_id)
    form = PriorityForm()
    if not form.validate():
        return _render(
            _add_form(formdata=None), row_errors={entry_id: _("Choose a priority from 1 to 5.")}, status=400
        )
    try:
        set_priority(
            session=get_session(), entry_id=entry_id, priority=form.priority.data, actor_id=current_user.id
        )
    except NotFound:
        abort(404)
    except DomainError as error:
        get_session().rollback()
        message = MESSAGES.get(error.code) or FIELD_MESSAGES.get(error.field or "") or error.message
        return _render(_add_form(formdata=None), row_errors={entry_id: str(message)}, status=409)
    flash(_("Priority changed."), "success")
    return redirect(url_for("waitlist.index"))


@bp.post("/waitlist/<int:entry_id>/remove")
@roles_required(*DESK_ROLES)
def remove(entry_id: int):
    _entry_id_ok(entry_id)
    form = RemoveForm()
    if not form.validate():
        abort(400)
    try:
        entry = set_status(
            session=get_session(), entry_id=entry_id, status="removed", actor_id=current_user.id,
            reason="removed at the front desk",
        )  # fmt: skip
    except NotFound:
        abort(404)
    except DomainError as error:
        get_session().rollback()
        return _render(
            _add_form(formdata=None),
            row_errors={entry_id: str(MESSAGES.get(error.code, error.message))},
            status=409,
        )
    flash(_("%(name)s is off the waitlist.", name=entry.patient.display_name), "success")
    return redirect(url_for("waitlist.index"))
