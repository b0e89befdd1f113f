"""One watcher of the chain head per relayer, so node requests grow with blocks, not with waiters.

Each waiting call used to poll its own receipt every `poll_interval_s`: 16 settlements in flight at
50 ms made about 320 requests a second, which a public Moonbeam endpoint rate-limits, for blocks
that come every 6 s. Here the calls register the transaction ids they wait for; one task asks the
head (`eth_blockNumber`) every `poll_interval_s` and reads each new block's receipts with one
`eth_getBlockReceipts` (all pending transactions of the block at once, however many there are).
A call gives up after `blocks` new blocks without its receipt, or after `seconds` (the backstop for
a chain that makes no blocks at all).

What is known is kept: receipts of watched transactions found in the scanned blocks (so a job that
comes back a block later finds its receipt without asking the node), and transactions known not
mined up to a block (a per-transaction lookup said so, or the relayer is about to broadcast them for
the first time): while every block since has been scanned, such a transaction needs no lookup of
its own. That knowledge is trusted for `TRUST_BLOCKS` blocks at most, then checked again with one
lookup, so a wrong belief (two processes signing identical bytes) costs a delay, never a stall.
A gap in the scan (more than `MAX_SCAN_BLOCKS` new blocks at once, the head going back as after an
`evm_revert`, a failed read) starts a new epoch: what was believed unmined is looked up again.

A node that refuses `eth_getBlockReceipts` (not every node has it) is asked per transaction
(`eth_getTransactionReceipt`), once per new block for each waiting call, as before.

Requests are counted (`requests`) so the bench can report node requests per settlement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

log = logging.getLogger(__name__)

#: Blocks read one by one after a pause at most; a longer gap is a new epoch (lookups per tx).
MAX_SCAN_BLOCKS = 32
#: Blocks a belief "not mined" is trusted before the transaction is looked up on its own again.
TRUST_BLOCKS = 4
#: Seconds a broadcast transaction is watched at most while no call waits for it (a chain that
#: stopped is not polled for ever; the job that comes back asks again).
WATCH_S = 60.0
#: Receipts and beliefs kept (the oldest are forgotten first; forgetting costs one lookup).
MAX_KEPT = 20_000


class BlockReceiptsRefused(Exception):
    """The node does not serve `eth_getBlockReceipts`: ask per transaction instead."""


@attrs.define(eq=False)
class _Waiter:
    tx_ids: tuple[str, ...]
    blocks: int | None
    future: asyncio.Future[Any]
    start: int | None = None  # the head when it was first checked
    checked_at: int | None = None  # the head at its last check
    rounds: int | None = None  # give up after this many checks without the receipt (None: no limit)


def _key(tx_id: str) -> str:
    return tx_id.lower()


class Confirmer:
    """Receipts by block for every waiting call (see the module's docstring).

    `block_receipts(n)` returns the receipts of block `n` (each a mapping with at least
    `transactionHash`, `blockNumber`, `gasUsed` and `status`) or raises BlockReceiptsRefused;
    None: the node is only asked per transaction. `on_head` is told every new head (the relayer's
    per-block caches)."""

    def __init__(
        self,
        head: Callable[[], Awaitable[int]],
        receipt: Callable[[str], Awaitable[Any]],
        poll_s: float,
        is_transient: Callable[[BaseException], bool],
        block_receipts: Callable[[int], Awaitable[list[Any]]] | None = None,
        on_head: Callable[[int], None] | None = None,
    ) -> None:
        self._head = head
        self._receipt = receipt
        self.poll_s = poll_s
        self._is_transient = is_transient
        self._block_receipts = block_receipts
        self._on_head = on_head
        self._waiters: set[_Waiter] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: Node requests made (head polls, block reads and receipt lookups), for the bench.
        self.requests = 0
        #: The latest head seen, and when (monotonic seconds).
        self.head: int | None = None
        self.head_seen_at = 0.0
        #: When the latest head was first seen, and the seconds per block measured between the last
        #: two head changes seen while watching without a pause (None: not measured yet).
        self.head_since = 0.0
        self.block_interval: float | None = None
        self._scanned: int | None = None  # the last block whose receipts were read, this epoch
        self._epoch = 0
        self._mined: OrderedDict[str, Any] = OrderedDict()  # tx id -> receipt found in a scanned block
        #: tx id -> (epoch, block): not mined in any block up to `block`.
        self._unmined: OrderedDict[str, tuple[int, int]] = OrderedDict()
        #: tx id -> (epoch, head, monotonic seconds) when broadcast: watched until mined (bounded).
        self._watched: OrderedDict[str, tuple[int, int, float]] = OrderedDict()

    @property
    def by_block(self) -> bool:
        """True while receipts are read per block (the node serves eth_getBlockReceipts)."""
        return self._block_receipts is not None

    # -- what the relayer asks -----------------------------------------------------------------

    def broadcasting(self, tx_id: str) -> None:
        """`tx_id` is about to reach the network for the first time: no block seen so far holds it.
        It is watched from now on (the blocks are read while it is not mined), so a job that hands
        back and comes back a block later finds its receipt here, without asking the node."""
        if self.by_block and self.head is not None:
            self._believe_unmined(_key(tx_id), self.head)
            self._watched[_key(tx_id)] = (self._epoch, self.head, time.monotonic())
            self._watched.move_to_end(_key(tx_id))
            self._ensure_running()

    def _ensure_running(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="evm-confirmer")

    def _watching(self) -> bool:
        """Whether a transaction broadcast lately (within `TRUST_BLOCKS` blocks and `WATCH_S`
        seconds) is not mined yet: the blocks are read for it although no call waits."""
        now = time.monotonic()
        while self._watched:
            epoch, block, since = next(iter(self._watched.values()))
            stale = epoch != self._epoch or self.head is None or self.head - block > TRUST_BLOCKS
            if not stale and now - since <= WATCH_S:
                return True
            self._watched.popitem(last=False)
        return False

    def known(self, tx_ids: Sequence[str]) -> tuple[bool, Any]:
        """(True, receipt) when a scanned block held one of `tx_ids`; (True, None) when none of them
        is in any block up to the last scanned one; (False, None) when only the node can tell."""
        for tx in tx_ids:
            receipt = self._mined.get(_key(tx))
            if receipt is not None:
                return True, receipt
        return all(self._trusted(_key(tx)) for tx in tx_ids), None

    def forget(self, tx_ids: Sequence[str]) -> None:
        """The relayer has recorded the outcome: nothing more to keep about these."""
        for tx in tx_ids:
            self._mined.pop(_key(tx), None)
            self._unmined.pop(_key(tx), None)
            self._watched.pop(_key(tx), None)

    def next_block_in(self, block_time_s: float) -> float | None:
        """Seconds until the next block is due, when the chain is seen to make a block every
        `block_time_s` or so (the last two head changes, seen while watching, were at least half
        that apart) and the current one is not late yet. None when that is not known: a chain that
        mines each transaction as it comes (a development node), one never watched, or a late block."""
        if self.head is None or self.block_interval is None or self.block_interval < 0.5 * block_time_s:
            return None
        age = time.monotonic() - self.head_since
        return block_time_s - age if age < block_time_s else None

    async def receipt(
        self, tx_ids: Sequence[str], *, blocks: int | None, seconds: float, rounds: int | None = None
    ) -> Any | None:
        """The receipt of any of `tx_ids` (versions of one transaction: one at most is mined), or
        None after `blocks` new blocks (None: no block limit), `rounds` looks at the chain, or
        `seconds` without it."""
        waiter = _Waiter(
            tuple(_key(tx) for tx in tx_ids), blocks, asyncio.get_running_loop().create_future(), rounds=rounds
        )
        self._waiters.add(waiter)
        self._ensure_running()
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout=max(seconds, 0.0))
        except TimeoutError:
            return None
        finally:
            self._waiters.discard(waiter)
            if not waiter.future.done():
                waiter.future.cancel()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- the watcher ---------------------------------------------------------------------------

    async def _run(self) -> None:
        while self._waiters or self._watching():
            self._wake.clear()
            try:
                await self._round()
            except Exception as exc:
                if not self._is_transient(exc):
                    for waiter in list(self._waiters):  # hand the error to every waiting call
                        if not waiter.future.done():
                            waiter.future.set_exception(exc)
                    self._waiters.clear()
                    return
                log.debug("confirmer: node unreachable (%s); next poll", type(exc).__name__)
            if not self._waiters and not self._watching():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)

    async def _round(self) -> None:
        self.requests += 1
        head = await self._head()
        self._saw_head(head)
        due = [w for w in self._waiters if w.checked_at != head and not w.future.done()]
        if not due and not self._watching():
            return
        await self._scan(head)
        ask = sorted({tx for w in due for tx in w.tx_ids if not self._answered(w, tx)})
        if ask:
            self.requests += len(ask)
            for tx, receipt in zip(ask, await asyncio.gather(*(self._receipt(tx) for tx in ask)), strict=True):
                if receipt is not None:
                    self._keep(tx, receipt)
                elif self.by_block:
                    self._believe_unmined(tx, head)  # asked after the head was read: not in it
        for waiter in due:
            if waiter.start is None:
                waiter.start = head
            waiter.checked_at = head
            receipt = next((self._mined[tx] for tx in waiter.tx_ids if tx in self._mined), None)
            if waiter.rounds is not None:
                waiter.rounds -= 1
            if receipt is not None:
                waiter.future.set_result(receipt)
            else:
                out_of_blocks = waiter.blocks is not None and head - waiter.start >= waiter.blocks
                if out_of_blocks or (waiter.rounds is not None and waiter.rounds <= 0):
                    waiter.future.set_result(None)

    def _answered(self, waiter: _Waiter, tx: str) -> bool:
        """Whether the scan already tells about `tx` for this waiter (found, or known not mined)."""
        if any(t in self._mined for t in waiter.tx_ids):
            return True
        return self._trusted(tx)

    def _saw_head(self, head: int) -> None:
        changed = head != self.head
        if self._scanned is not None and head < self._scanned:
            self._new_epoch()  # the chain went back (a revert, a reorg): forget what was read
            self._mined.clear()
        now = time.monotonic()
        if changed:
            watching = now - self.head_seen_at <= 2 * self.poll_s + 1.0  # no pause since the last look
            if watching and self.head is not None and head > self.head and self.head_since:
                self.block_interval = (now - self.head_since) / (head - self.head)
            elif not watching:
                self.block_interval = None  # measured across a pause: not a block time
            self.head_since = now
        self.head, self.head_seen_at = head, now
        if changed and self._on_head is not None:
            self._on_head(head)

    def _new_epoch(self) -> None:
        self._epoch += 1
        self._scanned = None

    async def _scan(self, head: int) -> None:
        """Read the receipts of every block after the last scanned one, up to `head`."""
        if self._block_receipts is None:
            return
        if self._scanned is None or head - self._scanned > MAX_SCAN_BLOCKS:
            self._new_epoch()
            self._scanned = head  # blocks after this one will be read; earlier ones are asked per tx
            return
        while self._scanned < head:
            block = self._scanned + 1
            self.requests += 1
            try:
                receipts = await self._block_receipts(block)
            except BlockReceiptsRefused as refused:
                log.info("the node refuses eth_getBlockReceipts (%s): receipts per transaction", refused)
                self._block_receipts = None
                self._unmined.clear()
                return
            wanted = {tx for w in self._waiters for tx in w.tx_ids}
            for receipt in receipts:
                tx = _key(_hex(receipt["transactionHash"]))
                if tx in wanted or tx in self._unmined or tx in self._watched:
                    self._keep(tx, receipt)
            self._scanned = block

    def _trusted(self, tx: str) -> bool:
        """`tx` is known not mined up to the last scanned block (and the belief is recent)."""
        belief = self._unmined.get(tx)
        if belief is None or self._scanned is None or self.head is None:
            return False
        epoch, block = belief
        return epoch == self._epoch and self.head - block <= TRUST_BLOCKS

    def _believe_unmined(self, tx: str, block: int) -> None:
        if tx in self._mined:
            return
        self._unmined[tx] = (self._epoch, block)
        self._unmined.move_to_end(tx)
        while len(self._unmined) > MAX_KEPT:
            self._unmined.popitem(last=False)

    def _keep(self, tx: str, receipt: Any) -> None:
        self._unmined.pop(tx, None)
        self._watched.pop(tx, None)
        self._mined[tx] = receipt
        while len(self._mined) > MAX_KEPT:
            self._mined.popitem(last=False)


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)
