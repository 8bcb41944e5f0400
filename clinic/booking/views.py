"""``/book``: the front desk's Book flow.

Find the patient (or register a new one) -> choose a pathway and when the patient can come -> the
engine proposes itineraries -> the clerk picks one -> the visit is booked (or, when it was just taken,
fresh proposals are shown). Requests that fit nowhere show the engine's reason and can go on the
waitlist. Proposals are a GET (reading only); booking, registering and the waitlist are CSRF-protected POSTs.
"""

import datetime as dt

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from wtforms import (
    BooleanField,
    FloatField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms import ValidationError as FormValidationError
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from clinic.booking.services import Availability, SlotTaken, book_proposal, find_patients, propose_visits
from clinic.columns import Channel, Language
from clinic.db import get_session
from clinic.errors import Conflict, DomainError, NotFound, ValidationError
from clinic.i18n import format_date
from clinic.patients import segments
from clinic.patients.models import (
    MAX_DISTANCE_KM,
    BirthDateError,
    check_birth_date,
    normalise_email,
    normalise_phone,
)
from clinic.patients.services import create_patient, get_patient
from clinic.refill.waitlist import add_to_waitlist
from clinic.unit.services import active_pathways
from clinic.web.clock import clinic_today
from clinic.web.container import unit
from clinic.web.forms import DayField, select_choices
from clinic.web.labels import SEGMENT_LABELS, label
from clinic.web.nav import add_nav_item
from clinic.web.phones import format_phone
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.web.urls import optional_url

bp = Blueprint("book", __name__, template_folder="templates", url_prefix="/book")
add_nav_item("book.search", _l("Book"), (FRONT_DESK, COORDINATOR, ADMIN))
DESK = (FRONT_DESK, COORDINATOR, ADMIN)
QUERY_KEYS = ("pathway", "earliest", "latest", "weekdays", "part")

WEEKDAYS = [
    (0, _l("Monday")),
    (1, _l("Tuesday")),
    (2, _l("Wednesday")),
    (3, _l("Thursday")),
    (4, _l("Friday")),
    (5, _l("Saturday")),
    (6, _l("Sunday")),
]
PARTS = [
    ("any", _l("Any time")),
    ("morning", _l("Mornings (gone by 12:30)")),
    ("afternoon", _l("Afternoons (from 12:00)")),
]
LANGUAGES = [
    (Language.NL.value, "Nederlands"),
    (Language.FR.value, "Français"),
    (Language.EN.value, "English"),
]
CHANNELS = [
    (Channel.SMS.value, _l("Text message")),
    (Channel.VOICE.value, _l("Phone call")),
    (Channel.EMAIL.value, _l("E-mail")),
]
PRIORITIES = [(1, _l("1 (low)")), (2, "2"), (3, "3"), (4, "4"), (5, _l("5 (urgent)"))]

#: Clerk words for the engine's reason codes; the engine's own sentence is shown under them.
REASONS = {
    "no-days": _l("No day is left in the period and on the weekdays chosen."),
    "no-resource-kind": _l("Nobody who can do one of the steps works that day."),
    "no-resource": _l("The resource a step needs does not work that day."),
    "missing-attribute": _l("No room or chair has what the patient needs (e.g. wheelchair access)."),
    "max-span-too-short": _l("The steps take longer than the patient's visit may last."),
    "window-too-short": _l("The steps do not fit between arrival and the time the patient must leave."),
    "closed": _l("A room or person the visit needs is closed when the patient can be there."),
    "attribute-closed": _l("Only rooms without what the patient needs are open then."),
    "own-constraints": _l("The pathway's own timing cannot be met with the opening hours."),
    "fully-booked": _l("The one room or person this step needs is fully booked."),
    "busy": _l("The one room or person this step needs is busy whenever the visit could use it."),
    "no-free-slot": _l("No room of the needed kind is free when the step is due."),
    "leave-by": _l("It would only fit if the patient left later."),
    "arrival": _l("It would only fit if the patient arrived at another time."),
    "max-span": _l("It would only fit with a longer visit."),
    "restriction": _l("It would only fit with another resource than the allowed ones."),
    "attribute-busy": _l("It would only fit on rooms without what the patient needs."),
    "day-full": _l("The day is full."),
    "fits": _l("It fits, but the engine left it out for another reason."),
    "unexplained": _l("There is no free itinerary on any day the patient can come."),
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def valid_phone(form, field) -> None:
    try:
        normalise_phone(field.data or "")
    except ValueError:
        raise FormValidationError(
            _("Enter a valid phone number, e.g. 06 1234 5678 or +32 470 12 34 56.")
        ) from None


def valid_email(form, field) -> None:
    try:
        normalise_email(field.data)
    except ValueError:
        raise FormValidationError(_("Enter a valid e-mail address.")) from None


def plausible_birth_date(form, field) -> None:
    if field.data is None:
        return
    try:
        check_birth_date(field.data)
    except BirthDateError as problem:
        raise FormValidationError(_(problem.template, **problem.params)) from None


class SearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(
        _l("Name, date of birth, phone or record number"),
        validators=[Optional(), Length(max=100)],
        render_kw={"autocomplete": "off", "autofocus": True},
    )


class PatientForm(FlaskForm):
    mrn = StringField(
        _l("Record number"), validators=[DataRequired(_l("Enter the record number.")), Length(max=20)]
    )
    given_name = StringField(
        _l("Given name"), validators=[DataRequired(_l("Enter the given name.")), Length(max=80)]
    )
    family_name = StringField(
        _l("Family name"), validators=[DataRequired(_l("Enter the family name.")), Length(max=80)]
    )
    birth_date = DayField(
        _l("Date of birth"),
        validators=[InputRequired(_l("Enter the date of birth.")), plausible_birth_date],
        format="%Y-%m-%d",
    )
    phone = StringField(
        _l("Phone"), validators=[DataRequired(_l("Enter a phone number.")), Length(max=30), valid_phone]
    )
    email = StringField(
        _l("E-mail (optional)"),
        validators=[Optional(), Length(max=254), valid_email],
    )
    language = SelectField(_l("Language"), choices=select_choices(LANGUAGES), default=Language.NL.value)
    channel = SelectField(_l("Reminders by"), choices=select_choices(CHANNELS), default=Channel.SMS.value)
    address_line = StringField(
        _l("Address"), validators=[DataRequired(_l("Enter the address.")), Length(max=160)]
    )
    postcode = StringField(
        _l("Postcode"), validators=[DataRequired(_l("Enter the postcode.")), Length(max=12)]
    )
    city = StringField(_l("City"), validators=[DataRequired(_l("Enter the city.")), Length(max=80)])
    distance_km = FloatField(
        _l("Distance from home (km)"),
        validators=[
            InputRequired(_l("Enter the distance in km.")),
            NumberRange(min=0, max=MAX_DISTANCE_KM, message=_l("Enter a distance between 0 and 1000 km.")),
        ],
    )
    needs_wheelchair = BooleanField(_l("Uses a wheelchair"))
    needs_interpreter = BooleanField(_l("Needs an interpreter"))
    needs_hearing = BooleanField(_l("Needs hearing support"))
    consent = BooleanField(_l("Agrees to be contacted about appointments"))


class RequestForm(FlaskForm):
    """What the patient wants: a GET form (it only reads), so no CSRF token."""

    class Meta:
        csrf = False

    pathway = SelectField(_l("Pathway"), coerce=int, validators=[InputRequired(_l("Choose a pathway."))])
    earliest = DayField(_l("Earliest date"), validators=[Optional()], format="%Y-%m-%d")
    latest = DayField(_l("Latest date (optional)"), validators=[Optional()], format="%Y-%m-%d")
    weekdays = MultiCheckboxField(
        _l("Days the patient can come"), coerce=int, choices=select_choices(WEEKDAYS), validate_choice=True
    )
    part = SelectField(_l("Time of day"), choices=select_choices(PARTS), default="any")


class ChoiceForm(FlaskForm):
    choice = HiddenField(validators=[DataRequired(), Length(max=2000)])


class WaitlistForm(FlaskForm):
    priority = SelectField(_l("Priority"), coerce=int, choices=select_choices(PRIORITIES), default=3)
    notes = TextAreaField(_l("Notes (optional)"), validators=[Optional(), Length(max=1000)])


# --- helpers ------------------------------------------------------------------------------------


def _session():
    return get_session()



def _patient_or_404(patient_id: int):
    try:
        return get_patient(session=_session(), patient_id=patient_id)
    except NotFound:
        abort(404)


def _pathways():
    return active_pathways(session=_session())


def _segments(patient) -> list[str]:
    labels = segments.segments_for(patient, clinic_today(), unit=unit())
    order = list(SEGMENT_LABELS)
    return [
        label(SEGMENT_LABELS, code)
        for code in sorted(labels, key=lambda c: order.index(c) if c in order else 99)
    ]


def _request_form(pathways) -> RequestForm:
    form = RequestForm(request.args)
    form.pathway.choices = select_choices((p.id, p.name) for p in pathways)
    if not request.args.get("weekdays") and "pathway" not in request.args:
        form.weekdays.data = [0, 1, 2, 3, 4]
    return form


def _availability(form: RequestForm):
    today = clinic_today()
    return Availability(
        earliest=form.earliest.data or today + dt.timedelta(days=1),
        latest=form.latest.data,
        weekdays=frozenset(form.weekdays.data or range(7)),  # nothing ticked: no restriction
        part_of_day=form.part.data or "any",
    )


def _apply_error(
    form: FlaskForm, error: DomainError, fallback: str, names: dict[str, str] | None = None
) -> None:
    """Show a domain error next to its field when the form has it, else at the top of the page."""
    name = (names or {}).get(error.field or "", error.field or "")
    field = getattr(form, name, None) if name else None
    message = _field_message(error) or fallback
    if field is not None and hasattr(field, "errors") and name != "csrf_token":
        field.errors = [*list(field.errors or ()), message]
    else:
        flash(message, "error")


def _field_message(error: DomainError) -> str:
    messages = {
        "mrn_taken": _("This record number is already registered."),
        "no_weekdays": _("Choose at least one day."),
        "horizon_too_long": _("Look at most 90 days ahead."),
        "too_far_ahead": _("That date is too far ahead."),
        "already_waiting": _("The patient is already on the waitlist for this pathway."),
        "already_booked": _("The patient already has a visit on that day."),
        "day_passed": _("That day has passed; choose another itinerary."),
        "bad_choice": _("That itinerary cannot be booked; choose one of the proposals."),
        "busy": _("Many bookings are being made at this moment. Please try again."),
    }
    if error.code in messages:
        return messages[error.code]
    by_field = {
        "phone": _("Enter a valid phone number, e.g. 06 1234 5678 or +32 470 12 34 56."),
        "email": _("Enter a valid e-mail address."),
        "birth_date": _("Check the date of birth."),
        "latest": _("The latest date must come after the earliest date."),
        "latest_date": _("The latest date must come after the earliest date."),
        "part_of_day": _("Choose a time of day."),
    }
    return by_field.get(error.field or "", "")


def _after_booking_url(visit) -> str:
    if "visit.detail" in current_app.view_functions:
        for key in ("visit_id", "id"):
            try:
                return url_for("visit.detail", **{key: visit.id})
            except BuildError:
                continue
    return url_for("board.day", day=visit.date.isoformat())


def _render_plan(patient, form: RequestForm, *, proposals=None, taken: bool = False, status: int = 200):
    waitlist_form = WaitlistForm()
    reason_label = None
    if proposals is not None and not proposals.options and proposals.reason_code:
        reason_label = REASONS.get(proposals.reason_code, REASONS["unexplained"])
    return (
        render_template(
            "booking/plan.html",
            patient=patient,
            segments=_segments(patient),
            form=form,
            proposals=proposals,
            choice_form=ChoiceForm(),
            waitlist_form=waitlist_form,
            reason_label=reason_label,
            taken=taken,
            query={key: request.args.getlist(key)[:7] for key in QUERY_KEYS if key in request.args},
            format_phone=format_phone,
            patient_url=optional_url("patient.detail", patient_id=patient.id),
        ),
        status,
    )


def _propose(patient, form: RequestForm, *, exclude=()):
    return propose_visits(
        session=_session(),
        patient_id=patient.id,
        pathway_id=form.pathway.data,
        unit=unit(),
        availability=_availability(form),
        today=clinic_today(),
        exclude=exclude,
    )


# --- views --------------------------------------------------------------------------------------


@bp.get("")
@roles_required(*DESK)
def search():
    form = SearchForm(request.args)
    patients = None
    status = 200
    if request.args.get("q", "").strip():
        if form.validate():
            patients = find_patients(session=_session(), text=form.q.data or "", limit=30)
        else:
            status = 400
    return render_template(
        "booking/search.html", form=form, patients=patients, format_phone=format_phone
    ), status


@bp.route("/register", methods=["GET", "POST"])
@roles_required(*DESK)
def register():
    form = PatientForm()
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            data = {name: getattr(form, name).data for name in form.data if name != "csrf_token"}
            data["email"] = data.get("email") or None
            try:
                patient = create_patient(session=_session(), data=data, actor_id=current_user.id)
            except (ValidationError, Conflict) as error:
                _session().rollback()
                _apply_error(form, error, _("The patient could not be registered: check the fields."))
                status = 409 if isinstance(error, Conflict) else 400
            else:
                flash(_("%(name)s is registered.", name=patient.display_name), "success")
                return redirect(url_for("book.plan", patient_id=patient.id))
    return render_template("booking/register.html", form=form), status


@bp.get("/patient/<int:patient_id>")
@roles_required(*DESK)
def plan(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = _request_form(_pathways())
    if "pathway" not in request.args:
        form.earliest.data = form.earliest.data or clinic_today() + dt.timedelta(days=1)
        return _render_plan(patient, form)
    if not form.validate():
        return _render_plan(patient, form, status=400)
    try:
        proposals = _propose(patient, form)
    except ValidationError as error:
        _apply_error(form, error, _("Check the request."), {"part_of_day": "part"})
        return _render_plan(patient, form, status=400)
    except NotFound as error:
        _apply_error(form, error, _("Choose a pathway."), {"pathway_id": "pathway"})
        return _render_plan(patient, form, status=400)
    return _render_plan(patient, form, proposals=proposals)


@bp.post("/patient/<int:patient_id>/book")
@roles_required(*DESK)
def confirm(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = _request_form(_pathways())
    choice = ChoiceForm()
    if (
        not choice.validate()
    ):  # a missing or expired CSRF token never gets here (the CSRF handler answers 400)
        flash(_("Choose one of the proposals."), "error")
        return _render_plan(patient, form, status=400)
    if not form.validate():
        return _render_plan(patient, form, status=400)
    session = _session()
    try:
        visit = book_proposal(
            session=session,
            patient_id=patient.id,
            pathway_id=form.pathway.data,
            choice=choice.choice.data,
            unit=unit(),
            actor_id=current_user.id,
            availability=_availability(form),
            today=clinic_today(),
        )
    except SlotTaken:
        flash(_("Just taken: another booking got that itinerary first. Here are the next options."), "error")
        try:
            proposals = _propose(patient, form, exclude=[choice.choice.data])
        except DomainError:
            proposals = None
        return _render_plan(patient, form, proposals=proposals, taken=True, status=409)
    except (ValidationError, Conflict, NotFound) as error:
        flash(_field_message(error) or _("That itinerary cannot be booked."), "error")
        try:
            proposals = _propose(patient, form)
        except DomainError:
            proposals = None
        return _render_plan(
            patient, form, proposals=proposals, status=409 if isinstance(error, Conflict) else 400
        )
    flash(
        _("Booked: %(name)s on %(day)s.", name=patient.display_name, day=_format_day(visit.date)), "success"
    )
    return redirect(_after_booking_url(visit))


@bp.post("/patient/<int:patient_id>/waitlist")
@roles_required(*DESK)
def waitlist(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = _request_form(_pathways())
    waitlist_form = WaitlistForm()
    if not form.validate() or not waitlist_form.validate():
        flash(_("Check the request and the priority."), "error")
        return _render_plan(patient, form, status=400)
    availability = _availability(form)
    try:
        availability.validate()
    except ValidationError as error:
        flash(_field_message(error) or _("Check the request."), "error")
        return _render_plan(patient, form, status=400)
    days = availability.days(clinic_today())
    earliest = days[0] if days else availability.earliest
    latest = max(availability.latest or earliest + dt.timedelta(days=28), earliest)
    try:
        add_to_waitlist(
            session=_session(),
            patient_id=patient.id,
            pathway_id=form.pathway.data,
            earliest_date=earliest,
            latest_date=latest,
            actor_id=current_user.id,
            priority=waitlist_form.priority.data,
            notes=waitlist_form.notes.data or "",
        )
    except (ValidationError, Conflict, NotFound) as error:
        _session().rollback()
        flash(_field_message(error) or _("The patient could not be put on the waitlist."), "error")
        return _render_plan(patient, form, status=409 if isinstance(error, Conflict) else 400)
    flash(_("%(name)s is on the waitlist.", name=patient.display_name), "success")
    target = "waitlist.index" if "waitlist.index" in current_app.view_functions else "board.day"
    return redirect(url_for(target))


def _format_day(day: dt.date) -> str:
    return format_date(day, "full")
