"""Planning a distribution's chunks from what went out before (adapters/evm/chunks.py): a chunk that
was sent keeps its holders whatever the others do, so a resend after a refusal never pays a holder
twice and never stops on a paid chunk."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drexfy.adapters.evm.chunks import plan_chunks, send_pipelined
from drexfy.domain.errors import OperationConflict


def _rows(n: int) -> list[tuple[str, int, int]]:
    return [(f"0x{i:040x}", 100 + i, 0) for i in range(n)]


def test_a_first_call_cuts_the_rows_in_order() -> None:
    rows = _rows(7)
    assert plan_chunks(rows, 3, {}) == [(0, rows[0:3]), (1, rows[3:6]), (2, rows[6:7])]


def test_sent_chunks_keep_their_holders_when_a_holder_of_an_earlier_one_is_held_back() -> None:
    """Chunk 0 reverted when mined (its holder 1 was frozen meanwhile) while chunks 1 and 2, sent
    behind it, were paid. Called again without holder 1: chunks 1 and 2 are the same operations
    (recognised as paid), chunk 0's other holders go out at position 0 again."""
    rows = _rows(7)
    kept = {1: {r[0] for r in rows[3:6]}, 2: {rows[6][0]}}
    again = [r for r in rows if r != rows[1]]
    assert plan_chunks(again, 3, kept) == [(0, [rows[0], rows[2]]), (1, rows[3:6]), (2, [rows[6]])]
    # Cutting the list alone (the old plan) would shift every later chunk by one holder.
    assert plan_chunks(again, 3, {})[1] != (1, rows[3:6])


def test_a_sent_chunk_cannot_lose_a_holder() -> None:
    rows = _rows(6)
    with pytest.raises(OperationConflict):
        plan_chunks(rows[:5], 3, {1: {r[0] for r in rows[3:6]}})


def test_addresses_match_whatever_their_case() -> None:
    rows = [("0xAbC" + "0" * 37, 1, 0), ("0xdEf" + "0" * 37, 2, 0)]
    assert plan_chunks(rows, 1, {0: {rows[0][0].lower()}}) == [(0, [rows[0]]), (1, [rows[1]])]


@given(
    n=st.integers(min_value=1, max_value=60),
    size=st.integers(min_value=1, max_value=9),
    data=st.data(),
)
def test_every_holder_is_planned_once_and_sent_chunks_never_change(n: int, size: int, data: st.DataObject) -> None:
    """Random first plans, random chunks sent or reverted, a random reverted holder held back:
    the second plan pays every remaining holder exactly once, keeps every sent chunk as it was,
    and no chunk is bigger than the batch size."""
    rows = _rows(n)
    first = plan_chunks(rows, size, {})
    sent = {p: {r[0] for r in chunk} for p, chunk in first if data.draw(st.booleans(), label=f"sent {p}")}
    reverted = [r for p, chunk in first if p not in sent for r in chunk]
    held_back = data.draw(st.sampled_from(reverted)) if reverted else None
    again = [r for r in rows if r != held_back]
    second = plan_chunks(again, size, sent)
    planned = [r for _, chunk in second for r in chunk]
    assert sorted(planned) == sorted(again)  # each once
    assert all(0 < len(chunk) <= size for _, chunk in second)
    for position, holders in sent.items():
        assert {r[0] for r in dict(second)[position]} == holders


async def test_pipelined_sends_start_each_once_the_one_before_is_out_and_raise_the_first_error() -> None:
    order: list[str] = []

    def start(name: str, fail: bool = False):  # type: ignore[no-untyped-def]
        async def run(out):  # type: ignore[no-untyped-def]
            order.append(f"{name} out")
            out()
            await asyncio.sleep(0.05)  # waits for its receipt while the next goes out
            order.append(f"{name} done")
            if fail:
                raise ValueError(name)
            return name

        return run

    assert await send_pipelined([start("a"), start("b"), start("c")]) == ["a", "b", "c"]
    assert order[:3] == ["a out", "b out", "c out"]
    order.clear()
    with pytest.raises(ValueError, match="a"):
        await send_pipelined([start("a", fail=True), start("b", fail=True), start("c")])
    assert sorted(order) == sorted(["a out", "b out", "c out", "a done", "b done", "c done"])  # all awaited
