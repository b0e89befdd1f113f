"""JSON schemas (with examples) of the API's answers, for the OpenAPI document. They describe
`views.py`; `tests/http/test_schema_fuzz.py` checks real answers against them for every role."""

from __future__ import annotations

from typing import Any

from drexfy.domain.deposit import DepositKind, DepositStatus
from drexfy.domain.model import AllocationStatus, RepaymentStatus, WithdrawalStatus
from drexfy.domain.ports import MessageStatus
from drexfy.entrypoints.runtime.access import APPROVAL_KINDS

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
    "funding": "checkout",
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
            # How it is paid: the gateway's checkout, or the investor's stablecoin balance.
            "funding": {"enum": ["checkout", "balance"]},
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
            "status": {"enum": [s.value for s in RepaymentStatus]},
            "paid": _ref("Money"),
            "held_back": _ref("Money"),
            "progress": {"type": "object", "additionalProperties": _INT},
            "batches_paid": _INT,
            "units_retired": _INT,
            "as_of": _nullable(_STR),
            "snapshot_at": _nullable(_TS),
            "failure": _nullable(_STR),
            # The worker's job that pays it; DEAD means it stands still until `jobs retry`.
            "job": _nullable(_ref("RepaymentJob")),
            "created_at": _TS,
        }
    ),
    "RepaymentJob": _obj(
        {
            "id": _STR,
            "status": {"enum": [m.value for m in MessageStatus]},
            "attempts": _INT,
            "next_attempt_at": _nullable(_TS),
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
    "ForcedTransfer": _obj(
        {
            "operation_id": _STR,
            "instrument_id": _STR,
            "from_investor_id": _STR,
            "to_investor_id": _STR,
            "units": _INT,
            "reason": _STR,
            "actor": _STR,
            "tx_ids": _STRS,
            "occurred_at": _TS,
        }
    ),
    "KycSession": _obj({"applicant_id": _STR, "url": _STR}),
    "InvestorPage": _page("InvestorSummary"),
    "InstrumentPage": _page("Instrument"),
    "OrderPage": _page("Order"),
    "PayoutAccount": _obj({"investor_id": _STR, "iban_ending": _STR}),
    "Deposit": _obj(
        {
            "id": _STR,
            "bank_ref": _STR,
            "kind": {"enum": [k.value for k in DepositKind]},
            "status": {"enum": [s.value for s in DepositStatus]},
            "amount": _ref("Money"),
            "investor_id": _nullable(_STR),
            "withdrawal_id": _nullable(_STR),
            "reference": _nullable(_STR),
            "reason": _nullable(_STR),
            "assigned_by": _nullable(_STR),
            "tx_ids": _STRS,
            "received_at": _TS,
            "minted_at": _nullable(_TS),
        }
    ),
    "DepositPage": _page("Deposit"),
    "DepositOrApproval": {"anyOf": [_ref("Deposit"), _ref("Approval")]},
    "WithdrawalPage": _page("Withdrawal"),
    "StatementImport": _obj(
        {
            "paid_out": _STRS,
            "already_paid_out": _STRS,
            "unmatched_debits": {
                "type": "array",
                "items": _obj({"ref": _STR, "amount": _ref("Money"), "end_to_end_id": _nullable(_STR)}),
            },
            "deposits": {"type": "array", "items": _ref("Deposit")},
            "not_booked": _INT,
        }
    ),
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
    "Approval": _obj(
        {
            "id": _STR,
            "kind": {"enum": list(APPROVAL_KINDS)},
            "subject": _STR,
            "params": {"type": "object"},
            "reason": _STR,
            "status": {"enum": ["PENDING", "EXECUTING", "DONE", "REJECTED", "FAILED", "EXPIRED"]},
            "requested_by": _STR,
            "requested_role": _STR,
            "requested_at": _TS,
            "expires_at": _TS,
            "decided_by": _nullable(_STR),
            "decided_role": _nullable(_STR),
            "decision_reason": _nullable(_STR),
            "decided_at": _nullable(_TS),
            "result": _nullable({"type": "object"}),
            "error": _nullable(_STR),
        },
        {
            "id": "apr_0193a4f2c1d87e31b2a5c6d7e8f90abc",
            "kind": "unblock",
            "subject": "inv_0193a4f2c1d87e31b2a5c6d7e8f90123",
            "params": {"reason": "false positive, cleared by the provider"},
            "reason": "false positive, cleared by the provider",
            "status": "PENDING",
            "requested_by": "opr_0193a4f2c1d87e31b2a5c6d7e8f90aaa",
            "requested_role": "compliance",
            "requested_at": "2026-11-22T04:10:00.000000+00:00",
            "expires_at": "2026-11-23T04:10:00.000000+00:00",
            "decided_by": None,
            "decided_role": None,
            "decision_reason": None,
            "decided_at": None,
            "result": None,
            "error": None,
        },
    ),
    "ApprovalPage": _page("Approval"),
    "InvestorOrApproval": {"anyOf": [_ref("Investor"), _ref("Approval")]},
    "InstrumentOrApproval": {"anyOf": [_ref("Instrument"), _ref("Approval")]},
    "ForcedTransferOrApproval": {"anyOf": [_ref("ForcedTransfer"), _ref("Approval")]},
    "RepaymentOrApproval": {"anyOf": [_ref("Repayment"), _ref("Approval")]},
    "Operator": _obj({"id": _STR, "name": _STR, "roles": _STRS, "disabled": _BOOL, "created_at": _TS}),
    "OperatorList": _obj({"items": {"type": "array", "items": _ref("Operator")}}),
    "OperatorOrApproval": {"anyOf": [_ref("Operator"), _ref("Approval")]},
    "SignedIn": _obj(
        {
            "token": _STR,
            "token_type": {"enum": ["Bearer"]},
            "expires_in": _INT,
            "token_id": _STR,
            "operator_id": _STR,
            "role": {"enum": ["admin", "compliance", "auditor"]},
        }
    ),
    "MintedToken": _obj({"token": _STR, "token_type": {"enum": ["Bearer"]}, "expires_in": _INT, "token_id": _STR}),
    "TokenRecord": _obj(
        {
            "id": _STR,
            "role": _STR,
            "subject": _STR,
            "issued_at": _TS,
            "expires_at": _TS,
            "investor_id": _nullable(_STR),
            "issued_by": _STR,
            "revoked_at": _nullable(_TS),
            "revoked_by": _nullable(_STR),
        }
    ),
    "TokenPage": _page("TokenRecord"),
    "Health": _obj({"status": _STR}),
    "Ready": _obj({"status": _STR, "checks": {"type": "object", "additionalProperties": _STR}}),
}
