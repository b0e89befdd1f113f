"""AML, block, unblock and on-chain compliance steps (features/compliance.feature)."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from drexfy.domain import processes as p
from drexfy.domain.errors import ComplianceRejected
from drexfy.domain.model import Wallet
from drexfy.domain.ports import Purchase
from drexfy.domain.provider_events import AmlAlert
from tests.bdd.world import World


@given(parsers.parse('AML monitoring flags "{name}" for "{reason}"'))
@when(parsers.parse('AML monitoring flags "{name}" for "{reason}"'))
def aml_flags(world: World, name: str, reason: str) -> None:
    world.driver.aml_flag(name, reason)


@given(parsers.parse('AML monitoring will flag "{name}" for "{reason}" while the next repayment is being paid out'))
def aml_flags_mid_payout(world: World, name: str, reason: str) -> None:
    """The alert lands after the holders were batched and before the ledger pays them: the ledger
    refuses the frozen holder's payout in the middle of a batch. (Handled by the process directly:
    it happens inside the repayment, whichever driver triggered it.)"""
    investor = world.investor(name)
    alert = AmlAlert(f"aml_{investor.id}_{reason}", investor.applicant_id, None, True, reason)

    async def flag() -> None:
        await p.handle_aml_alert(world.svc, alert)

    world.ledger.before_distribute = flag


@when(parsers.parse('a compliance officer unblocks "{name}" because "{reason}"'))
def officer_unblocks(world: World, name: str, reason: str) -> None:
    world.driver.unblock(name, reason)


@when(parsers.parse('a compliance officer confirms the sanctions match of "{name}" because "{reason}"'))
def officer_confirms(world: World, name: str, reason: str) -> None:
    world.driver.decide_alert(name, "confirm", reason)


@when(parsers.parse('a compliance officer dismisses the alert on "{name}" because "{reason}"'))
def officer_dismisses(world: World, name: str, reason: str) -> None:
    world.driver.decide_alert(name, "dismiss", reason)


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
    """An attacker with the relayer's call in hand, bypassing the platform: the ledger itself refuses."""
    investor = world.investor(name)
    instrument = world.instrument(symbol)
    wallet: Wallet = investor.wallet
    purchase = Purchase("bypass-1", wallet, instrument.ledger_ref, units, instrument.price_of(units))
    world.attempt(world.svc.ledger.settle_purchase("bypass:1", purchase))


@then("the ledger refuses it as a compliance violation")
def ledger_refuses(world: World) -> None:
    assert isinstance(world.error, ComplianceRejected), repr(world.error)
