"""The JSON log lines (structlog through the logging bridge): one record per line, ours, structlog's
and third-party libraries' alike; tracebacks kept without exception messages; only allow-listed
fields (issue 15)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from drexfy.entrypoints.runtime.logs import configure_logging, request_id_var

EMAIL = "jane.doe@example.com"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("INFO", out)
    try:
        yield out
    finally:
        for name in ("drexfy", ""):
            for handler in list(logging.getLogger(name).handlers):
                if getattr(handler, "_drexfy_json", False):
                    logging.getLogger(name).removeHandler(handler)
        logging.getLogger("drexfy").propagate = True
        root.handlers[:], root.level = saved
        structlog.reset_defaults()


def _records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]  # each line one JSON record


def test_third_party_records_are_json_lines_with_the_request_id(stream):
    token = request_id_var.set("req-7")
    try:
        logging.getLogger("botocore.credentials").warning("found credentials in %s", "env")
        logging.getLogger("web3.providers").error("line one\nline two")
        logging.getLogger("aiohttp.access").info("below the libraries' level")
    finally:
        request_id_var.reset(token)
    records = _records(stream)
    assert [(r["logger"], r["level"], r["msg"]) for r in records] == [
        ("botocore.credentials", "warning", "found credentials in env"),
        ("web3.providers", "error", "line one\nline two"),
    ]
    assert all(r["request_id"] == "req-7" and str(r["ts"]).endswith("Z") for r in records)


def test_an_exception_is_one_record_with_its_frames_and_types_but_not_its_messages(stream):
    def handler() -> None:
        try:
            raise KeyError(EMAIL)
        except KeyError as exc:
            raise RuntimeError(f"could not register {EMAIL}") from exc

    try:
        handler()
    except RuntimeError:
        logging.getLogger("drexfy.http").exception("unhandled error", extra={"status": 500})
    [record] = _records(stream)
    assert record["exc_type"] == "RuntimeError" and record["status"] == 500
    trace = str(record["traceback"])
    assert "in handler" in trace and "builtins.RuntimeError" in trace and "builtins.KeyError" in trace
    assert EMAIL not in stream.getvalue()


def test_fields_outside_the_allow_list_are_dropped_from_logging_and_structlog_calls(stream):
    logging.getLogger("drexfy.api").info("registered", extra={"investor_id": "inv_1", "email": EMAIL})
    structlog.get_logger("drexfy.worker").warning("job failed", job_id="job_1", legal_name="Jane Doe", token="eyJ")
    records = _records(stream)
    assert records[0]["investor_id"] == "inv_1" and "email" not in records[0]
    assert records[1] == {
        "ts": records[1]["ts"],
        "level": "warning",
        "logger": "drexfy.worker",
        "msg": "job failed",
        "job_id": "job_1",
    }
    assert EMAIL not in stream.getvalue() and "Jane" not in stream.getvalue() and "eyJ" not in stream.getvalue()


def test_a_structlog_exception_keeps_its_traceback_in_the_one_record(stream):
    try:
        {}["missing"]
    except KeyError:
        structlog.get_logger("drexfy.worker").exception("crashed")
    [record] = _records(stream)
    assert record["exc_type"] == "KeyError" and "builtins.KeyError" in str(record["traceback"])


def test_an_unknown_log_level_is_refused_naming_the_variable():
    from drexfy.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="DREXFY_LOG_LEVEL: unknown level 'verbose'"):
        configure_logging("verbose", io.StringIO())
