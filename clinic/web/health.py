"""``GET /healthz``: is the app up and can it reach its database (for load balancers and ``make run``)."""

from flask import Blueprint, jsonify

from clinic.db import database_status, get_engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        database = database_status(get_engine())
    except Exception as exc:  # an engine that could not even be built still gets an answer
        database = {"database": "error", "detail": f"{type(exc).__name__}: {exc}"}
    healthy = database.get("database") == "ok"
    body = {"status": "ok" if healthy else "error", "database": database}
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
