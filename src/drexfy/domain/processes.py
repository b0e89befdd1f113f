"""The processes (use cases), written against the ports.

Every process is safe to run again after a crash or a duplicate delivery: it reads the persisted
state, skips the steps already done, and calls the ledger with operation ids derived from that state,
so a step that reached the ledger but not the store is recognised by the ledger (at-most-once per id)
instead of being done twice. Store writes come before ledger calls where the domain must refuse at
once (a block), and after them where the ledger is the source of truth (a settlement).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

import attrs

from drexfy.domain import events as ev
from drexfy.domain.classification import Classification, KycResult, classify
from drexfy.domain.errors import (
    ClassificationRefused,
    ComplianceRejected,
    Conflict,
    DomainError,
    DuplicateEntity,
    IllegalTransition,
    InsufficientFunds,
    InvalidAmount,
    LedgerRejected,
    NotFound,
    ProviderError,
    SettlementInProgress,
    ValidationFailed,
)
from drexfy.domain.model import (
    DEFAULT_RESERVATION,
    Allocation,
    AllocationStatus,
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
from drexfy.domain.money import Money, allocate
from drexfy.domain.ports import (
    Clock,
    IdGenerator,
    InstrumentSpec,
    KeyVault,
    KycProvider,
    KycSession,
    Ledger,
    PaymentEvent,
    PaymentEventKind,
    PaymentGateway,
    Payout,
    Purchase,
    Store,
    UnitOfWork,
)
from drexfy.domain.rules import check_may_withdraw, check_purchase, holding_refusals

T = TypeVar("T")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,12}$")


@attrs.frozen
class ProcessSettings:
    """Business settings of the processes."""

    reservation: timedelta = DEFAULT_RESERVATION
    #: Residences outside the US and the EU/EEA that the operator maps explicitly ("CH" -> "EU").
    region_overrides: Mapping[str, str] = attrs.field(factory=dict)
    #: Holders paid per ledger operation in a repayment round.
    distribution_batch_size: int = 200
    #: How long one attempt may hold an order's settlement before another may take over (a worker
    #: that died mid-settlement); the ledger's operation id makes the takeover safe.
    settlement_lease: timedelta = timedelta(minutes=2)


@attrs.frozen
class Services:
    """Everything a process may use; built by the container from configuration."""

    store: Store
    ledger: Ledger
    vault: KeyVault
    kyc: KycProvider
    payments: PaymentGateway
    clock: Clock
    ids: IdGenerator
    settings: ProcessSettings = attrs.field(factory=ProcessSettings)


async def _in_uow(svc: Services, work: Callable[[UnitOfWork], Awaitable[T]], attempts: int = 5) -> T:
    """Run `work` in a unit of work and commit; retry from fresh state on an optimistic Conflict."""
    for attempt in range(attempts):
        try:
            async with svc.store.unit_of_work() as uow:
                result = await work(uow)
                await uow.commit()
                return result
        except Conflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


# ================================================================================================
# Registration
# ================================================================================================


@attrs.frozen
class RegisterInvestor:
    legal_name: str
    email: str
    country: str
    kind: InvestorKind
    declared_accredited: bool = False
    auto_cashout: bool = False


async def register_investor(svc: Services, cmd: RegisterInvestor) -> Investor:
    """Register an investor in PENDING_KYC. The declared status is kept but never trusted."""
    name = cmd.legal_name.strip()
    email = cmd.email.strip().lower()
    country = cmd.country.strip().upper()
    if not name:
        raise ValidationFailed("legal_name must not be empty")
    if not _EMAIL.match(email):
        raise ValidationFailed("email is not a valid e-mail address")
    if not _COUNTRY.match(country):
        raise ValidationFailed("country must be an ISO 3166-1 alpha-2 code such as 'DE'")

    async def work(uow: UnitOfWork) -> Investor:
        if await uow.investors.get_by_email(email) is not None:
            raise DuplicateEntity("an investor with this e-mail is already registered")
        now = svc.clock.now()
        investor = Investor(
            id=svc.ids.new("inv"),
            legal_name=name,
            email=email,
            country=country,
            kind=cmd.kind,
            declared_accredited=cmd.declared_accredited,
            created_at=now,
            auto_cashout=cmd.auto_cashout,
        )
        investor.events.append(ev.InvestorRegistered(investor.id, now, country, cmd.kind.value))
        await uow.investors.add(investor)
        return investor

    return await _in_uow(svc, work)


async def start_kyc(svc: Services, investor_id: str) -> KycSession:
    """Start (or resume) the investor's verification with the KYC provider."""
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
    if investor.kyc_status is not KycStatus.PENDING_KYC:
        raise IllegalTransition(f"KYC already finished for this investor ({investor.kyc_status.value})")
    session = await svc.kyc.start_verification(investor)

    async def work(uow: UnitOfWork) -> None:
        fresh = await uow.investors.get(investor_id)
        if fresh.applicant_id != session.applicant_id:
            fresh.start_kyc(session.applicant_id, svc.clock.now())
            await uow.investors.save(fresh)

    await _in_uow(svc, work)
    return session


