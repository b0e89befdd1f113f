"""Domain events: one for every state change, persisted in the same unit of work as the change.

They are the audit trail and the source of the frontend notifications (through the outbox).
About 400 lines because it is one flat table of small frozen records, one per state change, which a
reader scans as a list; splitting it by area would scatter the list the audit log is read against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import attrs

#: What an investor (and the frontend acting for them) is told about a compliance restriction: never
#: the AML reason, the alert or a SANCTIONED class (no tipping-off).
RESTRICTED = "RESTRICTED"
SUPPORT_MESSAGE = "Your account is restricted. Please contact support."


@attrs.frozen
class DomainEvent:
    """Base of all events. `aggregate_id` names the investor, order, instrument or repayment."""

    aggregate_id: str
    occurred_at: datetime
    #: Events the frontend is told about (through the outbox); the rest are audit only.
    notify: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        """A JSON-ready dict of the event's own fields (ids, codes, integers; never secrets)."""
        out: dict[str, Any] = {}
        for field in attrs.fields(type(self)):
            if field.name in ("aggregate_id", "occurred_at"):
                continue
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    def notice(self) -> dict[str, Any]:
        """What the frontend is told (through the outbox): the payload, unless the event carries
        something only compliance may see."""
        return self.payload()


@attrs.frozen
class InvestorRegistered(DomainEvent):
    country: str
    kind: str


@attrs.frozen
class KycStarted(DomainEvent):
    applicant_id: str


@attrs.frozen
class KycRejected(DomainEvent):
    notify: ClassVar[bool] = True
    reasons: tuple[str, ...]


@attrs.frozen
class InvestorClassified(DomainEvent):
    notify: ClassVar[bool] = True
    classification: str
    tx_id: str | None = None

    def notice(self) -> dict[str, Any]:
        if self.classification == "SANCTIONED":
            return {"state": RESTRICTED, "message": SUPPORT_MESSAGE}
        return self.payload()


@attrs.frozen
class WalletCreated(DomainEvent):
    wallet_id: str
    address: str


@attrs.frozen
class WalletActivated(DomainEvent):
    address: str
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class InvestorActivated(DomainEvent):
    notify: ClassVar[bool] = True
    classification: str


@attrs.frozen
class InvestorBlocked(DomainEvent):
    notify: ClassVar[bool] = True
    reason: str
    source: str

    def notice(self) -> dict[str, Any]:
        return {"state": RESTRICTED, "message": SUPPORT_MESSAGE}


@attrs.frozen
class InvestorUnblocked(DomainEvent):
    notify: ClassVar[bool] = True
    reason: str
    officer: str
    classification: str

    def notice(self) -> dict[str, Any]:
        return {"state": "CLEAR", "classification": self.classification}


@attrs.frozen
class SanctionsConfirmed(DomainEvent):
    """A compliance officer confirmed the sanctions match behind a block: the class becomes
    SANCTIONED on chain. Compliance-only (never notified as such)."""

    reason: str
    officer: str


@attrs.frozen
class AmlAlertCleared(DomainEvent):
    """Monitoring cleared an alert; unblocking stays a compliance officer's decision."""

    alert_id: str
    reason: str


@attrs.frozen
class WalletFrozen(DomainEvent):
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class WalletUnfrozen(DomainEvent):
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class InstrumentCreated(DomainEvent):
    symbol: str
    total_units: int
    unit_price_minor: int
    currency: str


@attrs.frozen
class InstrumentIssued(DomainEvent):
    ledger_ref: str
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class InstrumentStatusChanged(DomainEvent):
    status: str


@attrs.frozen
class OrderCreated(DomainEvent):
    investor_id: str
    instrument_id: str
    units: int
    amount_minor: int
    currency: str


@attrs.frozen
class OrderPaid(DomainEvent):
    payment_ref: str
    amount_minor: int


@attrs.frozen
class OrderSettled(DomainEvent):
    notify: ClassVar[bool] = True
    investor_id: str
    instrument_id: str
    units: int
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class OrderClosed(DomainEvent):
    """The order ended without settlement: EXPIRED, CANCELLED, FAILED, REFUND_DUE or REFUNDED."""

    notify: ClassVar[bool] = True
    status: str
    reason: str


@attrs.frozen
class PayoutAccountRegistered(DomainEvent):
    """The investor named the account withdrawals are paid to (only its last four characters here)."""

    iban_ending: str


@attrs.frozen
class PayoutSent(DomainEvent):
    withdrawal_id: str
    batch_id: str


@attrs.frozen
class WithdrawalPaidOut(DomainEvent):
    """The bank statement shows the transfer: the investor has the money."""

    notify: ClassVar[bool] = True
    withdrawal_id: str
    amount_minor: int
    currency: str


