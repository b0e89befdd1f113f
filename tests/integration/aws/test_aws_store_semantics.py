"""DynamoDB unit-of-work behaviour beyond the shared store contract: what the buffered writes mean
(read-your-writes, conflicts found at commit, nothing half-written) and the immediate reservation
with its compensation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drexfy.adapters.dynamodb import DynamoStore
from drexfy.domain import events as ev
from drexfy.domain.errors import Conflict, SoldOut
from tests.contract import builders as b

T0 = datetime(2026, 11, 22, tzinfo=UTC)


async def _instrument(store: DynamoStore, **fields: int) -> None:
    async with store.unit_of_work() as uow:
        await uow.instruments.add(b.instrument(**fields))
        await uow.commit()


async def _reserved(store: DynamoStore) -> int:
    async with store.unit_of_work() as uow:
        return (await uow.instruments.get("ins_1")).units_reserved


async def test_a_unit_of_work_reads_its_own_pending_writes(dynamo_store: DynamoStore) -> None:
    await _instrument(dynamo_store, total_units=100, units_sold=0, units_reserved=0, units_retired=0)
    async with dynamo_store.unit_of_work() as uow:
        instrument = await uow.instruments.get("ins_1")
        instrument.name = "pending name"
        await uow.instruments.save(instrument)
        await uow.positions.add_units("inv_1", "ins_1", 7)
        await uow.positions.add_units("inv_1", "ins_1", 3)
        assert (await uow.instruments.get("ins_1")).name == "pending name"
        assert await uow.positions.units("inv_1", "ins_1") == 10
        # ... while other readers still see the committed state.
        async with dynamo_store.unit_of_work() as other:
            assert (await other.instruments.get("ins_1")).name != "pending name"
            assert await other.positions.units("inv_1", "ins_1") == 0
        await uow.commit()
    async with dynamo_store.unit_of_work() as uow:
        assert await uow.positions.units("inv_1", "ins_1") == 10


async def test_a_conflict_found_at_commit_writes_nothing_of_the_unit(dynamo_store: DynamoStore) -> None:
    await _instrument(dynamo_store, total_units=100, units_sold=0, units_reserved=0, units_retired=0)
    async with dynamo_store.unit_of_work() as slow:
        mine = await slow.instruments.get("ins_1")
        mine.name = "slow writer"
        await slow.instruments.save(mine)  # the early version check passes: nobody saved yet
        await slow.positions.add_units("inv_1", "ins_1", 5)
        slow.record(ev.WalletFrozen("audit", T0))

        async with dynamo_store.unit_of_work() as fast:
            theirs = await fast.instruments.get("ins_1")
            theirs.name = "fast writer"
            await fast.instruments.save(theirs)
            await fast.commit()

        with pytest.raises(Conflict):
            await slow.commit()
    async with dynamo_store.unit_of_work() as uow:
        assert (await uow.instruments.get("ins_1")).name == "fast writer"
        assert await uow.positions.units("inv_1", "ins_1") == 0
        assert [e.name for e in await uow.events.list(aggregate_id="audit")] == []


async def test_a_reservation_is_released_when_the_unit_ends_without_commit(dynamo_store: DynamoStore) -> None:
    await _instrument(dynamo_store, total_units=10, units_sold=0, units_reserved=0, units_retired=0)
    async with dynamo_store.unit_of_work() as uow:
        await uow.instruments.reserve_units("ins_1", 4)
        assert await _reserved(dynamo_store) == 4  # applied at once: other processes see it
    assert await _reserved(dynamo_store) == 0

    with pytest.raises(RuntimeError):
        async with dynamo_store.unit_of_work() as uow:
            await uow.instruments.reserve_units("ins_1", 4)
            raise RuntimeError("the process failed before committing")
    assert await _reserved(dynamo_store) == 0


async def test_a_reservation_is_released_when_the_commit_fails(dynamo_store: DynamoStore) -> None:
    await _instrument(dynamo_store, total_units=10, units_sold=0, units_reserved=0, units_retired=0)
    async with dynamo_store.unit_of_work() as uow:
        await uow.instruments.reserve_units("ins_1", 6)
        mine = await uow.instruments.get("ins_1")
        mine.name = "mine"
        await uow.instruments.save(mine)
        async with dynamo_store.unit_of_work() as other:  # someone saves first: our commit conflicts
            theirs = await other.instruments.get("ins_1")
            theirs.name = "theirs"
            await other.instruments.save(theirs)
            await other.commit()
        with pytest.raises(Conflict):
            await uow.commit()
    assert await _reserved(dynamo_store) == 0


async def test_a_committed_reservation_stays_and_still_never_oversells(dynamo_store: DynamoStore) -> None:
    await _instrument(dynamo_store, total_units=10, units_sold=0, units_reserved=0, units_retired=0)
    async with dynamo_store.unit_of_work() as uow:
        await uow.instruments.reserve_units("ins_1", 6)
        await uow.commit()
    assert await _reserved(dynamo_store) == 6
    async with dynamo_store.unit_of_work() as uow:
        with pytest.raises(SoldOut):
            await uow.instruments.reserve_units("ins_1", 5)
        await uow.instruments.reserve_units("ins_1", 4)
        await uow.commit()
    assert await _reserved(dynamo_store) == 10