async def handle_kyc_result(svc: Services, result: KycResult) -> Investor:
    """Turn a verified KYC result into a rejected investor, or an active one with a custodial wallet,
    an activated ledger account and an on-chain classification. Safe to run again."""

    async def decide(uow: UnitOfWork) -> tuple[Investor, Classification | None]:
        investor = await uow.investors.get_by_applicant(result.applicant_id)
        if investor.kyc_status is not KycStatus.PENDING_KYC:
            return investor, investor.classification  # already decided: a duplicate or a retry
        if investor.classification is not None:
            return investor, investor.classification  # classified on chain, activation pending
        if not result.approved and not result.sanctions_hit:
            investor.reject_kyc(result.reject_labels or ("rejected by the KYC provider",), svc.clock.now())
            await uow.investors.save(investor)
            return investor, None
        try:
            return investor, classify(result, svc.settings.region_overrides)
        except ClassificationRefused as refused:
            investor.reject_kyc((refused.message,), svc.clock.now())
            await uow.investors.save(investor)
            return investor, None

    investor, classification = await _in_uow(svc, decide)
    if classification is None or investor.kyc_status is not KycStatus.PENDING_KYC:
        return investor

    wallet = await _ensure_wallet(svc, investor)
    if not investor.wallet_activated:
        activated = await svc.ledger.activate_wallet(f"activate:{investor.id}", wallet)

        async def mark_activated(uow: UnitOfWork) -> Investor:
            fresh = await uow.investors.get(investor.id)
            fresh.mark_wallet_activated(activated.tx_ids, svc.clock.now())
            await uow.investors.save(fresh)
            return fresh

        investor = await _in_uow(svc, mark_activated)

    if investor.classification is None:
        investor = await _record_classification(svc, investor, classification)

    async def activate(uow: UnitOfWork) -> Investor:
        fresh = await uow.investors.get(investor.id)
        if fresh.kyc_status is KycStatus.PENDING_KYC:
            fresh.activate(svc.clock.now())
            if fresh.classification is Classification.SANCTIONED:
                fresh.block("sanctions screening hit at onboarding", "kyc", svc.clock.now())
            await uow.investors.save(fresh)
        return fresh

    investor = await _in_uow(svc, activate)
    if investor.is_blocked and investor.wallet is not None:
        await _freeze(svc, investor, frozen=True)
    return investor


async def _ensure_wallet(svc: Services, investor: Investor) -> Wallet:
    if investor.wallet is not None:
        return investor.wallet
    wallet_id = f"wallet-{investor.id}"
    public_key = await svc.vault.create_key(wallet_id)  # idempotent per wallet id
    wallet = Wallet(wallet_id, svc.ledger.address_for(public_key), public_key.hex())

    async def work(uow: UnitOfWork) -> Wallet:
        fresh = await uow.investors.get(investor.id)
        fresh.attach_wallet(wallet, svc.clock.now())
        await uow.investors.save(fresh)
        return wallet

    return await _in_uow(svc, work)


async def _record_classification(svc: Services, investor: Investor, classification: Classification) -> Investor:
    """Record the class on chain, then in the store. The op id comes from the persisted sequence, so
    a retry after a crash between the two hits the same ledger operation."""
    assert investor.wallet is not None
    op_id = f"classify:{investor.id}:{investor.classification_seq + 1}"
    result = await svc.ledger.record_classification(op_id, investor.wallet, classification)

    async def work(uow: UnitOfWork) -> Investor:
        fresh = await uow.investors.get(investor.id)
        if fresh.classification_seq == investor.classification_seq:
            fresh.classify_as(classification, result.tx_ids[-1] if result.tx_ids else None, svc.clock.now())
            await uow.investors.save(fresh)
        return fresh

    return await _in_uow(svc, work)


async def _held_instrument_refs(svc: Services, investor_id: str) -> list[str]:
    async with svc.store.unit_of_work() as uow:
        refs: list[str] = []
        for position in await uow.positions.by_investor(investor_id):
            instrument = await uow.instruments.get(position.instrument_id)
            if instrument.ledger_ref:
                refs.append(instrument.ledger_ref)
        return sorted(set(refs))


async def _freeze(svc: Services, investor: Investor, *, frozen: bool) -> None:
    assert investor.wallet is not None
    refs = await _held_instrument_refs(svc, investor.id)
    verb = "freeze" if frozen else "unfreeze"
    result = await svc.ledger.set_frozen(
        f"{verb}:{investor.id}:{investor.compliance_seq}", investor.wallet, frozen, refs
    )
    event = (ev.WalletFrozen if frozen else ev.WalletUnfrozen)(investor.id, svc.clock.now(), result.tx_ids)

    async def work(uow: UnitOfWork) -> None:
        uow.record(event)

    await _in_uow(svc, work)


# ================================================================================================
# Instruments
# ================================================================================================


@attrs.frozen
class CreateInstrument:
    symbol: str
    name: str
    unit_price: Money
    total_units: int
    eligible: frozenset[Classification]
    min_ticket: Money
    max_ticket: Money
    class_caps: Mapping[Classification, Money] = attrs.field(factory=dict)


async def create_instrument(svc: Services, cmd: CreateInstrument) -> Instrument:
    """Create an instrument (DRAFT) and issue its token on the ledger."""
    symbol = cmd.symbol.strip().upper()
    if not _SYMBOL.match(symbol):
        raise ValidationFailed("symbol must be 2-12 upper-case letters or digits")
    if cmd.unit_price.currency != svc.ledger.currency:
        raise ValidationFailed(f"instruments are sold in the ledger's stablecoin currency {svc.ledger.currency}")
    for cls, cap in cmd.class_caps.items():
        if cap.currency != cmd.unit_price.currency or not cap.is_positive():
            raise ValidationFailed(f"cap for {cls.name} must be a positive amount in {cmd.unit_price.currency}")

    async def work(uow: UnitOfWork) -> Instrument:
        if await uow.instruments.get_by_symbol(symbol) is not None:
            raise DuplicateEntity(f"an instrument with symbol {symbol} exists")
        now = svc.clock.now()
        instrument = Instrument(
            id=svc.ids.new("ins"),
            symbol=symbol,
            name=cmd.name.strip() or symbol,
            unit_price=cmd.unit_price,
            total_units=cmd.total_units,
            eligible=frozenset(cmd.eligible),
            min_ticket=cmd.min_ticket,
            max_ticket=cmd.max_ticket,
            class_caps=dict(cmd.class_caps),
            created_at=now,
        )
        instrument.events.append(
            ev.InstrumentCreated(
                instrument.id, now, symbol, cmd.total_units, cmd.unit_price.minor, cmd.unit_price.currency
            )
        )
        await uow.instruments.add(instrument)
        return instrument

    instrument = await _in_uow(svc, work)
    return await issue_instrument(svc, instrument.id)


