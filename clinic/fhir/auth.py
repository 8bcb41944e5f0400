"""The Flask side of the FHIR API shared by every FHIR blueprint: bearer-token scopes, answers in
``application/fhir+json``, OperationOutcome for every error, and the call log.

``require_scope("system/Appointment.read")`` guards a view: no or a bad token gives 401 with
``WWW-Authenticate: Bearer``, a token without the scope 403 naming it; both as OperationOutcome.
``fhir_blueprint(name, import_name)`` makes a blueprint under ``/fhir`` with those error handlers and
without CSRF (clients send bearer tokens, not cookies).

This is the one module of the domain besides its views that imports Flask (pyproject.toml's service contracts
ignore that import on purpose): the views of two blueprints (``views``, ``operations_views``) share it.
"""

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import HTTPException

from clinic import json_text
from clinic.db import get_session, get_session_factory
from clinic.errors import DomainError
from clinic.extensions import csrf
from clinic.fhir import services
from clinic.fhir.outcome import FhirError, fhir_error, from_domain_error
from clinic.fhir.scopes import allows, parse_scope
from clinic.fhir.services import Grant, TokenRefused

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

FHIR_JSON = "application/fhir+json"
PREFIX = "/fhir"
REALM = 'Bearer realm="OneVisit FHIR"'
JSON_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})


def is_fhir_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def fhir_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status,
                        content_type=f"{FHIR_JSON}; charset=utf-8")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error: BaseException) -> Response:
    """Any error under ``/fhir`` as an OperationOutcome: never HTML, never a stack trace."""
    if isinstance(error, FhirError):
        problem = error
    elif isinstance(error, DomainError):
        problem = from_domain_error(error)
    elif isinstance(error, HTTPException) and (error.code or 500) < 500:
        code = error.code or 400
        headers = {"Allow": ", ".join(error.valid_methods)} if code == 405 and error.valid_methods else {}
        diagnostics = {
            404: f"{request.path} is not a resource or interaction this server has (see {PREFIX}/metadata)",
            405: f"{request.method} is not supported on {request.path}",
        }.get(code, error.description or error.name)
        problem = fhir_error(code, diagnostics, headers=headers)
    else:
        original = getattr(error, "original_exception", None) or error
        log.error("Unhandled error on %s %s", request.method, request.path, exc_info=original)
        problem = fhir_error(500, "Something went wrong on the server; the error is logged.")
    return fhir_response(problem.body, problem.status, problem.headers)


JSON_FORMATS = frozenset({"json", *JSON_TYPES})


def require_json() -> None:
    """406 when the client wants only another format than JSON (``_format`` or ``Accept``): this server has
    no XML or Turtle, and a JSON answer to ``Accept: application/fhir+xml`` would be misread."""
    wanted = request.args.get("_format")
    if wanted is not None and wanted.split(";")[0].strip() not in JSON_FORMATS:
        raise fhir_error(406, f"_format={wanted}: this server answers only {FHIR_JSON}", expression="_format",
                         code="not-supported")
    accept = request.accept_mimetypes
    if accept.provided and not accept.best_match(sorted(JSON_TYPES)):
        raise fhir_error(406, f"Accept: {request.headers.get('Accept')}: this server answers only {FHIR_JSON}",
                         code="not-supported")


def fhir_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under ``/fhir`` answering JSON only (406 otherwise) and every error as an OperationOutcome,
    exempt from CSRF."""
    bp = Blueprint(name, import_name, url_prefix=PREFIX)
    bp.register_error_handler(Exception, error_response)
    bp.before_request(require_json)
    csrf.exempt(bp)
    return bp


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def current_grant() -> Grant:
    """The request's grant (client and scopes), or a 401 FhirError; checked once per request."""
    if "fhir_grant" not in g:
        try:
            grant = services.authenticate(session=get_session(), token=bearer_token())
        except TokenRefused as exc:
            header = REALM if exc.message.startswith("no bearer") else f'{REALM}, error="invalid_token"'
            raise fhir_error(401, exc.message, code="login", headers={"WWW-Authenticate": header}) from None
        g.fhir_grant = grant
        g.fhir_client_id = grant.client_id
    return g.fhir_grant


def require_scope(scope: str) -> Callable[[F], F]:
    """The view runs only for a token whose scopes allow ``scope`` (SMART v1 or v2 form)."""
    needed = parse_scope(scope)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            grant = current_grant()
            if not allows(grant.scopes, needed):
                raise fhir_error(
                    403, f"the token of client {grant.client_name!r} lacks the scope {needed.text}",
                    code="forbidden",
                    headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{needed.text}"'},
                )
            return view(*args, **kwargs)

        wrapped.fhir_scope = needed.text  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def read_json_body(*, expression: str = "") -> dict[str, Any]:
    """The request's JSON object, or 415 (not JSON) / 400 (not parseable, not an object)."""
    mimetype = request.mimetype
    if mimetype not in JSON_TYPES:
        raise fhir_error(415, f"send the resource as {FHIR_JSON} (got {mimetype or 'no Content-Type'})",
                         code="not-supported")
    try:
        body = json_text.loads(request.get_data(as_text=True) or "null")
    except ValueError as exc:
        raise fhir_error(400, f"the body is not valid JSON: {exc}", code="structure") from None
    if not isinstance(body, dict):
        raise fhir_error(400, "the body must be a JSON object (a FHIR resource)", code="structure",
                         expression=expression or None)
    return body


#: Search parameters whose values hold no personal data, kept in the call log; the others (``name``,
#: ``identifier``, ``birthdate``, ...) are logged by name only, so the log never holds what an erasure scrubs.
LOGGED_VALUES = frozenset({"_count", "_offset", "_total", "_format", "_id", "date", "status", "patient",
                           "schedule", "start", "service-type"})


def logged_path(path: str, args: list[tuple[str, str]]) -> str:
    """The request's path and query as the call log keeps it: ``/fhir/Patient?name=…&_count=5``."""
    if not args:
        return path
    query = "&".join(f"{name}={value if name in LOGGED_VALUES else '…'}" for name, value in args)
    return f"{path}?{query}"


def record_call(response: Response) -> Response:
    """Log every request under ``/fhir`` (allowed or refused) with its client, in a session of its own."""
    if not is_fhir_path(request.path):
        return response
    try:
        with get_session_factory()() as session:
            services.record_call(session=session, client_id=g.get("fhir_client_id"), method=request.method,
                                 path=logged_path(request.path, list(request.args.items(multi=True))),
                                 status=response.status_code)
    except Exception:  # noqa: BLE001 - the answer is already made; a failed log line must not replace it
        log.exception("could not log the FHIR call %s %s", request.method, request.path)
    return response
