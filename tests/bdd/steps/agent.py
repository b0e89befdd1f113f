"""Forced transfer and wallet recovery steps (features/agent.feature)."""

from __future__ import annotations

from pytest_bdd import parsers, then, when

from drexfy.domain import processes as p
from tests.bdd.world import World


@when(parsers.parse('the admin recovers the wallet of "{name}" because "{reason}"'))
def admin_recovers(world: World, name: str, reason: str) -> None:
    world.lost_wallets[name] = world.investor(name).wallet
    world.driver.recover_wallet(name, reason)
    assert world.error is None, world.error


@when(
    parsers.parse(
        'the admin forces a transfer of {units:d} units of "{symbol}" from "{sender}" to "{receiver}" because "{reason}"'
    )
)
def admin_forces(world: World, units: int, symbol: str, sender: str, receiver: str, reason: str) -> None:
    world.driver.force_transfer(symbol, sender, receiver, units, reason)


@then(parsers.parse('"{name}" has a new wallet'))
def has_new_wallet(world: World, name: str) -> None:
    wallet = world.investor(name).wallet
    assert wallet is not None and wallet != world.lost_wallets[name]
    assert wallet.address != world.lost_wallets[name].address


@then(parsers.parse('the lost wallet of "{name}" holds no units of "{symbol}" and is frozen on the ledger'))
def lost_wallet_empty(world: World, name: str, symbol: str) -> None:
    lost = world.lost_wallets[name].address
    ref = world.instrument(symbol).ledger_ref
    assert world.run(world.svc.ledger.units_of(ref, lost)) == 0
    assert world.run(world.svc.ledger.is_frozen(lost)) is True


def _recorded(world: World, aggregate_id: str, name: str) -> dict[str, object]:
    async def events() -> list[dict[str, object]]:
        async with world.svc.store.unit_of_work() as uow:
            return [e.payload for e in await uow.events.list(aggregate_id=aggregate_id, limit=500) if e.name == name]

    [payload] = world.run(events())
    return payload


@then(parsers.parse('the recovery of "{name}" is recorded with the reason "{reason}"'))
def recovery_recorded(world: World, name: str, reason: str) -> None:
    payload = _recorded(world, world.investors[name], "WalletRecovered")
    assert payload["reason"] == reason
    assert payload["actor"] == world.driver.actor
    assert payload["lost_address"] == world.lost_wallets[name].address
    assert payload["new_address"] == world.investor(name).wallet.address


@then(parsers.parse('the forced transfer to "{name}" is recorded with the reason "{reason}"'))
def forced_transfer_recorded(world: World, name: str, reason: str) -> None:
    [symbol] = world.instruments
    payload = _recorded(world, world.instruments[symbol], "UnitsForceTransferred")
    assert payload["reason"] == reason
    assert payload["actor"] == world.driver.actor
    assert payload["receiver_id"] == world.investors[name]
    assert payload["tx_ids"]


@then(parsers.parse('the forced transfer is refused because "{reason}"'))
def forced_transfer_refused(world: World, reason: str) -> None:
    assert world.error is not None, "the forced transfer was accepted"
    assert reason in str(world.error), str(world.error)


@then(parsers.parse('the register of "{symbol}" agrees with the ledger'))
def register_agrees(world: World, symbol: str) -> None:
    """The register reads the forced move from the ledger and leaves it to the process that
    recorded it: read twice, the positions still equal the ledger's balances."""
    for _ in range(2):
        world.run(p.sync_register(world.svc, world.instruments[symbol]))
        report = world.driver.reconcile(symbol)
        assert report.in_sync, report.drift
