"""JSON logs on stdout, one object per line, carrying the current request id.

:class:`JsonFormatter` is also used by ``gunicorn.conf.py`` for gunicorn's own logs, so the whole
container speaks one format (CloudWatch Logs Insights can query every field).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

#: The id of the request being handled in this context ("-" outside requests).
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is emitted.
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in payload:
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, separators=(",", ":"))


def configure_logging(level: str = "INFO") -> None:
    """Send the ``app`` logger's records to the current stdout as JSON lines.

    Calling it again replaces its handler (one handler, on the stdout of the latest call).
    """
    logger = logging.getLogger("app")
    logger.setLevel(level)
    logger.propagate = False
    for old in [h for h in logger.handlers if getattr(h, "_voj", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler._voj = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