async def issue_instrument(svc: Services, instrument_id: str) -> Instrument:
    """Issue the instrument's token on the ledger if it is not issued yet (resumable)."""
    async with svc.store.unit_of_work() as uow:
        instrument = await uow.instruments.get(instrument_id)
    if instrument.ledger_ref is not None:
        return instrument
    issued = await svc.ledger.issue_instrument(
        f"issue:{instrument.id}",
        InstrumentSpec(
            instrument.id,
            instrument.symbol,
            instrument.name,
            instrument.total_units,
            instrument.eligible,
            instrument.unit_price,
        ),
    )

    async def work(uow: UnitOfWork) -> Instrument:
        fresh = await uow.instruments.get(instrument_id)
        if fresh.ledger_ref is None:
            fresh.issued(issued.ledger_ref, issued.tx_ids, svc.clock.now())
            await uow.instruments.save(fresh)
        return fresh

    return await _in_uow(svc, work)


async def open_instrument(svc: Services, instrument_id: str) -> Instrument:
    instrument = await issue_instrument(svc, instrument_id)

    async def work(uow: UnitOfWork) -> Instrument:
        fresh = await uow.instruments.get(instrument.id)
        fresh.open(svc.clock.now())
        await uow.instruments.save(fresh)
        return fresh

    return await _in_uow(svc, work)


async def close_instrument(svc: Services, instrument_id: str) -> Instrument:
    async def work(uow: UnitOfWork) -> Instrument:
        fresh = await uow.instruments.get(instrument_id)
        fresh.close(svc.clock.now())
        await uow.instruments.save(fresh)
        return fresh

    return await _in_uow(svc, work)


# ================================================================================================
# Buying an investment
# ================================================================================================


@attrs.frozen
class CreateOrder:
    investor_id: str
    instrument_id: str
    units: int


async def create_order(svc: Services, cmd: CreateOrder) -> Order:
    """Check eligibility, reserve the units (conditional update in the store), open a checkout."""
    if not isinstance(cmd.units, int) or isinstance(cmd.units, bool):
        raise ValidationFailed("units must be a whole number")

    async def reserve(uow: UnitOfWork) -> tuple[Order, Investor]:
        investor = await uow.investors.get(cmd.investor_id)
        instrument = await uow.instruments.get(cmd.instrument_id)
        committed = await uow.orders.committed_amount(investor.id, instrument.id)
        now = svc.clock.now()
        check_purchase(investor, instrument, cmd.units, committed, now)
        await uow.instruments.reserve_units(instrument.id, cmd.units)
        order = Order(
            id=svc.ids.new("ord"),
            investor_id=investor.id,
            instrument_id=instrument.id,
            units=cmd.units,
            amount=instrument.price_of(cmd.units),
            created_at=now,
            expires_at=now + svc.settings.reservation,
        )
        order.events.append(
            ev.OrderCreated(
                order.id, now, investor.id, instrument.id, order.units, order.amount.minor, order.amount.currency
            )
        )
        await uow.orders.add(order)
        return order, investor

    order, investor = await _in_uow(svc, reserve)
    try:
        checkout = await svc.payments.create_checkout(order, investor)
    except ProviderError as failure:
        await _close_order(svc, order.id, OrderStatus.FAILED, f"checkout could not be created: {failure.message}")
        raise

    async def attach(uow: UnitOfWork) -> Order:
        fresh = await uow.orders.get(order.id)
        fresh.checkout_ref = checkout.reference
        fresh.checkout_url = checkout.url
        await uow.orders.save(fresh)
        return fresh

    return await _in_uow(svc, attach)


async def _release_settlement_lease(svc: Services, order_id: str, holder: str) -> None:
    async def work(uow: UnitOfWork) -> None:
        fresh = await uow.orders.get(order_id)
        if fresh.settling_by == holder:
            fresh.settling_by = None
            fresh.settling_until = None
            await uow.orders.save(fresh)

    try:
        await _in_uow(svc, work)
    except DomainError:
        return  # the store is down too: the lease runs out by itself


async def _close_order(svc: Services, order_id: str, status: OrderStatus, reason: str) -> Order:
    """Close an order without settlement and release its reserved units, in one unit of work."""

    async def work(uow: UnitOfWork) -> Order:
        order = await uow.orders.get(order_id)
        held = order.reserves_units
        order.close(status, reason, svc.clock.now())
        if held:
            await uow.instruments.release_units(order.instrument_id, order.units)
        await uow.orders.save(order)
        return order

    return await _in_uow(svc, work)


async def cancel_order(svc: Services, order_id: str, reason: str) -> Order:
    return await _close_order(svc, order_id, OrderStatus.CANCELLED, reason)


