"""``/audit``: the audit log for coordinators and administrators, filtered by entity, user and date."""

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SubmitField
from wtforms.validators import NumberRange, Optional

from clinic.audit import services as audit_log
from clinic.db import get_session
from clinic.errors import ValidationError
from clinic.web.container import unit
from clinic.web.forms import BlankableSelectField, DayField, select_choices
from clinic.web.labels import AUDIT_ACTION_LABELS, AUDIT_ENTITY_LABELS, label
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, COORDINATOR, roles_required

bp = Blueprint("audit", __name__, template_folder="templates")
add_nav_item("audit.log", _l("Audit log"), (COORDINATOR, ADMIN))
PAGE_SIZE = 50
ENTITY_LINKS = {
    "invoice": ("checkout.invoice", "invoice_id"),
    "visit": ("visit.detail", "visit_id"),
    "patient": ("patient.detail", "patient_id"),
}


class AuditFilterForm(FlaskForm):
    """A GET form (bookmarkable filters), so no CSRF token."""

    class Meta:
        csrf = False

    entity = BlankableSelectField(_l("Record type"), choices=[], validate_choice=True)
    entity_id = IntegerField(
        _l("Record number"),
        validators=[Optional(), NumberRange(min=1, max=2**31 - 1, message=_l("Enter a number from 1 up."))],
    )
    user = BlankableSelectField(_l("User"), choices=[], validate_choice=True)
    date_from = DayField(_l("From"), validators=[Optional()], format="%Y-%m-%d")
    date_to = DayField(_l("To"), validators=[Optional()], format="%Y-%m-%d")
    submit = SubmitField(_l("Filter"))


def entity_url(entity: str, entity_id: int) -> str | None:
    link = ENTITY_LINKS.get(entity)
    if link is None or link[0] not in current_app.view_functions:
        return None
    return url_for(link[0], **{link[1]: entity_id})


@bp.get("/audit")
@roles_required(COORDINATOR, ADMIN)
def log():
    session = get_session()
    form = AuditFilterForm(request.args)
    form.entity.choices = select_choices([("", _l("All"))] + [(e, e) for e in audit_log.entities(session=session)])
    form.user.choices = select_choices(
        [("", _l("Everyone"))] + [(str(uid), name) for uid, name in audit_log.actors(session=session)]
    )
    status = 200
    result = None
    if request.args and not form.validate():
        status = 400
    else:
        try:
            result = audit_log.search(
                session=session,
                tz=unit().tz,
                entity=(form.entity.data or "").strip() or None,
                entity_id=form.entity_id.data,
                # Optional() lets blank input (" ", "\r") past the choice check: blank means everyone
                actor_id=int(form.user.data) if form.user.data else None,
                date_from=form.date_from.data,
                date_to=form.date_to.data,
                page=min(max(request.args.get("page", 1, type=int), 1), 100_000),
                page_size=PAGE_SIZE,
            )
        except ValidationError as exc:
            getattr(form, exc.field or "date_to").errors = [_l("The end date is before the start date.")]
            status = 400

    def page_url(number: int) -> str:
        args = {k: v for k, v in request.args.items() if k != "page"}
        return url_for("audit.log", **args, page=number)

    return render_template(
        "audit/log.html", form=form, result=result, entity_url=entity_url, page_url=page_url,
        action_label=lambda code: label(AUDIT_ACTION_LABELS, code),
        entity_label=lambda code: label(AUDIT_ENTITY_LABELS, code),
    ), status
