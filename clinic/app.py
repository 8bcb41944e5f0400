"""The application factory (flaskr style): ``create_app(test_config=None) -> Flask``."""

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from clinic import config as settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the OneVisit web app; raises ``ConfigError`` with a clear message on unusable settings.

    ``ONEVISIT_INSTANCE_PATH`` moves the instance folder (default SQLite file, development key).
    """
    instance_path = os.environ.get("ONEVISIT_INSTANCE_PATH") or None
    if instance_path:
        instance_path = os.path.abspath(instance_path)
    # clinic/templates holds the shared templates (base.html, _forms.html, errors/); each domain's blueprints
    # add their package's templates/, whose names all start with "<package>/"
    app = Flask("clinic", instance_path=instance_path, template_folder="templates")
    config = settings.defaults(app.instance_path)
    config.update(settings.from_environment(os.environ, config))
    if test_config:
        config.update(test_config)
    settings.finish(config, app.instance_path)
    app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)

    from clinic import cli, db, i18n
    from clinic.extensions import csrf
    from clinic.web import register_web

    try:
        db.init_app(app)
    except db.DatabaseURLError as exc:
        raise settings.ConfigError(str(exc)) from None
    i18n.init_app(app)
    csrf.init_app(app)
    register_web(app)
    cli.register(app)
    app.after_request(_security_headers)
    if app.config["PROXY_COUNT"]:
        # behind N TLS-terminating proxies: trust their X-Forwarded-* so URLs and Secure cookies are right
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count)
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
    )
    return response
