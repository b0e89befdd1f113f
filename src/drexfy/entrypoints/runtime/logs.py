"""Structured JSON logs with a request id.

Only ids, codes, routes, statuses and durations are logged: never bodies, names, e-mails, tokens or
keys. `request_id` travels in a contextvar so worker and handler logs carry it too. An exception
comes with its traceback inside the one JSON record (`exc_type`, and `traceback`: the frames and
the types of the chain, never the exceptions' messages, which may quote payloads or URLs).
Third-party libraries' records (aiohttp, botocore, web3, ...) go through the same formatter.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
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
            line["exc_type"] = record.exc_info[0].__name__
            line["traceback"] = _traceback(record.exc_info[1])
        return json.dumps(line, default=str)


def _traceback(exc: BaseException | None) -> str:
    """The frames of `exc` and of its causes, with the exception types but not their messages
    (messages of third-party errors may carry URLs, payloads or personal data)."""
    parts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        frames = traceback.extract_tb(exc.__traceback__)
        parts.append("".join(frames.format()) + f"{type(exc).__module__}.{type(exc).__qualname__}\n")
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return "\nwhich was raised while handling:\n".join(parts)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted (not the one at configuration:
    a replaced or closed stream would turn every later record into a "Logging error")."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(level: str = "INFO", stream: Any = None, third_party_level: str = "WARNING") -> None:
    """Send the `drexfy` loggers (at `level`) and every other library's (at `third_party_level`)
    to `stream` (stderr) as JSON lines; idempotent."""
    for name, lvl in (("drexfy", level), ("", third_party_level)):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            # Ours from an earlier call, and the root's plain text handlers (basicConfig's); others
            # (a test runner's capture, say) stay.
            if getattr(handler, "_drexfy_json", False) or (name == "" and type(handler) is logging.StreamHandler):
                logger.removeHandler(handler)
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        handler.setFormatter(JsonFormatter())
        handler._drexfy_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(lvl.upper())
    logging.getLogger("drexfy").propagate = False
