"""Provider webhooks: verify on the raw body, store in the inbox keyed by the provider's event id,
answer. The request never waits for the ledger: the worker processes the inbox.

- bad or missing signature, stale or future timestamp: 401, nothing stored
- valid signature but a body that is not a valid event: 400, nothing stored
- new event: 202 {"status": "accepted"}; the same event again: 200 {"status": "duplicate"}
- the same event id with another content: 409 event-id-reused, a warning and a metric, not processed
- a well-formed event type we do not act on: 200 {"status": "ignored"}, nothing stored
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from aiohttp import web

from drexfy.adapters.kyc.sumsub_webhooks import parse_sumsub
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
from drexfy.domain.audit import webhook_actor
from drexfy.domain.errors import InvalidWebhook
from drexfy.domain.ports import QueuedMessage
from drexfy.domain.provider_events import AmlAlert, KycResult, KycReview, PaymentEvent
from drexfy.entrypoints.http.problems import Problem
from drexfy.entrypoints.http.state import STATE, AppState
from drexfy.entrypoints.runtime import messages
from drexfy.entrypoints.runtime.logs import request_id_var

log = logging.getLogger("drexfy.http.webhooks")


def _reject(state: AppState, source: str, reason: str, status: int, code: str, detail: str) -> Problem:
    state.metrics.webhooks_rejected.inc(source=source, reason=reason)
    log.info("webhook rejected", extra={"source": source, "outcome": reason, "status": status})
    return Problem(status, code, detail)


async def _store(
    state: AppState, source: str, key: str, kind: str, event: KycResult | KycReview | PaymentEvent | AmlAlert
) -> web.Response:
    svc = state.services
    message = QueuedMessage(
        id=svc.ids.new("job"),
        key=key,
        kind=kind,
        payload={
            **messages.encode(kind, event),
            "request_id": request_id_var.get(),
            **messages.actor_fields(webhook_actor(source)),
        },
        created_at=svc.clock.now(),
    )
    if await svc.store.inbox.add(message):
        state.metrics.webhooks_received.inc(source=source)
        if state.worker is not None:
            state.worker.poke()  # the embedded worker starts on it now instead of at its next poll
        if log.isEnabledFor(logging.INFO):
            log.info("webhook accepted", extra={"source": source, "event_key": key, "job_id": message.id})
        # The two answers are fixed shapes, built without encoding a whole dict per request.
        return web.Response(
            body=b'{"status": "accepted", "job_id": ' + json.dumps(message.id).encode() + b"}",
            status=202,
            content_type="application/json",
        )
    stored = await svc.store.inbox.get_by_key(key)
    if stored is not None and _content(stored.payload) != _content(message.payload):
        # The same event id with another content (another amount, another order): a provider bug,
        # or a replay signed with a leaked secret. Never taken for a redelivery, never acted on.
        state.metrics.webhooks_conflicting.inc(source=source)
        log.warning("webhook event id reused with another content", extra={"source": source, "event_key": key})
        raise Problem(
            409,
            "event-id-reused",
            "an event with this id was received before with another content; it is not processed",
        )
    state.metrics.webhooks_duplicate.inc(source=source)
    if log.isEnabledFor(logging.INFO):
        log.info("webhook duplicate", extra={"source": source, "event_key": key})
    return web.Response(body=_DUPLICATE, status=200, content_type="application/json")


_DUPLICATE = b'{"status": "duplicate"}'


def _content(payload: dict[str, object]) -> object:
    """What a delivery says, without what differs between deliveries (the request id), in its
    stored JSON form (tuples become lists there)."""
    return json.loads(json.dumps({k: v for k, v in payload.items() if k != "request_id"}, default=str))


def _ignored(state: AppState, source: str) -> web.Response:
    state.metrics.webhooks_ignored.inc(source=source)
    return web.json_response({"status": "ignored"}, status=200)


Verify = Callable[[AppState, web.Request, bytes], None]
#: Body -> (event key, domain event), or None for an event type we do not act on.
Parse = Callable[[bytes], "tuple[str, KycResult | KycReview | PaymentEvent | AmlAlert] | None"]


async def _ingest(request: web.Request, source: str, kind: str, verify: Verify, parse: Parse) -> web.Response:
    """The one webhook pipeline: verify the raw body (401), parse it (400), store it in the inbox."""
    state = request.app[STATE]
    body = await request.read()
    try:
        verify(state, request, body)
    except SignatureError as exc:
        raise _reject(state, source, "signature", 401, "invalid-signature", str(exc)) from None
    try:
        parsed = parse(body)
    except InvalidWebhook as exc:
        raise _reject(state, source, "malformed", 400, exc.code, exc.message) from None
    if parsed is None:
        return _ignored(state, source)
    key, event = parsed
    return await _store(state, source, key, kind, event)


def _verify_kyc(state: AppState, request: web.Request, body: bytes) -> None:
    verify_digest(
        body,
        request.headers.get(DIGEST_HEADER),
        request.headers.get(DIGEST_ALG_HEADER),
        state.settings.kyc_secrets,
    )


def _verify_aml(state: AppState, request: web.Request, body: bytes) -> None:
    verify_digest(
        body, request.headers.get(DIGEST_HEADER), request.headers.get(DIGEST_ALG_HEADER), state.settings.aml_secrets
    )


def _verify_payment(state: AppState, request: web.Request, body: bytes) -> None:
    verify_stripe(
        body,
        request.headers.get(STRIPE_HEADER),
        state.settings.payments_secrets,
        tolerance=state.settings.stripe_tolerance_seconds,
        future_skew=state.settings.stripe_future_skew_seconds,
    )


def _parse_kyc(body: bytes) -> tuple[str, KycResult] | None:
    notice = parse_kyc(body)
    return None if notice is None else (notice.key, notice.result)


def _parse_aml(body: bytes) -> tuple[str, AmlAlert]:
    notice = parse_aml(body)
    return notice.key, AmlAlert(notice.alert_id, notice.applicant_id, notice.investor_id, notice.flagged, notice.reason)


def _parse_payment(body: bytes) -> tuple[str, PaymentEvent] | None:
    notice = parse_payment(body)
    return None if notice is None else (notice.key, notice.event)


async def kyc_webhook(request: web.Request) -> web.Response:
    """KYC review results, Sumsub-style digest."""
    return await _ingest(request, "kyc", messages.KYC_RESULT, _verify_kyc, _parse_kyc)


async def aml_webhook(request: web.Request) -> web.Response:
    """Ongoing AML monitoring alerts (flagged / cleared), Sumsub-style digest."""
    return await _ingest(request, "aml", messages.AML_ALERT, _verify_aml, _parse_aml)


async def payments_webhook(request: web.Request) -> web.Response:
    """Stripe-compatible payment events."""
    return await _ingest(request, "payments", messages.PAYMENT, _verify_payment, _parse_payment)


async def sumsub_webhook(request: web.Request) -> web.Response:
    """Sumsub's applicant events, verified with the KYC webhook secret (X-Payload-Digest)."""
    return await _ingest(request, "kyc", messages.KYC_REVIEW, _verify_kyc, parse_sumsub)
