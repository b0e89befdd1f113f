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
- Payments (Stripe events): id, type, data.object with metadata.order_id (a Checkout Session: or
  client_reference_id), amounts in minor units.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import attrs
import iso3166

from drexfy.domain.bounds import is_text
from drexfy.domain.errors import DomainError, InvalidWebhook
from drexfy.domain.money import Money
from drexfy.domain.provider_events import MAX_PAYMENT_MINOR, KycResult, PaymentEvent, PaymentEventKind


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
    country = alpha2(_str(data, "verifiedCountry", "", required=False), "verifiedCountry")
    sanctions = _obj(data, "sanctions", "")
    accreditation = _obj(data, "accreditation", "")
    result = KycResult(
        applicant_id=str(applicant_id),
        approved=answer == "GREEN",
        verified_country=country,
        accreditation_verified=_bool(accreditation, "verified", "accreditation."),
        sanctions_hit=_bool(sanctions, "hit", "sanctions."),
        pep=_bool(sanctions, "pep", "sanctions."),
        reject_labels=tuple(labels),
    )
    return KycNotice(_delivery_key("kyc", data, body), result)


def alpha2(country: str | None, field: str) -> str | None:
    """An ISO 3166-1 country as alpha-2: alpha-2 or alpha-3 given (Sumsub reports alpha-3), looked
    up in the `iso3166` package's table; anything else is refused naming the field."""
    if country is None:
        return None
    code = country.strip().upper()
    if len(code) not in (2, 3) or not code.isalpha():
        raise InvalidWebhook(f"{field} must be an ISO 3166-1 alpha-2 or alpha-3 code")
    found = iso3166.countries_by_alpha2.get(code) or iso3166.countries_by_alpha3.get(code)
    if found is None:
        raise InvalidWebhook(f"{field} is not an ISO 3166-1 country code")
    return str(found.alpha2)


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


#: Stripe event types we act on. Checkout: `completed` (paid at once, or `payment_status` unpaid for
#: delayed methods such as SEPA Direct Debit, which then end in `async_payment_succeeded` or
#: `async_payment_failed`), `expired` (ended unpaid). Refunds: `charge.refunded` and the refund
#: object's own events (created/updated with its status, `refund.failed`).
PAYMENT_TYPES = {
    "checkout.session.completed": PaymentEventKind.SUCCEEDED,
    "checkout.session.async_payment_succeeded": PaymentEventKind.SUCCEEDED,
    "checkout.session.async_payment_failed": PaymentEventKind.FAILED,
    "checkout.session.expired": PaymentEventKind.EXPIRED,
    "payment_intent.succeeded": PaymentEventKind.SUCCEEDED,
    "payment_intent.payment_failed": PaymentEventKind.FAILED,
    "charge.refunded": PaymentEventKind.REFUNDED,
    "refund.created": PaymentEventKind.REFUNDED,
    "refund.updated": PaymentEventKind.REFUNDED,
    "refund.failed": PaymentEventKind.REFUND_FAILED,
}
#: A refund's status -> what it means for the order (others: pending, requires_action: wait).
_REFUND_STATUS = {
    "succeeded": PaymentEventKind.REFUNDED,
    "failed": PaymentEventKind.REFUND_FAILED,
    "canceled": PaymentEventKind.REFUND_FAILED,
}


def _order_id(obj: dict[str, Any], required: bool = True) -> str | None:
    metadata = _obj(obj, "metadata", "data.object.")
    if metadata.get("order_id") is None and obj.get("object") == "checkout.session":
        return _str(obj, "client_reference_id", "data.object.", required=required)
    return _str(metadata, "order_id", "data.object.metadata.", required=required)


def parse_payment(body: bytes) -> PaymentNotice | None:
    """A Stripe event -> PaymentEvent. Types and states we do not act on give None."""
    data = load_json(body)
    event_id = str(_str(data, "id", ""))
    kind_name = str(_str(data, "type", ""))
    kind = PAYMENT_TYPES.get(kind_name)
    if kind is None:
        return None
    obj = _obj(_obj(data, "data", ""), "object", "data.")
    if not obj:
        raise InvalidWebhook("data.object is required")
    refund_ref: str | None = None
    reason = ""
    amount_field: str | None = None
    if kind_name.startswith("checkout.session."):
        if kind_name == "checkout.session.completed" and obj.get("payment_status", "paid") != "paid":
            return None  # a delayed method: async_payment_succeeded / _failed decides
        payment_ref = obj.get("id") if kind is PaymentEventKind.EXPIRED else obj.get("payment_intent") or obj.get("id")
        if kind is PaymentEventKind.SUCCEEDED:
            amount_field = "amount_total"
        reason = {
            PaymentEventKind.FAILED: "the delayed payment failed",
            PaymentEventKind.EXPIRED: "checkout expired unpaid",
        }.get(kind, "")
    elif kind_name.startswith("refund."):
        status = obj.get("status")
        kind = PaymentEventKind.REFUND_FAILED if kind_name == "refund.failed" else _REFUND_STATUS.get(str(status))
        if kind is None:
            return None  # pending or waiting for the customer: a later event says how it ended
        if _order_id(obj, required=False) is None:
            return None  # not a refund the platform asked for (say, one made in the dashboard)
        refund_ref = obj.get("id") if isinstance(obj.get("id"), str) else None
        payment_ref = obj.get("payment_intent") or obj.get("charge") or refund_ref
        failure = obj.get("failure_reason")
        reason = "refunded by the payment gateway" if kind is PaymentEventKind.REFUNDED else str(failure or status)
    elif kind_name == "charge.refunded":
        if _order_id(obj, required=False) is None:
            return None  # a charge without our metadata: the refund's own event names the order
        payment_ref = obj.get("payment_intent") or obj.get("id")
        reason = "refunded by the payment gateway"
    else:
        payment_ref = obj.get("id")
        if kind is PaymentEventKind.SUCCEEDED:
            amount_field = "amount_received"
        error = obj.get("last_payment_error")
        message = error.get("message") if isinstance(error, dict) else None
        if kind is PaymentEventKind.FAILED:
            reason = message if isinstance(message, str) else "payment failed"
    order_id = str(_order_id(obj))
    if not isinstance(payment_ref, str) or not payment_ref:
        raise InvalidWebhook("data.object.id (or payment_intent) is required")
    amount: Money | None = None
    if amount_field is not None:
        amount, out_of_range = _money(obj, amount_field)
        reason = out_of_range or reason
    event = PaymentEvent(
        event_id=event_id,
        kind=kind,
        order_id=order_id,
        payment_ref=payment_ref,
        amount=amount,
        reason=reason[:500],
        refund_ref=refund_ref,
    )
    return PaymentNotice(f"payments:{event_id}", event)


def _money(obj: dict[str, Any], field: str) -> tuple[Money | None, str]:
    """The paid amount, or None with the reason when it is larger than any order can be (the order
    then ends REFUND_DUE saying so, instead of a job that cannot be stored)."""
    value = obj.get(field)
    currency = obj.get("currency")
    if value is None:
        raise InvalidWebhook(f"data.object.{field} is required")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidWebhook(f"data.object.{field} must be a non-negative integer (minor units)")
    if not isinstance(currency, str):
        raise InvalidWebhook("data.object.currency is required")
    try:
        money = Money(min(value, MAX_PAYMENT_MINOR), currency.upper())
    except DomainError as exc:
        raise InvalidWebhook(f"data.object.currency: {exc.message}") from None
    if value > MAX_PAYMENT_MINOR:
        return None, f"the gateway reported {field} = {str(value)[:40]} minor units, more than any order can cost"
    return money, ""
