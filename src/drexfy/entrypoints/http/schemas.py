"""JSON schemas (with examples) of the API's answers, for the OpenAPI document. They describe
`views.py`; `tests/http/test_schema_fuzz.py` checks real answers against them for every role."""

from __future__ import annotations

from typing import Any

from drexfy.domain.model import AllocationStatus, WithdrawalStatus

S = dict[str, Any]


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: S) -> S:
    return {"anyOf": [schema, {"type": "null"}]}


_STR: S = {"type": "string"}
_INT: S = {"type": "integer"}
_BOOL: S = {"type": "boolean"}
_TS: S = {"type": "string", "format": "date-time"}
_STRS: S = {"type": "array", "items": _STR}


def _obj(properties: S, example: S | None = None, required: list[str] | None = None) -> S:
    out: S = {"type": "object", "properties": properties, "required": required or sorted(properties)}
    if example is not None:
        out["examples"] = [example]
    return out


_MONEY_EXAMPLE = {"minor": 250000, "currency": "EUR", "display": "2500.00"}

_INVESTOR_FIELDS: S = {
    "id": _STR,
    "legal_name": _STR,
    "email": _STR,
    "country": _STR,
    "kind": {"enum": ["INDIVIDUAL", "ENTITY"]},
    "declared_accredited": _BOOL,
    "status": {"enum": ["PENDING_KYC", "ACTIVE", "REJECTED"]},
    "kyc_reasons": _STRS,
    "applicant_id": _nullable(_STR),
    # RESTRICTED: what the investor and the frontend see of a block (never BLOCKED or its reason).
    "compliance": {"enum": ["CLEAR", "BLOCKED", "RESTRICTED"]},
    "blocked": _BOOL,
    "blocked_reason": _nullable(_STR),
    "blocked_at": _nullable(_TS),
    "classification": _nullable(_STR),
    "wallet": _nullable(_obj({"address": _STR, "activated": _BOOL})),
    "auto_cashout": _BOOL,
    "created_at": _TS,
    "support_message": _nullable(_STR),
}
_INVESTOR_EXAMPLE = {
    "id": "inv_0193a4f2c1d87e31b2a5c6d7e8f90123",
    "legal_name": "Ana Souza",
    "email": "ana@example.com",
    "country": "PT",
    "kind": "INDIVIDUAL",
    "declared_accredited": False,
    "status": "ACTIVE",
    "kyc_reasons": [],
    "applicant_id": "sbx_applicant_inv_0193a4f2",
    "compliance": "CLEAR",
    "blocked": False,
    "blocked_reason": None,
    "blocked_at": None,
    "classification": "EU_NON_ACCREDITED",
    "wallet": {"address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "activated": True},
    "auto_cashout": False,
    "created_at": "2026-11-22T04:10:00.000000+00:00",
    "support_message": None,
}

_ORDER_EXAMPLE = {
    "id": "ord_0193a4f2c1d87e31b2a5c6d7e8f90456",
    "investor_id": _INVESTOR_EXAMPLE["id"],
    "instrument_id": "ins_0193a4f2c1d87e31b2a5c6d7e8f90789",
    "units": 25,
    "amount": _MONEY_EXAMPLE,
    "status": "CREATED",
    "checkout": {"reference": "cs_test_ord_0193a4f2", "url": "https://checkout.example/cs_test_ord_0193a4f2"},
    "payment_ref": None,
    "paid_amount": None,
    "reason": None,
    "steps": [],
    "tx_ids": [],
    "created_at": "2026-11-22T04:10:00.000000+00:00",
    "expires_at": "2026-11-22T04:40:00.000000+00:00",
}


def _page(item: str) -> S:
    return _obj(
        {"items": {"type": "array", "items": _ref(item)}, "next": _nullable(_STR)},
        required=["items", "next"],
    )


#: The response components, added to the document's `components.schemas`.
COMPONENTS: dict[str, S] = {
    "Money": _obj({"minor": _INT, "currency": _STR, "display": _STR}, _MONEY_EXAMPLE),
    "InvestorSummary": _obj(_INVESTOR_FIELDS, _INVESTOR_EXAMPLE),
    "Investor": _obj(
        {
            **_INVESTOR_FIELDS,
            "holdings": {
                "type": "array",
                "items": _obj({"instrument_id": _STR, "symbol": _STR, "units": _INT}),
            },
            "held_back_repayments": {
                "type": "array",
                "items": _obj({"repayment_id": _STR, "instrument_id": _STR, "amount": _ref("Money")}),
            },
        },
        {**_INVESTOR_EXAMPLE, "holdings": [], "held_back_repayments": []},
    ),
    "Instrument": _obj(
        {
            "id": _STR,
            "symbol": _STR,
            "name": _STR,
            "status": {"enum": ["DRAFT", "OPEN", "CLOSED", "REPAYING", "MATURED"]},
            "unit_price": _ref("Money"),
            "total_units": _INT,
            "units_available": _INT,
            "units_sold": _INT,
            "units_reserved": _INT,
            "units_retired": _INT,
            "units_outstanding": _INT,
            "eligible": _STRS,
            "min_ticket": _ref("Money"),
            "max_ticket": _ref("Money"),
            "class_caps": {"type": "object", "additionalProperties": _ref("Money")},
            "ledger_ref": _nullable(_STR),
            "created_at": _TS,
        }
    ),
    "Order": _obj(
        {
            "id": _STR,
            "investor_id": _STR,
            "instrument_id": _STR,
            "units": _INT,
            "amount": _ref("Money"),
            "status": {
                "enum": ["CREATED", "PAID", "SETTLED", "EXPIRED", "CANCELLED", "FAILED", "REFUND_DUE", "REFUNDED"]
            },
            "checkout": _nullable(_obj({"reference": _STR, "url": _nullable(_STR)})),
            "payment_ref": _nullable(_STR),
            "paid_amount": _nullable(_ref("Money")),
            "reason": _nullable(_STR),
            "steps": _STRS,
            "tx_ids": _STRS,
            "created_at": _TS,
            "expires_at": _TS,
        },
        _ORDER_EXAMPLE,
    ),
    "Repayment": _obj(
        {
            "id": _STR,
            "instrument_id": _STR,
            "period": _STR,
            "interest": _ref("Money"),
            "principal": _ref("Money"),
            "final": _BOOL,
            "status": {"enum": ["DISTRIBUTING", "COMPLETED"]},
            "paid": _ref("Money"),
            "held_back": _ref("Money"),
            "progress": {"type": "object", "additionalProperties": _INT},
            "as_of": _nullable(_STR),
            "created_at": _TS,
        }
    ),
    "Allocation": _obj(
        {
            "investor_id": _STR,
            "units_held": _INT,
            "amount": _ref("Money"),
            "units_retired": _INT,
            "status": {"enum": [s.value for s in AllocationStatus]},
            "tx_ids": _STRS,
        },
        {
            "investor_id": "inv_01HZX3",
            "units_held": 40,
            "amount": _MONEY_EXAMPLE,
            "units_retired": 0,
            "status": "PAID",
            "tx_ids": ["0x5c1e..."],
        },
    ),
    "Withdrawal": _obj(
        {
            "id": _STR,
            "investor_id": _STR,
            "amount": _ref("Money"),
            "status": {"enum": [s.value for s in WithdrawalStatus]},
            "automatic": _BOOL,
            "tx_ids": _STRS,
            "created_at": _TS,
        }
    ),
    "Job": _obj(
        {
            "id": _STR,
            "queue": {"enum": ["inbox", "outbox"]},
            "key": _STR,
            "kind": _STR,
            "status": {"enum": ["PENDING", "RUNNING", "DONE", "DEAD", "PARKED"]},
            "retrying": _BOOL,
            "attempts": _INT,
            "next_attempt_at": _nullable(_TS),
            "last_error": _nullable(_STR),
            "created_at": _TS,
        }
    ),
    "Reconciliation": {
        "type": "object",
        "required": ["instrument_id", "in_sync", "ledger_units", "store_units", "drift"],
        "properties": {"instrument_id": _STR, "in_sync": _BOOL, "ledger_units": _INT, "store_units": _INT},
    },
    "KycSession": _obj({"applicant_id": _STR, "url": _STR}),
    "InvestorPage": _page("InvestorSummary"),
    "InstrumentPage": _page("Instrument"),
    "OrderPage": _page("Order"),
    "RepaymentPage": _page("Repayment"),
    "AllocationPage": _page("Allocation"),
    "AuditPage": _page("AuditEvent"),
    "AuditEvent": _obj({"id": _STR, "name": _STR, "occurred_at": _TS, "payload": {"type": "object"}}),
    "AuditLogPage": _page("AuditLogEntry"),
    "AuditLogEntry": _obj(
        {
            "seq": _INT,
            "actor": _STR,
            "role": _STR,
            "action": _STR,
            "subject": _STR,
            "reason": _STR,
            "request_id": _STR,
            "at": _TS,
            "ref": _STR,
            "digest": _STR,
            "prev_hash": _STR,
            "hash": _STR,
        }
    ),
    "JobList": _obj(
        {"counts": {"type": "object", "additionalProperties": _INT}, "items": {"type": "array", "items": _ref("Job")}}
    ),
    "WebhookAnswer": _obj(
        {"status": {"enum": ["accepted", "duplicate", "ignored"]}, "job_id": _STR},
        {"status": "accepted", "job_id": "job_0193a4f2c1d87e31b2a5c6d7e8f90abc"},
        required=["status"],
    ),
    "Health": _obj({"status": _STR}),
    "Ready": _obj({"status": _STR, "checks": {"type": "object", "additionalProperties": _STR}}),
}
