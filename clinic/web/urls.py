"""Links between areas of the app that may be left out (checkout, refill, patient pages)."""

from flask import current_app, url_for
from werkzeug.routing import BuildError


def optional_url(endpoint: str, **values: object) -> str | None:
    """``url_for(endpoint, ...)`` when another part of the app provides that endpoint, else ``None``."""
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None
