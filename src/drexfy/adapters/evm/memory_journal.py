"""An in-memory OperationJournal for the embedded EVM, whose chain lives only in memory too.

A persistent journal beside a chain that is rebuilt at every start would hand out nonces the new
chain never saw (a gap no transaction can fill) and report operations done that the new chain does
not know, so the embedded mode journals in memory for as long as its chain exists.
"""

from __future__ import annotations

import asyncio
import copy

from drexfy.adapters.serialization import random_nonce_base
from drexfy.domain.errors import NotFound
from drexfy.domain.ports import JournalEntry, JournalStatus


class MemoryJournal:
    def __init__(self) -> None:
        self._entries: dict[str, JournalEntry] = {}
        self._sequences: dict[str, int] = {}
        self._claims: dict[tuple[str, str], int] = {}
        self._order_nonces: dict[str, int] = {}
        self._next_order_nonce = random_nonce_base()
        self._lock = asyncio.Lock()

    async def get(self, op_id: str) -> JournalEntry | None:
        entry = self._entries.get(op_id)
        return copy.deepcopy(entry) if entry else None

    async def create(self, entry: JournalEntry) -> bool:
        async with self._lock:
            if entry.op_id in self._entries:
                return False
            self._entries[entry.op_id] = copy.deepcopy(entry)
            return True

    async def update(self, entry: JournalEntry) -> None:
        self._entries[entry.op_id] = copy.deepcopy(entry)

    async def record_signed(self, entry: JournalEntry) -> JournalEntry:
        async with self._lock:
            stored = self._entries.get(entry.op_id)
            if stored is None:
                raise NotFound(f"no journal entry for operation {entry.op_id}")
            if stored.payload is None:
                self._entries[entry.op_id] = stored = copy.deepcopy(entry)
            return copy.deepcopy(stored)

    async def replace_signed(self, entry: JournalEntry, previous_tx_id: str) -> JournalEntry:
        async with self._lock:
            stored = self._entries.get(entry.op_id)
            if stored is None:
                raise NotFound(f"no journal entry for operation {entry.op_id}")
            if stored.tx_id == previous_tx_id:
                self._entries[entry.op_id] = stored = copy.deepcopy(entry)
            return copy.deepcopy(stored)

    async def allocate_sequence(self, account: str, chain_next: int, claim: str) -> int:
        async with self._lock:
            if (claim, account) in self._claims:
                return self._claims[(claim, account)]
            last = self._sequences.get(account)
            value = chain_next if last is None else max(chain_next, last + 1)
            self._sequences[account] = value
            self._claims[(claim, account)] = value
            return value

    async def held_sequence(self, account: str, claim: str) -> int | None:
        async with self._lock:
            return self._claims.get((claim, account))

    async def unfinished(self, ledger: str) -> list[JournalEntry]:
        return [
            copy.deepcopy(e)
            for e in sorted(self._entries.values(), key=lambda e: e.created_at)
            if e.ledger == ledger and e.status in (JournalStatus.PREPARED, JournalStatus.SUBMITTED)
        ]

    async def order_nonce(self, order_id: str) -> int:
        async with self._lock:
            held = self._order_nonces.get(order_id)
            if held is None:
                held = self._order_nonces[order_id] = self._next_order_nonce
                self._next_order_nonce += 1
            return held
