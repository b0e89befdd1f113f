"""The relayer's journal writes are compare-and-set on the transaction hash: a process holding an
old copy of an operation never writes it back over a replacement another process journalled."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

from drexfy.adapters.evm import relayer as relayer_module
from drexfy.adapters.evm.config import EvmConfig
from drexfy.adapters.evm.memory_journal import MemoryJournal
from drexfy.domain.ports import JournalEntry, JournalStatus

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _relayer(journal: MemoryJournal) -> relayer_module.Relayer:
    config = EvmConfig(rpc_url="http://unused", chain_id=1287, deployment_file=Path("unused.json"))
    return relayer_module.Relayer(None, 1287, None, journal, config)  # type: ignore[arg-type]


async def _signed_then_replaced(journal: MemoryJournal) -> JournalEntry:
    """Journal v1 of an operation, replace it by v2 (a fee bump elsewhere); return a stale v1 copy."""
    v1 = JournalEntry(
        "settle:o1", "evm", "fp", JournalStatus.PREPARED, T0, account="0xR", sequence=3, tx_id="0xv1", payload="0x01"
    )
    await journal.create(v1)
    stale = copy.deepcopy(v1)
    v2 = copy.deepcopy(v1)
    v2.tx_id, v2.payload, v2.result = "0xv2", "0x02", {"superseded": ["0xv1"]}
    await journal.replace_signed(v2, previous_tx_id="0xv1")
    return stale


async def test_a_status_change_from_a_stale_copy_lands_on_the_replacement():
    journal = MemoryJournal()
    stale = await _signed_then_replaced(journal)
    saved = await _relayer(journal)._save(stale, relayer_module._submitted)
    assert (saved.tx_id, saved.status, saved.result["superseded"]) == ("0xv2", JournalStatus.SUBMITTED, ["0xv1"])
    assert await journal.get("settle:o1") == saved


async def test_the_outcome_of_a_mined_earlier_version_is_recorded_on_the_newest_entry():
    journal = MemoryJournal()
    stale = await _signed_then_replaced(journal)

    def mined_v1(entry: JournalEntry) -> None:  # what _send_and_wait does when v1's receipt arrives
        if entry.tx_id != "0xv1":
            entry.result = {**entry.result, "unapplied": entry.tx_id}
            entry.tx_id = "0xv1"
        entry.status = JournalStatus.CONFIRMED

    saved = await _relayer(journal)._save(stale, mined_v1)
    stored = await journal.get("settle:o1")
    assert stored == saved and stored.status is JournalStatus.CONFIRMED and stored.tx_id == "0xv1"
    assert stored.result["unapplied"] == "0xv2" and stored.result["superseded"] == ["0xv1"]
