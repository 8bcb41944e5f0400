"""Cancel or no-show a visit, then refill its place: ranked waitlist candidates, offers by phone, answers.

``/visits/<id>/cancel`` (``refill.cancel``), ``/visits/<id>/refill`` (``refill.slot``), POST
``/visits/<id>/offers`` (``refill.offer``) and POST ``/offers/<id>/answer`` (``refill.answer``).
"""

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional

from clinic.db import get_session
from clinic.errors import Conflict, DomainError
from clinic.refill import offers_sms
from clinic.refill import services as refill
from clinic.refill.models import WaitlistOffer
from clinic.refill.services import (
    FREED_STATUSES,
    accept_offer,
    cancel_visit,
    decline_offer,
    expire_offers,
    make_offers,
    may_cancel,
)
from clinic.visits import dayrules
from clinic.visits.models import Visit
from clinic.visits.services import get_visit
from clinic.web.container import unit
from clinic.web.errors import row_or_404
from clinic.web.forms import select_choices
from clinic.web.labels import VISIT_STATUS_LABELS, label
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.web.visit_errors import day_rule_message

bp = Blueprint("refill", __name__, template_folder="templates")

DESK_ROLES = (FRONT_DESK, COORDINATOR, ADMIN)

OFFER_STATUS_LABELS = {
    "open": _l("Waiting for an answer"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
    "expired": _l("Expired"),
    "taken": _l("Taken by someone else"),
    "withdrawn": _l("Withdrawn"),
}
CHANNEL_LABELS = {"phone": _l("Phone"), "sms": _l("SMS")}

MESSAGES = {
    "reason_required": _l("Give a reason."),
    "too_long": _l("Keep the reason under 300 characters."),
    "bad_transition": _l("This visit can no longer be cancelled or marked as a no-show."),
    "not_freed": _l("Cancel the visit first: it still holds its place."),
    "taken": _l("Just taken: another patient accepted this place first. This patient stays on the waitlist."),
    "expired": _l("This offer has expired. The patient stays on the waitlist."),
    "answered": _l("This offer has already been answered."),
    "no_longer_fits": _l("The place no longer fits this patient's visit. The patient stays on the waitlist."),
    "entry_closed": _l("This patient is no longer on the waitlist."),
    "filled": _l("This place has already been filled."),
    "not_a_candidate": _l("This patient can no longer be offered this place."),
    "not_found": _l("This no longer exists."),
}


def message_for(error: DomainError) -> str:
    if error.code in ("arrival_not_passed", "override_not_allowed"):
        return day_rule_message(error)
    return str(MESSAGES.get(error.code, _l("That did not work: %(detail)s", detail=error.message)))


class CancelForm(FlaskForm):
    action = RadioField(
        _l("What happened"),
        choices=select_choices([("cancel", _l("Cancelled")), ("no_show", _l("Did not come (no-show)"))]),
        default="cancel",
        validators=[InputRequired(message=_l("Choose cancelled or no-show."))],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give a reason.")),
            Length(max=300, message=_l("Keep the reason under 300 characters.")),
        ],
        render_kw={"rows": 3, "maxlength": 300},
    )
    override = BooleanField(_l("Record the no-show now although the arrival window has not passed (coordinator; the reason is kept in the audit log)"))


class OfferForm(FlaskForm):
    entry_id = IntegerField(_l("Waitlist entry"), validators=[Optional(), NumberRange(min=1)])
    wave_size = IntegerField(
        _l("How many patients to offer it to"),
        default=1,
        validators=[Optional(), NumberRange(min=1, max=5, message=_l("Choose 1 to 5."))],
    )


class AnswerForm(FlaskForm):
    answer = StringField(
        _l("Answer"),
        validators=[
            DataRequired(),
            AnyOf(["accepted", "declined"], message=_l("Choose accepted or declined.")),
        ],
    )


def _now() -> datetime:
    return datetime.now(UTC)



def _visit_or_404(visit_id: int):
    return row_or_404(Visit, visit_id)


@bp.route("/visits/<int:visit_id>/cancel", methods=["GET", "POST"])
@roles_required(*DESK_ROLES)
def cancel(visit_id: int):
    visit = _visit_or_404(visit_id)
    form = CancelForm()
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                cancel_visit(
                    session=get_session(),
                    visit_id=visit.id,
                    reason=form.reason.data,
                    now=_now(),
                    actor_id=current_user.id,
                    no_show=form.action.data == "no_show",
                    unit=unit(),
                    override_reason=form.reason.data if form.override.data else None,
                )
            except DomainError as error:
                get_session().rollback()
                field = form.reason if error.field == "reason" else form.action
                field.errors = [*field.errors, message_for(error)]
                status = 409 if error.code in ("bad_transition", "arrival_not_passed", "override_not_allowed") else 400
            else:
                flash(_("The visit is cancelled; its place can be offered now."), "success")
                return redirect(url_for("refill.slot", visit_id=visit.id))
        else:
            status = 400
    no_show_from = dayrules.arrival_window_end(visit, unit().tz)
    return (
        render_template(
            "refill/cancel.html",
            visit=visit,
            form=form,
            no_show_from=no_show_from if _now() < no_show_from else None,
            can_override=current_user.role == COORDINATOR,
            freed=visit.status in FREED_STATUSES,
            actions={
                choice.value
                for choice in form.action.choices
                if may_cancel(visit.status, no_show=choice.value == "no_show")
            },
            status_label=lambda code: label(VISIT_STATUS_LABELS, code),
        ),
        status,
    )


