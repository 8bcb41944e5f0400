"""The application factory (flaskr style): ``create_app(test_config=None) -> Flask``."""

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from clinic import cli, db, i18n
from clinic.bootstrap import (
    CONTAINER_KEY,
    Container,
    bootstrap,
    of_app,
    refuse_published_passwords,
    with_settings,
)
from clinic.extensions import csrf
from clinic.settings import FLAT_NAMES
from clinic.web.blueprints import register_web

#: Flask's own settings (sessions, cookies, CSRF); the clinic's settings live in the container.
FLASK_DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=10),
    # The session cookie is written only when the session changes (``users.views.end_idle_session``): a
    # cookie written by every answer lets a board's refresh, sent before a check-in's answer and answered
    # after it, put back the session it read and lose that check-in's message.
    "SESSION_REFRESH_EACH_REQUEST": False,
    "WTF_CSRF_TIME_LIMIT": 10 * 3600,
}



def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the OneVisit web app; raises ``ConfigError`` with a clear message on unusable settings.

    ``test_config`` overrides settings by their flat names (``SMTP_HOST``, ``CLINIC_TIMEZONE``...); its
    other keys go to Flask's ``app.config`` (``WTF_CSRF_ENABLED``, test hooks such as ``MESSAGING_NOW``).
    ``ONEVISIT_INSTANCE_PATH`` moves the instance folder (default SQLite file, development key).

    Outside development an app built for a WSGI server refuses to start while an account still has a
    published demo password (``refuse_published_passwords``); built by the ``flask`` command line, it leaves
    that check to ``flask serve``, so the other commands (``flask users reset-password``) can fix it.
    """
    test_config = dict(test_config or {})
    overrides = {key: value for key, value in test_config.items() if key in FLAT_NAMES}
    container = bootstrap(overrides)
    settings = container.settings
    # clinic/templates holds the shared templates (base.html, _forms.html, errors/); each domain's blueprints
    # add their package's templates/, whose names all start with "<package>/"
    app = Flask("clinic", instance_path=settings.instance_path, template_folder="templates")
    app.config.update(FLASK_DEFAULTS)
    app.config.update(
        TESTING=settings.testing,
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_SECURE=not settings.relaxed,
        REMEMBER_COOKIE_SECURE=not settings.relaxed,
    )
    app.config.update({key: value for key, value in test_config.items() if key not in FLAT_NAMES})
    _install(app, container)
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        refuse_published_passwords(container)
    os.makedirs(app.instance_path, exist_ok=True)


    app.teardown_appcontext(db.close_session)
    i18n.init_app(app)
    csrf.init_app(app)
    register_web(app)
    cli.register(app, factory=create_app)
    app.after_request(_security_headers)
    if settings.proxy_count:
        # behind N TLS-terminating proxies: trust their X-Forwarded-* so URLs and Secure cookies are right
        count = settings.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count)
    return app


def reconfigure(app: Flask, **changes: Any) -> Container:
    """Give a built app other settings (flat names; same database engine), e.g. a test's time zone."""
    container = with_settings(of_app(app), changes)
    _install(app, container)
    return container


def _install(app: Flask, container: Container) -> None:
    app.extensions[CONTAINER_KEY] = container


def _security_headers(response: Response) -> Response:
    """Today's CSP and frame rules on every response; ``no-store`` on every page but the static files (signed-in
    pages and the patients' answer pages show patient data, and a shared tablet's back button must not bring
    them back); HSTS on requests that came over TLS (``HSTS_SECONDS``)."""
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    hsts = of_app(current_app).settings.hsts_seconds
    if hsts and request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
    )
    return response
