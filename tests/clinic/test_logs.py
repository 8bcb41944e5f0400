"""ONEVISIT_LOG_FORMAT=json: the app's own log lines are one JSON object each."""

import json
import logging

import pytest

from clinic import logs
from clinic.settings import ConfigError, load_settings


def test_a_record_is_one_json_line_with_its_extra_fields_and_exception() -> None:
    try:
        raise ValueError("bad \"quote\"\nnew line")
    except ValueError:
        import sys

        record = logging.LogRecord("clinic.x", logging.ERROR, __file__, 1, "visit %s failed", (42,), sys.exc_info())
    record.visit_id = 42
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "clinic.x"
    assert entry["message"] == "visit 42 failed" and entry["visit_id"] == 42
    assert entry["time"].endswith("+00:00")
    assert "ValueError" in entry["exception"]


def test_json_format_puts_one_handler_on_the_root_logger(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        logs.configure("json")
        logs.configure("json")
        added = [h for h in root.handlers if h not in before]
        assert len(added) == 1
        logging.getLogger("clinic.test").info("hello %s", "there")
        assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["message"] == "hello there"
    finally:
        root.handlers[:] = before
        root.setLevel(level)


def test_text_format_changes_nothing() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    logs.configure("text")
    assert root.handlers == before


def test_log_format_is_a_setting_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEVISIT_LOG_FORMAT", "JSON")
    assert load_settings({"TESTING": True}).log_format == "json"
    monkeypatch.setenv("ONEVISIT_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_settings({"TESTING": True})
