"""The confirmer reads each new block's receipts once (`eth_getBlockReceipts`) for every waiting
transaction, keeps what it learnt, and falls back to per-transaction lookups on a node that refuses
the method. A fake node here: the counts are exact (tests/integration/evm/test_confirmer.py runs the
same on anvil)."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import pytest

from drexfy.adapters.evm.confirmer import BlockReceiptsRefused, Confirmer


class FakeChain:
    """Blocks of transaction ids; counts every request like a node would see them."""

    def __init__(self, *, refuse_block_receipts: bool = False) -> None:
        self.blocks: list[list[str]] = [[]]  # block 0
        self.pending: list[str] = []
        self.calls: collections.Counter[str] = collections.Counter()
        self.refuse = refuse_block_receipts

    def mine(self) -> None:
        self.blocks.append(self.pending)
        self.pending = []

    def revert_to(self, block: int) -> None:
        del self.blocks[block + 1 :]

    def _receipt_of(self, tx: str, block: int) -> dict[str, Any]:
        return {"transactionHash": tx, "blockNumber": block, "gasUsed": 21_000, "status": 1}

    async def head(self) -> int:
        self.calls["eth_blockNumber"] += 1
        return len(self.blocks) - 1

    async def receipt(self, tx: str) -> Any:
        self.calls["eth_getTransactionReceipt"] += 1
        for number, txs in enumerate(self.blocks):
            if tx in txs:
                return self._receipt_of(tx, number)
        return None

    async def block_receipts(self, block: int) -> list[Any]:
        self.calls["eth_getBlockReceipts"] += 1
        if self.refuse:
            raise BlockReceiptsRefused("the method eth_getBlockReceipts does not exist")
        return [self._receipt_of(tx, block) for tx in self.blocks[block]]


def _confirmer(chain: FakeChain) -> Confirmer:
    return Confirmer(
        chain.head, chain.receipt, 0.01, lambda e: isinstance(e, OSError), block_receipts=chain.block_receipts
    )


async def _settle_head(confirmer: Confirmer) -> None:
    """Let the confirmer see the current head once (as it does while anything waits)."""
    await confirmer.receipt(("0xnothing",), blocks=None, seconds=0.05)


@pytest.mark.parametrize("waiting", [1, 40])
async def test_one_block_read_answers_every_waiting_transaction(waiting: int) -> None:
    chain = FakeChain()
    confirmer = _confirmer(chain)
    await _settle_head(confirmer)
    txs = [f"0x{i:064x}" for i in range(waiting)]
    for tx in txs:  # the relayer announces its freshly signed transactions before broadcasting
        confirmer.broadcasting(tx)
        chain.pending.append(tx)
    chain.calls.clear()
    tasks = [asyncio.create_task(confirmer.receipt((tx,), blocks=5, seconds=5)) for tx in txs]
    await asyncio.sleep(0.05)  # some polls while nothing is mined
    chain.mine()
    receipts = await asyncio.gather(*tasks)
    assert [r["blockNumber"] for r in receipts] == [1] * waiting
    # One block read for all of them; no per-transaction lookup (that cost one per tx per block).
    assert chain.calls["eth_getBlockReceipts"] == 1, chain.calls
    assert chain.calls["eth_getTransactionReceipt"] == 0, chain.calls
    await confirmer.close()


async def test_a_receipt_read_with_a_block_is_kept_for_the_call_that_comes_back() -> None:
    """A job gave up waiting (its short LEDGER_WAIT); the block that holds its transaction is read
    for another waiter; when the job comes back, the relayer finds the receipt without asking."""
    chain = FakeChain()
    confirmer = _confirmer(chain)
    await _settle_head(confirmer)
    confirmer.broadcasting("0xa")
    confirmer.broadcasting("0xb")
    chain.pending += ["0xa", "0xb"]
    assert await confirmer.receipt(("0xa",), blocks=None, seconds=0.05) is None  # gave up
    assert confirmer.known(("0xa",)) == (True, None)  # known not mined: no lookup needed
    chain.mine()
    await confirmer.receipt(("0xb",), blocks=None, seconds=2)
    chain.calls.clear()
    known, receipt = confirmer.known(("0xa",))
    assert known and receipt["blockNumber"] == 1
    assert sum(chain.calls.values()) == 0
    confirmer.forget(("0xa",))
    assert confirmer.known(("0xa",)) == (False, None)
    await confirmer.close()


async def test_a_transaction_it_knows_nothing_about_is_looked_up_once_then_followed_by_block() -> None:
    chain = FakeChain()
    chain.pending.append("0xold")
    chain.mine()  # mined before the confirmer ever looked: only a lookup can find it
    confirmer = _confirmer(chain)
    assert confirmer.known(("0xold",)) == (False, None)
    receipt = await confirmer.receipt(("0xold",), blocks=3, seconds=2)
    assert receipt["blockNumber"] == 1 and chain.calls["eth_getTransactionReceipt"] == 1
    # Not mined yet when first looked up: later blocks are read, not the transaction.
    chain.calls.clear()
    task = asyncio.create_task(confirmer.receipt(("0xlate",), blocks=5, seconds=5))
    await asyncio.sleep(0.05)
    chain.pending.append("0xlate")
    chain.mine()
    chain.mine()
    assert (await task)["blockNumber"] == 2
    assert chain.calls["eth_getTransactionReceipt"] == 1, chain.calls
    assert chain.calls["eth_getBlockReceipts"] == 2, chain.calls
    await confirmer.close()


async def test_a_node_that_refuses_block_receipts_is_asked_per_transaction() -> None:
    chain = FakeChain(refuse_block_receipts=True)
    confirmer = _confirmer(chain)
    await _settle_head(confirmer)
    confirmer.broadcasting("0xa")
    task = asyncio.create_task(confirmer.receipt(("0xa",), blocks=5, seconds=5))
    await asyncio.sleep(0.05)
    chain.pending.append("0xa")
    chain.mine()
    assert (await task)["blockNumber"] == 1
    assert not confirmer.by_block
    assert chain.calls["eth_getBlockReceipts"] == 1  # asked once, then never again
    assert chain.calls["eth_getTransactionReceipt"] >= 1
    assert confirmer.known(("0xb",)) == (False, None)  # no beliefs without block reads
    await confirmer.close()


async def test_a_chain_that_went_back_forgets_what_was_read() -> None:
    chain = FakeChain()
    confirmer = _confirmer(chain)
    await _settle_head(confirmer)
    confirmer.broadcasting("0xa")
    chain.pending.append("0xa")
    chain.mine()
    assert (await confirmer.receipt(("0xa",), blocks=5, seconds=2))["blockNumber"] == 1
    chain.revert_to(0)  # evm_revert: block 1 is gone, and 0xa with it
    chain.mine()
    chain.mine()  # a new block 1 and 2 without 0xa
    await _settle_head(confirmer)
    chain.revert_to(0)
    await _settle_head(confirmer)  # the head went back below what was read
    assert confirmer.known(("0xa",)) == (False, None)  # only the node can tell now
    await confirmer.close()


async def test_a_belief_not_mined_is_checked_again_after_a_few_blocks() -> None:
    """Two processes signing identical bytes could make 'never broadcast' wrong: the belief is
    trusted for a few blocks only, then the transaction is looked up on its own."""
    chain = FakeChain()
    chain.pending.append("0xdup")
    confirmer = _confirmer(chain)
    await _settle_head(confirmer)
    chain.mine()  # mined through someone else's broadcast, before ours
    await _settle_head(confirmer)
    confirmer.broadcasting("0xdup")  # wrongly believed never broadcast
    for _ in range(6):
        chain.mine()
    receipt = await confirmer.receipt(("0xdup",), blocks=None, seconds=2)
    assert receipt is not None and receipt["blockNumber"] == 1
    await confirmer.close()


async def test_a_chain_making_blocks_on_a_timer_says_when_the_next_block_is_due() -> None:
    """Two head changes seen a block time apart while watching: the confirmer tells how long
    until the next block (a worker's job then hands back at once instead of holding its slot)."""
    chain = FakeChain()
    confirmer = _confirmer(chain)
    block_time = 0.3
    watching = asyncio.create_task(confirmer.receipt(("0xwatch",), blocks=None, seconds=5))
    assert confirmer.next_block_in(block_time) is None  # nothing measured yet
    for _ in range(2):
        await asyncio.sleep(block_time)
        chain.mine()
        await asyncio.sleep(0.05)  # a poll or two
    assert confirmer.block_interval is not None and confirmer.block_interval >= 0.5 * block_time
    due = confirmer.next_block_in(block_time)
    assert due is not None and 0 < due <= block_time
    # The same chain described as making a block every 10 s: the measured interval says otherwise.
    assert confirmer.next_block_in(10 * block_time) is None
    chain.pending.append("0xwatch")
    chain.mine()
    await watching
    await confirmer.close()


async def test_a_node_mining_each_transaction_at_once_has_no_block_time_and_one_look_finds_it() -> None:
    """A development node mines every transaction as it arrives: head changes follow sends, not
    a timer, so no block is 'due'; and one look at the chain (rounds=1) finds the receipt."""
    chain = FakeChain()
    confirmer = _confirmer(chain)
    for i in range(3):
        chain.pending.append(f"0x{i}")
        chain.mine()  # mined as sent
        receipt = await confirmer.receipt((f"0x{i}",), blocks=None, seconds=5, rounds=1)
        assert receipt is not None and receipt["blockNumber"] == i + 1
    assert confirmer.next_block_in(6.0) is None
    # Not mined: one look, then None at once (not after the 5 s).
    started = asyncio.get_running_loop().time()
    assert await confirmer.receipt(("0xmissing",), blocks=None, seconds=5, rounds=1) is None
    assert asyncio.get_running_loop().time() - started < 1.0
    await confirmer.close()


async def test_a_head_change_seen_after_a_pause_is_not_a_block_time() -> None:
    chain = FakeChain()
    confirmer = _confirmer(chain)
    await _settle_head(confirmer)
    await asyncio.sleep(1.3)  # nobody watches: no polls (longer than a poll and the 1 s slack)
    chain.mine()
    await _settle_head(confirmer)
    assert confirmer.block_interval is None
    assert confirmer.next_block_in(0.2) is None
    await confirmer.close()


async def test_a_broadcast_transaction_is_watched_while_no_call_waits_for_it() -> None:
    """A job handed back right after broadcasting (nobody waits): the confirmer keeps reading
    blocks while that transaction is not mined, so the job finds its receipt when it comes back,
    with no lookup of its own; once nothing is left to watch, it stops asking the node."""
    chain = FakeChain()
    confirmer = _confirmer(chain)
    await _settle_head(confirmer)
    confirmer.broadcasting("0xa")
    chain.pending.append("0xa")
    await asyncio.sleep(0.05)
    chain.mine()
    await asyncio.sleep(0.1)  # a few polls: block 1 is read although no call waits
    chain.calls.clear()
    known, receipt = confirmer.known(("0xa",))
    assert known and receipt is not None and receipt["blockNumber"] == 1
    assert sum(chain.calls.values()) == 0
    await asyncio.sleep(0.1)
    assert chain.calls["eth_blockNumber"] == 0  # nothing left to watch: no polling
    await confirmer.close()
