"""The page an outreach e-mail links to (``/answer/<token>``, ``clinic.messaging.answers``).

The patient confirms or cancels the visit, answers the transport offer, or stops non-essential messages. No
sign-in: the signed token is the proof. The page speaks the patient's language; opening it changes nothing
(mail scanners open links), each choice is a POST, and a cancellation re-offers the place at once as an SMS
cancellation does.

Whatever is done here is recorded as the patient's answer, so a signed-in staff member (the Outbox links
to the page) may look at it but not answer on it: the choices are disabled for them and their POST is
refused (403) with nothing changed. Staff change a visit from its own page, where the change is theirs.
"""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from clinic.db import get_session
from clinic.errors import DomainError, NotFound
from clinic.messaging import answers as email_answers
from clinic.messaging import links
from clinic.messaging.texts import clock, long_day
from clinic.web.clock import clinic_tz, messaging_now
from clinic.web.container import unit
from clinic.web.patient_replies import next_wave

bp = Blueprint("answers", __name__, template_folder="templates")


def _page_or_404(session, token: str) -> email_answers.AnswerPage:
    outbox_id = links.outbox_for_token(current_app.config["SECRET_KEY"], token)
    if outbox_id is None:
        abort(404)
    try:
        return email_answers.answer_page(session=session, outbox_id=outbox_id, now=messaging_now(), tz=clinic_tz())
    except NotFound:
        abort(404)


@bp.route(links.ANSWER_PATH + "<token>", methods=["GET", "POST"])
def page(token: str):
    session = get_session()
    shown = _page_or_404(session, token)
    form = FlaskForm()
    staff = current_user.is_authenticated
    if request.method == "POST" and staff:
        abort(403)
    if request.method == "POST":
        with force_locale(shown.language):
            if not form.validate():
                flash(_("The page had expired. Please choose again."), "error")
            else:
                _answer(session, shown, request.form.get("choice", ""))
        return redirect(url_for("answers.page", token=token), code=303)
    with force_locale(shown.language):
        return render_template(
            "messaging/answer_page.html",
            page=shown,
            form=form,
            day=long_day(shown.start or shown.day, shown.language, clinic_tz()),
            time=clock(shown.start, shown.language, clinic_tz()) if shown.start else "",
            desk_phone=unit().desk_phone,
            language=shown.language,
            staff_view=staff,
        )


def _answer(session, shown: email_answers.AnswerPage, choice: str) -> None:
    try:
        result = email_answers.answer(
            session=session, outbox_id=shown.outbox_id, choice=choice, now=messaging_now(), unit=unit(),
            after_cancel=next_wave(session),
        )
    except DomainError as error:
        session.rollback()
        if error.code != "not_offered":  # the visit changed meanwhile in a way the page could not know
            current_app.logger.warning("e-mail answer %s for outbox %s: %s", choice, shown.outbox_id, error)
        flash(_("That can no longer be done here. Please call the front desk."), "error")
    else:
        flash(result.reply, "success")