async def expire_orders(svc: Services) -> int:
    """Expire unpaid orders whose reservation ran out; returns how many."""
    async with svc.store.unit_of_work() as uow:
        due = await uow.orders.expired(svc.clock.now())
    count = 0
    for order in due:
        try:
            await _close_order(svc, order.id, OrderStatus.EXPIRED, "reservation expired before payment")
            count += 1
        except IllegalTransition:
            continue  # paid or closed meanwhile
    return count


async def handle_payment(svc: Services, event: PaymentEvent) -> Order:
    """A verified payment notification. Duplicates change nothing; a success pays the order, checks
    eligibility again and settles on the ledger (resuming where an earlier attempt stopped)."""
    if event.kind is PaymentEventKind.FAILED:
        return await _payment_failed(svc, event)
    if event.kind is PaymentEventKind.REFUNDED:
        return await _payment_refunded(svc, event)

    async def pay(uow: UnitOfWork) -> Order:
        order = await uow.orders.get(event.order_id)
        now = svc.clock.now()
        if order.status is OrderStatus.CREATED:
            if event.amount is None or event.amount != order.amount:
                paid = event.amount or Money.zero(order.amount.currency)
                order.refund_due_for_late_payment(
                    event.payment_ref, paid, f"payment of {paid} does not match the order amount {order.amount}", now
                )
                await uow.instruments.release_units(order.instrument_id, order.units)
            else:
                order.mark_paid(event.payment_ref, event.amount, now)
            await uow.orders.save(order)
        elif order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.FAILED):
            order.refund_due_for_late_payment(
                event.payment_ref,
                event.amount or order.amount,
                f"payment arrived after the order was {order.status.value.lower()}",
                now,
            )
            await uow.orders.save(order)
        return order

    order = await _in_uow(svc, pay)
    if order.status is OrderStatus.PAID:
        return await settle_order(svc, order.id)
    if order.status is OrderStatus.REFUND_DUE and order.payment_ref == event.payment_ref:
        await _request_refund(svc, order)
    return order


async def _payment_failed(svc: Services, event: PaymentEvent) -> Order:
    async with svc.store.unit_of_work() as uow:
        order = await uow.orders.get(event.order_id)
    if order.status is not OrderStatus.CREATED:
        return order  # a late or duplicate failure changes nothing
    return await _close_order(svc, order.id, OrderStatus.FAILED, event.reason or "payment failed")


async def _payment_refunded(svc: Services, event: PaymentEvent) -> Order:
    async def work(uow: UnitOfWork) -> Order:
        order = await uow.orders.get(event.order_id)
        if order.status is OrderStatus.REFUND_DUE:
            order.close(OrderStatus.REFUNDED, event.reason or "payment refunded", svc.clock.now())
            await uow.orders.save(order)
        return order

    return await _in_uow(svc, work)


async def _request_refund(svc: Services, order: Order) -> None:
    """Ask the gateway to refund; if it is down the order stays REFUND_DUE for an operator or retry."""
    try:
        await svc.payments.refund(order)
    except ProviderError:
        return


async def settle_order(svc: Services, order_id: str) -> Order:
    """Settle a PAID order: eligibility checked again, then delivery versus payment on the ledger."""
    async with svc.store.unit_of_work() as uow:
        order = await uow.orders.get(order_id)
        investor = await uow.investors.get(order.investor_id)
        instrument = await uow.instruments.get(order.instrument_id)
    if order.status is not OrderStatus.PAID:
        return order

    if not order.has_step(SettlementStep.ELIGIBILITY_RECHECKED):
        refusals = holding_refusals(investor, instrument)
        if refusals:
            closed = await _close_order(svc, order.id, OrderStatus.REFUND_DUE, "; ".join(refusals))
            await _request_refund(svc, closed)
            return closed

        async def recheck(uow: UnitOfWork) -> Order:
            fresh = await uow.orders.get(order_id)
            fresh.record_step(SettlementStep.ELIGIBILITY_RECHECKED)
            await uow.orders.save(fresh)
            return fresh

        order = await _in_uow(svc, recheck)

    # One attempt at a time drives the ledger: a checkout completion and its payment-intent event
    # may be handled by two workers at once.
    holder = svc.ids.new("lease")

    async def lease(uow: UnitOfWork) -> Order:
        fresh = await uow.orders.get(order_id)
        if fresh.status is not OrderStatus.PAID:
            return fresh
        if not fresh.take_settlement_lease(holder, svc.clock.now(), svc.settings.settlement_lease):
            raise SettlementInProgress(f"order {order_id} is being settled by another attempt")
        await uow.orders.save(fresh)  # version-checked: of two racing attempts one sees a Conflict
        return fresh

    order = await _in_uow(svc, lease)
    if order.status is not OrderStatus.PAID:
        return order
    assert investor.wallet is not None and instrument.ledger_ref is not None
    try:
        result = await svc.ledger.settle_purchase(
            f"settle:{order.id}",
            Purchase(order.id, investor.wallet, instrument.ledger_ref, order.units, order.paid_amount or order.amount),
        )
    except ComplianceRejected as refused:
        closed = await _close_order(svc, order.id, OrderStatus.REFUND_DUE, f"refused on chain: {refused.message}")
        await _request_refund(svc, closed)
        return closed
    except LedgerRejected as rejected:
        closed = await _close_order(svc, order.id, OrderStatus.REFUND_DUE, f"settlement failed: {rejected.message}")
        await _request_refund(svc, closed)
        return closed
    except Exception:
        # A failure we live to see (node down, timeout) frees the order for the retry at once; only
        # an attempt that dies outright leaves its lease to run out.
        await _release_settlement_lease(svc, order_id, holder)
        raise

    async def settled(uow: UnitOfWork) -> Order:
        fresh = await uow.orders.get(order_id)
        if fresh.status is OrderStatus.PAID:
            fresh.settle(result.tx_ids, svc.clock.now())
            await uow.instruments.commit_units(fresh.instrument_id, fresh.units)
            await uow.positions.add_units(fresh.investor_id, fresh.instrument_id, fresh.units)
            await uow.orders.save(fresh)
        return fresh

    return await _in_uow(svc, settled)


