"""JSON views of domain objects for API responses (ids, states and amounts; never keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drexfy.domain import events as ev
from drexfy.domain.classification import Classification
from drexfy.domain.deposit import Deposit
from drexfy.domain.events import RESTRICTED, SUPPORT_MESSAGE
from drexfy.domain.model import Allocation, Instrument, Investor, Order, Repayment, Withdrawal
from drexfy.domain.money import Money
from drexfy.domain.ports import QueuedMessage
from drexfy.domain.processes import InvestorView, Reconciliation


def money(value: Money | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"minor": value.minor, "currency": value.currency, "display": str(value.as_decimal())}


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def investor(view: InvestorView, *, neutral: bool = False) -> dict[str, Any]:
    """`neutral`: for the investor and the frontend acting for them (`investor_side`)."""
    return {
        **(investor_side(view.investor) if neutral else investor_summary(view.investor)),
        "holdings": [{"instrument_id": h.instrument_id, "symbol": h.symbol, "units": h.units} for h in view.holdings],
        "held_back_repayments": [
            {"repayment_id": h.repayment_id, "instrument_id": h.instrument_id, "amount": money(h.amount)}
            for h in view.held_back
        ],
    }


def investor_summary(inv: Investor) -> dict[str, Any]:
    """An investor without holdings (lists)."""
    return {
        "id": inv.id,
        "legal_name": inv.legal_name,
        "email": inv.email,
        "country": inv.country,
        "kind": inv.kind.value,
        "declared_accredited": inv.declared_accredited,
        "status": inv.kyc_status.value,
        "kyc_reasons": list(inv.kyc_reasons),
        "applicant_id": inv.applicant_id,
        "compliance": inv.compliance.value,
        "blocked": inv.is_blocked,
        "blocked_reason": inv.blocked_reason,
        "blocked_at": _ts(inv.blocked_at),
        "classification": inv.classification.name if inv.classification else None,
        "wallet": {"address": inv.wallet.address, "activated": inv.wallet_activated} if inv.wallet else None,
        "auto_cashout": inv.auto_cashout,
        "created_at": _ts(inv.created_at),
        "support_message": SUPPORT_MESSAGE if inv.is_blocked else None,
    }


def forced_transfer(event: ev.UnitsForceTransferred) -> dict[str, Any]:
    return {
        "operation_id": event.operation_id,
        "instrument_id": event.instrument_id,
        "from_investor_id": event.sender_id,
        "to_investor_id": event.receiver_id,
        "units": event.units,
        "reason": event.reason,
        "actor": event.actor,
        "tx_ids": list(event.tx_ids),
        "occurred_at": event.occurred_at.isoformat(),
    }


def investor_side(inv: Investor) -> dict[str, Any]:
    """The investor as the investor may see it: a neutral RESTRICTED state and a support message,
    never the AML reason, its time, or a SANCTIONED class (no tipping-off)."""
    out = investor_summary(inv)
    if inv.is_blocked or inv.classification is Classification.SANCTIONED:
        shown = inv.classification_before_block if inv.is_blocked else None
        out.update(
            compliance=RESTRICTED,
            blocked=True,
            blocked_reason=None,
            blocked_at=None,
            classification=shown.name if shown is not None and shown is not Classification.SANCTIONED else None,
            support_message=SUPPORT_MESSAGE,
        )
    return out


def instrument(ins: Instrument) -> dict[str, Any]:
    return {
        "id": ins.id,
        "symbol": ins.symbol,
        "name": ins.name,
        "status": ins.status.value,
        "unit_price": money(ins.unit_price),
        "total_units": ins.total_units,
        "units_available": ins.units_available,
        "units_sold": ins.units_sold,
        "units_reserved": ins.units_reserved,
        "units_retired": ins.units_retired,
        "units_outstanding": ins.units_outstanding,
        "eligible": sorted(c.name for c in ins.eligible),
        "min_ticket": money(ins.min_ticket),
        "max_ticket": money(ins.max_ticket),
        "class_caps": {c.name: money(m) for c, m in sorted(ins.class_caps.items(), key=lambda kv: kv[0].name)},
        "ledger_ref": ins.ledger_ref,
        "created_at": _ts(ins.created_at),
    }


def order(o: Order) -> dict[str, Any]:
    return {
        "id": o.id,
        "investor_id": o.investor_id,
        "instrument_id": o.instrument_id,
        "units": o.units,
        "amount": money(o.amount),
        "status": o.status.value,
        "checkout": {"reference": o.checkout_ref, "url": o.checkout_url} if o.checkout_ref else None,
        "payment_ref": o.payment_ref,
        "paid_amount": money(o.paid_amount),
        "reason": o.reason,
        "funding": "balance" if o.funded_from_balance else "checkout",
        "steps": [s.value for s in o.steps],
        "tx_ids": list(o.tx_ids),
        "created_at": _ts(o.created_at),
        "expires_at": _ts(o.expires_at),
    }


def repayment(r: Repayment, paying: QueuedMessage | None = None) -> dict[str, Any]:
    """A repayment and its progress, with the state of the worker's job that pays it (a repayment
    whose job went to the dead letter stands still until an operator retries the job); its shares
    are paged at `.../allocations`. The job's error stays on `GET /api/v1/jobs` (operators only)."""
    return {
        "id": r.id,
        "instrument_id": r.instrument_id,
        "period": r.period,
        "interest": money(r.interest),
        "principal": money(r.principal),
        "final": r.final,
        "status": r.status.value,
        "paid": money(r.paid),
        "held_back": money(r.held_back),
        "progress": {"holders": r.holders, **{s.value: n for s, n in r.counts().items() if n}},
        "batches_paid": r.batches_paid,
        "units_retired": r.units_retired,
        "as_of": r.as_of,
        "snapshot_at": _ts(r.snapshot_at),
        "failure": r.failure,
        "job": None
        if paying is None
        else {
            "id": paying.id,
            "status": paying.status.value,
            "attempts": paying.attempts,
            "next_attempt_at": _ts(paying.next_attempt_at),
        },
        "created_at": _ts(r.created_at),
    }


