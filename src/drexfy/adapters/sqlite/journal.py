"""The operation journal of the ledger adapters (OperationJournal) and its nonce/sequence claims."""

from __future__ import annotations

import sqlite3
from typing import Any

from drexfy.adapters.serialization import (
    dumps,
    format_optional_timestamp,
    format_timestamp,
    loads,
    parse_optional_timestamp,
    parse_timestamp,
    random_nonce_base,
)
from drexfy.adapters.sqlite.db import Database
from drexfy.domain.errors import NotFound
from drexfy.domain.ports import JournalEntry, JournalStatus

Conn = sqlite3.Connection


_JOURNAL_COLUMNS = (
    "op_id, ledger, fingerprint, status, created_at, account, sequence, tx_id, payload, result, updated_at"
)


def _entry(row: Any) -> JournalEntry:
    return JournalEntry(
        op_id=row[0],
        ledger=row[1],
        fingerprint=row[2],
        status=JournalStatus(row[3]),
        created_at=parse_timestamp(row[4]),
        account=row[5],
        sequence=row[6],
        tx_id=row[7],
        payload=row[8],
        result=loads(row[9]),
        updated_at=parse_optional_timestamp(row[10]),
    )


def _entry_values(entry: JournalEntry) -> tuple[Any, ...]:
    return (
        entry.ledger,
        entry.fingerprint,
        entry.status.value,
        format_timestamp(entry.created_at),
        entry.account,
        entry.sequence,
        entry.tx_id,
        entry.payload,
        dumps(entry.result),
        format_optional_timestamp(entry.updated_at),
    )


class SqliteJournal:
    """The operation journal (OperationJournal) and the per-account sequence counters."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, op_id: str) -> JournalEntry | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT op_id, ledger, fingerprint, status, created_at, account, sequence, tx_id, payload, result, updated_at FROM journal WHERE op_id = ?",
                (op_id,),
            ).fetchone()
        )
        return None if row is None else _entry(row)

    async def create(self, entry: JournalEntry) -> bool:
        values = (entry.op_id, *_entry_values(entry))

        def create(conn: Conn) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO journal (op_id, ledger, fingerprint, status, created_at, account, sequence, tx_id, payload, result, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return cursor.rowcount == 1

        return await self._db.write(create)

    async def update(self, entry: JournalEntry) -> None:
        values = (*_entry_values(entry), entry.op_id)

        def update(conn: Conn) -> None:
            cursor = conn.execute(
                "UPDATE journal SET ledger = ?, fingerprint = ?, status = ?, created_at = ?, account = ?,"
                " sequence = ?, tx_id = ?, payload = ?, result = ?, updated_at = ? WHERE op_id = ?",
                values,
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no journal entry for operation {entry.op_id}")

        await self._db.write(update)

    async def record_signed(self, entry: JournalEntry) -> JournalEntry:
        return await self._update_if(entry, "payload IS NULL", ())

    async def replace_signed(self, entry: JournalEntry, previous_tx_id: str) -> JournalEntry:
        return await self._update_if(entry, "tx_id = ?", (previous_tx_id,))

    async def _update_if(self, entry: JournalEntry, condition: str, condition_params: tuple[Any, ...]) -> JournalEntry:
        """Write `entry` if the stored row meets `condition`; return the stored row either way."""
        values = (*_entry_values(entry), entry.op_id, *condition_params)

        def record(conn: Conn) -> Any:
            sql = (
                "UPDATE journal SET ledger = ?, fingerprint = ?, status = ?, created_at = ?, account = ?,"
                " sequence = ?, tx_id = ?, payload = ?, result = ?, updated_at = ? WHERE op_id = ? AND "
            )
            conn.execute(sql + condition, values)  # `condition` is one of this class's constants
            row = conn.execute(
                f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE op_id = ?",  # noqa: S608 (a constant column list)
                (entry.op_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no journal entry for operation {entry.op_id}")
            return row

        return _entry(await self._db.write(record))

    async def allocate_sequence(self, account: str, chain_next: int, claim: str) -> int:
        def allocate(conn: Conn) -> int:
            held = conn.execute(
                "SELECT sequence FROM sequence_claims WHERE claim = ? AND account = ?", (claim, account)
            ).fetchone()
            if held is not None:
                return int(held[0])
            row = conn.execute(
                "INSERT INTO account_sequences (account, last) VALUES (?, ?)"
                " ON CONFLICT (account) DO UPDATE SET last = MAX(excluded.last, last + 1) RETURNING last",
                (account, chain_next),
            ).fetchone()
            conn.execute(
                "INSERT INTO sequence_claims (claim, account, sequence) VALUES (?, ?, ?)", (claim, account, row[0])
            )
            return int(row[0])

        return await self._db.write(allocate)

    async def held_sequence(self, account: str, claim: str) -> int | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT sequence FROM sequence_claims WHERE claim = ? AND account = ?", (claim, account)
            ).fetchone()
        )
        return None if row is None else int(row[0])

    async def unfinished(self, ledger: str) -> list[JournalEntry]:
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT op_id, ledger, fingerprint, status, created_at, account, sequence, tx_id, payload, result, updated_at FROM journal WHERE ledger = ? AND status IN (?, ?)"
                " ORDER BY created_at, op_id",
                (ledger, JournalStatus.PREPARED.value, JournalStatus.SUBMITTED.value),
            ).fetchall()
        )
        return [_entry(row) for row in rows]

    async def order_nonce(self, order_id: str) -> int:
        base = random_nonce_base()  # used only if the counter does not exist yet

        def allocate(conn: Conn) -> int:
            held = conn.execute("SELECT nonce FROM order_nonces WHERE order_id = ?", (order_id,)).fetchone()
            if held is not None:
                return int(held[0])
            row = conn.execute(
                "INSERT INTO order_nonce_counter (id, next) VALUES (1, ? + 1)"
                " ON CONFLICT (id) DO UPDATE SET next = next + 1 RETURNING next - 1",
                (base,),
            ).fetchone()
            conn.execute("INSERT INTO order_nonces (order_id, nonce) VALUES (?, ?)", (order_id, row[0]))
            return int(row[0])

        return await self._db.write(allocate)
