"""``/gestures``: service recovery (grant a gesture, the month's gestures and budgets, the coordinator's
queue of requests above a clerk's limit), logging a contact by hand, and what each touch-point promises.

The patient page shows a patient's touch-points and gestures
(``clinic/service/templates/service/recovery/_patient_contacts.html``) through ``patient_contacts(patient)``,
a template function this blueprint provides, so the patient view needs no change.
"""

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_currency, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from clinic.columns import utcnow
from clinic.db import get_session
from clinic.errors import DomainError, NotFound, SeedError
from clinic.i18n import format_date, named
from clinic.patients.models import Patient
from clinic.service import recovery, touchpoints
from clinic.settings import ConfigError
from clinic.users.services import display_names, get_user
from clinic.visits.services import latest_visits
from clinic.web.clock import clinic_today
from clinic.web.container import container, settings, unit
from clinic.web.errors import row_or_404
from clinic.web.forms import select_choices
from clinic.web.labels import TOUCH_CHANNEL_LABELS
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required

bp = Blueprint("gestures", __name__, template_folder="templates", url_prefix="/gestures")
add_nav_item("gestures.month", _l("Gestures"), (FRONT_DESK, COORDINATOR, ADMIN))

STAFF = (FRONT_DESK, COORDINATOR, ADMIN)
CHANNEL_LABELS = TOUCH_CHANNEL_LABELS
DIRECTION_LABELS = {"inbound": _l("From the patient"), "outbound": _l("To the patient")}
STATUS_LABELS = {"granted": _l("Granted"), "pending": _l("Waiting for approval"), "declined": _l("Declined")}
MET_CHOICES = [("yes", _l("Expectation met")), ("no", _l("Expectation not met")), ("unknown", _l("Cannot tell yet"))]
FIELD_MESSAGES = {
    "kind": _l("Choose a kind of gesture."),
    "cost": _l("Enter an amount above 0 and at most 1000."),
    "reason": _l("Give the reason for the gesture (at most 500 characters)."),
    "visit_id": _l("Choose one of this patient's visits."),
    "channel": _l("Choose how the contact took place."),
    "direction": _l("Choose who contacted whom."),
    "purpose": _l("Choose what the contact was about."),
    "note": _l("The note is at most 500 characters."),
}
CODE_MESSAGES = {
    "cannot_grant": _l("Your role may not grant gestures."),
    "not_approver": _l("Only the coordinator decides on requests."),
    "not_pending": _l("This request has already been decided."),
}
_AMOUNT = re.compile(r"^\s*(?:€|EUR)?\s*(\d{1,6})(?:[.,](\d{1,2}))?\s*(?:€|EUR)?\s*$", re.IGNORECASE)


@bp.record_once
def _check_files(state) -> None:
    """Both settings files are validated when the app starts: a bad file stops it, naming file and key."""
    directory = Path(container(state.app).settings.seed_dir)
    try:
        touchpoints.load_expectations(directory / touchpoints.FILENAME)
        recovery.load_policy(directory / recovery.FILENAME)
    except SeedError as exc:
        raise ConfigError("\n".join(exc.problems)) from None


# --- forms ---------------------------------------------------------------------------------------------


def parse_cents(text: str | None) -> int | None:
    """``"12,50"``, ``"12.5"``, ``"€ 12"`` -> cents; empty -> ``None``; anything else ``ValueError``."""
    if text is None or not text.strip():
        return None
    match = _AMOUNT.match(text)
    if not match:
        raise ValueError(text)
    try:
        return int(Decimal(f"{match.group(1)}.{(match.group(2) or '0'):0<2}") * 100)
    except InvalidOperation:
        raise ValueError(text) from None


class GrantForm(FlaskForm):
    patient_id = HiddenField(validators=[DataRequired()])
    visit_id = SelectField(_l("Visit"), validators=[Optional()], validate_choice=False)
    kind = SelectField(_l("Gesture"), validators=[InputRequired(message=_l("Choose a kind of gesture."))])
    cost = StringField(
        _l("Cost (EUR)"),
        validators=[Optional(), Length(max=20)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Give the reason for the gesture.")), Length(max=500)],
        render_kw={"rows": 2},
    )


class ContactForm(FlaskForm):
    channel = SelectField(_l("How"), validators=[InputRequired()])
    direction = SelectField(_l("Who contacted whom"), validators=[InputRequired()])
    purpose = SelectField(_l("About"), validators=[InputRequired()])
    met = RadioField(_l("Expectation"), choices=select_choices(MET_CHOICES), default="unknown", validators=[InputRequired()])
    visit_id = SelectField(_l("Visit"), validators=[Optional()], validate_choice=False)
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)], render_kw={"rows": 2})


