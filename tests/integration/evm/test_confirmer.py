"""Receipts by block (adapters/evm/confirmer.py), on anvil: calls waiting for their transactions
cost the node one receipt lookup per transaction per new block, not one per waiting call per poll."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

from drexfy.adapters.evm import build_evm_ledger
from drexfy.domain.errors import LedgerUnavailable
from tests.integration.evm.test_ledger import (
    EU_ACC,
    Env,
    _close_every_adapter,  # noqa: F401 - autouse fixture
    env,  # noqa: F401 - fixture
    purchase,
)
from tests.integration.evm.test_slow_chain import not_mining
from tests.support.anvil import AnvilNode, anvil_node  # noqa: F401 - fixture

pytestmark = pytest.mark.anvil

WAITING = 6


@pytest.fixture
async def patient(env: Env) -> AsyncIterator[tuple[Env, collections.Counter[str]]]:  # noqa: F811
    """The env whose calls wait up to 3 blocks (30 s backstop), every node request counted."""
    config = attrs.evolve(env.config, receipt_timeout_s=30.0, receipt_timeout_blocks=3, poll_interval_s=0.05)
    ledger = await build_evm_ledger(config, env.vault, env.store.journal)
    counts: collections.Counter[str] = collections.Counter()
    provider: Any = ledger.w3.provider
    make_request = provider._make_request  # the HTTP round trip, under web3's caching and batching

    async def counting(method: str, request_data: bytes) -> Any:
        counts[str(method)] += 1
        return await make_request(method, request_data)

    provider._make_request = counting
    try:
        yield attrs.evolve(env, ledger=ledger, config=config), counts
    finally:
        await ledger.close()


async def test_waiting_settlements_cost_one_receipt_lookup_per_block_each(
    patient: tuple[Env, collections.Counter[str]],
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    of, counts = patient
    buyers = [await of.wallet(f"buyer{i}", EU_ACC) for i in range(WAITING)]
    with not_mining(anvil_node):
        counts.clear()
        tasks = [
            asyncio.create_task(of.ledger.settle_purchase(f"settle:o{i}", purchase(f"o{i}", b, of.instrument, 1)))
            for i, b in enumerate(buyers)
        ]
        await asyncio.sleep(1.5)  # 30 polls of 50 ms while nothing is mined
        assert not any(t.done() for t in tasks)
        waiting_lookups = counts["eth_getTransactionReceipt"]
        anvil_node.rpc("evm_mine")
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert [await of.ledger.units_of(of.instrument, b.address) for b in buyers] == [1] * WAITING
    # Each transaction was looked up when it was sent and when the head moved: never per poll
    # (the old per-call polling made about WAITING x 30 lookups here).
    assert waiting_lookups <= WAITING * 3, counts
    assert counts["eth_getTransactionReceipt"] <= WAITING * 5, counts
    assert counts["eth_chainId"] <= 1, counts  # constant: asked once per process, not per transaction


async def test_a_call_gives_up_after_its_blocks_even_if_seconds_remain(
    patient: tuple[Env, collections.Counter[str]],
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """Its transaction is not mined (priced below the base fee the test raises), blocks go by: the
    call reports LedgerPending after 3 blocks, well before its 30 s backstop."""
    of, _ = patient
    buyer = await of.wallet("slow", EU_ACC)
    loop = asyncio.get_running_loop()
    with not_mining(anvil_node):
        task = asyncio.create_task(of.ledger.settle_purchase("settle:slow", purchase("slow", buyer, of.instrument, 1)))
        await asyncio.sleep(0.5)
        anvil_node.rpc("anvil_dropAllTransactions")  # the node forgets it: no block will hold it
        started = loop.time()
        for _ in range(3):
            anvil_node.rpc("evm_mine")
            await asyncio.sleep(0.2)
        with pytest.raises(LedgerUnavailable):
            await asyncio.wait_for(task, 10)
        assert loop.time() - started < 5


async def test_waiting_settlements_are_confirmed_from_one_read_of_their_block(
    patient: tuple[Env, collections.Counter[str]],
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """anvil serves eth_getBlockReceipts: the block that mines all of them is read once, and no
    transaction is looked up on its own (the relayer announced each before its first broadcast)."""
    of, counts = patient
    buyers = [await of.wallet(f"blk{i}", EU_ACC) for i in range(WAITING)]
    warm = await of.wallet("warm", EU_ACC)  # the confirmer has seen the head once
    await of.ledger.settle_purchase("settle:warm", purchase("warm", warm, of.instrument, 1))
    with not_mining(anvil_node):
        counts.clear()
        tasks = [
            asyncio.create_task(of.ledger.settle_purchase(f"settle:b{i}", purchase(f"b{i}", b, of.instrument, 1)))
            for i, b in enumerate(buyers)
        ]
        await asyncio.sleep(1.0)
        assert not any(t.done() for t in tasks)
        anvil_node.rpc("evm_mine")
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert [await of.ledger.units_of(of.instrument, b.address) for b in buyers] == [1] * WAITING
    assert 1 <= counts["eth_getBlockReceipts"] <= 2, counts
    assert counts["eth_getTransactionReceipt"] == 0, counts
    assert counts["eth_getBlockByNumber"] <= 2, counts  # fee data once per block, not per settlement
    assert counts["eth_getTransactionCount"] <= 2, counts  # the relayer's pending nonce, once per block


async def test_a_node_that_refuses_block_receipts_still_confirms_per_transaction(
    patient: tuple[Env, collections.Counter[str]],
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    of, counts = patient
    provider: Any = of.ledger.w3.provider
    counting = provider._make_request

    async def refusing(method: str, request_data: bytes) -> Any:
        if method == "eth_getBlockReceipts":
            counts[str(method)] += 1
            return b'{"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"Method not found"}}'
        return await counting(method, request_data)

    provider._make_request = refusing
    counts.clear()
    buyers = [await of.wallet(f"ref{i}", EU_ACC) for i in range(3)]
    with not_mining(anvil_node):
        tasks = [
            asyncio.create_task(of.ledger.settle_purchase(f"settle:r{i}", purchase(f"r{i}", b, of.instrument, 1)))
            for i, b in enumerate(buyers)
        ]
        await asyncio.sleep(0.5)
        anvil_node.rpc("evm_mine")
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert [await of.ledger.units_of(of.instrument, b.address) for b in buyers] == [1] * 3
    assert not of.ledger.relayer.confirmer.by_block
    assert counts["eth_getBlockReceipts"] == 1, counts  # refused once, never asked again
    assert counts["eth_getTransactionReceipt"] >= 3, counts
