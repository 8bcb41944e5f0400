"""The two questions on screen and the **Follow-ups** board.

* ``/follow-ups/``: the board for the desk and the coordinator (open first, owner, due, overdue and
  escalated markers; show all, mine, escalated, closed);
* ``/follow-ups/<id>``: a follow-up's history, a note or a logged call, re-ask, another owner;
* ``/follow-ups/tablet/...``: the two questions on the desk's tablet, handed to the patient after checkout
  (shown in the patient's language);
* ``/survey/<token>``: the page an e-mailed survey links to (no sign-in; the signed token is the proof).

The tablet is a **kiosk** while the patient holds it: opening the two questions on it puts the browser
session in kiosk mode, where every page but that survey (and the way out) leads back to it, and the
staff menu, the language switch and "Sign out" are not shown. Only a staff member's user name and password
(``/follow-ups/tablet/exit``) leave it.

The patient page's Feedback section (``clinic/feedback/templates/feedback/_patient_feedback.html``) gets its
data from the ``feedback_for(patient_id)`` template helper this blueprint registers.
"""


from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer
from wtforms import PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from clinic.db import get_session
from clinic.errors import Conflict, DomainError, NotFound, SignInError
from clinic.feedback import followups, surveys
from clinic.feedback.models import SurveyChannel, SurveyStatus
from clinic.feedback.surveys import patient_feedback
from clinic.messaging import links
from clinic.users.services import authenticate
from clinic.web.clock import messaging_now
from clinic.web.container import channels, unit
from clinic.web.forms import select_choices
from clinic.web.nav import add_nav_item
from clinic.web.public_urls import patient_links
from clinic.web.reasons import follow_up_note
from clinic.web.redirects import safe_next
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required

bp = Blueprint("followups", __name__, template_folder="templates")
DESK_ROLES = (FRONT_DESK, COORDINATOR, ADMIN)
add_nav_item("followups.board", _l("Follow-ups"), DESK_ROLES)

FILTER_LABELS = {"all": _l("All"), "mine": _l("Mine"), "escalated": _l("Escalated"), "closed": _l("Closed")}
REASON_LABELS = {"answered_no": _l("Answered no"), "no_answer": _l("No answer")}
STATUS_LABELS = {"open": _l("Open"), "closed": _l("Closed")}
SURVEY_STATUS_LABELS = {
    "pending": _l("Waiting for an answer"), "answered": _l("Answered"), "unanswered": _l("No answer"),
    "withdrawn": _l("Withdrawn"),
}
CHANNEL_LABELS = {"sms": _l("SMS"), "voice": _l("Phone call"), "email": _l("E-mail"), "tablet": _l("Tablet")}
TRIGGER_LABELS = {"visit": _l("After a visit"), "call": _l("After a reminder call"),
                  "inbound": _l("After a message"), "follow_up": _l("Re-asked")}
EVENT_LABELS = {
    "opened": _l("Opened"), "note": _l("Note"), "called": _l("Called the patient"), "re-asked": _l("Re-asked"),
    "answered": _l("Patient answered"), "no_answer": _l("No answer"), "reassigned": _l("New owner"),
    "escalated": _l("Escalated to the coordinator"), "closed": _l("Closed"),
}
MESSAGES = {
    "closed": _l("This follow-up is closed."),
    "opted_out": _l("The patient opted out of messages: ask the questions on the tablet."),
    "bad_owner": _l("Choose an active staff member."),
    "empty_note": _l("Write a note."),
    "not_pending": _l("These questions were already answered. Thank you!"),
}
YES_NO = [("yes", _l("Yes")), ("no", _l("No"))]


class NoteForm(FlaskForm):
    kind = SelectField(_l("What"), choices=select_choices([("note", _l("Note")), ("called", _l("Called the patient"))]),
                       default="note")
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)], render_kw={"rows": 3, "maxlength": 1000})


class ReAskForm(FlaskForm):
    where = SelectField(_l("Ask by"), choices=select_choices([("channel", _l("The patient's own channel")),
                                                             ("tablet", _l("The tablet, now"))]),
                        default="channel")