class DecideForm(FlaskForm):
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])



def _policy():
    return recovery.load_policy(Path(settings().seed_dir) / recovery.FILENAME)


def _expectations():
    return touchpoints.load_expectations(Path(settings().seed_dir) / touchpoints.FILENAME)


def _locale() -> str:
    return str(get_locale() or "en")


def _money(cents: int) -> str:
    return format_currency(Decimal(cents) / 100, _policy().currency)


def _visit_choices(patient_id: int) -> list[SelectChoice]:
    visits = latest_visits(session=get_session(), patient_id=patient_id)
    return select_choices([("", _("No particular visit"))] + [
        (str(v.id), f"{format_date(v.date)} · {named(v.pathway.named) if v.pathway else ''}") for v in visits
    ])


def _grant_form(patient_id: int, formdata=..., visit_id: int | None = None) -> GrantForm:
    policy = _policy()
    form = GrantForm(prefix="gesture") if formdata is ... else GrantForm(formdata=formdata, prefix="gesture")
    form.kind.choices = select_choices(
        (code, f"{kind.label.get(_locale())} ({_money(kind.default_cents)})")
        for code, kind in policy.kinds.items()
    )
    form.visit_id.choices = _visit_choices(patient_id)
    if formdata is None:
        form.patient_id.data = str(patient_id)
        form.visit_id.data = str(visit_id) if visit_id else ""
    return form


def _contact_form(patient_id: int, formdata=...) -> ContactForm:
    expectations = _expectations()
    form = (
        ContactForm(prefix="contact") if formdata is ... else ContactForm(formdata=formdata, prefix="contact")
    )
    form.channel.choices = select_choices(
        (c.value, str(CHANNEL_LABELS[c.value])) for c in touchpoints.MANUAL_CHANNELS
    )
    form.direction.choices = select_choices((k, str(v)) for k, v in DIRECTION_LABELS.items())
    form.purpose.choices = select_choices(
        (code, expectations.purposes[code].texts(_locale())["label"]) for code in expectations.manual()
    )
    form.visit_id.choices = _visit_choices(patient_id)
    return form


def _visit_id(form) -> tuple[int | None, bool]:
    """The form's optional visit, or ``(None, False)`` with the error on its field."""
    try:
        return _optional_int(form.visit_id.data), True
    except ValueError:
        form.visit_id.errors = [*form.visit_id.errors, str(FIELD_MESSAGES["visit_id"])]
        return None, False


def _optional_int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(value) from None
    if not 0 < number < 2**31:
        raise ValueError(value)
    return number


def _user():
    user = get_user(session=get_session(), user_id=current_user.id)
    if user is None:
        abort(403)
    return user


def _patient_or_404(patient_id: int):
    return row_or_404(Patient, patient_id)


def _patient_url(patient_id: int) -> str:
    return url_for("patient.detail", patient_id=patient_id, _anchor="contacts")


# --- the patient page's partial --------------------------------------------------------------------------


@bp.app_context_processor
def _contacts_context() -> dict:
    return {"patient_contacts": patient_contacts}


def patient_contacts(patient) -> dict:
    """What ``service/recovery/_patient_contacts.html`` shows: touch-points newest first, gestures, and the two forms."""
    session = get_session()
    expectations = _expectations()
    policy = _policy()
    locale = _locale()
    touch_points = touchpoints.for_patient(session=session, patient_id=patient.id)
    user_ids = {t.user_id for t in touch_points if t.user_id is not None}
    users = display_names(session=session, user_ids=user_ids)
    return {
        "touch_points": touch_points,
        "user_names": users,
        "gestures": recovery.for_patient(session=session, patient_id=patient.id),
        "purpose_texts": lambda code: expectations.purpose(code).texts(locale),
        "kind_label": lambda code: policy.kinds[code].label.get(locale) if code in policy.kinds else code,
        "channel_labels": CHANNEL_LABELS,
        "direction_labels": DIRECTION_LABELS,
        "status_labels": STATUS_LABELS,
        "grant_form": _grant_form(patient.id, formdata=None),
        "contact_form": _contact_form(patient.id, formdata=None),
        "currency": policy.currency,
    }