# ================================================================================================
# Repayment
# ================================================================================================


@attrs.frozen
class TriggerRepayment:
    instrument_id: str
    period: str
    interest: Money
    principal: Money
    final: bool = False


async def trigger_repayment(svc: Services, cmd: TriggerRepayment) -> Repayment:
    """Snapshot the holders, allocate interest and principal pro rata by units (exact, largest
    remainder), hold back blocked holders' shares, then distribute on the ledger."""
    if cmd.interest.currency != cmd.principal.currency:
        raise InvalidAmount("interest and principal must be in the same currency")
    if cmd.interest.minor < 0 or cmd.principal.minor < 0:
        raise InvalidAmount("repayment amounts must not be negative")
    if not cmd.period.strip():
        raise ValidationFailed("period must name the repayment period, e.g. 2026-11")

    async def snapshot(uow: UnitOfWork) -> Repayment:
        instrument = await uow.instruments.get(cmd.instrument_id)
        if cmd.interest.currency != instrument.currency:
            raise InvalidAmount(f"{instrument.symbol} repays in {instrument.currency}")
        if instrument.status is InstrumentStatus.MATURED:
            raise IllegalTransition(f"{instrument.symbol} has matured; nothing left to repay")
        for earlier in await uow.repayments.by_instrument(instrument.id):
            if earlier.status is RepaymentStatus.DISTRIBUTING:
                raise IllegalTransition(f"repayment {earlier.id} of {instrument.symbol} is still being distributed")
            if earlier.period == cmd.period.strip():
                raise DuplicateEntity(f"{instrument.symbol} already has a repayment for period {cmd.period}")
        holders = await uow.positions.holders(instrument.id)
        if not holders:
            raise IllegalTransition(f"{instrument.symbol} has no holders to repay")
        if not cmd.final and cmd.interest.is_zero() and cmd.principal.is_zero():
            raise InvalidAmount("a repayment needs interest or principal")
        weights = [(p.investor_id, p.units) for p in holders]
        outstanding = sum(p.units for p in holders)
        interest = allocate(cmd.interest.minor, weights)
        if cmd.final:
            retired = {p.investor_id: p.units for p in holders}
            principal = allocate(cmd.principal.minor, weights)
        else:
            units_to_retire, rest = divmod(cmd.principal.minor, instrument.unit_price.minor)
            if rest:
                raise InvalidAmount(
                    f"principal must be a whole number of units at {instrument.unit_price} each "
                    "(each unit retired returns its price)"
                )
            if units_to_retire > outstanding:
                raise InvalidAmount(f"principal retires {units_to_retire} units but only {outstanding} are outstanding")
            retired = allocate(units_to_retire, weights)
            principal = {k: v * instrument.unit_price.minor for k, v in retired.items()}
        now = svc.clock.now()
        repayment = Repayment(
            id=svc.ids.new("rep"),
            instrument_id=instrument.id,
            period=cmd.period.strip(),
            interest=cmd.interest,
            principal=cmd.principal,
            final=cmd.final,
            created_at=now,
        )
        for position in holders:
            investor = await uow.investors.get(position.investor_id)
            assert investor.wallet is not None
            repayment.allocations.append(
                Allocation(
                    investor_id=investor.id,
                    wallet_address=investor.wallet.address,
                    units_held=position.units,
                    interest=Money(interest[investor.id], instrument.currency),
                    principal=Money(principal[investor.id], instrument.currency),
                    units_retired=retired[investor.id],
                )
            )
        repayment.events.append(
            ev.RepaymentStarted(
                repayment.id, now, instrument.id, cmd.interest.minor, cmd.principal.minor, cmd.final, len(holders)
            )
        )
        for allocation in repayment.allocations:
            investor = await uow.investors.get(allocation.investor_id)
            if investor.is_blocked:
                repayment.hold_back(investor.id, now)
        if instrument.status is not InstrumentStatus.REPAYING:
            instrument.start_repaying(now)
            await uow.instruments.save(instrument)
        await uow.repayments.add(repayment)
        return repayment

    repayment = await _in_uow(svc, snapshot)
    return await continue_repayment(svc, repayment.id)


