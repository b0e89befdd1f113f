"""Aggregates: Investor, Instrument, Order, Repayment, Withdrawal. Rules live on them as methods.
(One module of about 730 lines on purpose: the aggregates' state machines refer to one another and
read best side by side, as in cosmicpython's `model.py`.)

Each aggregate collects the events of its changes in `events`; the unit of work persists them with
the change and clears the list.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from drexfy.domain import events as ev
from drexfy.domain.bounds import MAX_MINOR, check_text, check_units
from drexfy.domain.classification import Classification
from drexfy.domain.errors import AmountOutOfRange, IllegalTransition, InvalidAmount, ValidationFailed
from drexfy.domain.money import Money


class InvestorKind(enum.Enum):
    INDIVIDUAL = "INDIVIDUAL"
    ENTITY = "ENTITY"


class KycStatus(enum.Enum):
    PENDING_KYC = "PENDING_KYC"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"


class ComplianceState(enum.Enum):
    CLEAR = "CLEAR"
    BLOCKED = "BLOCKED"


@attrs.frozen
class Wallet:
    """A custodial wallet: its vault key id and its ledger address. Never a private key."""

    id: str
    address: str
    public_key: str  # hex, compressed secp256k1


@attrs.define
class Investor:
    id: str
    legal_name: str
    email: str
    country: str
    kind: InvestorKind
    declared_accredited: bool
    created_at: datetime
    kyc_status: KycStatus = KycStatus.PENDING_KYC
    applicant_id: str | None = None
    kyc_reasons: tuple[str, ...] = ()
    #: Where the provider's review stands while PENDING_KYC: PENDING, ON_HOLD, RESET or RETRY (the
    #: investor must submit again; `kyc_reasons` says what to fix). None before any news.
    kyc_progress: str | None = None
    #: Where withdrawals are paid (an IBAN, validated and normalised by the bank adapter).
    payout_iban: str | None = attrs.field(default=None, repr=False)
    compliance: ComplianceState = ComplianceState.CLEAR
    blocked_reason: str | None = None
    blocked_at: datetime | None = None
    wallet: Wallet | None = None
    wallet_activated: bool = False
    classification: Classification | None = None
    #: The class before an AML block turned it SANCTIONED; restored on unblock.
    classification_before_block: Classification | None = None
    #: Bumped at every on-chain (re)classification so each gets its own operation id.
    classification_seq: int = 0
    #: Bumped at every block and unblock so each episode's freeze operations get their own ids.
    compliance_seq: int = 0
    auto_cashout: bool = False
    version: int = 0
    events: list[ev.DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    @property
    def is_blocked(self) -> bool:
        return self.compliance is ComplianceState.BLOCKED

    @property
    def is_active(self) -> bool:
        return self.kyc_status is KycStatus.ACTIVE

    def start_kyc(self, applicant_id: str, now: datetime) -> None:
        if self.kyc_status is not KycStatus.PENDING_KYC:
            raise IllegalTransition(f"KYC already finished for investor {self.id} ({self.kyc_status.value})")
        self.applicant_id = applicant_id
        self.events.append(ev.KycStarted(self.id, now, applicant_id))

    def set_payout_iban(self, iban: str, now: datetime) -> None:
        """`iban` is already validated and normalised (the bank adapter does it)."""
        if self.payout_iban != iban:
            self.payout_iban = iban
            self.events.append(ev.PayoutAccountRegistered(self.id, now, iban[-4:]))

    def kyc_progressed(self, progress: str, reasons: tuple[str, ...], now: datetime) -> None:
        """The provider's review moved on without a final decision (RETRY: submit again)."""
        if self.kyc_status is not KycStatus.PENDING_KYC:
            raise IllegalTransition(f"investor {self.id} is {self.kyc_status.value}, not PENDING_KYC")
        self.kyc_progress = progress
        self.kyc_reasons = reasons
        self.events.append(ev.KycProgressed(self.id, now, progress, reasons))

    def reject_kyc(self, reasons: tuple[str, ...], now: datetime) -> None:
        if self.kyc_status is not KycStatus.PENDING_KYC:
            raise IllegalTransition(f"investor {self.id} is {self.kyc_status.value}, not PENDING_KYC")
        self.kyc_status = KycStatus.REJECTED
        self.kyc_reasons = reasons
        self.events.append(ev.KycRejected(self.id, now, reasons))

    def attach_wallet(self, wallet: Wallet, now: datetime) -> None:
        if self.wallet is not None:
            if self.wallet != wallet:
                raise IllegalTransition(f"investor {self.id} already has wallet {self.wallet.id}")
            return
        self.wallet = wallet
        self.events.append(ev.WalletCreated(self.id, now, wallet.id, wallet.address))

    def replace_wallet(self, wallet: Wallet, event: ev.WalletRecovered) -> None:
        """A wallet recovery: the investor holds and is paid on `wallet` from now on."""
        if self.wallet is None:
            raise IllegalTransition(f"investor {self.id} has no wallet to replace")
        if self.wallet != wallet:
            self.wallet = wallet
            self.events.append(event)

    def mark_wallet_activated(self, tx_ids: tuple[str, ...], now: datetime) -> None:
        if self.wallet is None:
            raise IllegalTransition("no wallet to activate")
        if not self.wallet_activated:
            self.wallet_activated = True
            self.events.append(ev.WalletActivated(self.id, now, self.wallet.address, tx_ids))

    def classify_as(self, classification: Classification, tx_id: str | None, now: datetime) -> None:
        self.classification = classification
        self.classification_seq += 1
        self.events.append(ev.InvestorClassified(self.id, now, classification.name, tx_id))

    def activate(self, now: datetime) -> None:
        if self.kyc_status is not KycStatus.PENDING_KYC:
            raise IllegalTransition(f"investor {self.id} is {self.kyc_status.value}, not PENDING_KYC")
        if self.wallet is None or self.classification is None:
            raise IllegalTransition("an investor needs a wallet and a classification to become ACTIVE")
        self.kyc_status = KycStatus.ACTIVE
        self.events.append(ev.InvestorActivated(self.id, now, self.classification.name))

    def block(self, reason: str, source: str, now: datetime) -> bool:
        """Block the investor. Returns False (and changes nothing) if already blocked."""
        if not reason.strip():
            raise ValidationFailed("a block needs a reason")
        check_text(reason, "the reason")
        if self.is_blocked:
            return False
        self.compliance = ComplianceState.BLOCKED
        self.compliance_seq += 1
        self.blocked_reason = reason
        self.blocked_at = now
        if self.classification is not Classification.SANCTIONED:
            self.classification_before_block = self.classification
        self.events.append(ev.InvestorBlocked(self.id, now, reason, source))
        return True

    def unblock(self, reason: str, officer: str, now: datetime) -> Classification | None:
        """Lift a block; returns the classification to restore (None if the investor never had one)."""
        if not reason.strip():
            raise ValidationFailed("an unblock needs a reason")
        check_text(reason, "the reason")
        if not self.is_blocked:
            raise IllegalTransition(f"investor {self.id} is not blocked")
        restored = self.classification_before_block
        self.compliance = ComplianceState.CLEAR
        self.compliance_seq += 1
        self.blocked_reason = None
        self.blocked_at = None
        self.classification_before_block = None
        self.events.append(ev.InvestorUnblocked(self.id, now, reason, officer, restored.name if restored else "NONE"))
        return restored


