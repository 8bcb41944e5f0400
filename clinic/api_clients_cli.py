"""``flask --app clinic api-clients ...``: the FHIR API's clients and their tokens (each change is audited).

The operator has the server, so there is no sign-in: changes are recorded without an acting account.
"""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from clinic import json_text
from clinic.bootstrap import of_app
from clinic.errors import DomainError
from clinic.fhir import services
from clinic.fhir.services import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS


@click.group("api-clients")
def api_clients_group() -> None:
    """FHIR API clients: add, keys, token, revoke, list."""


def _session():
    return of_app(current_app).session_factory()


def _read_jwks(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        return json_text.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: cannot read a JSON key set ({exc})") from None


@api_clients_group.command("add")
@with_appcontext
@click.argument("name")
@click.option("--scopes", required=True, help='SMART scopes, e.g. "system/Appointment.read system/Patient.read".')
@click.option("--jwks", "jwks_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The client's public JSON Web Key Set, for SMART backend services.")
def add_command(name: str, scopes: str, jwks_file: Path | None) -> None:
    """Register a client allowed SCOPES (a token is issued separately: `token NAME`)."""
    with _session() as session:
        try:
            client = services.create_client(session=session, name=name, scopes=scopes, actor_id=None,
                                            jwks=_read_jwks(jwks_file))
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Added API client {client.name} with {client.scopes}"
                   + (" and its public keys (SMART backend services)." if client.jwks else "."))


@api_clients_group.command("keys")
@with_appcontext
@click.argument("name")
@click.argument("jwks_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def keys_command(name: str, jwks_file: Path) -> None:
    """Register (replace) the client's public keys for SMART backend services."""
    with _session() as session:
        try:
            client = services.client_named(session=session, name=name)
            services.set_jwks(session=session, client_id=client.id, jwks=_read_jwks(jwks_file), actor_id=None)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Registered {len(client.jwks['keys'])} public key(s) for {client.name}.")


@api_clients_group.command("token")
@with_appcontext
@click.argument("name")
@click.option("--days", type=click.IntRange(1, MAX_TOKEN_DAYS), default=DEFAULT_TOKEN_DAYS, show_default=True)
@click.option("--scopes", default=None, help="Fewer scopes than the client's (default: all of them).")
def token_command(name: str, days: int, scopes: str | None) -> None:
    """Issue a bearer token for the client; it is shown only now."""
    with _session() as session:
        try:
            client = services.client_named(session=session, name=name)
            row, token = services.issue_token(session=session, client_id=client.id, actor_id=None, days=days,
                                              scopes=scopes)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Token {row.id} for {client.name} ({row.scopes}), valid until {row.expires_at:%Y-%m-%d %H:%M} UTC:")
        click.echo(token)
        click.echo("It is shown only now: only its hash is kept.")


@api_clients_group.command("revoke")
@with_appcontext
@click.argument("name")
@click.option("--token", "token_id", type=int, default=None, help="Revoke only this token (its id in `list`).")
def revoke_command(name: str, token_id: int | None) -> None:
    """Deactivate the client (every token stops working), or with --token revoke one of its tokens."""
    with _session() as session:
        try:
            client = services.client_named(session=session, name=name)
            if token_id is None:
                services.deactivate_client(session=session, client_id=client.id, actor_id=None)
                click.echo(f"Deactivated {client.name}: its tokens no longer work.")
                return
            if token_id not in {t.id for t in services.tokens(session=session, client_id=client.id)}:
                raise click.ClickException(f"--token: {client.name} has no token {token_id} (see `list`)")
            row = services.revoke_token(session=session, token_id=token_id, actor_id=None)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Revoked token {row.id} ({row.hint}...) of {client.name}.")


@api_clients_group.command("list")
@with_appcontext
def list_command() -> None:
    """Every client with its scopes and state, and its tokens (id, start, source, expiry, state)."""
    with _session() as session:
        for client in services.clients(session=session):
            state = "active" if client.active else "deactivated"
            keys = f", {len(client.jwks['keys'])} key(s)" if client.jwks else ""
            click.echo(f"{client.name}  [{state}{keys}]  {client.scopes}")
            for row in services.tokens(session=session, client_id=client.id):
                token_state = "revoked" if row.revoked_at else "active"
                click.echo(f"    token {row.id:<5} {row.hint}...  {row.source:<5} expires "
                           f"{row.expires_at:%Y-%m-%d %H:%M} UTC  {token_state}")
