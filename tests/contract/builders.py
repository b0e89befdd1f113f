"""Aggregates with every field set away from its default, so a round trip that drops one shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drexfy.domain.classification import Classification
from drexfy.domain.deposit import Deposit, DepositKind, DepositStatus
from drexfy.domain.model import (
    Allocation,
    AllocationStatus,
    ComplianceState,
    Instrument,
    InstrumentStatus,
    Investor,
    InvestorKind,
    KycStatus,
    Order,
    OrderStatus,
    Repayment,
    RepaymentStatus,
    SettlementStep,
    Wallet,
    Withdrawal,
    WithdrawalStatus,
)
from drexfy.domain.money import Money

#: Microseconds on purpose: a store that truncates timestamps fails the round trips.
T0 = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC)


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def investor(investor_id: str = "inv_1", **changes: object) -> Investor:
    fields: dict[str, object] = {
        "id": investor_id,
        "legal_name": "Ana Müller GmbH",
        "email": f"{investor_id}@example.com",
        "country": "DE",
        "kind": InvestorKind.ENTITY,
        "declared_accredited": True,
        "created_at": T0,
        "kyc_status": KycStatus.ACTIVE,
        "applicant_id": f"app_{investor_id}",
        "kyc_reasons": ("DOC_BLURRY", "RETRY_OK"),
        "compliance": ComplianceState.BLOCKED,
        "blocked_reason": "AML alert 77",
        "blocked_at": T0 + timedelta(days=3, microseconds=9),
        "wallet": Wallet(id=f"w_{investor_id}", address=f"0xAbC{investor_id}", public_key="02" + "ab" * 32),
        "wallet_activated": True,
        "classification": Classification.SANCTIONED,
        "classification_before_block": Classification.EU_ACCREDITED,
        "classification_seq": 3,
        "compliance_seq": 2,
        "auto_cashout": True,
    }
    fields.update(changes)
    return Investor(**fields)  # type: ignore[arg-type]


def instrument(instrument_id: str = "ins_1", **changes: object) -> Instrument:
    fields: dict[str, object] = {
        "id": instrument_id,
        "symbol": f"SME-{instrument_id}",
        "name": "SME pool 2026-A",
        "unit_price": eur(100_00),
        "total_units": 1_000,
        "eligible": frozenset({Classification.EU_ACCREDITED, Classification.EU_NON_ACCREDITED}),
        "min_ticket": eur(100_00),
        "max_ticket": eur(50_000_00),
        "created_at": T0,
        "class_caps": {Classification.EU_NON_ACCREDITED: eur(10_000_00)},
        "status": InstrumentStatus.OPEN,
        "units_sold": 40,
        "units_reserved": 5,
        "units_retired": 2,
        "ledger_ref": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    }
    fields.update(changes)
    return Instrument(**fields)  # type: ignore[arg-type]


def order(order_id: str = "ord_1", **changes: object) -> Order:
    fields: dict[str, object] = {
        "id": order_id,
        "investor_id": "inv_1",
        "instrument_id": "ins_1",
        "units": 3,
        "amount": eur(300_00),
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=30),
        "status": OrderStatus.PAID,
        "checkout_ref": "cs_123",
        "checkout_url": "https://pay.example/cs_123",
        "payment_ref": "pi_456",
        "paid_amount": eur(300_00),
        "reason": "noted",
        "steps": [SettlementStep.PAYMENT_CONFIRMED, SettlementStep.ELIGIBILITY_RECHECKED],
        "tx_ids": ("0xaa", "0xbb"),
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


def allocation(investor_id: str, status: AllocationStatus = AllocationStatus.PENDING, **changes: object) -> Allocation:
    fields: dict[str, object] = {
        "investor_id": investor_id,
        "wallet_address": f"0xW{investor_id}",
        "units_held": 10,
        "interest": eur(1_23),
        "principal": eur(4_56),
        "units_retired": 1,
        "status": status,
        "tx_ids": ("0xcc",),
        "batch": 1,
    }
    fields.update(changes)
    return Allocation(**fields)  # type: ignore[arg-type]


def repayment(repayment_id: str = "rep_1", **changes: object) -> Repayment:
    fields: dict[str, object] = {
        "id": repayment_id,
        "instrument_id": "ins_1",
        "period": "2026-11",
        "interest": eur(1_000_00),
        "principal": eur(5_000_01),
        "final": True,
        "created_at": T0,
        "status": RepaymentStatus.COMPLETED,
        "holders": 3,
        "paid_count": 1,
        "held_back_count": 1,
        "released_count": 1,
        "paid_minor": 2 * 5_79,
        "held_back_minor": 5_79,
        "units_retired": 2,
        "cursor": "inv_3",
        "next_batch": 3,
    }
    fields.update(changes)
    return Repayment(**fields)  # type: ignore[arg-type]


def shares() -> list[Allocation]:
    """The shares of `repayment()`: one paid, one held back, one released."""
    return [
        allocation("inv_1", AllocationStatus.PAID),
        allocation("inv_2", AllocationStatus.HELD_BACK, batch=None, tx_ids=()),
        allocation("inv_3", AllocationStatus.RELEASED, batch=2),
    ]


#: Fields a repayment gained when its shares became rows of their own (absent in earlier records).
LATER_REPAYMENT_FIELDS = (
    "holders",
    "pending",
    "paid_count",
    "held_back_count",
    "released_count",
    "paid_minor",
    "held_back_minor",
    "units_retired",
    "cursor",
    "open_batch",
    "batch_from",
    "batch_to",
)


def legacy_repayment(repayment_id: str, shares: list[Allocation]) -> dict[str, object]:
    """A repayment's JSON as versions before the shares' own rows wrote it: shares embedded."""
    from drexfy.adapters.serialization import to_dict

    data = to_dict(repayment(repayment_id, status=RepaymentStatus.DISTRIBUTING))
    for field in LATER_REPAYMENT_FIELDS:
        data.pop(field)
    data["allocations"] = [to_dict(a) for a in shares]
    return data


def withdrawal(withdrawal_id: str = "wd_1", **changes: object) -> Withdrawal:
    fields: dict[str, object] = {
        "id": withdrawal_id,
        "investor_id": "inv_1",
        "amount": eur(250_75),
        "created_at": T0,
        "status": WithdrawalStatus.BURNED,
        "tx_ids": ("0xdd",),
        "automatic": True,
    }
    fields.update(changes)
    return Withdrawal(**fields)  # type: ignore[arg-type]


def deposit(deposit_id: str = "dep_1", **changes: object) -> Deposit:
    """A bank credit with every field set (a returned payout, assigned and minted)."""
    fields: dict[str, object] = {
        "id": deposit_id,
        "bank_ref": f"BANK-{deposit_id}",
        "amount": eur(120_00),
        "received_at": T0,
        "kind": DepositKind.RETURN,
        "status": DepositStatus.MINTED,
        "investor_id": "inv_1",
        "reference": "DREXFY inv_1",
        "reason": None,
        "withdrawal_id": "wd_1",
        "assigned_by": "ops@drexfy",
        "minted_at": T0,
        "tx_ids": ("0xde",),
    }
    fields.update(changes)
    return Deposit(**fields)  # type: ignore[arg-type]
