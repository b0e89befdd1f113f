"""Provider webhook payloads (already signature-verified) turned into domain types.

Each parser returns a notice carrying the inbox `key` (the provider's event id, so a redelivery is
recognised) and the domain object; a body that does not describe a valid event raises
InvalidWebhook with a message naming the offending field. Unknown but well-formed event types give
`None` so the caller can acknowledge and ignore them, as providers expect.

Shapes (documented with examples in docs/http.md):
- KYC (Sumsub `applicantReviewed`): applicantId, reviewResult.reviewAnswer GREEN|RED,
  reviewResult.rejectLabels, plus our screening fields: verifiedCountry, sanctions.hit,
  sanctions.pep, accreditation.verified; `correlationId` (or a body hash) identifies the delivery.
- AML (monitoring): alertId, applicantId or externalUserId (our investor id), status FLAGGED|CLEARED,
  reason.
- Payments (Stripe events): id, type, data.object with metadata.order_id, amounts in minor units.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import attrs

from drexfy.domain.bounds import is_text
from drexfy.domain.errors import AmountOutOfRange, DomainError, InvalidWebhook
from drexfy.domain.money import Money
from drexfy.domain.provider_events import KycResult, PaymentEvent, PaymentEventKind


@attrs.frozen
class KycNotice:
    key: str
    result: KycResult


@attrs.frozen
class AmlNotice:
    """An ongoing-monitoring alert. Exactly one of `investor_id` / `applicant_id` is usually set."""

    key: str
    alert_id: str
    flagged: bool
    reason: str
    investor_id: str | None = None
    applicant_id: str | None = None


@attrs.frozen
class PaymentNotice:
    key: str
    event: PaymentEvent


def load_json(body: bytes) -> dict[str, Any]:
    """Parse a JSON object body or raise InvalidWebhook."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidWebhook(f"body is not valid JSON: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise InvalidWebhook("body must be a JSON object")
    # JSON may escape a lone UTF-16 surrogate, which no store or log can write: refuse it here
    # (a 400 the provider sees) rather than fail later on every retry. Bodies without a surrogate
    # escape (nearly all) skip the check.
    if _SURROGATE_ESCAPE.search(body) and not is_text(json.dumps(data, ensure_ascii=False)):
        raise InvalidWebhook("body holds text that is not valid Unicode (a lone surrogate)")
    return data


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _str(data: dict[str, Any], field: str, path: str, *, required: bool = True) -> str | None:
    value = data.get(field)
    if value is None:
        if required:
            raise InvalidWebhook(f"{path}{field} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidWebhook(f"{path}{field} must be a non-empty string")
    if len(value) > 256:
        raise InvalidWebhook(f"{path}{field} is too long")
    return value


def _obj(data: dict[str, Any], field: str, path: str) -> dict[str, Any]:
    value = data.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidWebhook(f"{path}{field} must be an object")
    return value


def _bool(data: dict[str, Any], field: str, path: str) -> bool:
    value = data.get(field, False)
    if not isinstance(value, bool):
        raise InvalidWebhook(f"{path}{field} must be true or false")
    return value


def _delivery_key(prefix: str, data: dict[str, Any], body: bytes) -> str:
    event_id = data.get("correlationId") or data.get("eventId")
    if isinstance(event_id, str) and event_id.strip():
        return f"{prefix}:{event_id.strip()}"
    # No provider id: the same body is the same event.
    return f"{prefix}:sha256:{hashlib.sha256(body).hexdigest()}"


def parse_kyc(body: bytes) -> KycNotice | None:
    """A Sumsub-style review webhook -> KycResult. Non-review event types give None."""
    data = load_json(body)
    kind = _str(data, "type", "")
    if kind != "applicantReviewed":
        return None
    applicant_id = _str(data, "applicantId", "")
    review = _obj(data, "reviewResult", "")
    answer = _str(review, "reviewAnswer", "reviewResult.")
    if answer not in ("GREEN", "RED"):
        raise InvalidWebhook("reviewResult.reviewAnswer must be GREEN or RED")
    labels = review.get("rejectLabels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise InvalidWebhook("reviewResult.rejectLabels must be a list of strings")
    country = _str(data, "verifiedCountry", "", required=False)
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise InvalidWebhook("verifiedCountry must be an ISO 3166-1 alpha-2 code")
    sanctions = _obj(data, "sanctions", "")
    accreditation = _obj(data, "accreditation", "")
    result = KycResult(
        applicant_id=str(applicant_id),
        approved=answer == "GREEN",
        verified_country=country.upper() if country else None,
        accreditation_verified=_bool(accreditation, "verified", "accreditation."),
        sanctions_hit=_bool(sanctions, "hit", "sanctions."),
        pep=_bool(sanctions, "pep", "sanctions."),
        reject_labels=tuple(labels),
    )
    return KycNotice(_delivery_key("kyc", data, body), result)


def parse_aml(body: bytes) -> AmlNotice:
    """An ongoing-monitoring alert (flagged or cleared)."""
    data = load_json(body)
    alert_id = str(_str(data, "alertId", ""))
    status = _str(data, "status", "")
    if status not in ("FLAGGED", "CLEARED"):
        raise InvalidWebhook("status must be FLAGGED or CLEARED")
    applicant_id = _str(data, "applicantId", "", required=False)
    investor_id = _str(data, "externalUserId", "", required=False)
    if applicant_id is None and investor_id is None:
        raise InvalidWebhook("applicantId or externalUserId is required")
    reason = _str(data, "reason", "", required=False) or ("flagged by monitoring" if status == "FLAGGED" else "cleared")
    return AmlNotice(
        key=f"aml:{alert_id}:{status}",
        alert_id=alert_id,
        flagged=status == "FLAGGED",
        reason=reason,
        investor_id=investor_id,
        applicant_id=applicant_id,
    )


#: Stripe event types we act on.
PAYMENT_TYPES = {
    "checkout.session.completed": PaymentEventKind.SUCCEEDED,
    "payment_intent.succeeded": PaymentEventKind.SUCCEEDED,
    "payment_intent.payment_failed": PaymentEventKind.FAILED,
    "charge.refunded": PaymentEventKind.REFUNDED,
}


def parse_payment(body: bytes) -> PaymentNotice | None:
    """A Stripe event -> PaymentEvent. Types we do not act on give None."""
    data = load_json(body)
    event_id = str(_str(data, "id", ""))
    kind_name = _str(data, "type", "")
    kind = PAYMENT_TYPES.get(str(kind_name))
    if kind is None:
        return None
    obj = _obj(_obj(data, "data", ""), "object", "data.")
    if not obj:
        raise InvalidWebhook("data.object is required")
    metadata = _obj(obj, "metadata", "data.object.")
    order_id = str(_str(metadata, "order_id", "data.object.metadata."))
    if kind_name == "checkout.session.completed":
        if obj.get("payment_status", "paid") != "paid":
            return None  # e.g. delayed payment methods: wait for payment_intent.succeeded
        payment_ref = obj.get("payment_intent") or obj.get("id")
        amount_field = "amount_total"
    elif kind_name == "charge.refunded":
        payment_ref = obj.get("payment_intent") or obj.get("id")
        amount_field = "amount_refunded"
    else:
        payment_ref = obj.get("id")
        amount_field = "amount_received" if kind is PaymentEventKind.SUCCEEDED else "amount"
    if not isinstance(payment_ref, str) or not payment_ref:
        raise InvalidWebhook("data.object.id (or payment_intent) is required")
    amount = _money(obj, amount_field, required=kind is PaymentEventKind.SUCCEEDED)
    reason = ""
    if kind is PaymentEventKind.FAILED:
        error = obj.get("last_payment_error")
        message = error.get("message") if isinstance(error, dict) else None
        reason = message if isinstance(message, str) else "payment failed"
    elif kind is PaymentEventKind.REFUNDED:
        reason = "refunded by the payment gateway"
    event = PaymentEvent(
        event_id=event_id, kind=kind, order_id=order_id, payment_ref=payment_ref, amount=amount, reason=reason[:500]
    )
    return PaymentNotice(f"payments:{event_id}", event)


def _money(obj: dict[str, Any], field: str, *, required: bool) -> Money | None:
    value = obj.get(field)
    currency = obj.get("currency")
    if value is None:
        if required:
            raise InvalidWebhook(f"data.object.{field} is required")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidWebhook(f"data.object.{field} must be a non-negative integer (minor units)")
    if not isinstance(currency, str):
        raise InvalidWebhook("data.object.currency is required")
    try:
        return Money(value, currency.upper())
    except AmountOutOfRange as exc:
        raise InvalidWebhook(f"data.object.{field}: {exc.message}") from None
    except DomainError as exc:
        raise InvalidWebhook(f"data.object.currency: {exc.message}") from None
