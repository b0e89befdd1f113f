"""The relayer reads the fee data and its pending nonce once per block, not once per transaction:
the caches are keyed on the head the confirmer sees and emptied when it sees a new one."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from drexfy.adapters.evm import relayer as relayer_module
from drexfy.adapters.evm.config import EvmConfig
from drexfy.adapters.evm.memory_journal import MemoryJournal

SENDER = "0x" + "ab" * 20


class FakeEth:
    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.base_fee = 7
        self.count = 3

    async def get_block(self, _which: str) -> dict[str, Any]:
        self.calls["eth_getBlockByNumber"] += 1
        return {"number": 1, "baseFeePerGas": self.base_fee}

    async def get_transaction_count(self, _sender: str, _which: str) -> int:
        self.calls["eth_getTransactionCount"] += 1
        return self.count

    async def fee_history(self, _n: int, _which: str) -> dict[str, Any]:
        self.calls["eth_feeHistory"] += 1
        return {"baseFeePerGas": [self.base_fee, self.base_fee + 1]}


class FakeW3:
    def __init__(self) -> None:
        self.eth = FakeEth()


def _relayer() -> tuple[relayer_module.Relayer, FakeEth]:
    config = EvmConfig(rpc_url="http://unused", chain_id=1287, deployment_file=Path("unused.json"), priority_fee_wei=1)
    w3 = FakeW3()
    return relayer_module.Relayer(w3, 1287, None, MemoryJournal(), config), w3.eth  # type: ignore[arg-type]


async def test_fees_and_the_pending_count_are_read_once_per_block_and_again_on_a_new_block() -> None:
    relayer, eth = _relayer()
    relayer.confirmer._saw_head(10)  # the confirmer is watching: head 10
    assert [await relayer._fees() for _ in range(5)] == [(15, 1)] * 5
    assert [await relayer._chain_next(SENDER) for _ in range(5)] == [3] * 5
    assert [await relayer._next_base_fee() for _ in range(5)] == [8] * 5
    assert eth.calls == {"eth_getBlockByNumber": 1, "eth_getTransactionCount": 1, "eth_feeHistory": 1}
    eth.base_fee, eth.count = 20, 9
    relayer.confirmer._saw_head(11)  # a new block: everything is read again, once
    assert [await relayer._fees() for _ in range(3)] == [(41, 1)] * 3
    assert [await relayer._chain_next(SENDER) for _ in range(3)] == [9] * 3
    assert [await relayer._next_base_fee() for _ in range(3)] == [21] * 3
    assert eth.calls == {"eth_getBlockByNumber": 2, "eth_getTransactionCount": 2, "eth_feeHistory": 2}


async def test_without_a_watched_head_every_read_goes_to_the_node() -> None:
    """The confirmer is idle (nothing waits) or its head is old: the cache cannot say which block
    it is, so nothing is taken from it."""
    relayer, eth = _relayer()
    for _ in range(3):
        await relayer._fees()
    relayer.confirmer._saw_head(10)
    relayer.confirmer.head_seen_at -= 60  # seen a minute ago: stale
    for _ in range(3):
        await relayer._fees()
    assert eth.calls["eth_getBlockByNumber"] == 6
