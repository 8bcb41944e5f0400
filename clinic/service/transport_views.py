"""``/transport``: the patients who answered the offer of transport and help at home, and marking it
arranged; ``/visits/<id>/transport`` keeps an answer the patient gave the desk (by phone or at the desk).

Answers by SMS and in the offer's call arrive by themselves (``clinic.messaging.inbound``)."""

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, InputRequired, Length, Optional

from clinic.db import get_session
from clinic.errors import DomainError, NotFound
from clinic.service import transport
from clinic.service.models import TouchChannel
from clinic.web.clock import clinic_today
from clinic.web.forms import DayField
from clinic.web.labels import TOUCH_CHANNEL_LABELS, label
from clinic.web.nav import add_nav_item
from clinic.web.phones import format_phone
from clinic.web.redirects import safe_next
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required

bp = Blueprint("transport", __name__, template_folder="templates")
add_nav_item("transport.index", _l("Transport"), (FRONT_DESK, COORDINATOR, ADMIN))

STAFF = (FRONT_DESK, COORDINATOR, ADMIN)
DAYS_AHEAD = 14


class ArrangedForm(FlaskForm):
    note = StringField(_l("What was booked"), validators=[Optional(), Length(max=500)])


class TransportDayForm(FlaskForm):
    """The day of the printable transport list (a GET form, no CSRF)."""

    class Meta:
        csrf = False

    day = DayField(_l("Day"), validators=[Optional()])


class AnswerForm(FlaskForm):
    wanted = HiddenField(validators=[InputRequired(), AnyOf(["yes", "no"])])
    next = HiddenField()


def _session():
    return get_session()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@bp.get("/transport")
@roles_required(*STAFF)
def index():
    today = clinic_today()
    rows = transport.transport_list(session=_session(), today=today, days=DAYS_AHEAD)
    return render_template(
        "service/transport/index.html",
        to_arrange=[r for r in rows if r.state == transport.TO_ARRANGE],
        arranged=[r for r in rows if r.state == transport.ARRANGED],
        declined=[r for r in rows if r.state == transport.DECLINED],
        days=DAYS_AHEAD,
        form=ArrangedForm(formdata=None),
        channel_label=lambda code: label(TOUCH_CHANNEL_LABELS, code),
        format_phone=format_phone,
    )


@bp.get("/transport/day")
@roles_required(*STAFF)
def day():
    """The printable list of one day's pick-ups: time, address, mobility needs."""
    form = TransportDayForm(request.args)
    shown, status = clinic_today(), 200
    if request.args and not form.validate():
        status = 400
    else:
        shown = form.day.data or shown
    form.day.data = shown
    rows = transport.transport_day(session=_session(), day=shown)
    return (
        render_template(
            "service/transport/day.html",
            form=form,
            day=shown,
            rows=rows,
            previous_url=url_for("transport.day", day=(shown - dt.timedelta(days=1)).isoformat()),
            next_url=url_for("transport.day", day=(shown + dt.timedelta(days=1)).isoformat()),
            format_phone=format_phone,
        ),
        status,
    )


@bp.post("/transport/<int:request_id>/arranged")
@roles_required(*STAFF)
def arranged(request_id: int):
    form = ArrangedForm()
    if not form.validate():
        flash(_("The note is at most 500 characters."), "error")
        return redirect(url_for("transport.index"), code=303)
    try:
        transport.mark_arranged(
            session=_session(), request_id=request_id, actor_id=current_user.id, now=_now(), note=form.note.data or ""
        )
    except NotFound:
        abort(404)
    except DomainError as error:
        _session().rollback()
        flash(_("Not changed: %(why)s.", why=_conflict_text(error)), "error")
        return redirect(url_for("transport.index"), code=303)
    flash(_("Transport marked as arranged."), "success")
    return redirect(url_for("transport.index"), code=303)


@bp.post("/visits/<int:visit_id>/transport")
@roles_required(*STAFF)
def answer(visit_id: int):
    form = AnswerForm()
    back = safe_next(form.next.data) or url_for("visit.detail", visit_id=visit_id)
    if not form.validate():
        flash(_("Choose whether the patient wants transport."), "error")
        return redirect(back, code=303)
    wanted = form.wanted.data == "yes"
    try:
        transport.record_answer(
            session=_session(), visit_id=visit_id, wanted=wanted, channel=TouchChannel.PHONE, now=_now(),
            actor_id=current_user.id,
        )
    except NotFound:
        abort(404)
    except DomainError:
        _session().rollback()
        flash(_("This visit is closed: transport can no longer be asked for."), "error")
        return redirect(back, code=303)
    flash(_("Noted: the patient wants transport.") if wanted else _("Noted: no transport."), "success")
    return redirect(back, code=303)


CONFLICTS = {
    "already_arranged": _l("this transport is already arranged"),
    "not_wanted": _l("the patient said they do not want transport"),
}


def _conflict_text(error: DomainError) -> str:
    return str(CONFLICTS.get(error.code, _l("that is not possible now")))