@attrs.frozen
class KycProgressed(DomainEvent):
    """The KYC review moved on without a final decision; RETRY tells the investor to submit again
    (`reasons`: what to fix; compliance labels never appear here)."""

    notify: ClassVar[bool] = True
    progress: str
    reasons: tuple[str, ...] = ()


@attrs.frozen
class RefundRequested(DomainEvent):
    """The gateway accepted a refund of a REFUND_DUE order (`refund_ref`); its outcome comes later."""

    refund_ref: str
    attempt: int


@attrs.frozen
class RefundFailed(DomainEvent):
    """A refund did not go through (refused at once, or failed later at the gateway); the order stays
    REFUND_DUE and is asked again from `retry_at` (ISO 8601). For operators: the reason says why."""

    reason: str
    attempt: int
    retry_at: str


@attrs.frozen
class RepaymentStarted(DomainEvent):
    instrument_id: str
    interest_minor: int
    principal_minor: int
    final: bool
    holders: int


@attrs.frozen
class RepaymentRequested(DomainEvent):
    """Recorded for the worker, which takes the holders' snapshot and pays (`RepaymentStarted`)."""

    instrument_id: str
    period: str
    interest_minor: int
    principal_minor: int
    final: bool


@attrs.frozen
class RepaymentFailed(DomainEvent):
    """The snapshot found the repayment impossible (no holders, more principal than outstanding)."""

    notify: ClassVar[bool] = True
    instrument_id: str
    period: str
    reason: str


@attrs.frozen
class RepaymentPaid(DomainEvent):
    """One holder's share paid (or released after being held back)."""

    notify: ClassVar[bool] = True
    repayment_id: str
    investor_id: str
    amount_minor: int
    units_retired: int
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class RepaymentHeldBack(DomainEvent):
    notify: ClassVar[bool] = True
    repayment_id: str
    investor_id: str
    amount_minor: int


@attrs.frozen
class UnitsTransferred(DomainEvent):
    """Units moved on the ledger between two investors' wallets, outside the platform's own
    operations; the store's positions now follow (`processes.register`)."""

    sender_id: str
    receiver_id: str
    units: int
    tx_id: str


@attrs.frozen
class UnitsForceTransferred(DomainEvent):
    """The agent moved units between two investors without the sender's consent (a court order, an
    error correction); `actor` is the principal who asked, `operation_id` the request's id."""

    instrument_id: str
    sender_id: str
    receiver_id: str
    units: int
    reason: str
    actor: str
    operation_id: str
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class WalletRecovered(DomainEvent):
    """An investor's lost wallet was replaced: a new custodial wallet, every unit moved to it on the
    ledger, the lost one frozen there."""

    notify: ClassVar[bool] = True
    lost_address: str
    new_wallet_id: str
    new_address: str
    reason: str
    actor: str
    operation_id: str
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class RepaymentDistributed(DomainEvent):
    notify: ClassVar[bool] = True
    instrument_id: str
    paid_minor: int
    held_back_minor: int
    units_retired: int


@attrs.frozen
class InstrumentMatured(DomainEvent):
    notify: ClassVar[bool] = True


@attrs.frozen
class WithdrawalRecorded(DomainEvent):
    notify: ClassVar[bool] = True
    withdrawal_id: str
    amount_minor: int
    currency: str
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class DepositReceived(DomainEvent):
    """A bank credit was read from a statement (`aggregate_id`: the deposit): MATCHED to an
    investor, or UNMATCHED for an operator."""

    kind: str
    status: str
    amount_minor: int
    currency: str


@attrs.frozen
class DepositAssigned(DomainEvent):
    """An operator assigned an unmatched bank credit (`aggregate_id`: the deposit) to an investor."""

    investor_id: str
    operator: str


@attrs.frozen
class DepositMinted(DomainEvent):
    """Stablecoin minted 1:1 to the investor (`aggregate_id`) for a bank credit: a deposit, or a
    payout the bank returned (`withdrawal_id`)."""

    notify: ClassVar[bool] = True
    deposit_id: str
    kind: str
    amount_minor: int
    currency: str
    withdrawal_id: str | None = None
    tx_ids: tuple[str, ...] = ()


@attrs.frozen
class PayoutReturned(DomainEvent):
    """The bank returned a payout (`aggregate_id`: the investor); the money is credited back as
    stablecoin (`DepositMinted`). `reason` is the bank's ISO return code (e.g. AC04: account closed)."""

    notify: ClassVar[bool] = True
    withdrawal_id: str
    amount_minor: int
    currency: str
    reason: str | None = None
