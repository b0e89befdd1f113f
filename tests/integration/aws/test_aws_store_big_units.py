"""Units of work beyond DynamoDB's 100-item transaction limit: the events and outbox rows still
commit atomically with the change (packed in event-batch items), are unpacked once, and a crash
before or during the unpacking is repaired by the next outbox claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drexfy.adapters.dynamodb import DynamoStore
from drexfy.domain import events as ev
from drexfy.domain.errors import ValidationFailed
from drexfy.domain.ports import MessageStatus
from tests.contract import builders as b

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
HOLDERS = 120  # x3 items per notifying event (event, outbox message, key guard) = 360 items


def _paid(i: int) -> ev.RepaymentPaid:
    return ev.RepaymentPaid("ins_1", T0 + timedelta(microseconds=i), "rep_1", f"inv_{i:03d}", 100 + i, 0, ())


async def _batches_left(store: DynamoStore) -> int:
    return len(await store.table.query_items("#a_GSI1PK = :p", {":p": "EVTBATCH"}, index="GSI1"))


async def _commit_big_unit(store: DynamoStore) -> None:
    async with store.unit_of_work() as uow:
        instrument = await uow.instruments.get("ins_1")
        instrument.name = "after repayment"
        await uow.instruments.save(instrument)
        for i in range(HOLDERS):
            uow.record(_paid(i))
        await uow.commit()


async def _setup(store: DynamoStore) -> None:
    async with store.unit_of_work() as uow:
        await uow.instruments.add(b.instrument())
        await uow.commit()


async def _events(store: DynamoStore) -> list[ev.DomainEvent]:
    async with store.unit_of_work() as uow:
        return await uow.events.list(aggregate_id="ins_1", limit=1000)  # type: ignore[return-value]


async def test_a_unit_of_work_with_hundreds_of_items_commits_everything_once(dynamo_store: DynamoStore) -> None:
    await _setup(dynamo_store)
    await _commit_big_unit(dynamo_store)
    events = await _events(dynamo_store)
    assert len(events) == HOLDERS
    assert len({e.id for e in events}) == HOLDERS
    assert (await dynamo_store.outbox.counts())[MessageStatus.PENDING] == HOLDERS
    assert await _batches_left(dynamo_store) == 0
    async with dynamo_store.unit_of_work() as uow:
        assert (await uow.instruments.get("ins_1")).name == "after repayment"


async def test_a_crash_before_unpacking_is_repaired_by_the_next_outbox_claim(dynamo_store: DynamoStore) -> None:
    await _setup(dynamo_store)

    async def crash(pks: list[str]) -> None:  # the process dies right after the commit
        return None

    dynamo_store.event_batches.unpack_quietly = crash  # type: ignore[method-assign]
    await _commit_big_unit(dynamo_store)
    assert await _events(dynamo_store) == []  # committed, but still packed
    assert await _batches_left(dynamo_store) >= 1
    async with dynamo_store.unit_of_work() as uow:  # ... yet the business change is there
        assert (await uow.instruments.get("ins_1")).name == "after repayment"

    # Half of one batch was unpacked when the process died: the recovery must not double it.
    batch = (await dynamo_store.table.query_items("#a_GSI1PK = :p", {":p": "EVTBATCH"}, index="GSI1"))[0]
    from drexfy.adapters.serialization import loads

    for item in loads(batch["items"])[:10]:
        await dynamo_store.table.put(item)

    claimed = await dynamo_store.outbox.claim(T0 + timedelta(days=1), HOLDERS * 2, 60)
    assert len(claimed) == HOLDERS
    assert len({m.key for m in claimed}) == HOLDERS
    assert len(await _events(dynamo_store)) == HOLDERS
    assert await _batches_left(dynamo_store) == 0
    # A claimed (RUNNING) message is never reset by a later recovery.
    assert await dynamo_store.event_batches.recover() == 0
    assert (await dynamo_store.outbox.counts())[MessageStatus.RUNNING] == HOLDERS


async def test_too_many_business_records_in_one_unit_are_refused_and_nothing_is_written(
    dynamo_store: DynamoStore,
) -> None:
    await _setup(dynamo_store)
    async with dynamo_store.unit_of_work() as uow:
        for i in range(101):
            await uow.positions.add_units(f"inv_{i:03d}", "ins_1", 1)
        with pytest.raises(ValidationFailed, match="distribution_batch_size"):
            await uow.commit()
    async with dynamo_store.unit_of_work() as uow:
        assert await uow.positions.holders("ins_1") == []