# --- granting -----------------------------------------------------------------------------------------------


def _render_grant(form: GrantForm, patient, status: int = 200, error: str | None = None):
    return render_template("service/recovery/new.html", form=form, patient=patient, error=error), status


@bp.get("/new")
@roles_required(*STAFF)
def new():
    try:
        patient_id = _optional_int(request.args.get("patient_id"))
        visit_id = _optional_int(request.args.get("visit_id"))
    except ValueError:
        abort(404)
    if patient_id is None:
        abort(404)
    patient = _patient_or_404(patient_id)
    return _render_grant(_grant_form(patient.id, formdata=None, visit_id=visit_id), patient)


@bp.post("/new")
@roles_required(*STAFF)
def grant():
    try:
        patient_id = _optional_int(request.form.get("gesture-patient_id"))
    except ValueError:
        patient_id = None
    if patient_id is None:
        abort(400)
    patient = _patient_or_404(patient_id)
    form = _grant_form(patient.id)
    valid = form.validate()
    try:
        cost = parse_cents(form.cost.data)
    except ValueError:
        form.cost.errors = [*form.cost.errors, _("Enter an amount such as 12,50.")]
        valid = False
    visit_id, visit_ok = _visit_id(form)
    valid = valid and visit_ok
    if not valid:
        return _render_grant(form, patient, 400)
    session = get_session()
    try:
        outcome = recovery.grant(
            session=session,
            actor=_user(),
            patient_id=patient.id,
            visit_id=visit_id,
            kind=form.kind.data,
            cost_cents=cost,
            reason=form.reason.data,
            now=utcnow(),
            unit=unit(),
            policy=_policy(),
        )
    except DomainError as error:
        session.rollback()
        if error.code == "over_limit":
            message = _(
                "Refused: %(cost)s is above your monthly limit of %(limit)s (%(used)s used, %(left)s left).",
                cost=_money(error.params["cost_cents"]),
                limit=_money(error.params["limit_cents"]),
                used=_money(error.params["used_cents"]),
                left=_money(error.params["remaining_cents"]),
            )
            return _render_grant(form, patient, 409, error=message)
        target = {"kind": form.kind, "cost": form.cost, "reason": form.reason, "visit_id": form.visit_id}.get(
            error.field or "", form.kind
        )
        message = CODE_MESSAGES.get(error.code) or FIELD_MESSAGES.get(error.field or "") or error.message
        target.errors = [*target.errors, str(message)]
        return _render_grant(form, patient, 409 if error.code in CODE_MESSAGES else 400)
    gesture, mine = outcome.gesture, outcome.budget
    policy = _policy()
    label = policy.kinds[gesture.kind].label.get(_locale())
    if outcome.granted:
        flash(
            _(
                "%(gesture)s of %(cost)s granted to %(name)s. %(left)s of your monthly limit left.",
                gesture=label,
                cost=_money(gesture.cost_cents),
                name=patient.display_name,
                left=_money(mine.remaining_cents - gesture.cost_cents),
            ),
            "success",
        )
    else:
        flash(
            _(
                "Refused: %(cost)s is above your monthly limit of %(limit)s (%(used)s used, %(left)s left). "
                "The request for %(gesture)s is waiting for the coordinator's approval.",
                cost=_money(gesture.cost_cents),
                limit=_money(mine.limit_cents or 0),
                used=_money(mine.used_cents),
                left=_money(mine.remaining_cents),
                gesture=label,
            ),
            "error",
        )
    return redirect(_patient_url(patient.id))


# --- the month and the queue --------------------------------------------------------------------------------


def _month_arg() -> dt.date:

    value = request.args.get("month", "")
    if not value:
        return clinic_today().replace(day=1)
    match = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not match or not 2000 <= int(match.group(1)) <= 2100 or not 1 <= int(match.group(2)) <= 12:
        abort(404)
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


@bp.get("")
@roles_required(*STAFF)
def month():
    first = _month_arg()
    user = _user()
    policy = _policy()
    overview = recovery.month_overview(
        session=get_session(), month=first, viewer=user, unit=unit(), policy=policy
    )
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return render_template(
        "service/recovery/month.html",
        overview=overview,
        first=first,
        previous=previous,
        following=following,
        policy=policy,
        locale=_locale(),
        is_approver=policy.is_approver(user.role),
        viewer_id=user.id,
        status_labels=STATUS_LABELS,
        decide_form=DecideForm(formdata=None),
    )


