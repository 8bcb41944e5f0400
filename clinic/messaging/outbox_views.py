"""Outreach screens: ``/outbox`` (every message and its status), ``/outreach/rules`` (the rules in
force; the coordinator edits or uploads them) and ``/outreach/preview`` (which actions fire and why).

Without Twilio credentials nothing reaches a phone, so the Outbox lets staff answer a sent SMS or call
as the patient would (``/outbox/<id>/reply``): the answer goes through the same code as Twilio's
webhooks, so a demo or a test on a laptop can walk every inbound path. With Twilio configured the
form is not shown and the route answers 404.

Also the ``flask --app clinic outreach run`` command, which runs the dispatcher in its own process.
"""

import click
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, Length, NumberRange, Optional

from clinic.columns import Channel
from clinic.db import get_session, get_session_factory
from clinic.errors import NotFound
from clinic.feedback.surveys import list_asked
from clinic.messaging import answers as email_answers
from clinic.messaging import inbound
from clinic.messaging.models import OutboxStatus
from clinic.messaging.outbox import OutboxFilter, find_patient, get_outbox_message, list_outbox, outbox_counts
from clinic.messaging.outreach import replan_upcoming
from clinic.messaging.preview import preview_for_date, preview_for_patient
from clinic.messaging.rules_file import RulesRejected, rules_in_force, save_rules
from clinic.messaging.texts import voucher_code
from clinic.service.volunteer_notices import list_notices
from clinic.visits.services import visit_days
from clinic.web.clock import clinic_today
from clinic.web.container import container as container_of_app
from clinic.web.container import settings, unit
from clinic.web.forms import BlankableSelectField, DayField, select_choices
from clinic.web.labels import (
    ACTION_LABELS,
    CHANNEL_LABELS,
    OUTBOX_STATUS_LABELS,
    SEGMENT_LABELS,
    VISIT_STATUS_LABELS,
    label,
)
from clinic.web.nav import add_nav_item
from clinic.web.patient_replies import answer_call, answer_sms
from clinic.web.public_urls import patient_links
from clinic.web.reasons import stored_reason, why_text
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required
from clinic.worker import dispatcher

OUTBOX_ROWS = 200
"""Rows the Outbox shows at once (newest first); page links and the filters reach older ones. A tablet stays quick."""
MAX_PAGE = 100_000

bp = Blueprint("outreach", __name__, template_folder="templates", cli_group="outreach")
STAFF = (FRONT_DESK, COORDINATOR, ADMIN)
RULE_EDITORS = (COORDINATOR, ADMIN)
MAX_RULES_BYTES = 200_000

add_nav_item("outreach.outbox", _l("Outbox"), STAFF)
add_nav_item("outreach.rules", _l("Outreach rules"), RULE_EDITORS)
add_nav_item("outreach.preview", _l("Outreach preview"), STAFF)

LAYER_LABELS = {"basic": _l("Basic"), "segment": _l("Segment"), "sub_segment": _l("Sub-segment")}
KIND_LABELS = {"message": _l("Message"), "service": _l("Service")}


class OutboxFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = BlankableSelectField(_l("Status"))
    channel = BlankableSelectField(_l("Channel"))
    day = DayField(_l("Due on"), validators=[Optional()], format="%Y-%m-%d")
    patient = StringField(_l("Patient record number"), validators=[Optional(), Length(max=20)])
    call_list = BooleanField(_l("Call list only"))
    page = IntegerField(_l("Page"), validators=[Optional(), NumberRange(min=1, max=MAX_PAGE)])
    submit = SubmitField(_l("Filter"))


class DevReplyForm(FlaskForm):
    body = StringField(_l("Reply as the patient"), validators=[Optional(), Length(max=160)])
    digits = StringField(_l("Key pressed"), validators=[Optional(), AnyOf(["", "1", "2", "3"])])


class RulesForm(FlaskForm):
    text = TextAreaField(_l("Rules (YAML)"), validators=[Optional(), Length(max=MAX_RULES_BYTES)])
    upload = FileField(_l("Or upload a rule file"))
    submit = SubmitField(_l("Check and put in force"))


class PreviewForm(FlaskForm):
    class Meta:
        csrf = False

    day = DayField(_l("Date"), validators=[Optional()], format="%Y-%m-%d")
    patient = StringField(_l("Patient record number"), validators=[Optional(), Length(max=20)])
    submit = SubmitField(_l("Preview"))


def _labels() -> dict:
    return {
        "status_label": lambda code: label(OUTBOX_STATUS_LABELS, code),
        "channel_label": lambda code: label(CHANNEL_LABELS, code),
        "action_label": lambda code: label(ACTION_LABELS, code),
        "layer_label": lambda code: label(LAYER_LABELS, code),
        "kind_label": lambda code: label(KIND_LABELS, code),
        "segment_label": lambda code: label(SEGMENT_LABELS, code),
        "visit_status_label": lambda code: label(VISIT_STATUS_LABELS, code),
        "reason_text": stored_reason,
        "why_text": why_text,
    }


