"""Repayment and withdrawal steps (features/repayment.feature)."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then, when

from drexfy.domain import processes as p
from drexfy.domain.model import InstrumentStatus
from drexfy.domain.processes import queries as q
from tests.bdd.steps.buying import has_stablecoin
from tests.bdd.world import World, eur
from tests.support.holder_transfers import transfer_on_ledger


@when(
    parsers.parse(
        'the admin triggers the repayment of "{symbol}" for period "{period}" '
        "with interest {interest} EUR and principal {principal} EUR"
    )
)
def repayment(world: World, symbol: str, period: str, interest: str, principal: str) -> None:
    world.driver.repay(symbol, period, interest, principal, final=False)


@when(
    parsers.parse(
        'the admin triggers the final repayment of "{symbol}" for period "{period}" '
        "with interest {interest} EUR and principal {principal} EUR"
    )
)
def final_repayment(world: World, symbol: str, period: str, interest: str, principal: str) -> None:
    world.driver.repay(symbol, period, interest, principal, final=True)


@when(parsers.parse('"{sender}" transfers {units:d} units of "{symbol}" to "{receiver}" on the ledger'))
def transfer_on_the_ledger(world: World, sender: str, units: int, symbol: str, receiver: str) -> None:
    instrument = world.instrument(symbol)
    from_wallet, to_wallet = world.investor(sender).wallet, world.investor(receiver).wallet
    world.run(transfer_on_ledger(world.svc.ledger, instrument.ledger_ref, from_wallet, to_wallet, units))


@given(parsers.parse('the admin has repaid {interest} EUR of interest on "{symbol}"'))
def repaid_interest(world: World, interest: str, symbol: str) -> None:
    world.driver.repay(symbol, "2026-10", interest, "0.00", final=False)


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
    shares = world.run(q.repayment_allocations(world.svc, repayment_round.id, limit=500)).items
    total = sum((a.amount.minor for a in shares), 0)
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
    world.driver.withdraw(name, amount)
    assert world.error is None, world.error


@when(parsers.parse('"{name}" tries to withdraw {amount} EUR'))
def tries_to_withdraw(world: World, name: str, amount: str) -> None:
    world.driver.withdraw(name, amount)


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