def _render_slot(visit, *, offer_form=None, row_errors=None, answer_errors=None, status: int = 200):
    session = get_session()
    try:
        candidates = refill.rank_candidates(session=session, visit_id=visit.id, now=_now(), unit=unit())
    except Conflict:
        candidates = []
    offers = refill.offers_for(session=session, visit_id=visit.id)
    accepted = next((o for o in offers if o.status.value == "accepted"), None)
    return (
        render_template(
            "refill/slot.html",
            visit=visit,
            steps=sorted(visit.steps, key=lambda s: s.planned_start),
            candidates=candidates,
            offers=offers,
            accepted=accepted,
            delay=refill.first_offer_delay(session=session, visit_id=visit.id),
            held=offers_sms.held_wave(session=session, visit_id=visit.id),
            offer_form=offer_form or OfferForm(formdata=None),
            answer_form=AnswerForm(formdata=None),
            row_errors=row_errors or {},
            answer_errors=answer_errors or {},
            status_label=lambda code: label(VISIT_STATUS_LABELS, code),
            offer_label=lambda code: label(OFFER_STATUS_LABELS, code),
            channel_label=lambda code: label(CHANNEL_LABELS, code),
        ),
        status,
    )


@bp.get("/visits/<int:visit_id>/refill")
@roles_required(*DESK_ROLES)
def slot(visit_id: int):
    visit = _visit_or_404(visit_id)
    if visit.status not in FREED_STATUSES:
        return redirect(url_for("refill.cancel", visit_id=visit.id))
    expire_offers(session=get_session(), now=_now(), actor_id=current_user.id)
    return _render_slot(visit)


@bp.post("/visits/<int:visit_id>/offers")
@roles_required(*DESK_ROLES)
def offer(visit_id: int):
    visit = _visit_or_404(visit_id)
    if visit.status not in FREED_STATUSES:
        return redirect(url_for("refill.cancel", visit_id=visit.id))
    form = OfferForm()
    if not form.validate():
        return _render_slot(visit, offer_form=form, status=400)
    entry_id = form.entry_id.data
    try:
        offers = make_offers(
            session=get_session(),
            visit_id=visit.id,
            now=_now(),
            wave_size=1 if entry_id else (form.wave_size.data or 1),
            channel="phone",
            unit=unit(),
            entry_ids=[entry_id] if entry_id else None,
            actor_id=current_user.id,
        )
    except DomainError as error:
        get_session().rollback()
        if entry_id:
            return _render_slot(visit, row_errors={entry_id: message_for(error)}, status=409)
        form.wave_size.errors = [message_for(error)]
        return _render_slot(visit, offer_form=form, status=409)
    if offers:
        names = ", ".join(o.entry.patient.display_name for o in offers)
        flash(_("Offered by phone to %(names)s: record the answer below.", names=names), "success")
    else:
        flash(_("Nobody on the waitlist fits this place right now."), "error")
    return redirect(url_for("refill.slot", visit_id=visit.id))


@bp.post("/offers/<int:offer_id>/answer")
@roles_required(*DESK_ROLES)
def answer(offer_id: int):
    session = get_session()
    offer = row_or_404(WaitlistOffer, offer_id)
    source_id = offer.source_visit_id
    form = AnswerForm()
    if not form.validate():
        message = "; ".join(str(e) for e in form.answer.errors) or _("Choose accepted or declined.")
        return _render_slot(get_visit(session=session, visit_id=source_id), answer_errors={offer_id: message}, status=400)
    try:
        if form.answer.data == "accepted":
            visit = accept_offer(
                session=session, offer_id=offer_id, now=_now(), actor_id=current_user.id, unit=unit()
            )
            flash(
                _("%(name)s is booked on the freed place.", name=visit.patient.display_name),
                "success",
            )
        else:
            decline_offer(session=session, offer_id=offer_id, now=_now(), actor_id=current_user.id)
            flash(_("Declined: the patient stays on the waitlist."), "success")
    except DomainError as error:
        session.rollback()
        session.expire_all()
        return _render_slot(
            get_visit(session=session, visit_id=source_id), answer_errors={offer_id: message_for(error)}, status=409
        )
    return redirect(url_for("refill.slot", visit_id=source_id))
