"""A table written by an earlier version: repayments whose shares were embedded in their record are
upgraded when the store opens (`upgrade.py`), once, and read back as the new layout."""

from __future__ import annotations

from drexfy.adapters.dynamodb import DynamoStore, create_dynamo_store
from drexfy.adapters.dynamodb.upgrade import LAYOUT, MARKER
from drexfy.adapters.serialization import dumps
from drexfy.domain.model import AllocationStatus
from tests.contract import builders as b
from tests.support.moto import REGION


async def test_an_earlier_repayment_item_is_upgraded_once_when_the_store_opens(dynamo_store: DynamoStore) -> None:
    table = dynamo_store.table
    shares = [
        b.allocation("inv_1", AllocationStatus.PAID, batch=0),
        b.allocation("inv_2", AllocationStatus.HELD_BACK, batch=None, tx_ids=()),
        b.allocation("inv_3", AllocationStatus.PENDING, batch=1, tx_ids=()),
        b.allocation("inv_4", AllocationStatus.PENDING, batch=None, tx_ids=()),
    ]
    legacy = b.legacy_repayment("rep_old", shares)
    await table.put(
        {
            "PK": "REP#rep_old",
            "SK": "A",
            "type": "repayment",
            "version": 2,
            "data": dumps(legacy),
            "instrument_id": "ins_1",
            "GSI1PK": "INSREP#ins_1",
            "GSI1SK": "2026-11-01#rep_old",
        }
    )
    await table.put({"PK": "HELD#inv_2", "SK": "rep_old", "type": "holdback"})
    await table.delete(*MARKER)  # as before the upgrade existed

    reopened = await create_dynamo_store(
        table_name=table.name, region=REGION, endpoint_url=dynamo_store.client.meta.endpoint_url
    )
    try:
        async with reopened.unit_of_work() as uow:
            repayment = await uow.repayments.get("rep_old")
            rows = await uow.repayments.allocations("rep_old")
            held = await uow.repayments.held_back_for("inv_2")
        assert await reopened.upgrade() == 0  # the marker says it is done
        assert (await table.get(*MARKER) or {}).get("layout") == LAYOUT
    finally:
        await reopened.close()
    assert rows == shares
    assert [r.id for r in held] == ["rep_old"]
    assert (repayment.holders, repayment.pending, repayment.paid_count, repayment.held_back_count) == (4, 2, 1, 1)
    assert (repayment.paid_minor, repayment.held_back_minor, repayment.units_retired) == (5_79, 5_79, 1)
    assert (repayment.open_batch, repayment.batch_to, repayment.cursor) == (1, "inv_3", "inv_3")
    assert repayment.version == 3
