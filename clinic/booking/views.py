"""``/book``: the front desk's Book flow.

Find the patient (or register a new one) -> choose a pathway and when the patient can come -> the
engine proposes itineraries -> the clerk picks one -> the visit is booked (or, when it was just taken,
fresh proposals are shown). When nothing keeps every booking rule, the proposals bend the patient's
preferences the least, each saying in plain words what it bends and what the unit can add. Why nothing
fits is said in the clerk's words, built from the engine's reason code and numbers (never the engine's
own sentence); the waitlist is offered only where the patient could fit one day as the rules stand.
Proposals are a GET (reading only); booking, registering and the waitlist are CSRF-protected POSTs.
"""

import datetime as dt

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from wtforms import (
    BooleanField,
    FloatField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms import ValidationError as FormValidationError
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from clinic import planning
from clinic.booking import series as series_service
from clinic.booking.nearby import CLOSE_VISIT_DAYS, nearby_visits
from clinic.booking.services import (
    Availability,
    BentRule,
    Proposal,
    Proposals,
    SlotTaken,
    WhyNot,
    book_proposal,
    find_patients,
    propose_visits,
    visit_bends,
)
from clinic.columns import Channel, Language
from clinic.db import get_session
from clinic.errors import Conflict, DomainError, NotFound, ValidationError
from clinic.i18n import format_date, format_time, named
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
from clinic.unit import booking_rules as br
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
QUERY_KEYS = ("pathway", "earliest", "latest", "weekdays", "part", "series", "cycles", "interval", "tolerance")
#: Most patients one search lists; a full list says that more may match.
SEARCH_LIMIT = 30

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

#: Clerk words for the reason codes without numbers to fill in (``why_sentence`` words the others).
REASONS = {
    "no-days": _l("No day is left in the period and on the weekdays chosen."),
    "own-constraints": _l("The pathway's own timing cannot be met with the opening hours."),
    "fits": _l("It fits, but the engine left it out for another reason."),
    "unexplained": _l("There is no free itinerary on any day the patient can come."),
}
ATTRIBUTES = {"wheelchair": _l("wheelchair access")}
SUPPORT = {
    "transport": _l("transport"),
    "volunteer": _l("a volunteer who meets the patient at the entrance"),
    "reminder_call": _l("a reminder call"),
}


def clock_time(day: dt.date | None, minutes: int) -> str:
    """Wall-clock ``minutes`` of ``day`` as the page's language writes a time (``3:10 PM``, ``15:10``)."""
    if day is None:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    return format_time(planning.instant_at(day, min(max(minutes, 0), 24 * 60), unit().tz))


def duration(minutes: int) -> str:
    """``an hour``, ``1 hour and 30 minutes``, ``45 minutes`` in the page's language."""
    hours, rest = divmod(max(0, minutes), 60)
    in_minutes = ngettext("%(num)d minute", "%(num)d minutes", rest)
    if not hours:
        return in_minutes
    in_hours = _("an hour") if hours == 1 else ngettext("%(num)d hour", "%(num)d hours", hours)
    return in_hours if not rest else _("%(hours)s and %(minutes)s", hours=in_hours, minutes=in_minutes)


def _attribute(code: str | None) -> str:
    return label(ATTRIBUTES, code or "") or _("what the patient needs")


def why_sentence(why: WhyNot) -> str:
    """The clerk's sentence for an engine reason code, with its numbers and the clinic's names filled in."""
    step = why.step or _("a step")
    who = why.resource or step
    start, end = (
        (clock_time(why.day, why.window[0]), clock_time(why.day, why.window[1])) if why.window else ("", "")
    )
    takes = duration(why.minutes or 0)
    sentences = {
        "no-resource-kind": lambda: _("Nobody who can do the step “%(step)s” works that day.", step=step),
        "no-resource": lambda: _("%(who)s, needed for “%(step)s”, does not work that day.", who=who, step=step),
        "missing-attribute": lambda: _(
            "No room or person for “%(step)s” has %(attribute)s.", step=step, attribute=_attribute(why.attribute)
        ),
        "max-span-too-short": lambda: _(
            "The steps take at least %(duration)s, longer than the patient's visit may last.", duration=takes
        ),
        "window-too-short": lambda: _(
            "The steps take at least %(duration)s, but the patient can only be here from %(start)s to %(end)s.",
            duration=takes, start=start, end=end,
        ),
        "closed": lambda: _("%(who)s is not open for “%(step)s” when the patient can be here.", who=who, step=step),
        "attribute-closed": lambda: _(
            "Only rooms without %(attribute)s are open for “%(step)s” when the patient can be here.",
            attribute=_attribute(why.attribute), step=step,
        ),
        "fully-booked": lambda: _(
            "%(who)s is fully booked between %(start)s and %(end)s, when “%(step)s” is due.",
            who=who, start=start, end=end, step=step,
        ),
        "busy": lambda: _(
            "%(who)s has no free %(duration)s between %(start)s and %(end)s that fit the rest of the visit.",
            who=who, duration=takes, start=start, end=end,
        ),
        "no-free-slot": lambda: _(
            "Nothing is free for “%(step)s” (%(duration)s) between %(start)s and %(end)s.",
            step=step, duration=takes, start=start, end=end,
        ),
        "leave-by": lambda: _("It would only fit if the patient could stay until %(end)s.", end=end),
        "arrival": lambda: _("It would only fit if the patient arrived at %(start)s.", start=start),
        "max-span": lambda: _("It would only fit if the visit could last %(duration)s.", duration=takes),
        "restriction": lambda: _(
            "%(who)s is fully booked when “%(step)s” is due; another room or person is free.", who=who, step=step
        ),
        "attribute-busy": lambda: _(
            "Every room with %(attribute)s is booked when “%(step)s” is due; others are free.",
            attribute=_attribute(why.attribute), step=step,
        ),
        "day-full": lambda: (
            _("The day is full between %(start)s and %(end)s.", start=start, end=end)
            if why.window
            else _("The day is full.")
        ),
    }
    text = sentences[why.code]() if why.code in sentences else str(REASONS.get(why.code, REASONS["unexplained"]))
    text = text[:1].upper() + text[1:]
    if why.day is not None and why.code not in {"no-days", "unexplained"}:
        return _("On %(day)s: %(reason)s", day=format_date(why.day, "full"), reason=text)
    return text


def fix_sentence(why: WhyNot) -> str:
    """What would make a request fit that fits no day even with every preference bent."""
    if why.code == "window-too-short" and why.window and why.minutes:
        return _(
            "It would fit if the patient could stay until %(time)s (for instance with transport home, or a night nearby).",
            time=clock_time(why.day, why.window[0] + why.minutes),
        )
    if why.code == "max-span-too-short" and why.minutes:
        return _("It would fit if the visit could last %(duration)s.", duration=duration(why.minutes))
    if why.code in {"missing-attribute", "attribute-closed"}:
        return _(
            "It would fit if a room for “%(step)s” had %(attribute)s.",
            step=why.step or _("a step"), attribute=_attribute(why.attribute),
        )
    if why.code in {"no-resource-kind", "no-resource", "closed", "own-constraints"}:
        return _("It would fit if the rooms and people the visit needs were open longer on the days the patient can come.")
    return _("Try other weekdays, another time of day or a longer period.")


def bend_label(bend: BentRule, day: dt.date) -> str:
    """What a proposal bends, in plain words: ``Arrives at 09:00, an hour earlier than preferred ...``."""
    if bend.rule == br.LONG_DISTANCE_EARLIEST:
        return _(
            "Arrives at %(time)s, %(duration)s earlier than preferred for a long journey.",
            time=clock_time(day, bend.actual), duration=duration(bend.minutes),
        )
    if bend.rule == br.HOME_BEFORE_DARK:
        return _(
            "Home after dark: leaves at %(time)s, %(duration)s later than %(dark)s, the latest to be home before dark.",
            time=clock_time(day, bend.actual), duration=duration(bend.minutes), dark=clock_time(day, bend.preferred),
        )
    if bend.rule == br.SENIOR_MAX_WAIT:
        return _(
            "Waits %(duration)s longer than the %(preferred)s preferred for patients of 70 and over.",
            duration=duration(bend.minutes), preferred=duration(bend.preferred),
        )
    return _("Bends a preference by %(duration)s.", duration=duration(bend.minutes))


def support_sentence(proposal: Proposal) -> str:
    if not proposal.support:
        return ""
    items = [str(label(SUPPORT, code)) for code in proposal.support]
    listed = items[0] if len(items) == 1 else _("%(items)s and %(last)s", items=", ".join(items[:-1]), last=items[-1])
    return _("The unit can add: %(support)s.", support=listed)


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


def series_number(low: int, high: int, message) -> object:
    """Only when "book as a series" is ticked: a whole number from ``low`` to ``high``."""

    def check(form, field) -> None:
        if not form.series.data:
            field.errors.clear()
            raise StopValidation()
        if field.data is None or not low <= field.data <= high:
            field.errors.clear()
            raise StopValidation(str(message))

    return check


def tolerance_fits(form, field) -> None:
    interval = form.interval.data
    if form.series.data and interval is not None and field.data is not None and 2 * field.data >= interval:
        raise StopValidation(_("The tolerance must be less than half the interval, so that cycles keep their order."))


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
    series = BooleanField(_l("Book as a series of cycles"))
    cycles = IntegerField(
        _l("Cycles"),
        default=6,
        validators=[series_number(2, 24, _l("Enter a number of cycles from 2 to 24."))],
        render_kw={"inputmode": "numeric"},
    )
    interval = IntegerField(
        _l("Every (days)"),
        default=21,
        validators=[series_number(1, 120, _l("Enter an interval from 1 to 120 days."))],
        render_kw={"inputmode": "numeric"},
    )
    tolerance = IntegerField(
        _l("Tolerance (± days)"),
        default=2,
        validators=[series_number(0, 14, _l("Enter a tolerance from 0 to 14 days.")), tolerance_fits],
        render_kw={"inputmode": "numeric"},
    )


class ChoiceForm(FlaskForm):
    choice = HiddenField(validators=[DataRequired(), Length(max=2000)])


class SeriesChoiceForm(FlaskForm):
    """The CSRF token of the series' confirm form; the cycles' ``choice`` values are read as a list."""


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
    form.pathway.choices = select_choices((p.id, named(p.named)) for p in pathways)
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
        "cycles_range": _("Enter a number of cycles from 2 to 24."),
        "interval_range": _("Enter an interval from 1 to 120 days."),
        "tolerance_range": _("Enter a tolerance from 0 to 14 days."),
        "tolerance_too_wide": _("The tolerance must be less than half the interval, so that cycles keep their order."),
        "outside_tolerance": _("A cycle is no longer inside its tolerance; look at the series again."),
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


def _skill_message(step) -> str:
    """Plain words for a step that no resource has the skills to give (``planning.Unqualified``)."""
    skills = ", ".join(step.skills)
    if step.resource is not None:
        return _(
            "%(step)s can only be given by %(resource)s, who lacks the skills it needs (%(skills)s).",
            step=named(step.step_name),
            resource=step.resource,
            skills=skills,
        )
    return _(
        "Nobody at the unit has the skills %(step)s needs (%(skills)s), so this pathway cannot be booked. "
        "Ask the coordinator to check the resources' skills.",
        step=named(step.step_name),
        skills=skills,
    )


SERIES_FIELDS = {"cycles": "cycles", "interval_days": "interval", "tolerance_days": "tolerance", "part_of_day": "part"}


def _render_plan(
    patient,
    form: RequestForm,
    *,
    proposals: Proposals | None = None,
    plan: "series_service.SeriesProposal | None" = None,
    taken: bool = False,
    status: int = 200,
):
    waitlist_form = WaitlistForm()
    why = proposals.why if proposals is not None and proposals.why is not None else None
    why_text = why_sentence(why) if why else None
    series_why = why_sentence(plan.why) if plan is not None and plan.why is not None else None
    if proposals is not None and proposals.unqualified:
        why_text = " ".join(_skill_message(u) for u in proposals.unqualified)
    never = proposals.never if proposals is not None else None
    never_text = why_sentence(never) if never else None
    nearby = (
        nearby_visits(
            session=_session(), patient_id=patient.id, pathway_id=form.pathway.data,
            days=[p.day for p in proposals.options],
        )
        if proposals is not None and form.pathway.data
        else {}
    )
    return (
        render_template(
            "booking/plan.html",
            nearby=nearby,
            close_days=CLOSE_VISIT_DAYS,
            patient=patient,
            segments=_segments(patient),
            form=form,
            proposals=proposals,
            plan=plan,
            series_why=series_why,
            choice_form=ChoiceForm(),
            waitlist_form=waitlist_form,
            why_text=why_text,
            never=never is not None,
            never_text=never_text if never_text != why_text else None,
            fix_text=fix_sentence(never) if never else None,
            bend_label=bend_label,
            support_sentence=support_sentence,
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


def _propose_series(patient, form: RequestForm):
    return series_service.propose_series(
        session=_session(),
        patient_id=patient.id,
        pathway_id=form.pathway.data,
        unit=unit(),
        availability=_availability(form),
        today=clinic_today(),
        cycles=form.cycles.data,
        interval_days=form.interval.data,
        tolerance_days=form.tolerance.data,
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
            patients = find_patients(session=_session(), text=form.q.data or "", limit=SEARCH_LIMIT)
        else:
            status = 400
    return render_template(
        "booking/search.html", form=form, patients=patients, limit=SEARCH_LIMIT, format_phone=format_phone
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
    if form.series.data:
        try:
            plan = _propose_series(patient, form)
        except ValidationError as error:
            _apply_error(form, error, _("Check the request."), SERIES_FIELDS)
            return _render_plan(patient, form, status=400)
        except NotFound as error:
            _apply_error(form, error, _("Choose a pathway."), {"pathway_id": "pathway"})
            return _render_plan(patient, form, status=400)
        return _render_plan(patient, form, plan=plan)
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
    close = nearby_visits(
        session=session, patient_id=patient.id, pathway_id=visit.pathway_id, days=[visit.date],
        exclude_visit_id=visit.id,
    )
    for near in close.get(visit.date, []):
        flash(
            _("Note: the patient has another visit of this pathway on %(day)s.", day=_format_day(near.day)),
            "warning",
        )
    for bend in visit_bends(session=session, visit=visit, unit=unit()):
        flash(_("This visit bends a preference: %(bend)s", bend=bend_label(bend, visit.date)), "warning")
    return redirect(_after_booking_url(visit))


@bp.post("/patient/<int:patient_id>/series")
@roles_required(*DESK)
def confirm_series(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = _request_form(_pathways())
    token = SeriesChoiceForm()
    choices = [c.strip() for c in request.form.getlist("choice")][:30]
    if not token.validate() or not choices or any(not c or len(c) > 2000 for c in choices):
        flash(_("Choose the series to book."), "error")
        return _render_plan(patient, form, status=400)
    form.series.data = True
    if not form.validate():
        return _render_plan(patient, form, status=400)
    session = _session()
    try:
        booked = series_service.book_series(
            session=session,
            patient_id=patient.id,
            pathway_id=form.pathway.data,
            choices=choices,
            unit=unit(),
            actor_id=current_user.id,
            availability=_availability(form),
            today=clinic_today(),
            cycles=form.cycles.data,
            interval_days=form.interval.data,
            tolerance_days=form.tolerance.data,
        )
    except (ValidationError, Conflict, NotFound) as error:
        cycle = error.params.get("cycle")
        if isinstance(error, SlotTaken) and cycle:
            message = _("Cycle %(cycle)d was just taken by another booking: nothing is booked. Here is a new series.", cycle=cycle)
        elif cycle:
            message = _("Cycle %(cycle)d cannot be booked: nothing is booked. Here is a new series.", cycle=cycle)
        else:
            message = _field_message(error) or _("The series cannot be booked.")
        flash(message, "error")
        try:
            plan = _propose_series(patient, form)
        except DomainError:
            plan = None
        return _render_plan(patient, form, plan=plan, taken=True, status=409 if isinstance(error, Conflict) else 400)
    flash(
        _("Booked: %(name)s, a series of %(count)d cycles.", name=patient.display_name, count=booked.cycles),
        "success",
    )
    target = optional_url("patient.detail", patient_id=patient.id)
    return redirect((target or url_for("book.plan", patient_id=patient.id)) + "#series-heading")


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
