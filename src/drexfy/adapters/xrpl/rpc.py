"""JSON-RPC to rippled through xrpl-py's request and response models, over one pooled HTTP client."""

from __future__ import annotations

from typing import Any

import httpx
from xrpl.asyncio.clients.utils import json_to_response, request_to_json_rpc
from xrpl.models.requests.request import Request

from drexfy.domain.errors import LedgerUnavailable


class RpcFailure(Exception):
    """rippled answered with an error (not a transaction result)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message


class Rpc:
    """JSON-RPC with xrpl-py's request and response models over one pooled HTTP client.

    xrpl-py's AsyncJsonRpcClient opens a new httpx client (and TLS context) per request, which costs
    tens of milliseconds each; the adapter makes several calls per transaction, so it keeps one
    connection pool instead. The wire format is xrpl-py's own (`request_to_json_rpc`).
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    async def call(self, request: Request) -> dict[str, Any]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout)
        try:
            reply = await self._http.post(self.url, json=request_to_json_rpc(request))
            reply.raise_for_status()
            response = json_to_response(reply.json())
        except (httpx.HTTPError, OSError) as exc:
            raise LedgerUnavailable(f"XRPL node {self.url} unreachable: {type(exc).__name__}") from exc
        except Exception as exc:  # xrpl-py wraps undecodable answers
            raise LedgerUnavailable(f"XRPL node {self.url} gave no usable answer: {exc}") from exc
        result = dict(response.result)
        if not response.is_successful():
            raise RpcFailure(str(result.get("error")), str(result.get("error_message", "")))
        return result

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
