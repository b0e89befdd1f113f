"""Webhooks as the providers would send them, signed like the real ones: for the sandbox
providers, the HTTP demo, tests and benchmarks. They go through the same verification as real ones.
"""

from __future__ import annotations

import json
import time
from typing import Any

from drexfy.adapters.webhooks.signatures import (
    DEFAULT_DIGEST_ALG,
    DIGEST_ALG_HEADER,
    DIGEST_HEADER,
    STRIPE_HEADER,
    sign_digest,
    sign_stripe,
)


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def kyc_review(
    applicant_id: str,
    *,
    approved: bool = True,
    country: str | None = "DE",
    accredited: bool = False,
    sanctions_hit: bool = False,
    pep: bool = False,
    reject_labels: tuple[str, ...] = (),
    correlation_id: str | None = None,
) -> bytes:
    """A Sumsub `applicantReviewed` webhook body with our screening fields."""
    body: dict[str, Any] = {
        "type": "applicantReviewed",
        "applicantId": applicant_id,
        "correlationId": correlation_id or f"corr_{applicant_id}_{'GREEN' if approved else 'RED'}",
        "reviewStatus": "completed",
        "createdAtMs": str(int(time.time() * 1000)),
        "reviewResult": {
            "reviewAnswer": "GREEN" if approved else "RED",
            "rejectLabels": list(reject_labels),
        },
        "sanctions": {"hit": sanctions_hit, "pep": pep},
        "accreditation": {"verified": accredited},
    }
    if country is not None:
        body["verifiedCountry"] = country
    return _dump(body)


def aml_alert(
    alert_id: str,
    *,
    investor_id: str | None = None,
    applicant_id: str | None = None,
    flagged: bool = True,
    reason: str = "",
) -> bytes:
    body: dict[str, Any] = {"alertId": alert_id, "status": "FLAGGED" if flagged else "CLEARED"}
    if investor_id:
        body["externalUserId"] = investor_id
    if applicant_id:
        body["applicantId"] = applicant_id
    if reason:
        body["reason"] = reason
    return _dump(body)


def stripe_event(
    event_id: str,
    event_type: str,
    *,
    order_id: str,
    amount_minor: int | None = None,
    currency: str = "eur",
    payment_ref: str | None = None,
    failure_message: str | None = None,
) -> bytes:
    """A Stripe event body: checkout.session.completed, payment_intent.succeeded,
    payment_intent.payment_failed or charge.refunded."""
    intent = payment_ref or f"pi_{order_id}"
    obj: dict[str, Any]
    if event_type == "checkout.session.completed":
        obj = {
            "id": f"cs_{order_id}",
            "object": "checkout.session",
            "payment_intent": intent,
            "payment_status": "paid",
            "amount_total": amount_minor,
            "currency": currency,
        }
    elif event_type == "charge.refunded":
        obj = {
            "id": f"ch_{order_id}",
            "object": "charge",
            "payment_intent": intent,
            "amount_refunded": amount_minor,
            "currency": currency,
        }
    else:
        obj = {"id": intent, "object": "payment_intent", "currency": currency}
        if event_type == "payment_intent.succeeded":
            obj["amount_received"] = amount_minor
        else:
            obj["amount"] = amount_minor
            obj["last_payment_error"] = {"message": failure_message or "card declined"}
    obj["metadata"] = {"order_id": order_id}
    return _dump(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    )


def stripe_refund_event(
    event_id: str, *, order_id: str, refund_id: str, status: str, amount_minor: int, failure_reason: str | None = None
) -> bytes:
    """A Stripe `refund.updated` event body for a refund the platform asked for."""
    refund: dict[str, Any] = {
        "id": refund_id,
        "object": "refund",
        "amount": amount_minor,
        "currency": "eur",
        "payment_intent": f"pi_{order_id}",
        "status": status,
        "failure_reason": failure_reason,
        "metadata": {"order_id": order_id},
    }
    return _dump(
        {
            "id": event_id,
            "object": "event",
            "type": "refund.updated",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": refund},
        }
    )


def digest_headers(body: bytes, secret: str, alg: str = DEFAULT_DIGEST_ALG) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        DIGEST_HEADER: sign_digest(body, secret, alg),
        DIGEST_ALG_HEADER: alg,
    }


def stripe_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", STRIPE_HEADER: sign_stripe(body, secret, timestamp)}