class OwnerForm(FlaskForm):
    owner = SelectField(_l("Owner"), coerce=int, validators=[InputRequired(message=_l("Choose an owner."))])


class SurveyForm(FlaskForm):
    got_what_needed = RadioField(_l("Did you get what you needed?"), choices=select_choices(YES_NO),
                                 validators=[DataRequired(message=_l("Choose yes or no."))])
    good_job = RadioField(_l("Did we do a good job?"), choices=select_choices(YES_NO),
                          validators=[DataRequired(message=_l("Choose yes or no."))])
    comment = TextAreaField(_l("Anything you want to tell us? (optional)"), validators=[Optional(), Length(max=1000)],
                            render_kw={"rows": 3, "maxlength": 1000})


class KioskExitForm(FlaskForm):
    username = StringField(_l("Staff user name"), validators=[DataRequired(message=_l("Enter your user name."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(message=_l("Enter your password."))])


KIOSK_COOKIE = "onevisit_kiosk"
"""A signed cookie of its own (not the session, which every response re-saves as its request read it)."""
KIOSK_OPEN = frozenset({"followups.tablet", "followups.kiosk_exit", "static"})
"""The endpoints a kiosk browser may still reach; anything else leads back to its survey."""


def _session():
    return get_session()


def _kiosk_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="onevisit-kiosk")


def kiosk_survey_id() -> int | None:
    """The survey this browser is a kiosk for (set in this request or by its cookie), or ``None``."""
    if "kiosk_survey" in g:
        return g.kiosk_survey
    raw = request.cookies.get(KIOSK_COOKIE)
    if not raw:
        return None
    try:
        value = _kiosk_signer().loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


@bp.before_app_request
def _kiosk_guard():
    """In kiosk mode only the kiosk's own survey and its way out are reachable (no staff pages, no sign-out)."""
    survey_id = kiosk_survey_id()
    if survey_id is None:
        return None
    if request.endpoint in KIOSK_OPEN and (
        request.endpoint != "followups.tablet" or (request.view_args or {}).get("survey_id") == survey_id
    ):
        return None
    return redirect(url_for("followups.tablet", survey_id=survey_id))


@bp.app_context_processor
def kiosk_helpers() -> dict:
    return {"kiosk_mode": kiosk_survey_id() is not None}


def _message(error: DomainError) -> str:
    return str(MESSAGES.get(error.code) or error.message)


@bp.app_context_processor
def feedback_helpers() -> dict:
    """``feedback_for(patient_id)`` for the patient page's Feedback section."""
    def feedback_for(patient_id: int):
        return patient_feedback(session=_session(), patient_id=patient_id)

    return {"feedback_for": feedback_for, "note_text": follow_up_note, "feedback_labels": {
        "survey_status": SURVEY_STATUS_LABELS, "channel": CHANNEL_LABELS, "trigger": TRIGGER_LABELS,
        "status": STATUS_LABELS, "reason": REASON_LABELS,
    }}


# --- the board ---------------------------------------------------------------------------------------


@bp.get("/follow-ups/")
@roles_required(*DESK_ROLES)
def board():
    show = request.args.get("show", "all")
    if show not in followups.BOARD_FILTERS:
        show = "all"
    now = messaging_now()
    rows = followups.board(session=_session(), now=now, show=show, user_id=current_user.id)
    return render_template(
        "feedback/board.html", rows=rows, show=show, filters=FILTER_LABELS, reasons=REASON_LABELS,
        statuses=STATUS_LABELS, events=EVENT_LABELS, now=now,
        open_count=sum(1 for r in rows if r.follow_up.status.value == "open"),
    )


def _detail_page(follow_up_id: int, *, note_form=None, owner_form=None, error: str | None = None, status: int = 200):
    session = _session()
    try:
        info = followups.detail(session=session, follow_up_id=follow_up_id, now=messaging_now())
    except NotFound:
        abort(404)
    owner_form = owner_form or OwnerForm(formdata=None, owner=info.follow_up.owner_id or 0)
    owners = [(u.id, u.display_name) for u in followups.staff_owners(session=session)]
    if not info.follow_up.owner_id:
        owners.insert(0, (0, str(_("Nobody yet"))))
    owner_form.owner.choices = select_choices(owners)
    return render_template(
        "feedback/detail.html", info=info, follow_up=info.follow_up, patient=info.patient,
        note_form=note_form or NoteForm(formdata=None), reask_form=ReAskForm(formdata=None), owner_form=owner_form,
        error=error, reasons=REASON_LABELS, statuses=STATUS_LABELS, events=EVENT_LABELS,
        survey_statuses=SURVEY_STATUS_LABELS, channels=CHANNEL_LABELS, triggers=TRIGGER_LABELS,
    ), status


@bp.get("/follow-ups/<int:follow_up_id>")
@roles_required(*DESK_ROLES)
def detail(follow_up_id: int):
    return _detail_page(follow_up_id)


@bp.post("/follow-ups/<int:follow_up_id>/note")
@roles_required(*DESK_ROLES)
def note(follow_up_id: int):
    form = NoteForm()
    if not form.validate():
        return _detail_page(follow_up_id, note_form=form, status=400)
    try:
        followups.add_note(session=_session(), follow_up_id=follow_up_id, user_id=current_user.id,
                           note=form.note.data or "", kind=form.kind.data, now=messaging_now())
    except NotFound:
        abort(404)
    except DomainError as error:
        _session().rollback()
        form.note.errors = [*form.note.errors, _message(error)]
        return _detail_page(follow_up_id, note_form=form, status=400)
    flash(_("Added to the history."), "success")
    return redirect(url_for("followups.detail", follow_up_id=follow_up_id))


@bp.post("/follow-ups/<int:follow_up_id>/owner")
@roles_required(*DESK_ROLES)
def owner(follow_up_id: int):
    form = OwnerForm()
    form.owner.choices = select_choices((u.id, u.display_name) for u in followups.staff_owners(session=_session()))
    if not form.validate():
        return _detail_page(follow_up_id, owner_form=form, status=400)
    try:
        followups.reassign(session=_session(), follow_up_id=follow_up_id, owner_id=form.owner.data,
                           user_id=current_user.id, now=messaging_now())
    except NotFound:
        abort(404)
    except DomainError as error:
        _session().rollback()
        return _detail_page(follow_up_id, error=_message(error), status=409 if isinstance(error, Conflict) else 400)
    flash(_("Owner changed."), "success")
    return redirect(url_for("followups.detail", follow_up_id=follow_up_id))


@bp.post("/follow-ups/<int:follow_up_id>/re-ask")
@roles_required(*DESK_ROLES)
def re_ask(follow_up_id: int):

    form = ReAskForm()
    if not form.validate():
        return _detail_page(follow_up_id, error=_("Choose how to ask."), status=400)
    session = _session()
    now = messaging_now()
    tablet = form.where.data == "tablet"
    try:
        survey = followups.re_ask(session=session, follow_up_id=follow_up_id, user_id=current_user.id, now=now,
                                  tablet=tablet, unit=unit())
    except NotFound:
        abort(404)
    except DomainError as error:
        session.rollback()
        return _detail_page(follow_up_id, error=_message(error), status=409)
    if tablet:
        return redirect(url_for("followups.tablet", survey_id=survey.id))
    result = surveys.send_survey(session=session, survey_id=survey.id, channels=channels(),
                                 now=now, unit=unit(), links=patient_links())
    if result is None:
        flash(_("The questions go out when the quiet hours end."), "success")
    elif result.ok:
        flash(_("The two questions were sent to the patient."), "success")
    else:
        flash(_("Sending failed; the questions will be tried again later."), "error")
    return redirect(url_for("followups.detail", follow_up_id=follow_up_id))


# --- the tablet at checkout ---------------------------------------------------------------------------


@bp.post("/follow-ups/tablet/visit/<int:visit_id>")
@roles_required(*DESK_ROLES)
def tablet_for_visit(visit_id: int):
    """From the checkout's invoice page: the visit's two questions on the tablet."""
    if not FlaskForm().validate():
        abort(400)
    try:
        survey = surveys.ask_on_tablet(session=_session(), visit_id=visit_id, now=messaging_now())
    except NotFound:
        abort(404)
    if survey.status.value != "pending":
        flash(_("This patient already answered the two questions for this visit."), "success")
        return redirect(url_for("patient.detail", patient_id=survey.patient_id))
    return redirect(url_for("followups.tablet", survey_id=survey.id))


def _survey_page(survey, form: SurveyForm, *, action: str, status: int = 200):
    with force_locale(str(survey.language)):
        return render_template("feedback/answer.html", survey=survey, form=form, action=action,
                               language=str(survey.language)), status


def _answer(survey, *, action: str, channel, done_template: str):
    if survey.status != SurveyStatus.PENDING:
        with force_locale(str(survey.language)):
            return render_template(done_template, survey=survey, already=True, language=str(survey.language))
    form = SurveyForm()
    if request.method == "GET":
        return _survey_page(survey, SurveyForm(formdata=None), action=action)
    with force_locale(str(survey.language)):
        valid = form.validate()
    if not valid:
        return _survey_page(survey, form, action=action, status=400)
    session = _session()
    try:
        surveys.record_answer(
            session=session, survey_id=survey.id, got_what_needed=form.got_what_needed.data == "yes",
            good_job=form.good_job.data == "yes", comment=form.comment.data or "", now=messaging_now(), channel=channel,
            unit=unit(),
        )
    except DomainError:
        session.rollback()
        with force_locale(str(survey.language)):
            return render_template(done_template, survey=survey, already=True, language=str(survey.language)), 409
    with force_locale(str(survey.language)):
        return render_template(done_template, survey=survey, already=False, language=str(survey.language))


@bp.route("/follow-ups/tablet/<int:survey_id>", methods=["GET", "POST"])
@roles_required(*DESK_ROLES)
def tablet(survey_id: int):
    """The two questions, big, in the patient's language: the desk hands the tablet over."""
    survey = surveys.find_survey(session=_session(), survey_id=survey_id)
    if survey is None:
        abort(404)
    g.kiosk_survey = survey.id
    response = make_response(_answer(survey, action=url_for("followups.tablet", survey_id=survey.id),
                                      channel=SurveyChannel.TABLET, done_template="feedback/tablet_done.html"))
    response.set_cookie(KIOSK_COOKIE, _kiosk_signer().dumps(survey.id), httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response


@bp.route("/follow-ups/tablet/exit", methods=["GET", "POST"])
@roles_required(*DESK_ROLES)
def kiosk_exit():
    """Leave kiosk mode: a staff member's user name and password (any active desk, coordinator or admin)."""
    survey_id = kiosk_survey_id()
    form = KioskExitForm()
    error = None
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                staff = authenticate(session=_session(), username=form.username.data.strip(), password=form.password.data)
            except SignInError:
                staff = None
            if staff is not None and staff.role.value in DESK_ROLES:
                flash(_("The tablet is back in staff mode."), "success")
                survey = surveys.find_survey(session=_session(), survey_id=survey_id) if survey_id else None
                target = url_for("patient.detail", patient_id=survey.patient_id) if survey is not None else None
                response = redirect(safe_next(target) or url_for("home.index"), code=303)
                response.delete_cookie(KIOSK_COOKIE)
                return response
        error, status = _("Wrong user name or password."), 400
    return render_template("feedback/kiosk_exit.html", form=form, error=error, survey_id=survey_id), status


@bp.route("/survey/<token>", methods=["GET", "POST"])
def by_email(token: str):
    """The page an e-mailed survey links to; no sign-in (the signed, 14-day token names the survey)."""
    survey_id = links.survey_for_token(current_app.config["SECRET_KEY"], token)
    survey = surveys.find_survey(session=_session(), survey_id=survey_id)
    if survey is None:
        abort(404)
    return _answer(survey, action=url_for("followups.by_email", token=token), channel=None,
                   done_template="feedback/answered.html")
