"""Inbox message kinds and their payload codec, shared by the webhook handlers and the worker.

A payload is the verified event already in domain terms (so the worker never re-parses provider
JSON) plus a `partition`: messages of one partition (an order, an applicant, an investor) are
processed one at a time, different partitions concurrently.
"""

from __future__ import annotations

from typing import Any

import cattrs

from drexfy.domain.audit import WORKER, Actor
from drexfy.domain.processes.repayment import PayRepayment
from drexfy.domain.provider_events import AmlAlert, KycResult, KycReview, PaymentEvent

KYC_RESULT = "kyc.result"
#: A KYC provider's applicant event whose verified data the worker reads from the provider.
KYC_REVIEW = "kyc.review"
PAYMENT = "payment.event"
AML_ALERT = "aml.alert"
#: Not a provider's event: the job of paying a started repayment, queued by the API or the CLI.
REPAYMENT = "repayment.pay"

Message = KycResult | KycReview | PaymentEvent | AmlAlert | PayRepayment

_codec = cattrs.Converter()

_TYPES: dict[str, type] = {
    KYC_RESULT: KycResult,
    KYC_REVIEW: KycReview,
    PAYMENT: PaymentEvent,
    AML_ALERT: AmlAlert,
    REPAYMENT: PayRepayment,
}


def encode(kind: str, event: Message) -> dict[str, Any]:
    if isinstance(event, KycResult | KycReview):
        partition = f"applicant:{event.applicant_id}"
    elif isinstance(event, PaymentEvent):
        partition = f"order:{event.order_id}"
    elif isinstance(event, PayRepayment):
        partition = f"repayment:{event.repayment_id}"
    else:
        partition = f"investor:{event.investor_id}" if event.investor_id else f"applicant:{event.applicant_id}"
    return {"event": _codec.unstructure(event), "partition": partition}


def decode(kind: str, payload: dict[str, Any]) -> Message:
    tp = _TYPES.get(kind)
    if tp is None:
        raise ValueError(f"unknown inbox message kind {kind!r}")
    event: Message = _codec.structure(payload["event"], tp)
    return event


def actor_fields(actor: Actor) -> dict[str, str]:
    """The payload fields naming who queued a job (its changes are recorded as theirs)."""
    return {"actor": actor.subject, "actor_role": actor.role}


def actor_of(payload: dict[str, Any]) -> Actor:
    """Who a job acts for: the queuing webhook's provider or operator; jobs queued before the audit
    trail existed act as the worker."""
    subject, role = payload.get("actor"), payload.get("actor_role")
    if isinstance(subject, str) and isinstance(role, str):
        return Actor(subject, role)
    return WORKER


def partition_of(payload: dict[str, Any], fallback: str) -> str:
    value = payload.get("partition")
    return value if isinstance(value, str) else fallback
