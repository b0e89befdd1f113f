"""A distribution's on-chain chunks: which holders each position pays, and sending them pipelined.

`Distribution.pay` takes at most `batch_size` holders, so one call of `EvmLedger.distribute` is
several transactions, each an operation of its own (`<op>#<n>`, then `<op>#<n>.<k>` for a later
attempt at a position whose earlier attempts all reverted). They are pipelined: each goes out once
the one before is broadcast, without waiting for its receipt, so one block takes as many as its gas
allows instead of one per block.

Pipelined, a chunk may revert when mined (a holder frozen, or one who sold all units on chain,
after its simulation) while the chunks after it are already paid. The repayment then holds the
refused holder back and calls again with the others. The positions are therefore planned from the
journal, not from the list alone (`plan_chunks`): a position that went out (or may have: signed
and not failed) keeps exactly the holders it was signed for, read back from its journalled
transaction; only the remaining holders are cut into the other positions, in order. So a chunk
that was paid is recognised (same holders and amounts: same operation) and never paid again, and
the refused chunk's other holders go out as its position's next attempt."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar, cast

from drexfy.domain.errors import OperationConflict

#: One payee: (address, amount in base units, units to retire).
Row = tuple[str, int, int]
T = TypeVar("T")


def plan_chunks(
    rows: Sequence[Row], batch_size: int, kept: Mapping[int, Collection[str]]
) -> list[tuple[int, list[Row]]]:
    """(position, rows) of every chunk to send. `kept` maps the positions that went out to their
    holders: each keeps exactly those; the other rows fill the other positions in order, at most
    `batch_size` each. A kept position whose holders are not all among `rows` is an
    OperationConflict (a paid chunk cannot change)."""
    kept = {position: {holder.lower() for holder in holders} for position, holders in kept.items()}
    taken = {holder for holders in kept.values() for holder in holders}
    free = [row for row in rows if row[0].lower() not in taken]
    present = {row[0].lower() for row in rows}
    chunks: list[tuple[int, list[Row]]] = []
    position = 0
    last_kept = max(kept, default=-1)
    while free or position <= last_kept:
        if position in kept:
            missing = set(kept[position]) - present
            if missing:
                raise OperationConflict(
                    f"chunk {position} went out with {len(missing)} holder(s) this call no longer pays;"
                    " a paid chunk cannot change"
                )
            chunks.append((position, [row for row in rows if row[0].lower() in kept[position]]))
        elif free:
            chunks.append((position, free[:batch_size]))
            free = free[batch_size:]
        position += 1
    return chunks


async def send_pipelined(starts: Sequence[Callable[[Callable[[], None]], Awaitable[T]]]) -> list[T]:
    """Run `starts` in order, each once the one before has said it is out (the callback each is
    given, called when its transaction is broadcast or when it ends without one), not once it is
    done. A start that fails before it is out stops the ones after it; whatever started is awaited
    before anything is raised, and the first error in order is raised."""
    running: list[asyncio.Future[Any]] = []
    try:
        for start in starts:
            out = asyncio.Event()
            task: asyncio.Future[Any] = asyncio.ensure_future(start(out.set))
            running.append(task)
            waiting: asyncio.Future[Any] = asyncio.ensure_future(out.wait())
            try:
                await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
            if task.done() and task.exception() is not None:
                break
        outcomes = await asyncio.gather(*running, return_exceptions=True)
    except BaseException:  # cancelled: like a crash, the journal knows what went out
        for started in running:
            started.cancel()
        raise
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [cast(T, outcome) for outcome in outcomes]


def holders_of_call(decoded: Any) -> frozenset[str]:
    """The holders of a decoded `Distribution.pay` call (web3's `decode_function_input`)."""
    _, params = decoded
    return frozenset(str(holder).lower() for holder in params["holders"])