async def continue_repayment(svc: Services, repayment_id: str) -> Repayment:
    """Pay the pending shares batch by batch. A batch's members and operation id are fixed in the
    store before the ledger sees it, so a retry resends the same batch and never pays twice; after a
    refusal the batch only loses its blocked members (see `_hold_back_refused`)."""
    batch_size = max(1, svc.settings.distribution_batch_size)
    while True:

        async def next_batch(uow: UnitOfWork) -> tuple[int, list[Allocation]] | None:
            repayment = await uow.repayments.get(repayment_id)
            assigned = [
                a for a in repayment.allocations if a.status is AllocationStatus.PENDING and a.batch is not None
            ]
            if assigned:
                batch = min(a.batch for a in assigned if a.batch is not None)
                return batch, [a for a in assigned if a.batch == batch]
            unassigned = sorted(
                (a for a in repayment.allocations if a.status is AllocationStatus.PENDING), key=lambda a: a.investor_id
            )
            if not unassigned:
                return None
            now = svc.clock.now()
            chosen: list[Allocation] = []
            for allocation in unassigned:
                investor = await uow.investors.get(allocation.investor_id)
                if investor.is_blocked:
                    repayment.hold_back(investor.id, now)  # never pay into a frozen wallet
                elif len(chosen) < batch_size:
                    chosen.append(allocation)
            batch = repayment.next_batch
            repayment.next_batch += 1
            for allocation in chosen:
                allocation.batch = batch
            await uow.repayments.save(repayment)
            return batch, chosen

        found = await _in_uow(svc, next_batch)
        if found is None:
            break
        batch, members = found
        if members:
            try:
                await _pay_batch(svc, repayment_id, batch, members)
            except ComplianceRejected as refused:
                if not await _hold_back_refused(svc, repayment_id, batch, refused.party):
                    raise

    async def finish(uow: UnitOfWork) -> Repayment:
        repayment = await uow.repayments.get(repayment_id)
        if repayment.complete_if_done(svc.clock.now()):
            instrument = await uow.instruments.get(repayment.instrument_id)
            if repayment.final and instrument.status is InstrumentStatus.REPAYING:
                instrument.mature(svc.clock.now())
                await uow.instruments.save(instrument)
            await uow.repayments.save(repayment)
        return repayment

    repayment = await _in_uow(svc, finish)
    await _auto_cashout(svc, repayment)
    return repayment


async def _pay_batch(svc: Services, repayment_id: str, batch: int, members: list[Allocation]) -> None:
    async with svc.store.unit_of_work() as uow:
        repayment = await uow.repayments.get(repayment_id)
        instrument = await uow.instruments.get(repayment.instrument_id)
        payouts = []
        for allocation in members:
            investor = await uow.investors.get(allocation.investor_id)
            assert investor.wallet is not None
            if allocation.amount.is_positive() or allocation.units_retired:
                payouts.append(Payout(investor.wallet, allocation.amount, allocation.units_retired))
    assert instrument.ledger_ref is not None
    tx_ids: tuple[str, ...] = ()
    if payouts:
        result = await svc.ledger.distribute(f"repay:{repayment_id}:{batch}", instrument.ledger_ref, payouts)
        tx_ids = result.tx_ids

    async def record(uow: UnitOfWork) -> None:
        fresh = await uow.repayments.get(repayment_id)
        retired = 0
        for allocation in fresh.allocations:
            if allocation.batch == batch and allocation.status is AllocationStatus.PENDING:
                fresh.mark_paid(allocation.investor_id, tx_ids, svc.clock.now())
                if allocation.units_retired:
                    await uow.positions.add_units(
                        allocation.investor_id, fresh.instrument_id, -allocation.units_retired
                    )
                    retired += allocation.units_retired
        if retired:
            await uow.instruments.retire_units(fresh.instrument_id, retired)
        await uow.repayments.save(fresh)

    await _in_uow(svc, record)


async def _hold_back_refused(svc: Services, repayment_id: str, batch: int, party: str | None) -> bool:
    """The ledger refused a batch (a holder was frozen after the snapshot). Hold back the refused
    holder (`party`, the address the ledger named; every blocked member when it named none); the
    others stay in the same batch, so the next attempt resends it under the same operation id
    without them. A ledger that is not atomic may have paid some members already: under the same
    operation id it recognises those payouts and never makes them twice (a new batch would have
    paid them again). A blocked member the ledger did not refuse stays: it may have been paid
    before its block, and if not, the next attempt's refusal names it. False if the refused
    holder is not blocked in the store (then it is not ours to fix)."""

    async def work(uow: UnitOfWork) -> bool:
        repayment = await uow.repayments.get(repayment_id)
        held_any = False
        for allocation in repayment.allocations:
            if allocation.batch == batch and allocation.status is AllocationStatus.PENDING:
                investor = await uow.investors.get(allocation.investor_id)
                refused = party is None or (
                    investor.wallet is not None and investor.wallet.address.lower() == party.lower()
                )
                if refused and investor.is_blocked:
                    repayment.hold_back(investor.id, svc.clock.now())
                    held_any = True
        if held_any:
            await uow.repayments.save(repayment)
        return held_any

    return await _in_uow(svc, work)


async def _auto_cashout(svc: Services, repayment: Repayment) -> None:
    """Investors who chose automatic cash-out have what they were paid burned right away."""
    for allocation in repayment.allocations:
        if allocation.status is not AllocationStatus.PAID or not allocation.amount.is_positive():
            continue
        async with svc.store.unit_of_work() as uow:
            investor = await uow.investors.get(allocation.investor_id)
        if investor.auto_cashout and not investor.is_blocked:
            await withdraw(
                svc,
                Withdraw(investor.id, allocation.amount, automatic=True),
                withdrawal_id=f"wd-auto-{repayment.id}-{investor.id}",
            )


# ================================================================================================
# Compliance
# ================================================================================================


@attrs.frozen
class AmlAlert:
    alert_id: str
    applicant_id: str | None
    investor_id: str | None
    flagged: bool
    reason: str


async def handle_aml_alert(svc: Services, alert: AmlAlert) -> Investor:
    """Ongoing monitoring: a flag blocks at once; a clearance is recorded for a compliance officer,
    who alone decides to unblock."""
    async with svc.store.unit_of_work() as uow:
        if alert.investor_id:
            investor = await uow.investors.get(alert.investor_id)
        elif alert.applicant_id:
            investor = await uow.investors.get_by_applicant(alert.applicant_id)
        else:
            raise ValidationFailed("an AML alert must name an investor or an applicant")
    if alert.flagged:
        return await block_investor(svc, investor.id, alert.reason or "AML monitoring alert", f"aml:{alert.alert_id}")

    async def record(uow: UnitOfWork) -> None:
        uow.record(ev.AmlAlertCleared(investor.id, svc.clock.now(), alert.alert_id, alert.reason))

    await _in_uow(svc, record)
    return investor