def _decide(gesture_id: int, approve: bool):
    if not 0 < gesture_id < 2**31:
        abort(404)
    form = DecideForm()
    if not form.validate():
        abort(400)
    session = get_session()
    try:
        if approve:
            gesture = recovery.approve(
                session=session,
                actor=_user(),
                gesture_id=gesture_id,
                now=utcnow(),
                unit=unit(),
                policy=_policy(),
            )
        else:
            gesture = recovery.decline(
                session=session,
                actor=_user(),
                gesture_id=gesture_id,
                now=utcnow(),
                note=form.note.data or "",
                policy=_policy(),
            )
    except NotFound:
        abort(404)
    except DomainError as error:
        session.rollback()
        if error.code == "over_limit":
            message = _(
                "Not approved: %(cost)s is above your own monthly limit of %(limit)s (%(used)s used, %(left)s left).",
                cost=_money(error.params["cost_cents"]),
                limit=_money(error.params["limit_cents"]),
                used=_money(error.params["used_cents"]),
                left=_money(error.params["remaining_cents"]),
            )
        else:
            message = str(CODE_MESSAGES.get(error.code) or error.message)
        flash(message, "error")
        return redirect(url_for("gestures.month", _anchor="pending"))
    patient = _patient_or_404(gesture.patient_id)
    if approve:
        flash(
            _("Approved: %(cost)s for %(name)s.", cost=_money(gesture.cost_cents), name=patient.display_name),
            "success",
        )
    else:
        flash(
            _("Declined: %(cost)s for %(name)s.", cost=_money(gesture.cost_cents), name=patient.display_name),
            "success",
        )
    return redirect(url_for("gestures.month", _anchor="pending"))


@bp.post("/<int:gesture_id>/approve")
@roles_required(COORDINATOR, ADMIN)
def approve(gesture_id: int):
    return _decide(gesture_id, True)


@bp.post("/<int:gesture_id>/decline")
@roles_required(COORDINATOR, ADMIN)
def decline(gesture_id: int):
    return _decide(gesture_id, False)


# --- contacts logged by hand, and what each touch-point promises ------------------------------------------


def _render_contact(form: ContactForm, patient, status: int = 200):
    return render_template("service/recovery/contact.html", form=form, patient=patient), status


@bp.get("/contacts/<int:patient_id>")
@roles_required(*STAFF)
def contact(patient_id: int):
    patient = _patient_or_404(patient_id)
    return _render_contact(_contact_form(patient.id, formdata=None), patient)


@bp.post("/contacts/<int:patient_id>")
@roles_required(*STAFF)
def log_contact(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = _contact_form(patient.id)
    valid = form.validate()
    visit_id, visit_ok = _visit_id(form)
    valid = valid and visit_ok
    if not valid:
        return _render_contact(form, patient, 400)
    session = get_session()
    try:
        touchpoints.log_contact(
            session=session,
            patient_id=patient.id,
            channel=form.channel.data,
            direction=form.direction.data,
            purpose=form.purpose.data,
            met={"yes": True, "no": False}.get(form.met.data),
            note=form.note.data or "",
            actor_id=current_user.id,
            now=utcnow(),
            visit_id=visit_id,
            expectations=_expectations(),
        )
    except DomainError as error:
        session.rollback()
        fields = {
            "channel": form.channel,
            "direction": form.direction,
            "purpose": form.purpose,
            "note": form.note,
            "visit_id": form.visit_id,
        }
        target = fields.get(error.field or "", form.purpose)
        target.errors = [*target.errors, str(FIELD_MESSAGES.get(error.field or "") or error.message)]
        return _render_contact(form, patient, 400)
    flash(_("Contact logged for %(name)s.", name=patient.display_name), "success")
    return redirect(_patient_url(patient.id))


@bp.get("/expectations")
@roles_required(*STAFF)
def expectations():
    locale = _locale()
    expectations = _expectations()
    policy = _policy()
    return render_template(
        "service/recovery/expectations.html",
        purposes=[
            (code, purpose.texts(locale), purpose.manual) for code, purpose in expectations.purposes.items()
        ],
        kinds=[(kind.label.get(locale), kind.default_cents) for kind in policy.kinds.values()],
        limits=[(role.value, policy.limit_cents(role)) for role in policy.monthly_limits],
        approvers=[role.value for role in policy.approver_roles],
        currency=policy.currency,
    )
