"""Structured JSON logs with a request id, through structlog.

Only ids, codes, routes, statuses and durations are logged: never bodies, names, e-mails, tokens or
keys. A record keeps its level, logger, message, request id and the allow-listed fields below, nothing
else (`extra=` fields outside the list and any other key are dropped). `request_id` travels in a
contextvar so worker and handler logs carry it too. An exception comes with its traceback inside the
one JSON record (`exc_type`, and `traceback`: the frames and the types of the chain, never the
exceptions' messages, which may quote payloads or URLs; structlog's own exception renderers keep the
messages, hence `_traceback`). Third-party libraries' records (aiohttp, botocore, web3, ...) go
through the same structlog processors by the standard library's logging bridge.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

import structlog

from drexfy.domain.errors import ConfigurationError

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


EventDict = MutableMapping[str, Any]
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _request_id(_: Any, __: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    rid = event.get("request_id") or getattr(record, "request_id", None) or request_id_var.get()
    if rid:
        event["request_id"] = rid
    return event


def _exception(_: Any, __: str, event: EventDict) -> EventDict:
    """`exc_info` (a record's, or `exc_info=True` / an exception from a structlog call) as
    `exc_type` and `traceback`."""
    info = event.pop("exc_info", None)
    if info is True:
        info = sys.exc_info()
    exc = info if isinstance(info, BaseException) else info[1] if isinstance(info, tuple) else None
    if exc is not None:
        event["exc_type"] = type(exc).__name__
        event["traceback"] = _traceback(exc)
    return event


_KEPT = ("ts", "level", "logger", "msg", "request_id", *_FIELDS, "exc_type", "traceback")


def _allow_listed(_: Any, __: str, event: EventDict) -> EventDict:
    """The record as written: the message under `msg`, then only the allow-listed keys."""
    event["msg"] = str(event.pop("event", ""))
    return {key: event[key] for key in _KEPT if event.get(key) is not None}


#: Run on every record, ours and the libraries' (the stdlib bridge's `foreign_pre_chain`).
_PRE_CHAIN: list[Any] = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(allow=_FIELDS),
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    _request_id,
]


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """A `logging.Formatter` writing each record as one JSON line."""

    def __init__(self) -> None:
        super().__init__(
            foreign_pre_chain=_PRE_CHAIN,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _exception,
                _allow_listed,
                structlog.processors.JSONRenderer(default=str),
            ],
        )


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
    to `stream` (stderr) as JSON lines; idempotent. `structlog.get_logger()` loggers go the same way.
    `level` comes from DREXFY_LOG_LEVEL (read before the settings: logging starts first)."""
    for lvl in (level, third_party_level):
        if lvl.upper() not in LEVELS:
            raise ConfigurationError(f"DREXFY_LOG_LEVEL: unknown level {lvl!r} (expected one of {', '.join(LEVELS)})")
    structlog.configure(
        processors=[*_PRE_CHAIN, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
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