async def block_investor(svc: Services, investor_id: str, reason: str, source: str) -> Investor:
    """Block in the store first (so the API refuses at once), cancel open orders, then reclassify
    SANCTIONED and freeze on chain. Running it again finishes whatever a crash left undone."""

    async def work(uow: UnitOfWork) -> Investor:
        investor = await uow.investors.get(investor_id)
        now = svc.clock.now()
        if investor.block(reason, source, now):
            await uow.investors.save(investor)
        for order in await uow.orders.by_investor(investor_id):
            if order.status is OrderStatus.CREATED:
                order.close(OrderStatus.CANCELLED, "investor blocked by compliance", now)
                await uow.instruments.release_units(order.instrument_id, order.units)
                await uow.orders.save(order)
        return investor

    investor = await _in_uow(svc, work)
    if investor.wallet is None:
        return investor  # nothing on chain yet; onboarding will classify SANCTIONED-aware
    if investor.classification is not Classification.SANCTIONED:
        investor = await _record_classification(svc, investor, Classification.SANCTIONED)
    await _freeze(svc, investor, frozen=True)
    return investor


async def unblock_investor(svc: Services, investor_id: str, reason: str, officer: str) -> Investor:
    """A compliance officer lifts a block: previous class restored and wallet unfrozen on chain, then
    the store, then held-back repayments released. Running it again finishes an interrupted unblock."""
    if not reason.strip():
        raise ValidationFailed("an unblock needs a reason")
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
        pending_release = await uow.repayments.held_back_for(investor_id)
    if not investor.is_blocked:
        if not pending_release:
            raise IllegalTransition("investor is not blocked")
        await release_held_back(svc, investor_id)
        return investor
    restore = investor.classification_before_block
    if investor.wallet is not None:
        if restore is not None and investor.classification is not restore:
            investor = await _record_classification(svc, investor, restore)
        assert investor.wallet is not None
        refs = await _held_instrument_refs(svc, investor.id)
        # The unfreeze belongs to the episode the unblock ends: compliance_seq + 1.
        await svc.ledger.set_frozen(
            f"unfreeze:{investor.id}:{investor.compliance_seq + 1}", investor.wallet, False, refs
        )

    async def work(uow: UnitOfWork) -> Investor:
        fresh = await uow.investors.get(investor_id)
        if fresh.is_blocked:
            fresh.unblock(reason, officer, svc.clock.now())
            fresh.events.append(ev.WalletUnfrozen(fresh.id, svc.clock.now()))
            await uow.investors.save(fresh)
        return fresh

    investor = await _in_uow(svc, work)
    await release_held_back(svc, investor_id)
    return investor


async def release_held_back(svc: Services, investor_id: str) -> list[Repayment]:
    """Pay every repayment share held back while the investor was blocked."""
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
        repayments = await uow.repayments.held_back_for(investor_id)
    if investor.is_blocked or investor.wallet is None:
        return []
    released: list[Repayment] = []
    for repayment in repayments:
        async with svc.store.unit_of_work() as uow:
            instrument = await uow.instruments.get(repayment.instrument_id)
        allocation = repayment.allocation_for(investor_id)
        assert instrument.ledger_ref is not None
        tx_ids: tuple[str, ...] = ()
        if allocation.amount.is_positive() or allocation.units_retired:
            result = await svc.ledger.distribute(
                f"release:{repayment.id}:{investor_id}",
                instrument.ledger_ref,
                [Payout(investor.wallet, allocation.amount, allocation.units_retired)],
            )
            tx_ids = result.tx_ids

        async def work(
            uow: UnitOfWork, repayment_id: str = repayment.id, tx_ids: tuple[str, ...] = tx_ids
        ) -> Repayment:
            fresh = await uow.repayments.get(repayment_id)
            share = fresh.allocation_for(investor_id)
            if share.status is AllocationStatus.HELD_BACK:
                fresh.mark_paid(investor_id, tx_ids, svc.clock.now())
                if share.units_retired:
                    await uow.positions.add_units(investor_id, fresh.instrument_id, -share.units_retired)
                    await uow.instruments.retire_units(fresh.instrument_id, share.units_retired)
                await uow.repayments.save(fresh)
            return fresh

        released.append(await _in_uow(svc, work))
    return released


# ================================================================================================
# Withdrawal
# ================================================================================================


@attrs.frozen
class Withdraw:
    investor_id: str
    amount: Money
    automatic: bool = False


