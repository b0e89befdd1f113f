"""The random pool behind ids and request ids."""

from __future__ import annotations

import os

import pytest

from drexfy.adapters.system import RandomPool


def test_pool_hands_out_each_byte_once_and_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[bytes] = []
    real = os.urandom

    def counting(n: int) -> bytes:
        chunk = real(n)
        draws.append(chunk)
        return chunk

    monkeypatch.setattr(os, "urandom", counting)
    pool = RandomPool()
    taken = [pool.take(10) for _ in range(1000)]  # 10,000 bytes: three 4 KiB draws
    assert len(draws) == 3
    # every slice is a distinct part of the OS output, in order, with no byte handed out twice
    stream = b"".join(draws)
    position = 0
    for piece in taken:
        found = stream.index(piece, position)
        assert found >= position
        position = found + len(piece)
    assert len(set(taken)) == len(taken)


def test_pool_refuses_sizes_it_cannot_serve() -> None:
    pool = RandomPool()
    with pytest.raises(ValueError):
        pool.take(0)
    with pytest.raises(ValueError):
        pool.take(RandomPool.CHUNK + 1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_forked_child_does_not_reuse_the_parents_bytes() -> None:
    pool = RandomPool()
    pool.take(1)  # the parent has a buffer now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what the pool gives next
        os.close(read)
        os.write(write, pool.take(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    parent = pool.take(16)
    assert child != parent


async def test_memory_journal_allocates_like_the_stores() -> None:
    from drexfy.adapters.evm.memory_journal import MemoryJournal
    from tests.contract.test_queue_journal_contract import journal_allocates_max_of_chain_and_last_plus_one

    await journal_allocates_max_of_chain_and_last_plus_one(MemoryJournal())


async def test_memory_journal_keeps_the_first_signed_transaction() -> None:
    from drexfy.adapters.evm.memory_journal import MemoryJournal
    from drexfy.domain.errors import NotFound
    from tests.contract.test_queue_journal_contract import entry

    journal = MemoryJournal()
    await journal.create(entry("op_1"))
    first = await journal.record_signed(entry("op_1", tx_id="0xa", payload="0x01"))
    second = await journal.record_signed(entry("op_1", tx_id="0xb", payload="0x02"))
    assert first.tx_id == second.tx_id == "0xa"
    with pytest.raises(NotFound):
        await journal.record_signed(entry("op_2", payload="0x03"))


async def test_memory_journal_replaces_only_the_version_it_was_given() -> None:
    from drexfy.adapters.evm.memory_journal import MemoryJournal
    from tests.contract.test_queue_journal_contract import entry

    journal = MemoryJournal()
    await journal.create(entry("op_1", tx_id="0xold", payload="0x01"))
    first = await journal.replace_signed(entry("op_1", tx_id="0xa", payload="0x02"), previous_tx_id="0xold")
    second = await journal.replace_signed(entry("op_1", tx_id="0xb", payload="0x03"), previous_tx_id="0xold")
    assert first.tx_id == second.tx_id == "0xa"
