"""Requests aiohttp's HTTP parser cannot read (a header over 8 KiB, a NUL byte in a header) are
answered as problem+json without echoing any header byte, and logged as one JSON record without
them (issue 15). Sent as raw bytes to the runner `drexfy serve` uses."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
from aiohttp import web

from drexfy.adapters.notify import RecordingNotifier
from drexfy.entrypoints.http import create_app
from drexfy.entrypoints.http.server import make_runner
from drexfy.entrypoints.runtime.logs import JsonFormatter
from tests.http.conftest import http_settings

SECRETISH = "SeCrEtToKeN"


async def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.fixture
async def served(services):
    app = create_app(services, http_settings(), notifier=RecordingNotifier())
    runner = make_runner(app)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield port
    await runner.cleanup()


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer " + SECRETISH.encode() + b"A" * 9000,
        b"Authorization: Bearer " + SECRETISH.encode() + b"\x00rest",
    ],
    ids=["over-8-KiB", "NUL-byte"],
)
async def test_an_unreadable_header_is_a_problem_that_echoes_nothing(served, caplog, header):
    request = b"GET /api/v1/instruments HTTP/1.1\r\nHost: localhost\r\n" + header + b"\r\n\r\n"
    with caplog.at_level(logging.DEBUG):
        status, headers, body = await _raw(served, request)
    assert status == 400
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["type"].endswith("/malformed-request") and problem["status"] == 400
    assert SECRETISH.encode() not in body and b"Bearer" not in body
    assert problem["request_id"] == headers["x-request-id"]
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert any(json.loads(line)["msg"] == "unreadable request refused" for line in lines)
    for line in lines:
        assert "\n" not in line and SECRETISH not in line and "Bearer" not in line, line
    assert not any(r.exc_info for r in caplog.records)  # no traceback quoting the bytes


async def test_a_readable_request_is_unchanged(served):
    status, headers, body = await _raw(served, b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert "x-request-id" in headers


async def test_a_500_is_logged_with_its_traceback_as_one_json_record(api, monkeypatch, caplog):
    from drexfy.domain.processes import queries

    leaked = "secret payload ana@example.com"  # what a library's message might quote

    async def broken(*args, **kwargs):
        raise RuntimeError(leaked)

    monkeypatch.setattr(queries, "list_instruments", broken)
    with caplog.at_level(logging.ERROR, logger="drexfy.http"):
        status, problem = await api.call("GET", "/api/v1/instruments", "admin")
    assert status == 500 and "secret" not in json.dumps(problem)
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    line = JsonFormatter().format(record)
    assert "\n" not in line
    logged = json.loads(line)
    assert logged["exc_type"] == "RuntimeError"
    assert "in broken" in logged["traceback"] and "builtins.RuntimeError" in logged["traceback"]
    assert "secret" not in line and "ana@example.com" not in line


def test_third_party_records_come_out_as_json() -> None:
    import io

    from drexfy.entrypoints.runtime.logs import configure_logging

    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("INFO", stream)
        logging.getLogger("aiohttp.server").warning("from a library")
        logging.getLogger("drexfy.test").info("from us")
    finally:
        root.handlers[:], root.level = saved
        logging.getLogger("drexfy").handlers.clear()
        logging.getLogger("drexfy").propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["logger"], r["msg"]) for r in lines] == [
        ("aiohttp.server", "from a library"),
        ("drexfy.test", "from us"),
    ]