async def withdraw(svc: Services, cmd: Withdraw, withdrawal_id: str | None = None) -> Withdrawal:
    """Cash out: the stablecoin is burned on the ledger and a payout record is kept (the fiat
    transfer itself is the treasury's). Recorded before the burn, so nothing is lost in a crash;
    with the same `withdrawal_id` a retry finishes it instead of burning twice."""
    if not cmd.amount.is_positive():
        raise InvalidAmount("a withdrawal must be a positive amount")
    wid = withdrawal_id or svc.ids.new("wd")

    async def request(uow: UnitOfWork) -> tuple[Withdrawal, Investor]:
        investor = await uow.investors.get(cmd.investor_id)
        try:
            existing: Withdrawal | None = await uow.withdrawals.get(wid)
        except NotFound:
            existing = None
        if existing is not None:
            return existing, investor
        check_may_withdraw(investor)
        withdrawal = Withdrawal(wid, investor.id, cmd.amount, svc.clock.now(), automatic=cmd.automatic)
        await uow.withdrawals.add(withdrawal)
        return withdrawal, investor

    withdrawal, investor = await _in_uow(svc, request)
    if withdrawal.status is not WithdrawalStatus.REQUESTED:
        return withdrawal
    assert investor.wallet is not None
    balance = await svc.ledger.stablecoin_balance(investor.wallet.address)
    journal_has_it = await svc.store.journal.get(f"withdraw:{wid}") is not None
    if balance < cmd.amount and not journal_has_it:
        raise InsufficientFunds(f"balance {balance} does not cover {cmd.amount}")
    result = await svc.ledger.burn_stablecoin(f"withdraw:{wid}", investor.wallet, cmd.amount)

    async def burned(uow: UnitOfWork) -> Withdrawal:
        fresh = await uow.withdrawals.get(wid)
        if fresh.status is WithdrawalStatus.REQUESTED:
            fresh.burned(result.tx_ids, svc.clock.now())
            await uow.withdrawals.save(fresh)
        return fresh

    return await _in_uow(svc, burned)


# ================================================================================================
# Read models
# ================================================================================================


@attrs.frozen
class Holding:
    instrument_id: str
    symbol: str
    units: int


@attrs.frozen
class HeldBackShare:
    repayment_id: str
    instrument_id: str
    amount: Money


@attrs.frozen
class InvestorView:
    investor: Investor
    holdings: tuple[Holding, ...]
    held_back: tuple[HeldBackShare, ...]


async def investor_view(svc: Services, investor_id: str) -> InvestorView:
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
        holdings = []
        for position in await uow.positions.by_investor(investor_id):
            instrument = await uow.instruments.get(position.instrument_id)
            holdings.append(Holding(instrument.id, instrument.symbol, position.units))
        held = []
        for repayment in await uow.repayments.held_back_for(investor_id):
            share = repayment.allocation_for(investor_id)
            held.append(HeldBackShare(repayment.id, repayment.instrument_id, share.amount))
    return InvestorView(investor, tuple(holdings), tuple(held))


@attrs.frozen
class Drift:
    """One address whose units differ between the ledger and the store."""

    address: str
    investor_id: str | None
    ledger_units: int
    store_units: int


@attrs.frozen
class Reconciliation:
    """The ledger's holders of an instrument against the store's positions, at `checked_at`.

    Settlements in flight show as drift for a moment (the ledger moves before the store records
    it); drift that persists across two checks means the books and the chain disagree."""

    instrument_id: str
    symbol: str
    checked_at: datetime
    ledger_units: int
    store_units: int
    drift: tuple[Drift, ...]
    #: The instrument's reservation counter, and what its unpaid and unsettled orders hold. They
    #: differ when a process died between reserving and recording an order (DynamoDB reserves at
    #: once): units held by no order are not sold, never oversold.
    units_reserved: int = 0
    reserved_by_orders: int = 0

    @property
    def reserved_without_order(self) -> int:
        return self.units_reserved - self.reserved_by_orders

    @property
    def in_sync(self) -> bool:
        return not self.drift and self.reserved_without_order == 0


async def reconcile(svc: Services, instrument_id: str) -> Reconciliation:
    """Compare who holds the instrument on the ledger with the store's positions, and its reserved
    units with its open orders (read-only)."""
    async with svc.store.unit_of_work() as uow:
        instrument = await uow.instruments.get(instrument_id)
        reserving = await uow.orders.reserving(instrument_id)
        positions = await uow.positions.holders(instrument_id)
        by_address: dict[str, tuple[str, int]] = {}
        for position in positions:
            investor = await uow.investors.get(position.investor_id)
            if investor.wallet is not None:
                by_address[investor.wallet.address.lower()] = (investor.id, position.units)
    on_ledger: dict[str, int] = {}
    if instrument.ledger_ref is not None:
        holders = await svc.ledger.holders(instrument.ledger_ref)
        on_ledger = {address.lower(): units for address, units in holders.items() if units}
    drift = []
    for address in sorted(set(on_ledger) | set(by_address)):
        investor_id, store_units = by_address.get(address, (None, 0))
        ledger_units = on_ledger.get(address, 0)
        if ledger_units != store_units:
            drift.append(Drift(address, investor_id, ledger_units, store_units))
    return Reconciliation(
        instrument.id,
        instrument.symbol,
        svc.clock.now(),
        sum(on_ledger.values()),
        sum(units for _, units in by_address.values()),
        tuple(drift),
        instrument.units_reserved,
        sum(order.units for order in reserving),
    )


async def reconcile_all(svc: Services, page: int = 100) -> list[Reconciliation]:
    """`reconcile` for every instrument issued on the ledger, in id order."""
    reports = []
    after: str | None = None
    while True:
        async with svc.store.unit_of_work() as uow:
            instruments = await uow.instruments.list(limit=page, after=after)
        for instrument in instruments:
            if instrument.ledger_ref is not None:
                reports.append(await reconcile(svc, instrument.id))
        if len(instruments) < page:
            return reports
        after = instruments[-1].id


__all__ = [
    "AmlAlert",
    "Clock",
    "CreateInstrument",
    "CreateOrder",
    "IdGenerator",
    "KeyVault",
    "KycProvider",
    "KycResult",
    "Ledger",
    "PaymentGateway",
    "ProcessSettings",
    "Reconciliation",
    "RegisterInvestor",
    "Services",
    "TriggerRepayment",
    "Withdraw",
]
