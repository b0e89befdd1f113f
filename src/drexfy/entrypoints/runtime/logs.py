"""Structured JSON logs with a request id.

Only ids, codes, routes, statuses and durations are logged: never bodies, names, e-mails, tokens or
keys. `request_id` travels in a contextvar so worker and handler logs carry it too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("drexfy_request_id", default=None)

#: Extra attributes copied into the JSON line when a log call passes them with `extra=`.
_FIELDS = (
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "source",
    "event_key",
    "job_id",
    "kind",
    "attempt",
    "error_code",
    "outcome",
    "queue",
    "delay_s",
    "port",
    "host",
    "instrument_id",
    "investor_id",
    "address",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            line["request_id"] = rid
        for field in _FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages of third-party errors may carry URLs or payloads.
            line["exc_type"] = record.exc_info[0].__name__
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Send the `drexfy` loggers to `stream` (stderr) as JSON lines; idempotent."""
    logger = logging.getLogger("drexfy")
    for handler in list(logger.handlers):
        if getattr(handler, "_drexfy_json", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._drexfy_json = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
