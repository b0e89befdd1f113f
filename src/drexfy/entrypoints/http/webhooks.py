"""Provider webhooks: verify on the raw body, store in the inbox keyed by the provider's event id,
answer. The request never waits for the ledger: the worker processes the inbox.

- bad or missing signature, stale or future timestamp: 401, nothing stored
- valid signature but a body that is not a valid event: 400, nothing stored
- new event: 202 {"status": "accepted"}; the same event again: 200 {"status": "duplicate"}
- a well-formed event type we do not act on: 200 {"status": "ignored"}, nothing stored
"""

from __future__ import annotations

import logging

from aiohttp import web

from drexfy.adapters.webhooks import (
    DIGEST_ALG_HEADER,
    DIGEST_HEADER,
    STRIPE_HEADER,
    SignatureError,
    parse_aml,
    parse_kyc,
    parse_payment,
    verify_digest,
    verify_stripe,
)
from drexfy.domain.classification import KycResult
from drexfy.domain.errors import InvalidWebhook
from drexfy.domain.ports import PaymentEvent, QueuedMessage
from drexfy.domain.processes import AmlAlert
from drexfy.entrypoints.http import messages
from drexfy.entrypoints.http.logs import request_id_var
from drexfy.entrypoints.http.problems import Problem
from drexfy.entrypoints.http.state import STATE, AppState

log = logging.getLogger("drexfy.http.webhooks")


def _reject(state: AppState, source: str, reason: str, status: int, code: str, detail: str) -> Problem:
    state.metrics.webhooks_rejected.inc(source=source, reason=reason)
    log.info("webhook rejected", extra={"source": source, "outcome": reason, "status": status})
    return Problem(status, code, detail)


async def _store(
    state: AppState, source: str, key: str, kind: str, event: KycResult | PaymentEvent | AmlAlert
) -> web.Response:
    svc = state.services
    message = QueuedMessage(
        id=svc.ids.new("job"),
        key=key,
        kind=kind,
        payload={**messages.encode(kind, event), "request_id": request_id_var.get()},
        created_at=svc.clock.now(),
    )
    if await svc.store.inbox.add(message):
        state.metrics.webhooks_received.inc(source=source)
        if state.worker is not None:
            state.worker.poke()  # the embedded worker starts on it now instead of at its next poll
        log.info("webhook accepted", extra={"source": source, "event_key": key, "job_id": message.id})
        return web.json_response({"status": "accepted", "job_id": message.id}, status=202)
    state.metrics.webhooks_duplicate.inc(source=source)
    log.info("webhook duplicate", extra={"source": source, "event_key": key})
    return web.json_response({"status": "duplicate"}, status=200)


def _ignored(state: AppState, source: str) -> web.Response:
    state.metrics.webhooks_ignored.inc(source=source)
    return web.json_response({"status": "ignored"}, status=200)


async def kyc_webhook(request: web.Request) -> web.Response:
    """KYC review results, Sumsub-style digest."""
    state = request.app[STATE]
    body = await request.read()
    try:
        verify_digest(
            body,
            request.headers.get(DIGEST_HEADER),
            request.headers.get(DIGEST_ALG_HEADER),
            state.settings.kyc_webhook_secret,
        )
    except SignatureError as exc:
        raise _reject(state, "kyc", "signature", 401, "invalid-signature", str(exc)) from None
    try:
        notice = parse_kyc(body)
    except InvalidWebhook as exc:
        raise _reject(state, "kyc", "malformed", 400, exc.code, exc.message) from None
    if notice is None:
        return _ignored(state, "kyc")
    return await _store(state, "kyc", notice.key, messages.KYC_RESULT, notice.result)


async def aml_webhook(request: web.Request) -> web.Response:
    """Ongoing AML monitoring alerts (flagged / cleared), Sumsub-style digest."""
    state = request.app[STATE]
    body = await request.read()
    try:
        verify_digest(
            body, request.headers.get(DIGEST_HEADER), request.headers.get(DIGEST_ALG_HEADER), state.settings.aml_secret
        )
    except SignatureError as exc:
        raise _reject(state, "aml", "signature", 401, "invalid-signature", str(exc)) from None
    try:
        notice = parse_aml(body)
    except InvalidWebhook as exc:
        raise _reject(state, "aml", "malformed", 400, exc.code, exc.message) from None
    alert = AmlAlert(notice.alert_id, notice.applicant_id, notice.investor_id, notice.flagged, notice.reason)
    return await _store(state, "aml", notice.key, messages.AML_ALERT, alert)


async def payments_webhook(request: web.Request) -> web.Response:
    """Stripe-compatible payment events."""
    state = request.app[STATE]
    body = await request.read()
    try:
        verify_stripe(
            body,
            request.headers.get(STRIPE_HEADER),
            state.settings.payments_webhook_secret,
            tolerance=state.settings.stripe_tolerance_seconds,
            future_skew=state.settings.stripe_future_skew_seconds,
        )
    except SignatureError as exc:
        raise _reject(state, "payments", "signature", 401, "invalid-signature", str(exc)) from None
    try:
        notice = parse_payment(body)
    except InvalidWebhook as exc:
        raise _reject(state, "payments", "malformed", 400, exc.code, exc.message) from None
    if notice is None:
        return _ignored(state, "payments")
    return await _store(state, "payments", notice.key, messages.PAYMENT, notice.event)
