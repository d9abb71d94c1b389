"""JSON log lines: fields, extras, exceptions and the request id from the context."""

from __future__ import annotations

import json
import logging
import sys

from app.logs import JsonFormatter, request_id_var


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("app.test", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_line_is_one_json_object_with_standard_fields() -> None:
    """A record becomes one JSON line: time (UTC, ms), level, logger, message, request id."""
    line = JsonFormatter().format(_record())
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "WARNING"
    assert data["logger"] == "app.test"
    assert data["message"] == "hello you"
    assert data["request_id"] == "-"
    assert data["time"].endswith("Z")


def test_request_id_comes_from_the_context() -> None:
    """Inside a request (the context variable set), every line carries its id."""
    token = request_id_var.set("req-42")
    try:
        assert json.loads(JsonFormatter().format(_record()))["request_id"] == "req-42"
    finally:
        request_id_var.reset(token)


def test_extras_are_fields_and_colour_is_dropped() -> None:
    """`extra=` values become fields; uvicorn's color_message is not repeated."""
    data = json.loads(JsonFormatter().format(_record(status=503, color_message="\x1b[31m")))
    assert data["status"] == 503
    assert "color_message" not in data


def test_exception_is_a_field_not_extra_lines() -> None:
    """A logged exception stays inside the JSON object, in the `exception` field."""
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "app.error", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]
