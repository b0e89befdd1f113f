"""Sumsub applicant webhooks (already digest-verified) -> KycReview.

Shape (Sumsub's documented `applicantReviewed`): `type`, `applicantId`, `correlationId`,
`externalUserId`, `reviewStatus`, `createdAtMs`, and `reviewResult` with `reviewAnswer` (GREEN|RED),
`rejectLabels` and `reviewRejectType` (RETRY|FINAL). It carries no verified data: the worker reads
the applicant from Sumsub's API. Other types we track: applicantPending, applicantOnHold,
applicantReset; the rest are acknowledged and ignored (None).
"""

from __future__ import annotations

import hashlib

from drexfy.adapters.webhooks.payloads import load_json
from drexfy.domain.errors import InvalidWebhook
from drexfy.domain.provider_events import KycReview, KycReviewKind

_KINDS = {
    "applicantReviewed": KycReviewKind.REVIEWED,
    "applicantPending": KycReviewKind.PENDING,
    "applicantOnHold": KycReviewKind.ON_HOLD,
    "applicantReset": KycReviewKind.RESET,
}
_MAX_LABELS = 50


def _text(value: object, field: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise InvalidWebhook(f"{field} must be a non-empty string of at most 256 characters")
    return value.strip()


def parse_sumsub(body: bytes) -> tuple[str, KycReview] | None:
    """(inbox key, review), or None for an event type we do not act on."""
    data = load_json(body)
    kind = _KINDS.get(str(_text(data.get("type"), "type")))
    if kind is None:
        return None
    applicant_id = str(_text(data.get("applicantId"), "applicantId"))
    # One delivery = one correlation id and type; the body's hash when it has none.
    correlation = _text(data.get("correlationId"), "correlationId", required=False)
    stamp = data.get("createdAtMs")
    delivery = f"{correlation}:{stamp}" if correlation else hashlib.sha256(body).hexdigest()
    key = f"sumsub:{data['type']}:{applicant_id}:{delivery}"
    if kind is not KycReviewKind.REVIEWED:
        return key, KycReview(applicant_id, kind, key)
    result = data.get("reviewResult")
    if not isinstance(result, dict):
        raise InvalidWebhook("reviewResult is required for applicantReviewed")
    answer = result.get("reviewAnswer")
    if answer not in ("GREEN", "RED"):
        raise InvalidWebhook("reviewResult.reviewAnswer must be GREEN or RED")
    labels = result.get("rejectLabels") or []
    if not isinstance(labels, list) or len(labels) > _MAX_LABELS or not all(isinstance(x, str) for x in labels):
        raise InvalidWebhook("reviewResult.rejectLabels must be a list of strings")
    reject_type = result.get("reviewRejectType")
    if answer == "RED" and reject_type not in ("RETRY", "FINAL"):
        raise InvalidWebhook("reviewResult.reviewRejectType must be RETRY or FINAL for a RED answer")
    review = KycReview(
        applicant_id,
        kind,
        key,
        answer=answer,
        reject_type=reject_type if answer == "RED" else None,
        reject_labels=tuple(label[:100] for label in labels),
    )
    return key, review
