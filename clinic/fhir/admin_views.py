"""``/admin/api-clients``: the administrator's screen for the FHIR API's clients: register one (with its public
keys for SMART backend services), issue a token (shown once), revoke a token, deactivate a client. Every
change is in the audit trail; the calls clients made are listed below."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from clinic import json_text
from clinic.db import get_session
from clinic.errors import DomainError, NotFound, get_or_raise
from clinic.fhir import services
from clinic.fhir.models import ApiClient
from clinic.fhir.services import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, roles_required

bp = Blueprint("api_clients", __name__, template_folder="templates")
add_nav_item("api_clients.index", _l("API clients"), (ADMIN,))
RECENT_CALLS = 20


class NewClientForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter the client's name.")), Length(max=80)],
                       render_kw={"autocomplete": "off", "spellcheck": "false"})
    scopes = StringField(_l("Scopes"), validators=[DataRequired(message=_l("Enter at least one scope.")),
                                                   Length(max=1000)],
                         render_kw={"autocapitalize": "none", "spellcheck": "false"})
    jwks = TextAreaField(_l("Public keys (JWKS, optional)"), validators=[Optional(), Length(max=20000)],
                         render_kw={"rows": 4, "spellcheck": "false"})
    submit = SubmitField(_l("Register client"))


class TokenForm(FlaskForm):
    days = IntegerField(_l("Valid for (days)"), default=DEFAULT_TOKEN_DAYS,
                        validators=[DataRequired(message=_l("Enter a number of days.")),
                                    NumberRange(1, MAX_TOKEN_DAYS, message=_l("From 1 to %(max)d days.",
                                                                              max=MAX_TOKEN_DAYS))])
    scopes = StringField(_l("Scopes (empty: all of the client's)"), validators=[Optional(), Length(max=1000)],
                         render_kw={"autocapitalize": "none", "spellcheck": "false"})
    submit = SubmitField(_l("Issue token"))


class ConfirmForm(FlaskForm):
    submit = SubmitField()


def client_error(error: DomainError) -> str:
    """A refusal of the API client services in the reader's language."""
    messages = {
        "client_name": _("Use 2 to 80 letters, digits, spaces, dots, dashes or underscores."),
        "client_name_taken": _("An API client with this name already exists."),
        "scope": _("Not a scope this API knows: use system/<Type>.<read|write|*>, e.g. system/Appointment.read "
                   "or system/*.read."),
        "invalid_scope": _("The client is not allowed all these scopes."),
        "jwks": _('Not a set of public keys: paste a JSON Web Key Set, {"keys": [...]}, without private keys.'),
        "token_days": _("From 1 to %(max)d days.", max=MAX_TOKEN_DAYS),
        "client_inactive": _("This client is deactivated."),
    }
    return messages.get(error.code, error.message)


def _page(new_form: NewClientForm | None = None, token_forms: dict[int, TokenForm] | None = None,
          status: int = 200):
    session = get_session()
    clients = services.clients(session=session)
    tokens = {c.id: [t for t in services.tokens(session=session, client_id=c.id) if t.source == "admin"]
              for c in clients}
    token_forms = token_forms or {}
    forms = {c.id: token_forms.get(c.id) or TokenForm(formdata=None, prefix=f"c{c.id}") for c in clients}
    names = {c.id: c.name for c in clients}
    return render_template(
        "fhir/api_clients.html", clients=clients, tokens=tokens, token_forms=forms, new_form=new_form or
        NewClientForm(formdata=None), confirm=ConfirmForm(), calls=services.calls(session=session, limit=RECENT_CALLS),
        names=names,
    ), status


def _client_or_404(client_id: int) -> ApiClient:
    try:
        return get_or_raise(get_session(), ApiClient, client_id, what="API client")
    except NotFound:
        abort(404)


@bp.get("/admin/api-clients")
@roles_required(ADMIN)
def index():
    return _page()


@bp.post("/admin/api-clients")
@roles_required(ADMIN)
def create():
    form = NewClientForm()
    if not form.validate_on_submit():
        return _page(new_form=form, status=400)
    jwks = None
    if (form.jwks.data or "").strip():
        try:
            jwks = json_text.loads(form.jwks.data)
        except ValueError:
            form.jwks.errors = [_('Not a set of public keys: paste a JSON Web Key Set, {"keys": [...]}, '
                                  'without private keys.')]
            return _page(new_form=form, status=400)
    try:
        client = services.create_client(session=get_session(), name=form.name.data, scopes=form.scopes.data,
                                        jwks=jwks, actor_id=current_user.id)
    except DomainError as error:
        get_session().rollback()
        field = {"name": form.name, "scope": form.scopes, "jwks": form.jwks}.get(error.field or "", form.name)
        field.errors = [client_error(error)]
        return _page(new_form=form, status=400)
    flash(_("API client %(name)s is registered. Issue it a token, or let it sign in with its keys.",
            name=client.name), "success")
    return redirect(url_for("api_clients.index", _anchor=f"client-{client.id}"))


@bp.post("/admin/api-clients/<int:client_id>/tokens")
@roles_required(ADMIN)
def issue(client_id: int):
    client = _client_or_404(client_id)
    form = TokenForm(prefix=f"c{client_id}")
    if not form.validate_on_submit():
        return _page(token_forms={client_id: form}, status=400)
    try:
        row, token = services.issue_token(session=get_session(), client_id=client.id, actor_id=current_user.id,
                                          days=form.days.data, scopes=form.scopes.data or None)
    except DomainError as error:
        get_session().rollback()
        field = form.days if error.field == "days" else form.scopes
        field.errors = [client_error(error)]
        return _page(token_forms={client_id: form}, status=400)
    return render_template("fhir/token_issued.html", client=client, row=row, token=token), 201


@bp.post("/admin/api-clients/<int:client_id>/tokens/<int:token_id>/revoke")
@roles_required(ADMIN)
def revoke(client_id: int, token_id: int):
    client = _client_or_404(client_id)
    if not ConfirmForm().validate_on_submit():
        return _page(status=400)
    if token_id not in {t.id for t in services.tokens(session=get_session(), client_id=client.id)}:
        abort(404)
    row = services.revoke_token(session=get_session(), token_id=token_id, actor_id=current_user.id)
    flash(_("Token %(hint)s… of %(name)s is revoked.", hint=row.hint, name=client.name), "success")
    return redirect(url_for("api_clients.index", _anchor=f"client-{client.id}"))


@bp.post("/admin/api-clients/<int:client_id>/deactivate")
@roles_required(ADMIN)
def deactivate(client_id: int):
    client = _client_or_404(client_id)
    if not ConfirmForm().validate_on_submit():
        return _page(status=400)
    services.deactivate_client(session=get_session(), client_id=client.id, actor_id=current_user.id)
    flash(_("API client %(name)s is deactivated: its tokens no longer work.", name=client.name), "success")
    return redirect(url_for("api_clients.index", _anchor=f"client-{client.id}"))
