"""Input no database should see: ids beyond its ``integer`` and NUL characters, refused before any view runs.

PostgreSQL's ``integer`` ends at 2^31 - 1 and its text cannot hold NUL; either reached a query as a server
error ("integer out of range", "cannot contain NUL"). Ids in paths match only up to ``MAX_ID`` (beyond it the
page does not exist: 404) and a path, query or form with a NUL character gets 400.
"""

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**31 - 1
"""The largest id a database ``integer`` column holds."""


class DatabaseId(IntegerConverter):
    """``<int:...>``: a whole number from 0 to ``MAX_ID``."""

    def __init__(self, map: Map, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _has_nul(values) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in values.items(multi=True))


def refuse_nul() -> None:
    """Before each request: 400 when the path, the query or a form field holds a NUL character."""
    if "\x00" in request.path or _has_nul(request.args):
        abort(400)
    if request.method in ("POST", "PUT", "PATCH") and _has_nul(request.form):
        abort(400)


def init_app(app: Flask) -> None:
    """Call before any blueprint is registered: rules take their converters when they are added."""
    app.url_map.converters["int"] = DatabaseId
    app.before_request(refuse_nul)