def allocation(a: Allocation) -> dict[str, Any]:
    return {
        "investor_id": a.investor_id,
        "units_held": a.units_held,
        "amount": money(a.amount),
        "units_retired": a.units_retired,
        "status": a.status.value,
        "tx_ids": list(a.tx_ids),
    }


def withdrawal(w: Withdrawal) -> dict[str, Any]:
    return {
        "id": w.id,
        "investor_id": w.investor_id,
        "amount": money(w.amount),
        "status": w.status.value,
        "automatic": w.automatic,
        "tx_ids": list(w.tx_ids),
        "created_at": _ts(w.created_at),
    }


def deposit(d: Deposit) -> dict[str, Any]:
    """A bank credit as an operator sees it (the reason may name a compliance state: admins only)."""
    return {
        "id": d.id,
        "bank_ref": d.bank_ref,
        "kind": d.kind.value,
        "status": d.status.value,
        "amount": money(d.amount),
        "investor_id": d.investor_id,
        "withdrawal_id": d.withdrawal_id,
        "reference": d.reference,
        "reason": d.reason,
        "assigned_by": d.assigned_by,
        "tx_ids": list(d.tx_ids),
        "received_at": _ts(d.received_at),
        "minted_at": _ts(d.minted_at),
    }


def job(message: QueuedMessage, queue: str) -> dict[str, Any]:
    """A queued message as an operator sees it: no payload (it may carry provider data)."""
    return {
        "id": message.id,
        "queue": queue,
        "key": message.key,
        "kind": message.kind,
        "status": message.status.value,
        "retrying": message.status.value == "PENDING" and message.attempts > 0,
        "attempts": message.attempts,
        "next_attempt_at": _ts(message.next_attempt_at),
        "last_error": message.last_error,
        "created_at": _ts(message.created_at),
    }


def reconciliation(r: Reconciliation) -> dict[str, Any]:
    """Ledger against store for one instrument: totals, and each address that differs."""
    return {
        "instrument_id": r.instrument_id,
        "symbol": r.symbol,
        "checked_at": _ts(r.checked_at),
        "in_sync": r.in_sync,
        "ledger_units": r.ledger_units,
        "store_units": r.store_units,
        "units_reserved": r.units_reserved,
        "reserved_by_orders": r.reserved_by_orders,
        "paid_unsettled": r.paid_unsettled,
        "oldest_paid_at": _ts(r.oldest_paid_at),
        "stalled_settlements": r.stalled_settlements,
        "drift": [
            {
                "address": d.address,
                "investor_id": d.investor_id,
                "ledger_units": d.ledger_units,
                "store_units": d.store_units,
            }
            for d in r.drift
        ],
    }
