"""The operations endpoints (health, readiness, metrics, the OpenAPI document and its page) and the
route tables of the operations and webhook endpoints; `app.py` builds the application from them and
from the API's routes (`routes.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from drexfy.domain.ports import MessageStatus
from drexfy.entrypoints.http import webhooks
from drexfy.entrypoints.http.docs_ui import docs_asset, docs_page
from drexfy.entrypoints.http.openapi import Endpoint
from drexfy.entrypoints.http.problems import problem_response
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.runtime.metrics import Metrics, refresh_settlement_gauges

READY_TIMEOUT = 3.0


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


class SettlementStalled(Exception):
    """Readiness: the ledger answers but the platform's transactions do not move."""

    code = "stalled"


async def _settlement_moves(svc: Any, limit_s: float) -> None:
    """Raise SettlementStalled when a platform transaction has waited longer than `limit_s`, or when
    paid orders are waiting while the chain has produced no block for that long."""
    health = await svc.ledger.health()
    if (health.oldest_unconfirmed_s or 0.0) > limit_s:
        raise SettlementStalled(f"a ledger transaction is unconfirmed after {health.oldest_unconfirmed_s:.0f} s")
    if health.unconfirmed and (health.head_age_s or 0.0) > limit_s:
        raise SettlementStalled(f"no new block for {health.head_age_s:.0f} s")


async def ready(request: web.Request) -> web.Response:
    """Readiness: the store, the ledger and the vault each answer a ping in time, and the platform's
    ledger transactions move (none unconfirmed past `ready_max_unconfirmed_s`)."""
    svc = request.app[STATE].services
    checks: dict[str, str] = {}

    async def check(name: str, ping: Callable[[], Awaitable[None]]) -> None:
        try:
            await asyncio.wait_for(ping(), READY_TIMEOUT)
            checks[name] = "ok"
        except TimeoutError:
            checks[name] = "timeout"
        except SettlementStalled as stalled:
            checks[name] = f"stalled: {stalled}"
        except Exception as exc:  # any failure means not ready; the type is enough to act on
            checks[name] = f"error: {getattr(exc, 'code', type(exc).__name__)}"

    await asyncio.gather(
        check("store", svc.store.ping),
        check("ledger", svc.ledger.ping),
        check("vault", svc.vault.ping),
        check("settlement", lambda: _settlement_moves(svc, request.app[STATE].settings.ready_max_unconfirmed_s)),
    )
    if all(v == "ok" for v in checks.values()):
        return web.json_response({"status": "ready", "checks": checks})
    return problem_response(503, "not-ready", "a dependency is unavailable", instance=request.path, checks=checks)


async def refresh_queue_gauges(store: Any, metrics: Metrics) -> None:
    """Inbox depth and job counts come from the store at scrape time (shared by every process)."""
    for name, queue in (("inbox", store.inbox), ("outbox", store.outbox)):
        counts = await queue.counts()
        pending = await queue.list(MessageStatus.PENDING, limit=1000)
        retrying = sum(1 for m in pending if m.attempts > 0)
        metrics.jobs.set(counts.get(MessageStatus.PENDING, 0) - retrying, queue=name, status="pending")
        metrics.jobs.set(retrying, queue=name, status="retrying")
        metrics.jobs.set(counts.get(MessageStatus.RUNNING, 0), queue=name, status="running")
        metrics.jobs.set(counts.get(MessageStatus.DEAD, 0), queue=name, status="dead")
        metrics.jobs.set(counts.get(MessageStatus.DONE, 0), queue=name, status="done")
        metrics.jobs.set(counts.get(MessageStatus.PARKED, 0), queue=name, status="parked")
        if name == "inbox":
            metrics.inbox_depth.set(counts.get(MessageStatus.PENDING, 0) + counts.get(MessageStatus.RUNNING, 0))


async def render_metrics(services: Any, metrics: Metrics) -> web.Response:
    await refresh_queue_gauges(services.store, metrics)
    await refresh_settlement_gauges(services, metrics)
    return web.Response(
        text=metrics.render(), content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"}
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    state = request.app[STATE]
    return await render_metrics(state.services, state.metrics)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


OPENAPI = web.AppKey("drexfy_openapi", dict)

OPS_ENDPOINTS: list[Endpoint] = [
    Endpoint(
        method="GET",
        path="/health",
        handler=health,
        summary="Liveness",
        tag="operations",
        roles=None,
        security="none",
        response="Health",
    ),
    Endpoint(
        method="GET",
        path="/ready",
        handler=ready,
        summary="Readiness: store, ledger and vault reachable",
        tag="operations",
        roles=None,
        security="none",
        errors=(503,),
        response="Ready",
    ),
    Endpoint(
        method="GET",
        path="/metrics",
        handler=metrics,
        summary="Prometheus metrics",
        tag="operations",
        roles=None,
        security="none",
        response_type="text/plain",
    ),
    Endpoint(
        method="GET",
        path="/api/openapi.json",
        handler=openapi_json,
        summary="This document",
        tag="operations",
        roles=None,
        security="none",
    ),
    Endpoint(
        method="GET",
        path="/api/docs",
        handler=docs_page,
        summary="API docs page (Swagger UI: try it out with a bearer token)",
        tag="operations",
        roles=None,
        security="none",
        response_type="text/html",
    ),
    Endpoint(
        method="GET",
        path="/api/docs/static/{name}",
        handler=docs_asset,
        summary="The docs page's own files (served by the package, no CDN)",
        tag="operations",
        roles=None,
        security="none",
        errors=(404,),
        response_type="application/javascript, text/css, image/png",
    ),
]

WEBHOOK_ENDPOINTS: list[Endpoint] = [
    Endpoint(
        method="POST",
        path="/webhooks/kyc",
        handler=webhooks.kyc_webhook,
        summary="KYC review result (Sumsub-style digest)",
        tag="webhooks",
        roles=None,
        status=202,
        security="kycDigest",
        errors=(200, 400, 409, 413),
        response="WebhookAnswer",
        description="202 accepted into the inbox; 200 duplicate or ignored type. Shape in docs/http.md.",
    ),
    Endpoint(
        method="POST",
        path="/webhooks/aml",
        handler=webhooks.aml_webhook,
        summary="AML monitoring alert (flagged / cleared)",
        tag="webhooks",
        roles=None,
        status=202,
        security="kycDigest",
        errors=(200, 400, 409, 413),
        response="WebhookAnswer",
    ),
    Endpoint(
        method="POST",
        path="/webhooks/sumsub",
        handler=webhooks.sumsub_webhook,
        summary="Sumsub applicant events (applicantReviewed, Pending, OnHold, Reset), X-Payload-Digest",
        tag="webhooks",
        roles=None,
        status=202,
        security="kycDigest",
        errors=(200, 400, 413),
        description="The verified data is read from Sumsub's API by the worker. Set-up in docs/providers.md.",
    ),
    Endpoint(
        method="POST",
        path="/webhooks/payments",
        handler=webhooks.payments_webhook,
        summary="Payment events (Stripe-compatible)",
        tag="webhooks",
        roles=None,
        status=202,
        security="stripeSignature",
        errors=(200, 400, 409, 413),
        response="WebhookAnswer",
    ),
]
