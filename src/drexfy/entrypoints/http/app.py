"""The aiohttp application factory: routes, the one middleware, the embedded worker.

    app = create_app(services, HttpSettings(...), notifier=container_notifier)
    web.run_app(app)

One middleware gives every request an id, logs it as JSON, counts it, and turns every refusal into
RFC 9457 problem+json: `Problem`s raised by the HTTP layer, `DomainError`s by their `code` and
the status table of `problems.STATUS_OF`, aiohttp's own HTTP errors (404, 405, 413), and anything unexpected as a 500 that says
nothing about internals.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import attrs
from aiohttp import web

from drexfy.adapters.system import RANDOM
from drexfy.domain.audit import AUDIT_ACTOR, AUDIT_REQUEST, Actor
from drexfy.domain.errors import DomainError
from drexfy.domain.ports import IN_PROGRESS, IdempotentResponse, Notifier
from drexfy.domain.processes import Services
from drexfy.entrypoints.http import api, people, routes
from drexfy.entrypoints.http.access import AccessControl
from drexfy.entrypoints.http.auth import authorize
from drexfy.entrypoints.http.openapi import Endpoint, build_document
from drexfy.entrypoints.http.ops import OPENAPI, OPS_ENDPOINTS, WEBHOOK_ENDPOINTS
from drexfy.entrypoints.http.problems import Problem, from_domain_error, problem_response
from drexfy.entrypoints.http.state import PRINCIPAL_KEY, STATE, AppState
from drexfy.entrypoints.http.validation import parse_json, structure
from drexfy.entrypoints.runtime.logs import request_id_var
from drexfy.entrypoints.runtime.metrics import Metrics, TimedLedger
from drexfy.entrypoints.runtime.settings import HttpSettings

log = logging.getLogger("drexfy.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# ------------------------------------------------------------------------------------------------
# Middleware
# ------------------------------------------------------------------------------------------------


@web.middleware
async def edge_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE]
    incoming = request.headers.get("X-Request-Id")
    rid = incoming if incoming and _REQUEST_ID.match(incoming) else RANDOM.token_hex(16)
    token = request_id_var.set(rid)
    started = time.perf_counter()
    try:
        try:
            if state.access is not None:
                await state.access.limit_request(request)
            response = await handler(request)
        except Problem as problem:
            headers: dict[str, str] = {}
            if problem.extra.pop("www_authenticate", False):
                headers["WWW-Authenticate"] = 'Bearer realm="drexfy"'
            retry_after = problem.extra.pop("retry_after", None)
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            response = problem_response(
                problem.status,
                problem.code,
                problem.detail,
                instance=request.path,
                headers=headers,
                request_id=rid,
                **problem.extra,
            )
        except DomainError as error:
            status, code, detail, extra = from_domain_error(error)
            if status >= 500:
                log.warning("domain error", extra={"error_code": code, "status": status})
            response = problem_response(status, code, detail, instance=request.path, request_id=rid, **extra)
        except web.HTTPException as http_error:
            if http_error.status < 400:
                raise
            code = {404: "route-not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(
                http_error.status, "http-error"
            )
            detail = {
                413: f"the body exceeds {state.settings.max_body_bytes} bytes",
                404: "no such route",
            }.get(http_error.status, http_error.reason)
            allow = http_error.headers.get("Allow")
            response = problem_response(
                http_error.status,
                code,
                detail,
                instance=request.path,
                request_id=rid,
                headers={"Allow": allow} if allow is not None else None,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unhandled error", extra={"route": _route(request)})
            response = problem_response(
                500,
                "internal-error",
                "an unexpected error occurred; it has been logged",
                instance=request.path,
                request_id=rid,
            )
        response.headers["X-Request-Id"] = rid
        elapsed = time.perf_counter() - started
        route = _route(request)
        state.metrics.observe_request(request.method, route, response.status, elapsed)
        if log.isEnabledFor(logging.INFO):  # skip building the record's fields when it is not logged
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
        return response
    finally:
        request_id_var.reset(token)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# ------------------------------------------------------------------------------------------------
# The API wrapper: auth, body, idempotency
# ------------------------------------------------------------------------------------------------


def _api_handler(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        assert ep.roles is not None
        principal = await state.access.authenticate(request)
        await state.access.limit_token(principal)
        authorize(principal, ep.roles)
        request[PRINCIPAL_KEY] = principal
        # Every change this request makes is recorded as the caller's. aiohttp runs each request
        # in a task of its own, whose context ends with it, so nothing needs resetting.
        AUDIT_ACTOR.set(Actor(principal.subject, principal.role.value))
        AUDIT_REQUEST.set(request_id_var.get() or "")
        raw = b""
        body: Any = None
        if ep.body is not None:
            raw = await request.read()
            body = structure(parse_json(raw, request.content_type), ep.body)
        call = api.Call(request, principal, body)
        key = request.headers.get("Idempotency-Key") if ep.creates else None
        if key is None:
            status, payload = await ep.handler(call)
            if isinstance(payload, web.StreamResponse):  # a file (e.g. the pain.001 export)
                return payload
            return web.json_response(payload, status=status, headers=_location(ep, status, payload))
        if not 1 <= len(key) <= 255:
            raise Problem(
                400,
                "validation-failed",
                "Idempotency-Key must be 1 to 255 characters",
                errors=[{"field": "Idempotency-Key", "message": "must be 1 to 255 characters"}],
            )
        return await _idempotent(state, ep, principal.subject, key, raw, lambda: ep.handler(call))

    handle.__name__ = ep.handler.__name__
    return handle


def _location(ep: Endpoint, status: int, payload: Any) -> dict[str, str]:
    """The Location header of a success whose endpoint names where its answer is read again."""
    target = ep.location(payload) if ep.location is not None and 200 <= status < 300 else None
    return {"Location": target} if target else {}


async def _idempotent(
    state: AppState,
    ep: Endpoint,
    subject: str,
    key: str,
    raw: bytes,
    run: Callable[[], Awaitable[tuple[int, Any]]],
) -> web.Response:
    """Replay the first successful answer to (caller, endpoint, key); refuse the key with another body.

    The key is reserved in the store before the request acts, so that two first attempts on two API
    processes never both act: the later one gets 409 (as Stripe answers) and replays once the first
    is done. Within this process the attempts queue on a lock instead, and the later one replays.
    """
    scope = f"{subject}|{ep.method} {ep.path}"
    digest = hashlib.sha256(raw).hexdigest()
    store = state.services.store.idempotency
    slot = state.idempotency_locks.setdefault((scope, key), [asyncio.Lock(), 0])
    slot[1] += 1  # callers holding or waiting for this key's lock
    try:
        async with slot[0]:
            now = state.services.clock.now()
            lease = timedelta(seconds=state.settings.idempotency_lease_seconds)
            previous = await store.begin(scope, key, digest, now, lease)
            if previous is not None:
                if previous.request_hash != digest:
                    raise Problem(
                        422, "idempotency-key-reused", "this Idempotency-Key was used with a different request body"
                    )
                if previous.status == IN_PROGRESS:
                    raise Problem(
                        409,
                        "idempotency-key-in-use",
                        "a request with this Idempotency-Key is still being processed; retry shortly",
                        retry_after=1,
                    )
                headers = {"Idempotent-Replayed": "true", **_location(ep, previous.status, previous.body)}
                return web.json_response(previous.body, status=previous.status, headers=headers)
            try:
                status, payload = await run()
            except BaseException:
                await asyncio.shield(store.abandon(scope, key))  # a retry may run it again
                raise
            if 200 <= status < 300:
                await store.finish(IdempotentResponse(scope, key, digest, status, payload, now))
            else:
                await store.abandon(scope, key)
            return web.json_response(payload, status=status, headers=_location(ep, status, payload))
    finally:
        slot[1] -= 1
        if slot[1] == 0:
            state.idempotency_locks.pop((scope, key), None)


# ------------------------------------------------------------------------------------------------
# Factory
# ------------------------------------------------------------------------------------------------


def create_app(
    services: Services,
    settings: HttpSettings,
    *,
    notifier: Notifier,
    metrics: Metrics | None = None,
) -> web.Application:
    """The HTTP service over `services`. With `settings.run_worker` the inbox worker and the outbox
    relay run inside the app (started and stopped with it), delivering to `notifier` (which the
    container chose)."""
    for name in ("kyc_webhook_secret", "payments_webhook_secret", "jwt_secret"):
        if not getattr(settings, name):
            raise ValueError(f"HttpSettings.{name} is required")
    metrics = metrics or Metrics()
    timed = (
        services
        if isinstance(services.ledger, TimedLedger)
        else attrs.evolve(services, ledger=TimedLedger(services.ledger, metrics.ledger_latency))
    )
    state = AppState(timed, settings, metrics, notifier)
    state.access = AccessControl(settings, timed.store.access, metrics)
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[edge_middleware])
    app[STATE] = state
    endpoints = [*OPS_ENDPOINTS, *WEBHOOK_ENDPOINTS, *routes.ENDPOINTS, *people.ENDPOINTS]
    for ep in endpoints:
        handler = _api_handler(ep) if ep.roles is not None else ep.handler
        app.router.add_route(ep.method, ep.path, handler, name=ep.handler.__name__)
    app[OPENAPI] = build_document(endpoints)
    if settings.run_worker:
        app.cleanup_ctx.append(_worker_ctx)
    return app


async def _worker_ctx(app: web.Application) -> AsyncIterator[None]:
    from drexfy.entrypoints.worker import Worker

    state = app[STATE]
    worker = Worker(state.services, state.notifier, state.settings.worker, state.metrics)
    state.worker = worker
    task = asyncio.create_task(worker.run(), name="drexfy-worker")
    yield
    worker.stop()
    try:
        await asyncio.wait_for(task, 30)
    except TimeoutError:
        task.cancel()


def json_dumps(value: Any) -> str:
    return json.dumps(value, default=str)
