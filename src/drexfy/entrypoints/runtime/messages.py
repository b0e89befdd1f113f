"""Inbox message kinds and their payload codec, shared by the webhook handlers and the worker.

A payload is the verified event already in domain terms (so the worker never re-parses provider
JSON) plus a `partition`: messages of one partition (an order, an applicant, an investor) are
processed one at a time, different partitions concurrently.
"""

from __future__ import annotations

from typing import Any

import cattrs

from drexfy.domain.provider_events import AmlAlert, KycResult, PaymentEvent

KYC_RESULT = "kyc.result"
PAYMENT = "payment.event"
AML_ALERT = "aml.alert"

_codec = cattrs.Converter()

_TYPES: dict[str, type] = {KYC_RESULT: KycResult, PAYMENT: PaymentEvent, AML_ALERT: AmlAlert}


def encode(kind: str, event: KycResult | PaymentEvent | AmlAlert) -> dict[str, Any]:
    if isinstance(event, KycResult):
        partition = f"applicant:{event.applicant_id}"
    elif isinstance(event, PaymentEvent):
        partition = f"order:{event.order_id}"
    else:
        partition = f"investor:{event.investor_id}" if event.investor_id else f"applicant:{event.applicant_id}"
    return {"event": _codec.unstructure(event), "partition": partition}


def decode(kind: str, payload: dict[str, Any]) -> KycResult | PaymentEvent | AmlAlert:
    tp = _TYPES.get(kind)
    if tp is None:
        raise ValueError(f"unknown inbox message kind {kind!r}")
    event: KycResult | PaymentEvent | AmlAlert = _codec.structure(payload["event"], tp)
    return event


def partition_of(payload: dict[str, Any], fallback: str) -> str:
    value = payload.get("partition")
    return value if isinstance(value, str) else fallback
