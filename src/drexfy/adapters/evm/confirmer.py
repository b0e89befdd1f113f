"""One watcher of the chain head per relayer, so node requests grow with blocks, not with waiters.

Each waiting call used to poll its own receipt every `poll_interval_s`: 16 settlements in flight at
50 ms made about 320 requests a second, which a public Moonbeam endpoint rate-limits, for blocks
that come every 6 s. Here the calls register the transaction ids they wait for; one task asks the
head (`eth_blockNumber`) every `poll_interval_s` and, once per new block, the receipt of each
registered transaction (plus once when a call registers, so a transaction mined instantly, as on
an automining node, is seen at once). A call gives up after `blocks` new blocks without its
receipt, or after `seconds` (the backstop for a chain that makes no blocks at all).

Requests are counted (`requests`) so the bench can report node requests per settlement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

log = logging.getLogger(__name__)


@attrs.define(eq=False)
class _Waiter:
    tx_ids: tuple[str, ...]
    blocks: int | None
    future: asyncio.Future[Any]
    start: int | None = None  # the head when it was first checked
    checked_at: int | None = None  # the head at its last check


class Confirmer:
    """Receipts by block for every waiting call (see the module's docstring)."""

    def __init__(
        self,
        head: Callable[[], Awaitable[int]],
        receipt: Callable[[str], Awaitable[Any]],
        poll_s: float,
        is_transient: Callable[[BaseException], bool],
    ) -> None:
        self._head = head
        self._receipt = receipt
        self.poll_s = poll_s
        self._is_transient = is_transient
        self._waiters: set[_Waiter] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: Node requests made (head polls and receipt lookups), for the bench.
        self.requests = 0

    async def receipt(self, tx_ids: Sequence[str], *, blocks: int | None, seconds: float) -> Any | None:
        """The receipt of any of `tx_ids` (versions of one transaction: one at most is mined), or
        None after `blocks` new blocks (None: no block limit) or `seconds` without it."""
        waiter = _Waiter(tuple(tx_ids), blocks, asyncio.get_running_loop().create_future())
        self._waiters.add(waiter)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="evm-confirmer")
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

    async def _run(self) -> None:
        while self._waiters:
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
            if not self._waiters:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)

    async def _round(self) -> None:
        self.requests += 1
        head = await self._head()
        due = [w for w in self._waiters if w.checked_at != head and not w.future.done()]
        if not due:
            return
        ids = sorted({tx for w in due for tx in w.tx_ids})
        self.requests += len(ids)
        found = dict(zip(ids, await asyncio.gather(*(self._receipt(tx) for tx in ids)), strict=True))
        for waiter in due:
            if waiter.start is None:
                waiter.start = head
            waiter.checked_at = head
            receipt = next((found[tx] for tx in waiter.tx_ids if found.get(tx) is not None), None)
            if receipt is not None:
                waiter.future.set_result(receipt)
            elif waiter.blocks is not None and head - waiter.start >= waiter.blocks:
                waiter.future.set_result(None)
