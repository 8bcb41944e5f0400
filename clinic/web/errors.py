"""Error pages (400/403/404/405/500 and an expired form) in the visitor's language, never a stack trace.

API-style paths (``/healthz``, ``/api/...``) and clients asking for JSON get a JSON body instead.
"""

import logging
from typing import TypeVar

from flask import Flask, abort, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from clinic.db import get_session
from clinic.errors import NotFound, get_or_raise
from clinic.fhir.auth import error_response as fhir_error_response
from clinic.fhir.auth import is_fhir_path

log = logging.getLogger(__name__)
T = TypeVar("T")

PAGES = {400: "errors/400.html", 403: "errors/403.html", 404: "errors/404.html", 405: "errors/405.html"}
JSON_PREFIXES = ("/healthz", "/api/")
FALLBACK_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>OneVisit</title></head>"
    "<body><h1>Something went wrong</h1><p>Please try again in a moment.</p><p><a href='/'>OneVisit</a></p>"
    "</body></html>"
)


def row_or_404(model: type[T], row_id: int) -> T:
    """The ``model`` row with id ``row_id`` in the request's session, or the 404 page."""
    try:
        return get_or_raise(get_session(), model, row_id, what=model.__name__)
    except NotFound:
        abort(404)


def wants_json() -> bool:
    if request.path.startswith(JSON_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def _json(code: int, message: str):
    response = jsonify({"status": "error", "code": code, "message": message})
    response.status_code = code
    return response


def handle_csrf(error: CSRFError):
    message = _("The form expired or was sent from another page. Please go back, reload it and try again.")
    if wants_json():
        return _json(400, message)
    return _render("errors/400.html", 400, message=message, csrf_failed=True)


def handle_http(error: HTTPException):
    if is_fhir_path(request.path):  # no route matched (unknown type, wrong method): the FHIR API's answer
        return fhir_error_response(error)
    code = error.code or 500
    if code >= 500:
        return handle_server_error(error)
    if wants_json():
        return _json(code, error.name)
    headers = {"Allow": ", ".join(error.valid_methods)} if code == 405 and error.valid_methods else {}
    return _render(PAGES.get(code, "errors/generic.html"), code, headers, error=error)


def handle_server_error(error: Exception):
    if is_fhir_path(request.path):
        return fhir_error_response(error)
    original = getattr(error, "original_exception", None) or error
    if not isinstance(original, HTTPException):
        log.error("Unhandled error on %s %s", request.method, request.path, exc_info=original)
    if wants_json():
        return _json(500, _("Something went wrong on our side."))
    return _render("errors/500.html", 500)


def _render(template: str, code: int, headers: dict | None = None, **context):
    try:
        return render_template(template, code=code, **context), code, headers or {}
    except Exception:  # the layout needs the database (who is signed in); fall back to a bare page
        log.exception("The error page %s could not be rendered", template)
        return FALLBACK_PAGE, code, headers or {}


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(Exception, handle_server_error)
