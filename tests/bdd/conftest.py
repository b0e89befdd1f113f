"""Step definitions of the four processes, shared by every feature file.

The steps drive the domain processes through Services built by the real container from
configuration (SQLite store, local vault, sandbox providers), with the ledger chosen by the
`ledger_kind` parameter: the in-memory ledger, the EVM adapter against anvil, or the XRPL adapter
against the ledger double. Steps are synchronous; coroutines run on one loop per scenario.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs
import pytest
from pytest_bdd import given, parsers, then, when

from drexfy.domain import processes as p
from drexfy.domain.classification import Classification
from drexfy.domain.errors import ComplianceRejected, DomainError
from drexfy.domain.model import InstrumentStatus, InvestorKind, KycStatus, OrderStatus, Wallet
from drexfy.domain.money import Money
from drexfy.domain.ports import Ledger, LedgerResult, Payout, Purchase
from drexfy.domain.provider_events import AmlAlert, KycResult, PaymentEvent, PaymentEventKind
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from tests.support.ledgers import LEDGER_KINDS, ledger_overrides

T = TypeVar("T")


class FakeClock:
    """A clock the scenario can move forward."""

    def __init__(self) -> None:
        self.current = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class Crash(Exception):
    """The platform process died: raised after the ledger applied an effect, before the store knew."""


class CrashingLedger:
    """Passes every call to the real ledger; for op ids starting with an armed prefix, lets the
    ledger act and then raises Crash, as a process dying right after broadcast would."""

    def __init__(self, inner: Ledger) -> None:
        self._inner = inner
        self.armed: set[str] = set()
        self.kind = inner.kind
        self.currency = inner.currency
        #: Run once right before the next `distribute` (something happening mid-repayment).
        self.before_distribute: Callable[[], Awaitable[Any]] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def address_for(self, public_key: bytes) -> str:
        return self._inner.address_for(public_key)

    async def distribute(self, op_id: str, instrument_ref: str, payouts: Sequence[Payout]) -> LedgerResult:
        hook, self.before_distribute = self.before_distribute, None
        if hook is not None:
            await hook()
        return await self._inner.distribute(op_id, instrument_ref, payouts)

    async def settle_purchase(self, op_id: str, purchase: Purchase) -> LedgerResult:
        result = await self._inner.settle_purchase(op_id, purchase)
        for prefix in list(self.armed):
            if op_id.startswith(prefix):
                self.armed.discard(prefix)
                raise Crash(op_id)
        return result


@attrs.define
class World:
    svc: p.Services
    run: Callable[[Awaitable[Any]], Any]
    clock: FakeClock
    ledger: CrashingLedger
    investors: dict[str, str] = attrs.field(factory=dict)
    instruments: dict[str, str] = attrs.field(factory=dict)
    orders: dict[str, str] = attrs.field(factory=dict)
    error: Exception | None = None
    settle_txs: dict[str, tuple[str, ...]] = attrs.field(factory=dict)

    def investor(self, name: str) -> Any:
        async def get() -> Any:
            async with self.svc.store.unit_of_work() as uow:
                return await uow.investors.get(self.investors[name])

        return self.run(get())

    def instrument(self, symbol: str) -> Any:
        async def get() -> Any:
            async with self.svc.store.unit_of_work() as uow:
                return await uow.instruments.get(self.instruments[symbol])

        return self.run(get())

    def order_of(self, name: str) -> Any:
        async def get() -> Any:
            async with self.svc.store.unit_of_work() as uow:
                return await uow.orders.get(self.orders[name])

        return self.run(get())

    def attempt(self, coro: Awaitable[T]) -> T | None:
        self.error = None
        try:
            return self.run(coro)
        except DomainError as exc:
            self.error = exc
            return None


@pytest.fixture(params=LEDGER_KINDS)
def ledger_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(ledger_kind: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    overrides: dict[str, Any] = {"data_dir": str(tmp_path), **ledger_overrides(ledger_kind, request, tmp_path)}
    settings = load_settings(env={}, overrides=overrides)
    clock = FakeClock()
    container = build_container(settings, clock=clock)

    async def start() -> p.Services:
        return await container.services()  # type: ignore[no-any-return]

    async def stop() -> None:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown

    services = loop.run_until_complete(start())
    ledger = CrashingLedger(services.ledger)
    svc = attrs.evolve(services, ledger=ledger)
    yield World(svc=svc, run=loop.run_until_complete, clock=clock, ledger=ledger)
    loop.run_until_complete(stop())
    loop.close()


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def classes(text: str) -> frozenset[Classification]:
    return frozenset(Classification[c.strip()] for c in text.split(","))


# ================================================================================================
# Registration
# ================================================================================================


def _register(world: World, name: str, country: str, declared: bool = False) -> str:
    investor = world.run(
        p.register_investor(
            world.svc,
            p.RegisterInvestor(
                legal_name=f"{name} Example",
                email=f"{name.lower()}@example.com",
                country=country,
                kind=InvestorKind.INDIVIDUAL,
                declared_accredited=declared,
            ),
        )
    )
    world.investors[name] = investor.id
    world.run(p.start_kyc(world.svc, investor.id))
    return str(investor.id)


@given(parsers.parse('an investor "{name}" registered with residence "{country}" who declares to be accredited'))
def registered_declaring(world: World, name: str, country: str) -> None:
    _register(world, name, country, declared=True)


@given(parsers.parse('an investor "{name}" registered with residence "{country}"'))
def registered(world: World, name: str, country: str) -> None:
    _register(world, name, country)


def _kyc(world: World, name: str, **fields: Any) -> None:
    investor = world.investor(name)
    world.attempt(p.handle_kyc_result(world.svc, KycResult(applicant_id=investor.applicant_id, **fields)))


@when(
    parsers.parse(
        'the KYC provider approves "{name}" with verified residence "{country}" and no accreditation evidence'
    )
)
def kyc_approves_plain(world: World, name: str, country: str) -> None:
    _kyc(world, name, approved=True, verified_country=country)


@when(
    parsers.parse('the KYC provider approves "{name}" with verified residence "{country}" and verified accreditation')
)
def kyc_approves_accredited(world: World, name: str, country: str) -> None:
    _kyc(world, name, approved=True, verified_country=country, accreditation_verified=True)


@when(parsers.parse('the KYC provider rejects "{name}" for "{label}"'))
def kyc_rejects(world: World, name: str, label: str) -> None:
    _kyc(world, name, approved=False, reject_labels=(label,))


@when(parsers.parse('the KYC provider reports a sanctions hit for "{name}"'))
def kyc_sanctions(world: World, name: str) -> None:
    _kyc(world, name, approved=False, sanctions_hit=True, verified_country="CY", reject_labels=("SANCTIONS",))


_RESIDENCE = {
    Classification.US_ACCREDITED: ("US", True),
    Classification.US_NON_ACCREDITED: ("US", False),
    Classification.EU_ACCREDITED: ("DE", True),
    Classification.EU_NON_ACCREDITED: ("DE", False),
}


@given(parsers.parse('an active investor "{name}" classified "{cls}"'))
def active_investor(world: World, name: str, cls: str) -> None:
    country, accredited = _RESIDENCE[Classification[cls]]
    _register(world, name, country)
    _kyc(world, name, approved=True, verified_country=country, accreditation_verified=accredited)
    assert world.error is None, world.error
    assert world.investor(name).classification is Classification[cls]


@then(parsers.parse('"{name}" is active'))
def is_active(world: World, name: str) -> None:
    assert world.error is None, world.error
    assert world.investor(name).kyc_status is KycStatus.ACTIVE


@then(parsers.parse('"{name}" is classified "{cls}" in the platform and on the ledger'))
def is_classified(world: World, name: str, cls: str) -> None:
    investor = world.investor(name)
    assert investor.classification is Classification[cls]
    assert world.run(world.svc.ledger.classification_of(investor.wallet.address)) is Classification[cls]


@then(parsers.parse('"{name}" has a custodial wallet activated on the ledger'))
def wallet_activated(world: World, name: str) -> None:
    investor = world.investor(name)
    assert investor.wallet is not None and investor.wallet_activated
    # The vault signs for the wallet's address and never hands the key out.
    public_key = world.run(world.svc.vault.public_key(investor.wallet.id))
    assert world.svc.ledger.address_for(public_key) == investor.wallet.address


@then(parsers.parse('"{name}" is rejected with reason "{reason}"'))
def is_rejected(world: World, name: str, reason: str) -> None:
    investor = world.investor(name)
    assert investor.kyc_status is KycStatus.REJECTED
    assert any(reason in r for r in investor.kyc_reasons), investor.kyc_reasons


@then(parsers.parse('"{name}" has no wallet and nothing on the ledger'))
def no_wallet(world: World, name: str) -> None:
    investor = world.investor(name)
    assert investor.wallet is None and investor.classification is None
    assert not investor.events


@then(parsers.parse('"{name}" was classified on the ledger exactly once'))
def classified_once(world: World, name: str) -> None:
    investor = world.investor(name)
    assert investor.classification_seq == 1

    async def events() -> list[Any]:
        async with world.svc.store.unit_of_work() as uow:
            return await uow.events.list(aggregate_id=investor.id, limit=1000)

    assert [e.name for e in world.run(events())].count("InvestorClassified") == 1


def _outbox_names(world: World, investor_id: str) -> list[str]:
    messages = world.run(world.svc.store.outbox.list(limit=1000))
    return [m.kind for m in messages if investor_id in (m.payload.get("aggregate_id"), m.payload.get("investor_id"))]


@then(parsers.parse('the frontend is told that "{name}" was {what}'))
def frontend_told(world: World, name: str, what: str) -> None:
    expected = {
        "classified": "InvestorClassified",
        "rejected": "KycRejected",
        "blocked": "InvestorBlocked",
        "unblocked": "InvestorUnblocked",
    }[what]
    assert expected in _outbox_names(world, world.investors[name])


# ================================================================================================
# Instruments and orders
# ================================================================================================


@given(
    parsers.parse(
        'an open instrument "{symbol}" of {units:d} units at {price} EUR for "{eligible}" '
        "with tickets from {low} to {high} EUR"
    )
)
def open_instrument(world: World, symbol: str, units: int, price: str, eligible: str, low: str, high: str) -> None:
    instrument = world.run(
        p.create_instrument(
            world.svc,
            p.CreateInstrument(
                symbol=symbol,
                name=f"{symbol} SME credit pool",
                unit_price=eur(price),
                total_units=units,
                eligible=classes(eligible),
                min_ticket=eur(low),
                max_ticket=eur(high),
            ),
        )
    )
    world.instruments[symbol] = instrument.id
    world.run(p.open_instrument(world.svc, instrument.id))


@given(parsers.parse('"{cls}" investors are capped at {cap} EUR in "{symbol}"'))
def class_cap(world: World, cls: str, cap: str, symbol: str) -> None:
    async def work() -> None:
        async with world.svc.store.unit_of_work() as uow:
            instrument = await uow.instruments.get(world.instruments[symbol])
            instrument.class_caps[Classification[cls]] = eur(cap)
            await uow.instruments.save(instrument)
            await uow.commit()

    world.run(work())


def _order(world: World, name: str, units: int, symbol: str) -> None:
    order = world.attempt(
        p.create_order(world.svc, p.CreateOrder(world.investors[name], world.instruments[symbol], units))
    )
    if order is not None:
        world.orders[name] = order.id


@when(parsers.parse('"{name}" cancels the order'))
def cancels_order(world: World, name: str) -> None:
    world.run(p.cancel_order(world.svc, world.orders[name], "cancelled by the investor"))


@when(parsers.parse('"{name}" orders {units:d} units of "{symbol}"'))
def orders(world: World, name: str, units: int, symbol: str) -> None:
    _order(world, name, units, symbol)
    assert world.error is None, world.error


@when(parsers.parse('"{name}" tries to order {units:d} units of "{symbol}"'))
def tries_to_order(world: World, name: str, units: int, symbol: str) -> None:
    _order(world, name, units, symbol)


def _pay(world: World, name: str) -> None:
    order = world.order_of(name)
    event = PaymentEvent(
        event_id=f"evt_{order.id}",
        kind=PaymentEventKind.SUCCEEDED,
        order_id=order.id,
        payment_ref=f"pi_{order.id}",
        amount=order.amount,
    )
    world.attempt(p.handle_payment(world.svc, event))


@when(parsers.parse('the payment gateway confirms the payment for the order of "{name}"'))
def payment_confirmed(world: World, name: str) -> None:
    _pay(world, name)
    world.settle_txs[name] = world.order_of(name).tx_ids


@when(parsers.parse('the payment gateway confirms the payment for the order of "{name}" again'))
def payment_confirmed_again(world: World, name: str) -> None:
    _pay(world, name)
    assert world.error is None, world.error


@given(parsers.parse('"{name}" holds {units:d} units of "{symbol}"'))
def holds_units(world: World, name: str, units: int, symbol: str) -> None:
    _order(world, name, units, symbol)
    assert world.error is None, world.error
    _pay(world, name)
    assert world.order_of(name).status is OrderStatus.SETTLED


@when("the reservation time passes")
def reservation_passes(world: World) -> None:
    world.clock.advance(world.svc.settings.reservation + timedelta(seconds=1))
    world.run(p.expire_orders(world.svc))


@when(parsers.parse('the platform crashes right after the ledger settles the order of "{name}"'))
def crash_after_settle(world: World, name: str) -> None:
    world.ledger.armed.add(f"settle:{world.orders[name]}")
    try:
        _pay(world, name)
    except Crash:
        pass
    else:
        raise AssertionError("the armed crash did not happen")
    order = world.order_of(name)
    assert order.status is OrderStatus.PAID, order.status  # the store never learnt of the settlement


@then(parsers.parse('the order of "{name}" is settled'))
def order_settled(world: World, name: str) -> None:
    assert world.error is None, world.error
    order = world.order_of(name)
    assert order.status is OrderStatus.SETTLED, (order.status, order.reason)
    assert order.tx_ids


@then(parsers.parse('the order of "{name}" is "{status}"'))
def order_status(world: World, name: str, status: str) -> None:
    order = world.order_of(name)
    assert order.status is OrderStatus[status], (order.status, order.reason)


@then(parsers.parse('the order of "{name}" was settled on the ledger exactly once'))
def settled_once(world: World, name: str) -> None:
    order = world.order_of(name)
    assert order.tx_ids == world.settle_txs[name]
    investor = world.investor(name)

    async def units() -> int:
        async with world.svc.store.unit_of_work() as uow:
            ins = await uow.instruments.get(order.instrument_id)
        return await world.svc.ledger.units_of(ins.ledger_ref, investor.wallet.address)

    assert world.run(units()) == order.units


@then(parsers.parse('the order is refused because "{reason}"'))
def order_refused(world: World, reason: str) -> None:
    assert world.error is not None, "the order was accepted"
    assert reason in str(world.error), str(world.error)


@then(parsers.parse('{units:d} units of "{symbol}" are left for sale'))
def units_left(world: World, units: int, symbol: str) -> None:
    assert world.instrument(symbol).units_available == units


@then(parsers.parse('"{name}" holds {units:d} units of "{symbol}" in the platform and on the ledger'))
def holds_in_both(world: World, name: str, units: int, symbol: str) -> None:
    investor = world.investor(name)
    instrument = world.instrument(symbol)

    async def both() -> tuple[int, int]:
        async with world.svc.store.unit_of_work() as uow:
            in_store = await uow.positions.units(investor.id, instrument.id)
        on_ledger = await world.svc.ledger.units_of(instrument.ledger_ref, investor.wallet.address)
        return in_store, on_ledger

    assert world.run(both()) == (units, units)


@then(parsers.parse('an auditor finds the holders of "{symbol}" on the ledger equal to the platform\'s books'))
def books_agree(world: World, symbol: str) -> None:
    report = world.run(p.reconcile(world.svc, world.instruments[symbol]))
    assert report.in_sync, report.drift
    assert report.ledger_units == report.store_units > 0


@then(parsers.parse('"{name}" has {amount} EUR of stablecoin'))
def has_stablecoin(world: World, name: str, amount: str) -> None:
    investor = world.investor(name)
    assert world.run(world.svc.ledger.stablecoin_balance(investor.wallet.address)) == eur(amount)


# ================================================================================================
# Repayment
# ================================================================================================


def _repay(world: World, symbol: str, period: str, interest: str, principal: str, final: bool) -> None:
    world.attempt(
        p.trigger_repayment(
            world.svc, p.TriggerRepayment(world.instruments[symbol], period, eur(interest), eur(principal), final)
        )
    )
    assert world.error is None, world.error


@when(
    parsers.parse(
        'the admin triggers the repayment of "{symbol}" for period "{period}" '
        "with interest {interest} EUR and principal {principal} EUR"
    )
)
def repayment(world: World, symbol: str, period: str, interest: str, principal: str) -> None:
    _repay(world, symbol, period, interest, principal, final=False)


@when(
    parsers.parse(
        'the admin triggers the final repayment of "{symbol}" for period "{period}" '
        "with interest {interest} EUR and principal {principal} EUR"
    )
)
def final_repayment(world: World, symbol: str, period: str, interest: str, principal: str) -> None:
    _repay(world, symbol, period, interest, principal, final=True)


@given(parsers.parse('the admin has repaid {interest} EUR of interest on "{symbol}"'))
def repaid_interest(world: World, interest: str, symbol: str) -> None:
    _repay(world, symbol, "2026-10", interest, "0.00", final=False)


def _repayments(world: World) -> list[Any]:
    async def get() -> list[Any]:
        async with world.svc.store.unit_of_work() as uow:
            out: list[Any] = []
            for instrument_id in world.instruments.values():
                out.extend(await uow.repayments.by_instrument(instrument_id))
            return out

    return list(world.run(get()))


@then(parsers.parse("the shares paid sum to exactly {amount} EUR"))
def shares_sum(world: World, amount: str) -> None:
    (repayment_round,) = _repayments(world)
    total = sum((a.amount.minor for a in repayment_round.allocations), 0)
    assert total == eur(amount).minor == repayment_round.paid.minor


@then(parsers.parse('"{name}" received {amount} EUR of stablecoin'))
def received(world: World, name: str, amount: str) -> None:
    has_stablecoin(world, name, amount)


@then(parsers.parse('"{name}" has {amount} EUR held back'))
def held_back(world: World, name: str, amount: str) -> None:
    view = world.run(p.investor_view(world.svc, world.investors[name]))
    assert sum((h.amount.minor for h in view.held_back), 0) == eur(amount).minor


@then(parsers.parse('no units of "{symbol}" remain on the ledger'))
def none_remain(world: World, symbol: str) -> None:
    instrument = world.instrument(symbol)
    assert dict(world.run(world.svc.ledger.holders(instrument.ledger_ref))) == {}
    assert instrument.units_outstanding == 0


@then(parsers.parse('"{symbol}" has matured'))
def matured(world: World, symbol: str) -> None:
    assert world.instrument(symbol).status is InstrumentStatus.MATURED


@when(parsers.parse('"{name}" withdraws {amount} EUR'))
def withdraws(world: World, name: str, amount: str) -> None:
    world.attempt(p.withdraw(world.svc, p.Withdraw(world.investors[name], eur(amount))))
    assert world.error is None, world.error


@when(parsers.parse('"{name}" tries to withdraw {amount} EUR'))
def tries_to_withdraw(world: World, name: str, amount: str) -> None:
    world.attempt(p.withdraw(world.svc, p.Withdraw(world.investors[name], eur(amount))))


@then(parsers.parse('a payout of {amount} EUR to "{name}" is recorded'))
def payout_recorded(world: World, amount: str, name: str) -> None:
    async def get() -> list[Any]:
        async with world.svc.store.unit_of_work() as uow:
            return await uow.withdrawals.by_investor(world.investors[name])

    (withdrawal,) = world.run(get())
    assert withdrawal.amount == eur(amount) and withdrawal.tx_ids


@then(parsers.parse('the withdrawal is refused because "{reason}"'))
def withdrawal_refused(world: World, reason: str) -> None:
    assert world.error is not None, "the withdrawal was accepted"
    assert reason in str(world.error), str(world.error)


# ================================================================================================
# Compliance
# ================================================================================================


@given(parsers.parse('AML monitoring flags "{name}" for "{reason}"'))
@when(parsers.parse('AML monitoring flags "{name}" for "{reason}"'))
def aml_flags(world: World, name: str, reason: str) -> None:
    investor = world.investor(name)
    alert = AmlAlert(f"aml_{investor.id}_{reason}", investor.applicant_id, None, True, reason)
    world.run(p.handle_aml_alert(world.svc, alert))


@given(parsers.parse('AML monitoring will flag "{name}" for "{reason}" while the next repayment is being paid out'))
def aml_flags_mid_payout(world: World, name: str, reason: str) -> None:
    """The alert lands after the holders were batched and before the ledger pays them: the ledger
    refuses the frozen holder's payout in the middle of a batch."""
    investor = world.investor(name)
    alert = AmlAlert(f"aml_{investor.id}_{reason}", investor.applicant_id, None, True, reason)

    async def flag() -> None:
        await p.handle_aml_alert(world.svc, alert)

    world.ledger.before_distribute = flag


