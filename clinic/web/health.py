"""``GET /healthz``: is the app up and can it reach its migrated database (for load balancers and ``make run``).

Anyone may ask, so the answer is only ``ok`` (200) or ``error`` (503); what went wrong (the driver's
message names the database host, port and role) goes to the log.
"""

import logging

from flask import Blueprint, jsonify

from clinic.db import database_status, get_engine

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    try:
        database = database_status(get_engine())
    except Exception as exc:  # noqa: BLE001 - an engine that could not even be built still gets an answer
        database = {"database": "error", "detail": f"{type(exc).__name__}: {exc}"}
    healthy = database.get("database") == "ok"
    if not healthy:
        log.error("health check failed: %s", database.get("detail", database))
    response = jsonify({"status": "ok" if healthy else "error"})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
