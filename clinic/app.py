"""The application factory (flaskr style): ``create_app(test_config=None) -> Flask``."""

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from clinic.bootstrap import CONTAINER_KEY, Container, bootstrap, of_app, with_settings
from clinic.settings import FLAT_NAMES, ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent

#: Flask's own settings (sessions, cookies, CSRF); the clinic's settings live in the container.
FLASK_DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=10),
    "WTF_CSRF_TIME_LIMIT": 10 * 3600,
}
#: Still read from ``app.config`` by ``clinic.messaging.visit_changes``; kept equal to the unit's values.
UNIT_CONFIG_KEYS = ("CLINIC_TIMEZONE", "REGION_LOCAL_KM", "REGION_REGIONAL_KM")


def template_folder() -> str:
    """The checkout's top-level ``templates/``, or the copy a built wheel carries in ``clinic/_templates``."""
    for candidate in (PACKAGE_DIR.parent / "templates", PACKAGE_DIR / "_templates"):
        if (candidate / "base.html").is_file():
            return str(candidate)
    raise ConfigError(
        f"No templates found: expected {PACKAGE_DIR.parent / 'templates'} (checkout) "
        f"or {PACKAGE_DIR / '_templates'} (installed wheel)"
    )


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the OneVisit web app; raises ``ConfigError`` with a clear message on unusable settings.

    ``test_config`` overrides settings by their flat names (``SMTP_HOST``, ``CLINIC_TIMEZONE``...); its
    other keys go to Flask's ``app.config`` (``WTF_CSRF_ENABLED``, test hooks such as ``MESSAGING_NOW``).
    ``ONEVISIT_INSTANCE_PATH`` moves the instance folder (default SQLite file, development key).
    """
    test_config = dict(test_config or {})
    overrides = {key: value for key, value in test_config.items() if key in FLAT_NAMES}
    container = bootstrap(overrides)
    settings = container.settings
    app = Flask("clinic", instance_path=settings.instance_path, template_folder=template_folder())
    app.config.update(FLASK_DEFAULTS)
    app.config.update(
        TESTING=settings.testing,
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_SECURE=not settings.relaxed,
        REMEMBER_COOKIE_SECURE=not settings.relaxed,
    )
    app.config.update({key: value for key, value in test_config.items() if key not in FLAT_NAMES})
    _install(app, container)
    os.makedirs(app.instance_path, exist_ok=True)

    from clinic import cli, db, i18n
    from clinic.extensions import csrf
    from clinic.web.blueprints import register_web

    app.extensions[db.ENGINE_KEY] = container.engine
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
    unit = container.unit
    app.config.update(dict(zip(UNIT_CONFIG_KEYS, (unit.tz, unit.local_km, unit.regional_km), strict=True)))


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
    )
    return response