@bp.get("/outbox")
@roles_required(*STAFF)
def outbox():
    form = OutboxFilterForm(request.args)
    form.status.choices = select_choices(
        [("", _("Any status"))] + [(k, str(v)) for k, v in OUTBOX_STATUS_LABELS.items()]
    )
    form.channel.choices = select_choices(
        [("", _("Any channel"))] + [(k, str(v)) for k, v in CHANNEL_LABELS.items() if k != "patient"]
    )
    status = 200
    filters = OutboxFilter()
    session = get_session()
    page = 1
    patient = None
    if request.args and not form.validate():
        status = 400
    elif request.args:
        page = form.page.data or 1
        if (form.patient.data or "").strip():
            patient = find_patient(session=session, query=form.patient.data)
            if patient is None:
                form.patient.errors = [_("No patient has this record number.")]
                status = 400
        filters = OutboxFilter(
            status=form.status.data or None,
            channel=form.channel.data or None,
            day=form.day.data,
            patient_id=patient.id if patient is not None else None,
            call_list=bool(form.call_list.data),
        )
    rows = (
        list_outbox(
            session=session, filters=filters, unit=unit(), limit=OUTBOX_ROWS + 1, offset=(page - 1) * OUTBOX_ROWS
        )
        if status == 200
        else []
    )
    more_rows = len(rows) > OUTBOX_ROWS
    rows = rows[:OUTBOX_ROWS]
    kept = {k: v for k, v in request.args.items() if k != "page" and v} if status == 200 else {}
    counts = outbox_counts(session=session)
    words, pages = _words(session, rows, unit().tz, patient_links())
    replyable = {row.id for row, _patient in rows if _replyable(row)} if _dev_replies() else set()
    answerable = _answerable_emails(rows)
    call_list = list_outbox(session=session, filters=OutboxFilter(call_list=True), unit=unit())
    return (
        render_template(
            "messaging/outbox.html",
            form=form,
            rows=rows,
            more_rows=more_rows,
            page=page,
            first_row=(page - 1) * OUTBOX_ROWS + 1,
            previous_url=url_for("outreach.outbox", **kept, page=page - 1) if page > 1 else None,
            next_url=url_for("outreach.outbox", **kept, page=page + 1) if more_rows else None,
            filtered_patient=patient,
            volunteer_notices=list_notices(session=session),
            surveys=list_asked(session=session),
            counts=counts,
            call_list_count=len(call_list),
            status_order=list(OUTBOX_STATUS_LABELS),
            dev_replies=_dev_replies(),
            replyable=replyable,
            words=words,
            answer_pages={row_id: url for row_id, url in pages.items() if row_id in answerable},
            reply_form=DevReplyForm(formdata=None),
            **_labels(),
        ),
        status,
    )


def _words(session, rows, tz: str, links) -> tuple[dict[int, str], dict[int, str]]:
    """What each call in ``rows`` says when it is answered and what each e-mail says (a row's body is the SMS
    wording), and each e-mail's answer page: two queries for all of them, not two per row."""
    worded = [(row, patient) for row, patient in rows if row.channel in (Channel.VOICE, Channel.EMAIL)]
    if not worded:
        return {}, {}
    visits = visit_days(session=session, visit_ids={row.visit_id for row, _patient in worded})
    words: dict[int, str] = {}
    pages: dict[int, str] = {}
    for row, patient in worded:
        if row.visit_id not in visits:
            continue
        visit = visits[row.visit_id]
        day, pathway, start = visit.day, visit.pathway, visit.first_start
        if row.channel == Channel.VOICE:
            _language, intro, menu = inbound.call_words(patient=patient, day=day, start=start, tz=tz, action=row.action)
            words[row.id] = f"{intro} {menu}" if menu else intro
        else:
            pages[row.id] = links.answer_url(row.id)
            subject, body = email_answers.email_words(
                patient=patient, action=row.action, day=day, start=start,
                pathway=pathway.name_in(patient.language) if pathway else "",
                voucher=voucher_code(row.visit_id), link=pages[row.id], tz=tz,
            )
            words[row.id] = f"{subject}\n\n{body}"
    return words, pages


def _answerable_emails(rows) -> set[int]:
    """E-mails whose answer page staff may open as the patient: sent, while no e-mail reaches anyone."""
    if settings().smtp.host:
        return set()
    return {row.id for row, _patient in rows
            if row.channel == Channel.EMAIL and row.status in (OutboxStatus.SENT, OutboxStatus.DELIVERED)}


def _replyable(row) -> bool:
    """A message staff may answer as the patient: sent by SMS or as a call, while nothing reaches a phone."""
    return row.status in (OutboxStatus.SENT, OutboxStatus.DELIVERED) and row.channel in (Channel.SMS, Channel.VOICE)


