"""The app's log lines: plain text (development) or one JSON object per line (``ONEVISIT_LOG_FORMAT=json``).

JSON lines are what a log shipper (journald, Loki, Elasticsearch) indexes without parsing rules; the
same formatter serves the web app, the worker, the CLI and gunicorn's error and access logs
(``deploy/gunicorn.conf.py``).
"""

import datetime as dt
import json
import logging
import sys
from typing import Any

#: ``LogRecord`` attributes every record has; anything else was passed with ``extra=`` and is kept.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_MARK = "_onevisit_handler"
#: Loggers whose INFO lines say nothing an operator needs (alembic lists its plugins on every upgrade).
_QUIET = ("alembic.runtime.plugins",)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, exception, ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(log_format: str, *, level: int = logging.INFO) -> None:
    """With ``json``, the root logger writes JSON lines to stderr (replacing any handler this function added
    before, keeping others such as pytest's); with ``text`` nothing changes (Flask's and the dispatcher's defaults).
    """
    if log_format != "json":
        return
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    for handler in [h for h in root.handlers if type(h) is logging.StreamHandler]:
        root.removeHandler(handler)  # a basicConfig() text handler would write every line twice
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
