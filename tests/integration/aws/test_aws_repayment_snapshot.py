"""DynamoDB writes a repayment snapshot's shares in bulk before the repayment's transaction (any
number of holders fit). An attempt whose transaction then fails leaves its shares behind; the next
snapshot of the repayment must end with exactly its own shares, not a mix (a former holder left in
would be paid)."""

from __future__ import annotations

import pytest

from drexfy.adapters.dynamodb import DynamoStore
from drexfy.domain.errors import Conflict
from drexfy.domain.model import RepaymentStatus
from tests.contract import builders as b


async def test_a_snapshot_replaces_the_shares_a_failed_attempt_left_behind(dynamo_store: DynamoStore) -> None:
    store = dynamo_store
    async with store.unit_of_work() as uow:
        await uow.repayments.add(b.repayment("rep_s", status=RepaymentStatus.REQUESTED, holders=0))
        await uow.commit()
    with pytest.raises(Conflict):
        async with store.unit_of_work() as first:
            mine = await first.repayments.get("rep_s")
            mine.status = RepaymentStatus.DISTRIBUTING
            await first.repayments.snapshot(mine, [b.allocation(i) for i in ("inv_1", "inv_2", "inv_3")])
            async with store.unit_of_work() as other:  # someone saves it meanwhile
                await other.repayments.save(await other.repayments.get("rep_s"))
                await other.commit()
            await first.commit()  # the shares went in bulk, then the transaction failed
    async with store.unit_of_work() as uow:
        left = [a.investor_id for a in await uow.repayments.allocations("rep_s")]
    assert left == ["inv_1", "inv_2", "inv_3"]  # what a failed attempt leaves

    again = b.allocation("inv_1", units_held=9)
    async with store.unit_of_work() as uow:
        fresh = await uow.repayments.get("rep_s")
        assert fresh.status is RepaymentStatus.REQUESTED
        fresh.status = RepaymentStatus.DISTRIBUTING
        await uow.repayments.snapshot(fresh, [again, b.allocation("inv_4")])
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.repayments.allocations("rep_s") == [again, b.allocation("inv_4")]
