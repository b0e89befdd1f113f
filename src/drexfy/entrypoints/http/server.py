"""The runner `drexfy serve` and `drexfy worker --metrics-port` listen with.

aiohttp answers a request its HTTP parser cannot read (a header over 8 KiB, a NUL byte in a header,
not HTTP at all) before any middleware runs: a `text/plain` 400 that echoes the start of the bad
line, and a multi-line traceback in the log carrying the same bytes (a bearer token, say). Its
documented hook for that answer is `RequestHandler.handle_error`; the runner below makes the
server use a handler whose `handle_error` answers problem+json with a fixed text and logs one
record with no header bytes. (`AppRunner` offers no public way to pick the handler class, hence
the small override of `_make_server`.)
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from drexfy.adapters.system import RANDOM
from drexfy.entrypoints.http.problems import problem_response

log = logging.getLogger("drexfy.http")

_DETAIL = {
    400: "the request could not be read as HTTP (a header too long or holding a forbidden character?)",
    413: "the request is too large",
    500: "an unexpected error occurred; it has been logged",
}


class ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, with refusals of unreadable requests as problem+json."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        rid = RANDOM.token_hex(16)
        # The exception's text and `message` quote the offending bytes: only the type is logged.
        log.warning(
            "unreadable request refused",
            extra={"status": status, "error_code": type(exc).__name__ if exc else None, "request_id": rid},
        )
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already sent; cannot send the error")
        code = "malformed-request" if status < 500 else "internal-error"
        response = problem_response(status, code, _DETAIL.get(status, "the request was refused"), request_id=rid)
        response.headers["X-Request-Id"] = rid
        response.force_close()
        return response


class _ProblemServer(web.Server):
    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemAppRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer unreadable requests with problem+json."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _ProblemServer  # same state, one method more (see the module's note)
        return server


def make_runner(app: web.Application, **kwargs: Any) -> web.AppRunner:
    return ProblemAppRunner(app, access_log=None, **kwargs)
