"""The agent's processes (processes/agent.py) on a real SQLite store and the memory ledger:
exactly once across a crash between the ledger and the store and a repeated request, a mandatory
reason, the actor recorded, refusals that write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from drexfy.adapters.memory import MemoryLedger, SimulatedCrash
from drexfy.adapters.sqlite import open_sqlite_store
from drexfy.domain import processes as p
from drexfy.domain.errors import IllegalTransition, IneligibleTarget, InsufficientFunds, ValidationFailed
from tests.integration.test_process_recovery import Clock, make_services
from tests.support.scenarios import buy, instrument, onboard


@pytest.fixture
async def svc(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = await open_sqlite_store(tmp_path / "store.sqlite")
    yield make_services(tmp_path, store, Clock())
    await store.close()


async def positions(svc: p.Services, instrument_id: str, *investor_ids: str) -> list[int]:
    async with svc.store.unit_of_work() as uow:
        return [await uow.positions.units(i, instrument_id) for i in investor_ids]


async def events(svc: p.Services, aggregate_id: str, name: str) -> list[dict[str, object]]:
    async with svc.store.unit_of_work() as uow:
        return [e.payload for e in await uow.events.list(aggregate_id=aggregate_id, limit=500) if e.name == name]


async def test_a_forced_transfer_survives_a_crash_and_a_repeat_and_moves_the_positions_once(svc: p.Services) -> None:
    ledger = svc.ledger
    assert isinstance(ledger, MemoryLedger)
    ins = await instrument(svc)
    ana, bo = await onboard(svc, "ana"), await onboard(svc, "bo")
    await buy(svc, ana, ins, 10)
    cmd = p.ForceTransfer("op-1", ins, ana, bo, 4, "court order 7/2026", "admin:alice")
    ledger.crash_after_effect("force:op-1")
    with pytest.raises(SimulatedCrash):
        await p.force_transfer(svc, cmd)
    assert await positions(svc, ins, ana, bo) == [10, 0]  # the ledger moved, the store did not yet
    done = await p.force_transfer(svc, cmd)
    again = await p.force_transfer(svc, cmd)
    assert await positions(svc, ins, ana, bo) == [6, 4]
    assert again == done and done.tx_ids
    [recorded] = await events(svc, ins, "UnitsForceTransferred")
    assert recorded["reason"] == "court order 7/2026" and recorded["actor"] == "admin:alice"
    assert recorded["sender_id"] == ana and recorded["receiver_id"] == bo and recorded["units"] == 4
    # The register reads the forced move on the ledger and leaves it alone.
    await p.sync_register(svc, ins)
    assert await positions(svc, ins, ana, bo) == [6, 4]
    assert (await p.reconcile(svc, ins)).in_sync


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"reason": "  "}, ValidationFailed),
        ({"actor": ""}, ValidationFailed),
        ({"operation_id": "op 1/../x"}, ValidationFailed),
        ({"units": 0}, ValidationFailed),
        ({"units": 11}, InsufficientFunds),
    ],
)
async def test_a_bad_forced_transfer_writes_nothing(svc: p.Services, change: dict[str, object], error: type) -> None:
    ins = await instrument(svc)
    ana, bo = await onboard(svc, "ana"), await onboard(svc, "bo")
    await buy(svc, ana, ins, 10)
    fields: dict[str, object] = {
        "operation_id": "op-2",
        "instrument_id": ins,
        "from_investor_id": ana,
        "to_investor_id": bo,
        "units": 2,
        "reason": "error correction",
        "actor": "admin:alice",
        **change,
    }
    with pytest.raises(error):
        await p.force_transfer(svc, p.ForceTransfer(**fields))  # type: ignore[arg-type]
    assert await positions(svc, ins, ana, bo) == [10, 0]
    assert await events(svc, ins, "UnitsForceTransferred") == []


async def test_a_forced_transfer_to_a_blocked_investor_is_refused_before_the_ledger(svc: p.Services) -> None:
    ledger = svc.ledger
    assert isinstance(ledger, MemoryLedger)
    ins = await instrument(svc)
    ana, bo = await onboard(svc, "ana"), await onboard(svc, "bo")
    await buy(svc, ana, ins, 10)
    await p.block_investor(svc, bo, "adverse media", "officer")
    sent = len(ledger.transactions)
    with pytest.raises(IneligibleTarget, match="blocked"):
        await p.force_transfer(svc, p.ForceTransfer("op-3", ins, ana, bo, 1, "court order", "admin:alice"))
    assert len(ledger.transactions) == sent
    assert await positions(svc, ins, ana, bo) == [10, 0]


async def test_a_wallet_recovery_survives_a_crash_and_is_done_once(svc: p.Services) -> None:
    ledger = svc.ledger
    assert isinstance(ledger, MemoryLedger)
    ins = await instrument(svc)
    ana = await onboard(svc, "ana")
    await buy(svc, ana, ins, 5)
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(ana)
        ref = (await uow.instruments.get(ins)).ledger_ref
    lost = investor.wallet
    assert lost is not None and ref is not None
    cmd = p.RecoverWallet("op-4", ana, "lost device", "admin:alice")
    ledger.crash_after_effect(f"recover:op-4:{ref}")
    with pytest.raises(SimulatedCrash):
        await p.recover_wallet(svc, cmd)
    recovered = await p.recover_wallet(svc, cmd)
    assert await p.recover_wallet(svc, cmd) == recovered
    new = recovered.wallet
    assert new is not None and new.address != lost.address
    assert await ledger.units_of(ref, lost.address) == 0
    assert await ledger.units_of(ref, new.address) == 5
    assert await ledger.is_frozen(lost.address)
    assert await ledger.classification_of(new.address) is recovered.classification
    assert await positions(svc, ins, ana) == [5]
    [recorded] = await events(svc, ana, "WalletRecovered")
    assert recorded["lost_address"] == lost.address and recorded["new_address"] == new.address
    assert recorded["reason"] == "lost device" and recorded["actor"] == "admin:alice"
    await p.sync_register(svc, ins)
    assert (await p.reconcile(svc, ins)).in_sync


async def test_a_blocked_investors_wallet_is_not_recovered(svc: p.Services) -> None:
    ana = await onboard(svc, "ana")
    await p.block_investor(svc, ana, "adverse media", "officer")
    with pytest.raises(IllegalTransition, match="blocked"):
        await p.recover_wallet(svc, p.RecoverWallet("op-5", ana, "lost device", "admin:alice"))
    assert await events(svc, ana, "WalletRecovered") == []
