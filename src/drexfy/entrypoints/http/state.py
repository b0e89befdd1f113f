"""Typed application state shared by handlers, middlewares and the embedded worker."""

from __future__ import annotations

from typing import Any

import attrs
from aiohttp import web

from drexfy.domain.processes import Services
from drexfy.entrypoints.http.auth import Principal
from drexfy.entrypoints.runtime.metrics import Metrics
from drexfy.entrypoints.runtime.settings import HttpSettings


@attrs.define
class AppState:
    #: Services whose ledger is wrapped in the timing proxy (what handlers and the worker use).
    services: Services
    settings: HttpSettings
    metrics: Metrics
    notifier: Any
    #: In-process locks so two concurrent requests with one Idempotency-Key do not both run.
    #: (scope, key) -> [lock, number of requests holding or awaiting it]; dropped at zero.
    idempotency_locks: dict[tuple[str, str], list[Any]] = attrs.field(factory=dict)
    worker: Any = None
    #: Authentication (our tokens, OpenID Connect, revocation) and rate limits: `http/access.py`.
    access: Any = None


STATE = web.AppKey("drexfy_state", AppState)
PRINCIPAL_KEY = web.RequestKey("drexfy_principal", Principal)


def principal_of(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL_KEY)