class InstrumentStatus(enum.Enum):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    REPAYING = "REPAYING"
    MATURED = "MATURED"


@attrs.define
class Instrument:
    """The token of one securitized SME credit pool, with its sale terms."""

    id: str
    symbol: str
    name: str
    unit_price: Money
    total_units: int
    eligible: frozenset[Classification]
    min_ticket: Money
    max_ticket: Money
    created_at: datetime
    #: Cumulative amount one investor of a class may hold in this instrument (e.g. EU retail caps).
    class_caps: dict[Classification, Money] = attrs.field(factory=dict)
    status: InstrumentStatus = InstrumentStatus.DRAFT
    units_sold: int = 0
    units_reserved: int = 0
    #: Units retired by principal repayments (returned to the issuer and burned).
    units_retired: int = 0
    ledger_ref: str | None = None
    #: Where on the ledger it was issued (EVM block, XRPL ledger index); None if not recorded.
    ledger_position: int | None = None
    #: How far the store's positions follow the ledger: the cursor of the last unit movement read
    #: (`processes.register`). None until the first read.
    register_cursor: str | None = None
    #: Operation ids of the agent's forced transfers already recorded in the positions (exactly once).
    agent_ops: tuple[str, ...] = ()
    version: int = 0
    events: list[ev.DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.total_units <= 0:
            raise ValidationFailed("total_units must be positive")
        check_units(self.total_units, "total_units")
        if not self.unit_price.is_positive():
            raise InvalidAmount("unit price must be positive")
        if self.total_units * self.unit_price.minor > MAX_MINOR:
            # Every order, holding and repayment of the instrument then fits (drexfy.domain.bounds).
            raise AmountOutOfRange(f"total_units * unit_price must be at most {MAX_MINOR} minor units")
        if self.min_ticket.currency != self.unit_price.currency or self.max_ticket.currency != self.currency:
            raise ValidationFailed("tickets must be in the instrument's currency")
        if self.min_ticket > self.max_ticket:
            raise ValidationFailed("min_ticket is above max_ticket")
        if not self.eligible:
            raise ValidationFailed("an instrument needs at least one eligible classification")
        if Classification.SANCTIONED in self.eligible:
            raise ValidationFailed("SANCTIONED investors can never be eligible")

    @property
    def currency(self) -> str:
        return self.unit_price.currency

    @property
    def units_available(self) -> int:
        return self.total_units - self.units_sold - self.units_reserved

    @property
    def units_outstanding(self) -> int:
        return self.units_sold - self.units_retired

    def price_of(self, units: int) -> Money:
        return self.unit_price * units

    def issued(self, ledger_ref: str, tx_ids: tuple[str, ...], now: datetime, position: int | None = None) -> None:
        self.ledger_ref = ledger_ref
        self.ledger_position = position
        self.events.append(ev.InstrumentIssued(self.id, now, ledger_ref, tx_ids))

    def _move(self, to: InstrumentStatus, allowed_from: tuple[InstrumentStatus, ...], now: datetime) -> None:
        if self.status is to:
            return
        if self.status not in allowed_from:
            raise IllegalTransition(f"instrument {self.symbol} cannot go from {self.status.value} to {to.value}")
        self.status = to
        self.events.append(ev.InstrumentStatusChanged(self.id, now, to.value))

    def open(self, now: datetime) -> None:
        if self.ledger_ref is None:
            raise IllegalTransition(f"instrument {self.symbol} is not issued on the ledger yet")
        self._move(InstrumentStatus.OPEN, (InstrumentStatus.DRAFT, InstrumentStatus.CLOSED), now)

    def close(self, now: datetime) -> None:
        self._move(InstrumentStatus.CLOSED, (InstrumentStatus.OPEN,), now)

    def start_repaying(self, now: datetime) -> None:
        self._move(InstrumentStatus.REPAYING, (InstrumentStatus.OPEN, InstrumentStatus.CLOSED), now)

    def mature(self, now: datetime) -> None:
        self._move(InstrumentStatus.MATURED, (InstrumentStatus.REPAYING,), now)
        self.events.append(ev.InstrumentMatured(self.id, now))


class OrderStatus(enum.Enum):
    CREATED = "CREATED"
    PAID = "PAID"
    SETTLED = "SETTLED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    REFUND_DUE = "REFUND_DUE"
    REFUNDED = "REFUNDED"


#: Orders in these states hold reserved units.
RESERVING = frozenset({OrderStatus.CREATED, OrderStatus.PAID})
#: Orders that count against an investor's ticket limits and caps (`committed_amount`).
COMMITTED_ORDER_STATES = frozenset({OrderStatus.CREATED, OrderStatus.PAID, OrderStatus.SETTLED})


def check_positive_units(units: int) -> None:
    """A count of units moved by a store's conditional update: a positive whole number."""
    if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
        raise ValidationFailed(f"units must be a positive integer, got {units!r}")


_ORDER_MOVES: dict[OrderStatus, frozenset[OrderStatus]] = {
    # CREATED -> REFUND_DUE: a payment that does not match the order (wrong amount) goes back.
    OrderStatus.CREATED: frozenset(
        {OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.FAILED, OrderStatus.REFUND_DUE}
    ),
    # PAID -> FAILED: an order paid from the stablecoin balance that cannot settle (nothing moved,
    # nothing to refund).
    OrderStatus.PAID: frozenset({OrderStatus.SETTLED, OrderStatus.REFUND_DUE, OrderStatus.FAILED}),
    # Money that arrives for an order that already ended must go back.
    OrderStatus.EXPIRED: frozenset({OrderStatus.REFUND_DUE}),
    OrderStatus.CANCELLED: frozenset({OrderStatus.REFUND_DUE}),
    OrderStatus.FAILED: frozenset({OrderStatus.REFUND_DUE}),
    OrderStatus.REFUND_DUE: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.SETTLED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}


class SettlementStep(enum.Enum):
    """The recorded steps of a settlement, so a settlement resumes where it stopped."""

    PAYMENT_CONFIRMED = "PAYMENT_CONFIRMED"
    ELIGIBILITY_RECHECKED = "ELIGIBILITY_RECHECKED"
    LEDGER_SETTLED = "LEDGER_SETTLED"


@attrs.define
class Order:
    id: str
    investor_id: str
    instrument_id: str
    units: int
    amount: Money
    created_at: datetime
    expires_at: datetime
    status: OrderStatus = OrderStatus.CREATED
    checkout_ref: str | None = None
    checkout_url: str | None = None
    payment_ref: str | None = None
    paid_amount: Money | None = None
    #: When the payment was confirmed (None before; orders stored before this field: unknown).
    paid_at: datetime | None = None
    reason: str | None = None
    steps: list[SettlementStep] = attrs.field(factory=list)
    tx_ids: tuple[str, ...] = ()
    #: A settlement lease: which attempt is settling the order on the ledger, and until when. Two
    #: workers handling two notifications of one payment must not both drive the ledger.
    settling_by: str | None = None
    settling_until: datetime | None = None
    #: Refunds of a REFUND_DUE order: the gateway's refund in flight (None: none asked, or the last
    #: one failed), how many were asked before (the gateway's idempotency key carries the number, so
    #: a retried request never refunds twice and a new attempt after a failure is a new refund), the
    #: last failure (for operators) and when the next attempt is due.
    refund_ref: str | None = None
    refund_attempts: int = 0
    refund_error: str | None = None
    refund_retry_at: datetime | None = None
    #: The gateway's refunds that failed, so a redelivered failure counts once, and a failure that
    #: overtakes the recording of its own refund still counts.
    refund_failures: tuple[str, ...] = ()
    #: Paid from the investor's stablecoin balance (no card): settled without a mint, and never
    #: refunded through the gateway (nothing was paid there).
    funded_from_balance: bool = False
    version: int = 0
    events: list[ev.DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    @property
    def reserves_units(self) -> bool:
        return self.status in RESERVING

    def _to(self, status: OrderStatus) -> None:
        if status not in _ORDER_MOVES[self.status]:
            raise IllegalTransition(f"order {self.id} cannot go from {self.status.value} to {status.value}")
        self.status = status

    def is_expired(self, now: datetime) -> bool:
        return self.status is OrderStatus.CREATED and now >= self.expires_at

    def mark_paid(self, payment_ref: str, amount: Money, now: datetime) -> None:
        if amount != self.amount:
            raise InvalidAmount(f"order {self.id} costs {self.amount}, payment was {amount}")
        self._to(OrderStatus.PAID)
        self.payment_ref = payment_ref
        self.paid_amount = amount
        self.paid_at = now
        self.record_step(SettlementStep.PAYMENT_CONFIRMED)
        self.events.append(ev.OrderPaid(self.id, now, payment_ref, amount.minor))

    def mark_paid_from_balance(self, now: datetime) -> None:
        """The investor pays from their stablecoin balance: the settlement moves it."""
        self.mark_paid(f"balance:{self.id}", self.amount, now)
        self.funded_from_balance = True

    def record_step(self, step: SettlementStep) -> None:
        if step not in self.steps:
            self.steps.append(step)

    def has_step(self, step: SettlementStep) -> bool:
        return step in self.steps

    def take_settlement_lease(self, holder: str, now: datetime, duration: timedelta) -> bool:
        """Claim the right to settle on the ledger; False if another attempt holds a live lease."""
        if self.status is not OrderStatus.PAID:
            raise IllegalTransition(f"order {self.id} is {self.status.value}, not PAID")
        if self.settling_until is not None and self.settling_until > now and self.settling_by != holder:
            return False
        self.settling_by = holder
        self.settling_until = now + duration
        return True

    def settle(self, tx_ids: tuple[str, ...], now: datetime) -> None:
        self._to(OrderStatus.SETTLED)
        self.tx_ids = tx_ids
        self.record_step(SettlementStep.LEDGER_SETTLED)
        self.events.append(ev.OrderSettled(self.id, now, self.investor_id, self.instrument_id, self.units, tx_ids))

    def close(self, status: OrderStatus, reason: str, now: datetime) -> None:
        if status not in (
            OrderStatus.EXPIRED,
            OrderStatus.CANCELLED,
            OrderStatus.FAILED,
            OrderStatus.REFUND_DUE,
            OrderStatus.REFUNDED,
        ):
            raise IllegalTransition(f"{status.value} is not a closing state")
        self._to(status)
        self.reason = reason
        self.events.append(ev.OrderClosed(self.id, now, status.value, reason))

    def refund_due_for_late_payment(self, payment_ref: str, amount: Money | None, reason: str, now: datetime) -> None:
        """A payment arrived for an order that already ended (or that it cannot pay): record it and
        owe it back. `amount` is None when the gateway reported no valid amount."""
        self.payment_ref = payment_ref
        self.paid_amount = amount
        self.close(OrderStatus.REFUND_DUE, reason, now)

    def refund_due_now(self, now: datetime) -> bool:
        """A refund should be asked now: REFUND_DUE, none in flight, and no failure waiting out its
        back-off."""
        return (
            self.status is OrderStatus.REFUND_DUE
            and self.payment_ref is not None
            and self.refund_ref is None
            and (self.refund_retry_at is None or self.refund_retry_at <= now)
        )

    def refund_requested(self, refund_ref: str, now: datetime) -> None:
        if self.status is not OrderStatus.REFUND_DUE:
            raise IllegalTransition(f"order {self.id} is {self.status.value}, not REFUND_DUE")
        self.refund_ref = refund_ref
        self.refund_retry_at = None
        self.events.append(ev.RefundRequested(self.id, now, refund_ref, self.refund_attempts))

    def refund_postponed(self, reason: str, retry_at: datetime) -> None:
        """The gateway could not be asked (unreachable, failing): the same attempt (same
        idempotency key) is asked again at `retry_at`."""
        self.refund_error = reason[:500]
        self.refund_retry_at = retry_at

    def refund_failed(self, reason: str, now: datetime, retry_at: datetime, refund_ref: str | None = None) -> None:
        """The refund asked last (`refund_ref`, when the gateway made one) did not go through: the
        next attempt is a new refund, due at `retry_at`; the order stays REFUND_DUE."""
        if self.status is not OrderStatus.REFUND_DUE:
            raise IllegalTransition(f"order {self.id} is {self.status.value}, not REFUND_DUE")
        if refund_ref is not None:
            self.refund_failures = (*self.refund_failures, refund_ref)
        self.refund_ref = None
        self.refund_attempts += 1
        self.refund_error = reason[:500]
        self.refund_retry_at = retry_at
        self.events.append(ev.RefundFailed(self.id, now, self.refund_error, self.refund_attempts, retry_at.isoformat()))


class RepaymentStatus(enum.Enum):
    #: Recorded by the request; the worker's job has not taken the holders' snapshot yet.
    REQUESTED = "REQUESTED"
    DISTRIBUTING = "DISTRIBUTING"
    COMPLETED = "COMPLETED"
    #: The snapshot found the repayment impossible (no holders, more principal than outstanding):
    #: nothing was allocated or paid, `failure` says why, and the period may be requested again.
    FAILED = "FAILED"


class AllocationStatus(enum.Enum):
    PENDING = "PENDING"
    PAID = "PAID"
    HELD_BACK = "HELD_BACK"
    RELEASED = "RELEASED"


@attrs.define
class Allocation:
    """One holder's share of a repayment round. Allocations are stored as rows of their own (a
    repayment to 100,000 holders does not fit one record); the `Repayment` keeps their running
    totals, and every change to an allocation is saved together with its repayment."""

    investor_id: str
    units_held: int
    interest: Money
    principal: Money
    units_retired: int
    status: AllocationStatus = AllocationStatus.PENDING
    tx_ids: tuple[str, ...] = ()
    #: The ledger batch this share is paid in; fixed before the batch is sent, so a retry sends the
    #: same batch under the same operation id.
    batch: int | None = None
    #: The wallet paid, recorded when the share is put in a batch (empty until then).
    wallet_address: str = ""

    @property
    def amount(self) -> Money:
        return self.interest + self.principal


@attrs.define
class Repayment:
    """A repayment round of one instrument: interest and principal for a period, pro rata by units.

    The holders' shares (`Allocation`) are stored beside it, in investor-id order. The repayment
    keeps their running totals and where the paying stands: `cursor` is the last investor id put in
    a batch, and the open batch (if any) covers the ids after `batch_from` up to `batch_to`. One
    batch is open at a time, so a retry finds exactly the members it sent."""

    id: str
    instrument_id: str
    period: str
    interest: Money
    principal: Money
    final: bool
    created_at: datetime
    #: The ledger cursor the holders' positions had caught up with when they were snapshotted.
    as_of: str | None = None
    status: RepaymentStatus = RepaymentStatus.REQUESTED
    holders: int = 0
    pending: int = 0
    paid_count: int = 0
    held_back_count: int = 0
    released_count: int = 0
    paid_minor: int = 0
    held_back_minor: int = 0
    units_retired: int = 0
    cursor: str = ""
    open_batch: int | None = None
    batch_from: str = ""
    batch_to: str = ""
    next_batch: int = 0
    version: int = 0
    events: list[ev.DomainEvent] = attrs.field(factory=list, eq=False, repr=False)
    #: Why the snapshot could not allocate the repayment (status FAILED).
    failure: str | None = None
    #: When the worker took the holders' snapshot.
    snapshot_at: datetime | None = None

    @property
    def total(self) -> Money:
        return self.interest + self.principal

    @property
    def in_progress(self) -> bool:
        """Requested or distributing: the instrument's next repayment waits for this one."""
        return self.status in (RepaymentStatus.REQUESTED, RepaymentStatus.DISTRIBUTING)

    @property
    def batches_paid(self) -> int:
        """Ledger batches paid and recorded (the open one, if any, is not)."""
        return self.next_batch - (self.open_batch is not None)

    @property
    def paid(self) -> Money:
        """Paid to holders so far (in batches, and held-back shares released later)."""
        return Money(self.paid_minor, self.interest.currency)

    @property
    def held_back(self) -> Money:
        return Money(self.held_back_minor, self.interest.currency)

    def counts(self) -> dict[AllocationStatus, int]:
        return {
            AllocationStatus.PENDING: self.pending,
            AllocationStatus.PAID: self.paid_count,
            AllocationStatus.HELD_BACK: self.held_back_count,
            AllocationStatus.RELEASED: self.released_count,
        }

    def snapshot(self, holders: int, as_of: str | None, now: datetime) -> None:
        """This round pays `holders` shares, all PENDING, from positions as of the ledger's `as_of`."""
        if self.status is not RepaymentStatus.REQUESTED or self.holders:
            raise IllegalTransition(f"repayment {self.id} already has its holders")
        self.holders = self.pending = holders
        self.as_of, self.snapshot_at = as_of, now
        self.status = RepaymentStatus.DISTRIBUTING
        self.events.append(
            ev.RepaymentStarted(
                self.id, now, self.instrument_id, self.interest.minor, self.principal.minor, self.final, holders
            )
        )

    def fail(self, reason: str, now: datetime) -> None:
        """The snapshot found the repayment impossible: it ends here, nothing allocated or paid."""
        if self.status is not RepaymentStatus.REQUESTED:
            raise IllegalTransition(f"repayment {self.id} is {self.status.value}; only a requested one can fail")
        self.status, self.failure = RepaymentStatus.FAILED, reason
        self.events.append(ev.RepaymentFailed(self.id, now, self.instrument_id, self.period, reason))

    def open(self, batch_to: str) -> int:
        """Open the next batch: the shares after the cursor up to `batch_to` (investor ids)."""
        if self.open_batch is not None:
            raise IllegalTransition(f"batch {self.open_batch} of repayment {self.id} is still open")
        self.open_batch, self.batch_from, self.batch_to = self.next_batch, self.cursor, batch_to
        self.next_batch += 1
        self.cursor = batch_to
        return self.open_batch

    def skip_to(self, investor_id: str) -> None:
        """Move the cursor past shares settled without a batch (held back)."""
        self.cursor = max(self.cursor, investor_id)

    def close_batch(self) -> None:
        self.open_batch = None

    def mark_paid(self, allocation: Allocation, tx_ids: tuple[str, ...], now: datetime) -> None:
        if allocation.status is AllocationStatus.PENDING:
            allocation.status = AllocationStatus.PAID
            self.pending -= 1
            self.paid_count += 1
        elif allocation.status is AllocationStatus.HELD_BACK:
            allocation.status = AllocationStatus.RELEASED
            self.held_back_count -= 1
            self.held_back_minor -= allocation.amount.minor
            self.released_count += 1
        else:
            raise IllegalTransition(f"allocation of {allocation.investor_id} is already {allocation.status.value}")
        self.paid_minor += allocation.amount.minor
        self.units_retired += allocation.units_retired
        allocation.tx_ids = tx_ids
        self.events.append(
            ev.RepaymentPaid(
                self.instrument_id,
                now,
                self.id,
                allocation.investor_id,
                allocation.amount.minor,
                allocation.units_retired,
                tx_ids,
            )
        )

    def hold_back(self, allocation: Allocation, now: datetime) -> None:
        if allocation.status is not AllocationStatus.PENDING:
            raise IllegalTransition(f"allocation of {allocation.investor_id} is already {allocation.status.value}")
        allocation.status = AllocationStatus.HELD_BACK
        allocation.batch = None
        self.pending -= 1
        self.held_back_count += 1
        self.held_back_minor += allocation.amount.minor
        self.events.append(
            ev.RepaymentHeldBack(self.instrument_id, now, self.id, allocation.investor_id, allocation.amount.minor)
        )

    def complete_if_done(self, now: datetime) -> bool:
        if self.status is not RepaymentStatus.DISTRIBUTING or self.pending or self.open_batch is not None:
            return False
        self.status = RepaymentStatus.COMPLETED
        self.events.append(
            ev.RepaymentDistributed(
                self.id, now, self.instrument_id, self.paid.minor, self.held_back.minor, self.units_retired
            )
        )
        return True


class WithdrawalStatus(enum.Enum):
    REQUESTED = "REQUESTED"
    BURNED = "BURNED"
    #: In a credit-transfer (pain.001) file handed to the bank; the bank statement confirms it.
    SENT = "SENT"
    PAID_OUT = "PAID_OUT"
    #: The bank sent the transfer back (a return on a statement); the money was credited back.
    RETURNED = "RETURNED"


@attrs.define
class Withdrawal:
    """Stablecoin leaving circulation: burned on the ledger, owed to the investor in fiat."""

    id: str
    investor_id: str
    amount: Money
    created_at: datetime
    status: WithdrawalStatus = WithdrawalStatus.REQUESTED
    tx_ids: tuple[str, ...] = ()
    automatic: bool = False
    #: The payout: the credit-transfer batch it went out in, the account paid (the investor's
    #: payout IBAN when batched), and the bank statement entry that confirmed it.
    batch_id: str | None = None
    paid_to: str | None = attrs.field(default=None, repr=False)
    paid_out_at: datetime | None = None
    bank_entry: str | None = None
    #: The bank's ISO return reason code when the transfer came back (RETURNED).
    return_reason: str | None = None
    version: int = 0
    events: list[ev.DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    def batched(self, batch_id: str, iban: str, now: datetime) -> None:
        if self.status is not WithdrawalStatus.BURNED:
            raise IllegalTransition(f"withdrawal {self.id} is {self.status.value}, not BURNED")
        self.status = WithdrawalStatus.SENT
        self.batch_id = batch_id
        self.paid_to = iban
        self.events.append(ev.PayoutSent(self.investor_id, now, self.id, batch_id))

    def paid_out(self, bank_entry: str, now: datetime) -> None:
        """The bank statement shows the transfer's debit."""
        if self.status is not WithdrawalStatus.SENT:
            raise IllegalTransition(f"withdrawal {self.id} is {self.status.value}, not SENT")
        self.status = WithdrawalStatus.PAID_OUT
        self.paid_out_at = now
        self.bank_entry = bank_entry
        self.events.append(
            ev.WithdrawalPaidOut(self.investor_id, now, self.id, self.amount.minor, self.amount.currency)
        )

    def returned(self, reason: str | None, now: datetime) -> None:
        """The bank returned the transfer (the statement shows the credit back)."""
        if self.status not in (WithdrawalStatus.SENT, WithdrawalStatus.PAID_OUT):
            raise IllegalTransition(f"withdrawal {self.id} is {self.status.value}, not SENT or PAID_OUT")
        self.status = WithdrawalStatus.RETURNED
        self.return_reason = reason
        self.events.append(
            ev.PayoutReturned(self.investor_id, now, self.id, self.amount.minor, self.amount.currency, reason)
        )

    def burned(self, tx_ids: tuple[str, ...], now: datetime) -> None:
        if self.status is not WithdrawalStatus.REQUESTED:
            raise IllegalTransition(f"withdrawal {self.id} is already {self.status.value}")
        self.status = WithdrawalStatus.BURNED
        self.tx_ids = tx_ids
        self.events.append(
            ev.WithdrawalRecorded(self.investor_id, now, self.id, self.amount.minor, self.amount.currency, tx_ids)
        )


@attrs.frozen
class Position:
    """Units of one instrument held by one investor, as the store records them."""

    investor_id: str
    instrument_id: str
    units: int


DEFAULT_RESERVATION = timedelta(minutes=30)