def _dev_replies() -> bool:

    return not settings().twilio.configured


@bp.post("/outbox/<int:message_id>/reply")
@roles_required(*STAFF)
def dev_reply(message_id: int):
    row = get_outbox_message(session=get_session(), message_id=message_id)
    if not _dev_replies() or row is None or not _replyable(row):
        abort(404)
    back = url_for("outreach.outbox", _anchor=f"message-{message_id}")
    form = DevReplyForm()
    by_sms = row.channel == Channel.SMS
    if not form.validate() or not ((form.body.data or "").strip() if by_sms else form.digits.data):
        flash(_("Type the patient's reply, or choose the key they press."), "error")
        return redirect(back, code=303)
    if by_sms:
        result = answer_sms(sender=row.recipient, body=form.body.data, provider_id=None)
    else:
        result = answer_call(
            visit_id=row.visit_id, action=row.action, digits=form.digits.data, call_sid=None, to=row.recipient
        )
    if result is None:
        flash(_("The reply could not be handled."), "error")
    else:
        flash(
            _("Taken as %(outcome)s. The patient gets: %(reply)s", outcome=result.outcome, reply=result.reply),
            "success",
        )
    return redirect(back, code=303)


@bp.route("/outreach/rules", methods=["GET", "POST"])
@roles_required(*RULE_EDITORS)
def rules():
    session = get_session()
    in_force = rules_in_force(session=session)
    form = RulesForm()
    problems: list[str] = []
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            text, filename = form.text.data or "", in_force.filename
            upload = form.upload.data
            if upload is not None and getattr(upload, "filename", ""):
                raw = upload.read(MAX_RULES_BYTES + 1)
                filename = upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200] or filename
                if len(raw) > MAX_RULES_BYTES:
                    problems = [_("%(file)s: the file is larger than 200 kB.", file=filename)]
                else:
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        problems = [_("%(file)s: the file is not UTF-8 text.", file=filename)]
            if not problems and not text.strip():
                problems = [_("Paste the rules or choose a file.")]
            if not problems:
                try:
                    saved = save_rules(
                        session=session, text=text, filename=filename, actor_id=current_user.id
                    )
                except RulesRejected as exc:
                    problems = exc.problems
                else:
                    planned = replan_upcoming(session=session, actor_id=current_user.id, unit=unit())
                    flash(
                        _(
                            "Rules version %(version)s is now in force; outreach re-planned for %(count)s upcoming visits.",
                            version=saved.version,
                            count=planned,
                        ),
                        "success",
                    )
                    return redirect(url_for("outreach.rules"))
        else:
            problems = [str(error) for errors in form.errors.values() for error in errors]
        status = 400
    elif not form.text.data:
        form.text.data = in_force.text
    return (
        render_template(
            "messaging/rules.html",
            form=form,
            in_force=in_force,
            problems=problems,
            **_labels(),
        ),
        status,
    )


@bp.get("/outreach/preview")
@roles_required(*STAFF)
def preview():
    form = PreviewForm(request.args)
    session = get_session()
    status = 200
    rows = []
    patient = None
    error = None
    valid = form.validate() if request.args else True
    day = form.day.data if valid else None
    if not valid:
        status = 400
    elif form.patient.data and form.patient.data.strip():
        patient = find_patient(session=session, query=form.patient.data)
        if patient is None:
            error = _("No patient with record number %(mrn)s.", mrn=form.patient.data.strip())
            form.patient.errors = [error]
            status = 404
        else:
            try:
                rows = preview_for_patient(session=session, patient_id=patient.id, day=day, unit=unit())
            except NotFound:
                status = 404
    else:
        day = day or clinic_today()  # the field stays empty, so a patient search is not tied to today
        rows = preview_for_date(session=session, day=day, unit=unit())
    return (
        render_template(
            "messaging/preview.html",
            form=form,
            rows=rows,
            day=day,
            patient=patient,
            **_labels(),
        ),
        status,
    )


@bp.cli.command("run")
@click.option("--interval", type=float, help="Seconds between dispatch runs (OUTREACH_INTERVAL_SECONDS, 5).")
@click.option("--channels", "channels_spec", help="module:function returning the channels (default: configured).")
def run_command(interval: float | None, channels_spec: str | None) -> None:
    """Run the outreach dispatcher (APScheduler, persistent job store) until stopped."""
    container = dispatcher.for_dispatcher(
        container_of_app(), channels_spec=channels_spec, overrides={"OUTREACH_INTERVAL_SECONDS": interval}
    )
    dispatcher.run(container, echo=click.echo)


@bp.cli.command("plan")
def plan_command() -> None:
    """(Re)plan the outreach of every visit still ahead with the rules in force."""
    with get_session_factory()() as session:
        count = replan_upcoming(
            session=session,
            unit=unit(),
        )
    click.echo(f"Outreach planned for {count} upcoming visits.")
