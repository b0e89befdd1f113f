"""A repayment to more holders than one DynamoDB item could hold (about 1,170 shares filled the
400 KB limit when a repayment was one record), on both stores: every share paid once, in batches,
a blocked holder's share held back, and a crash between the ledger and the store resumed without
paying twice. The 100,000-holder run is `make bench AREAS=repayments`."""

from __future__ import annotations

from pathlib import Path

import pytest

from drexfy.adapters.memory import MemoryLedger, SimulatedCrash
from drexfy.domain import processes as p
from drexfy.domain.model import AllocationStatus, ComplianceState, RepaymentStatus
from drexfy.domain.money import Money
from drexfy.domain.ports import Store
from drexfy.domain.processes import queries as q
from drexfy.entrypoints.config import DEFAULT_EVM_BATCH, MAX_DYNAMODB_BATCH
from tests.support.holders import address_of, holder_id, seed_holders, seed_instrument, services_over

#: Past the 1,170 shares that filled a DynamoDB item; SQLite is fast enough to go further here.
HOLDERS = {"SqliteStore": 5_000, "DynamoStore": 1_200}
UNITS_EACH = 3
#: The automatic batch sizes: one DynamoDB transaction per batch; SQLite (with the EVM ledger) larger ones.
BATCH = {"SqliteStore": DEFAULT_EVM_BATCH, "DynamoStore": MAX_DYNAMODB_BATCH}


async def test_a_repayment_to_thousands_of_holders_pays_each_once_and_holds_back_the_blocked(
    store: Store, tmp_path: Path
) -> None:
    ledger = MemoryLedger()
    svc = services_over(store, ledger, tmp_path, BATCH[type(store).__name__])
    holders = HOLDERS[type(store).__name__]
    blocked_index = holders // 2 + 3
    instrument = await seed_instrument(store, ledger, holders, UNITS_EACH)
    await seed_holders(store, ledger, instrument, holders, UNITS_EACH)
    blocked = holder_id(blocked_index)
    async with store.unit_of_work() as uow:
        investor = await uow.investors.get(blocked)
        investor.compliance = ComplianceState.BLOCKED
        await uow.investors.save(investor)
        await uow.commit()
    ledger.frozen.add(address_of(blocked_index))

    interest = Money(holders * 1_23 + 7, "EUR")  # not divisible: the remainder is allocated too
    requested = await p.request_repayment(svc, p.TriggerRepayment(instrument.id, "2026-11", interest, Money(0, "EUR")))
    assert (requested.status, requested.holders) == (RepaymentStatus.REQUESTED, 0)
    repayment = await p.take_snapshot(svc, requested.id)  # the job's first step
    assert (repayment.status, repayment.holders, repayment.pending) == (RepaymentStatus.DISTRIBUTING, holders, holders)

    # The process dies right after the ledger paid the third batch, before the store knew.
    ledger.crash_after_effect(f"repay:{repayment.id}:2")
    with pytest.raises(SimulatedCrash):
        await p.continue_repayment(svc, repayment.id)
    done = await p.continue_repayment(svc, repayment.id)

    assert done.status is RepaymentStatus.COMPLETED
    assert (done.paid_count, done.held_back_count, done.pending) == (holders - 1, 1, 0)
    share = Money(0, "EUR")
    shares = []
    after = None
    while True:
        page = await q.repayment_allocations(svc, done.id, after=after, limit=500)
        shares += page.items
        if page.next is None:
            break
        after = page.next
    assert [a.investor_id for a in shares] == [holder_id(i) for i in range(holders)]
    assert sum(a.amount.minor for a in shares) == interest.minor
    (held,) = [a for a in shares if a.status is AllocationStatus.HELD_BACK]
    assert held.investor_id == blocked and not held.tx_ids
    share = held.amount
    # Paid exactly once: the stablecoin minted is the total less the held-back share.
    assert ledger.stablecoin_supply == interest.minor - share.minor == done.paid.minor
    assert ledger.stablecoin[address_of(blocked_index)] == 0
    # Each batch went to the ledger once, the one paid before the crash included.
    batches = sum(1 for _, what in ledger.transactions if what.startswith("distribute"))
    assert batches == done.next_batch <= -(-(holders - 1) // (BATCH[type(store).__name__] - 2))
