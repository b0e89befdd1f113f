"""The ledger is the register: units that holders transfer to each other on the ledger move in the
store's positions too, exactly once (across repeated reads, a restart and two readers at once), and
the next repayment pays whoever holds the units on the ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs
import pytest

from drexfy.adapters.memory import MemoryLedger
from drexfy.adapters.sqlite import open_sqlite_store
from drexfy.domain import processes as p
from drexfy.domain.errors import RegisterBehind
from drexfy.domain.processes import queries as q
from tests.integration.test_process_recovery import Clock, make_services
from tests.support.scenarios import buy, eur, instrument, onboard


async def wallets(svc: p.Services, *investor_ids: str) -> list[str]:
    async with svc.store.unit_of_work() as uow:
        return [(await uow.investors.get(i)).wallet.address for i in investor_ids]  # type: ignore[union-attr]


async def units(svc: p.Services, investor_id: str, instrument_id: str) -> int:
    async with svc.store.unit_of_work() as uow:
        return await uow.positions.units(investor_id, instrument_id)


async def test_a_transfer_between_holders_moves_positions_once_and_the_next_repayment_pays_the_new_holder(
    tmp_path: Path,
) -> None:
    store = await open_sqlite_store(tmp_path / "store.sqlite")
    svc = make_services(tmp_path, store, Clock())
    ledger = svc.ledger
    assert isinstance(ledger, MemoryLedger)
    ins = await instrument(svc)
    ana, bo = await onboard(svc, "ana"), await onboard(svc, "bo")
    await buy(svc, ana, ins, 10)
    await buy(svc, bo, ins, 10)
    async with store.unit_of_work() as uow:
        ref = (await uow.instruments.get(ins)).ledger_ref
    assert ref is not None
    ana_address, bo_address = await wallets(svc, ana, bo)

    ledger.transfer_units(ref, ana_address, bo_address, 4)  # on the ledger, not through the platform
    cursor = await p.sync_register(svc, ins)
    assert (await units(svc, ana, ins), await units(svc, bo, ins)) == (6, 14)
    assert await p.sync_register(svc, ins) == cursor  # read again: nothing applied twice

    # Another process (a restart, or a second worker) reads from the stored cursor, twice at once.
    again = attrs.evolve(make_services(tmp_path, store, Clock()), ledger=ledger)
    await asyncio.gather(p.sync_register(again, ins), p.sync_register(svc, ins))
    assert (await units(svc, ana, ins), await units(svc, bo, ins)) == (6, 14)

    async with store.unit_of_work() as uow:
        moved = [e for e in await uow.events.list(aggregate_id=ins, limit=100) if e.name == "UnitsTransferred"]
    assert len(moved) == 1 and moved[0].payload["units"] == 4

    # A second transfer after the cursor; the repayment catches up before it snapshots.
    ledger.transfer_units(ref, bo_address, ana_address, 2)
    repayment = await p.trigger_repayment(svc, p.TriggerRepayment(ins, "2026-11", eur("200.00"), eur("0.00")))
    shares = {a.investor_id: a for a in (await q.repayment_allocations(svc, repayment.id)).items}
    assert (shares[ana].units_held, shares[bo].units_held) == (8, 12)
    assert (shares[ana].amount, shares[bo].amount) == (eur("80.00"), eur("120.00"))
    assert repayment.as_of is not None and repayment.as_of > (cursor or "")
    assert await ledger.stablecoin_balance(bo_address) == eur("120.00")
    await store.close()


async def test_units_the_store_has_not_seen_arrive_wait_for_their_settlement(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "store.sqlite")
    svc = make_services(tmp_path, store, Clock())
    ledger = svc.ledger
    assert isinstance(ledger, MemoryLedger)
    ins = await instrument(svc)
    ana, bo = await onboard(svc, "ana"), await onboard(svc, "bo")
    await buy(svc, ana, ins, 10)
    async with store.unit_of_work() as uow:
        ref = (await uow.instruments.get(ins)).ledger_ref
        position = await uow.positions.units(ana, ins)
        await uow.positions.add_units(ana, ins, -position)  # as if the settlement were not recorded yet
        await uow.commit()
    assert ref is not None
    ana_address, bo_address = await wallets(svc, ana, bo)
    ledger.transfer_units(ref, ana_address, bo_address, 3)
    with pytest.raises(RegisterBehind):
        await p.sync_register(svc, ins)
    assert await units(svc, bo, ins) == 0  # nothing of the page applied
    async with store.unit_of_work() as uow:
        await uow.positions.add_units(ana, ins, position)  # the settlement is recorded
        await uow.commit()
    await p.sync_register(svc, ins)
    assert (await units(svc, ana, ins), await units(svc, bo, ins)) == (7, 3)
    await store.close()
