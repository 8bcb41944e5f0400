"""gunicorn settings for OneVisit (docs/deploy.md): ``gunicorn -c deploy/gunicorn.conf.py 'clinic.app:create_app()'``.

Environment (none of them ``ONEVISIT_``: the app refuses unknown ``ONEVISIT_`` variables):
``GUNICORN_BIND`` (default 127.0.0.1:8000, the TLS proxy's upstream), ``GUNICORN_WORKERS`` (default
2 x cores + 1, at most 8), ``GUNICORN_TIMEOUT`` (default 120 s), ``GUNICORN_FORWARDED_ALLOW_IPS``
(default 127.0.0.1,::1: the proxy's address). With ``ONEVISIT_LOG_FORMAT=json`` gunicorn's error and
access logs are JSON lines too, one object per request.
"""

import gc
import json
import math
import multiprocessing
import os
import time

from gunicorn.glogging import Logger

from clinic.logs import JsonFormatter

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8)))
worker_class = "sync"
# The coordinator's "optimise the day" preview runs the CP-SAT solver inside the request for up to
# ONEVISIT_OPTIMISE_SECONDS (default 20, at most 600); booking proposals take a few seconds. The timeout must
# exceed the solver budget, or gunicorn kills the worker mid-solve: it is never less than that budget + 30 s.
timeout = max(
    int(os.environ.get("GUNICORN_TIMEOUT", 120)),
    math.ceil(float(os.environ.get("ONEVISIT_OPTIMISE_SECONDS") or 20)) + 30,
)
graceful_timeout = 30
keepalive = 5
# Only the TLS proxy may say the request came over https (X-Forwarded-Proto); ONEVISIT_PROXY_COUNT=1 makes
# the app trust the proxy's X-Forwarded-For/-Proto/-Host for the client address, URLs and Secure cookies.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# A restart (deploy) replaces workers one by one; a worker also retires after this many requests so a slow
# leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
loglevel = "info"
# gunicorn answers with its own 400 for over-long request lines/headers before the app sees them.
limit_request_line = 8190
proxy_protocol = False
# gunicorn 27's control socket (~/.gunicorn/gunicorn.ctl) is not used, and two instances on a host would share it.
control_socket_disable = True

_JSON = os.environ.get("ONEVISIT_LOG_FORMAT", "text").strip().lower() == "json"


class JsonLogger(Logger):
    """gunicorn's logger writing JSON lines: its error log through ``clinic.logs.JsonFormatter``, and one
    object per request in the access log (client, method, path, status, bytes, duration, user agent)."""

    def setup(self, cfg) -> None:  # noqa: ANN001 - gunicorn's Config
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time) -> None:  # noqa: ANN001 - gunicorn's objects
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "client": environ.get("HTTP_X_FORWARDED_FOR", "").split(",")[0].strip() or environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        self.access_log.info(json.dumps(entry, ensure_ascii=False))


if _JSON:
    logger_class = JsonLogger


def post_worker_init(worker) -> None:  # noqa: ANN001 - gunicorn's worker
    """The app's ~135k start-up objects never die: freezing them keeps full GC passes off requests
    (docs/performance.md, day board p95), as ``flask serve`` does."""
    gc.collect()
    gc.freeze()