@when(parsers.parse('a compliance officer unblocks "{name}" because "{reason}"'))
def officer_unblocks(world: World, name: str, reason: str) -> None:
    world.run(p.unblock_investor(world.svc, world.investors[name], reason, "officer-1"))


@then(parsers.parse('"{name}" is blocked'))
def is_blocked(world: World, name: str) -> None:
    assert world.investor(name).is_blocked


@then(parsers.parse('"{name}" is not blocked'))
def is_not_blocked(world: World, name: str) -> None:
    assert not world.investor(name).is_blocked


@then(parsers.parse('the wallet of "{name}" is frozen on the ledger'))
def wallet_frozen(world: World, name: str) -> None:
    assert world.run(world.svc.ledger.is_frozen(world.investor(name).wallet.address)) is True


@then(parsers.parse('the wallet of "{name}" is not frozen on the ledger'))
def wallet_not_frozen(world: World, name: str) -> None:
    assert world.run(world.svc.ledger.is_frozen(world.investor(name).wallet.address)) is False


@when(parsers.parse('the ledger is asked directly to deliver {units:d} units of "{symbol}" to "{name}"'))
def deliver_directly(world: World, units: int, symbol: str, name: str) -> None:
    investor = world.investor(name)
    instrument = world.instrument(symbol)
    wallet: Wallet = investor.wallet
    purchase = Purchase("bypass-1", wallet, instrument.ledger_ref, units, instrument.price_of(units))
    world.attempt(world.svc.ledger.settle_purchase("bypass:1", purchase))


@then("the ledger refuses it as a compliance violation")
def ledger_refuses(world: World) -> None:
    assert isinstance(world.error, ComplianceRejected), repr(world.error)
