"""Instrument, order, payment and settlement steps (features/buy_investment.feature)."""

from __future__ import annotations

from datetime import timedelta

from pytest_bdd import given, parsers, then, when

from drexfy.domain import processes as p
from drexfy.domain.classification import Classification
from drexfy.domain.model import OrderStatus
from tests.bdd.world import World, eur


@given(
    parsers.parse(
        'an open instrument "{symbol}" of {units:d} units at {price} EUR for "{eligible}" '
        "with tickets from {low} to {high} EUR"
    )
)
def open_instrument(world: World, symbol: str, units: int, price: str, eligible: str, low: str, high: str) -> None:
    world.driver.open_instrument(symbol, units, price, eligible, low, high)


@given(parsers.parse('"{cls}" investors are capped at {cap} EUR in "{symbol}"'))
def class_cap(world: World, cls: str, cap: str, symbol: str) -> None:
    """The instrument's terms, set in the store (no API offers caps yet)."""

    async def work() -> None:
        async with world.svc.store.unit_of_work() as uow:
            instrument = await uow.instruments.get(world.instruments[symbol])
            instrument.class_caps[Classification[cls]] = eur(cap)
            await uow.instruments.save(instrument)
            await uow.commit()

    world.run(work())


@when(parsers.parse('"{name}" cancels the order'))
def cancels_order(world: World, name: str) -> None:
    world.driver.cancel(name)


@when(parsers.parse('"{name}" orders {units:d} units of "{symbol}"'))
def orders(world: World, name: str, units: int, symbol: str) -> None:
    world.driver.order(name, units, symbol)
    assert world.error is None, world.error


@when(parsers.parse('"{name}" tries to order {units:d} units of "{symbol}"'))
def tries_to_order(world: World, name: str, units: int, symbol: str) -> None:
    world.driver.order(name, units, symbol)


@when(parsers.parse('the payment gateway confirms the payment for the order of "{name}"'))
def payment_confirmed(world: World, name: str) -> None:
    world.driver.pay(name)
    world.settle_txs[name] = world.order_of(name).tx_ids


@when(parsers.parse('the payment gateway confirms the payment for the order of "{name}" again'))
def payment_confirmed_again(world: World, name: str) -> None:
    world.driver.pay(name)
    assert world.error is None, world.error


@given(parsers.parse('"{name}" holds {units:d} units of "{symbol}"'))
def holds_units(world: World, name: str, units: int, symbol: str) -> None:
    world.driver.order(name, units, symbol)
    assert world.error is None, world.error
    world.driver.pay(name)
    assert world.order_of(name).status is OrderStatus.SETTLED


@when("the reservation time passes")
def reservation_passes(world: World) -> None:
    """Time passes and the worker's periodic expiry runs."""
    world.clock.advance(world.svc.settings.reservation + timedelta(seconds=1))
    world.run(p.expire_orders(world.svc))


@when(parsers.parse('the platform crashes right after the ledger settles the order of "{name}"'))
def crash_after_settle(world: World, name: str) -> None:
    world.ledger.armed.add(f"settle:{world.orders[name]}")
    world.driver.crash_right_after_settling(name)
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
    report = world.driver.reconcile(symbol)
    assert report.in_sync, report.drift
    assert report.ledger_units == report.store_units > 0


@then(parsers.parse('"{name}" has {amount} EUR of stablecoin'))
def has_stablecoin(world: World, name: str, amount: str) -> None:
    investor = world.investor(name)
    assert world.run(world.svc.ledger.stablecoin_balance(investor.wallet.address)) == eur(amount)


@then(parsers.parse('a refund of the order of "{name}" is on its way'))
def refund_on_its_way(world: World, name: str) -> None:
    order = world.order_of(name)
    assert order.refund_ref is not None, (order.refund_error, order.refund_attempts)


@when(parsers.parse('the payment gateway reports that the refund for the order of "{name}" failed for "{reason}"'))
def refund_failed(world: World, name: str, reason: str) -> None:
    world.driver.refund_outcome(name, succeeded=False, reason=reason)


@when(parsers.parse('the payment gateway reports that the refund for the order of "{name}" succeeded'))
def refund_succeeded(world: World, name: str) -> None:
    world.driver.refund_outcome(name, succeeded=True)


@then(parsers.parse('operators see that the refund for the order of "{name}" failed for "{reason}"'))
def refund_failure_visible(world: World, name: str, reason: str) -> None:
    order = world.order_of(name)
    assert order.refund_ref is None and reason in (order.refund_error or ""), order.refund_error
    assert order.refund_attempts == 1


@when("the refund is retried after its back-off")
def refund_retried(world: World) -> None:
    """Time passes and the worker's periodic refund sweep runs."""
    world.clock.advance(world.svc.settings.refund_retry * 2 + timedelta(seconds=1))
    world.run(p.retry_refunds(world.svc))
