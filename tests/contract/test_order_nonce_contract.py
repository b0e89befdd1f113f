"""Store contract, the settlement nonces (`OperationJournal.order_nonce`): one nonce per order, ever.

An EVM payment attestation carries the order's nonce and Settlement uses each nonce once, so if an
order could get a second nonce it could be attested, and settled, twice. Runs once per store in
tests/contract/conftest.py, and on the embedded EVM's in-memory journal.
"""

from __future__ import annotations

import asyncio

from drexfy.adapters.evm.memory_journal import MemoryJournal
from drexfy.domain.ports import OperationJournal, Store
from tests.contract.conftest import OpenStores


async def nonces_are_one_per_order_and_consecutive(journal: OperationJournal) -> None:
    first = await journal.order_nonce("ord_1")
    assert first % (1 << 32) == 0 and 0 < first < 1 << 62  # a store's own range, SQLite's INTEGER
    assert await journal.order_nonce("ord_2") == first + 1
    assert await journal.order_nonce("ord_3") == first + 2
    # A retry, a resume, a new op id of the same order: the same nonce, and nothing used up.
    assert await journal.order_nonce("ord_2") == first + 1
    assert await journal.order_nonce("ord_1") == first
    assert await journal.order_nonce("ord_4") == first + 3
    # Independent of the relayer's transaction nonces (a filled gap frees nothing here).
    await journal.allocate_sequence("0xRelayer", 50, "settle:ord_5")
    assert await journal.order_nonce("ord_5") == first + 4
    assert await journal.order_nonce("ord_2") == first + 1


async def test_an_order_gets_one_nonce_and_orders_get_consecutive_ones(store: Store) -> None:
    await nonces_are_one_per_order_and_consecutive(store.journal)


async def test_the_in_memory_journal_keeps_the_same_rule() -> None:
    await nonces_are_one_per_order_and_consecutive(MemoryJournal())


async def test_two_processes_asking_at_once_agree_on_one_nonce_per_order(open_store: OpenStores) -> None:
    first, second = await open_store(), await open_store()
    got = await asyncio.gather(*((first if i % 2 else second).journal.order_nonce(f"ord_{i // 4}") for i in range(40)))
    by_order: dict[int, set[int]] = {}
    for i, nonce in enumerate(got):
        by_order.setdefault(i // 4, set()).add(nonce)
    assert all(len(nonces) == 1 for nonces in by_order.values())
    nonces = sorted(n for (n,) in by_order.values())
    assert nonces == list(range(nonces[0], nonces[0] + 10))  # ten orders, ten distinct nonces


async def test_separate_stores_start_in_separate_ranges() -> None:
    """Two stores beside one Settlement contract (tests, a store rebuilt empty) must not hand out
    the same nonces: each starts at its own random base."""
    one, other = MemoryJournal(), MemoryJournal()
    assert await one.order_nonce("ord_1") != await other.order_nonce("ord_1")
