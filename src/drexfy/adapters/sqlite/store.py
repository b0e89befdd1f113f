"""`SqliteStore`: the embedded implementation of `drexfy.domain.ports.Store`.

Units of work (see `uow.py`), plus the inbox/outbox queues, the operation journal and the
idempotency records, each of which writes in its own short transaction.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drexfy.adapters.serialization import (
    dumps,
    format_optional_timestamp,
    format_timestamp,
    loads,
    parse_optional_timestamp,
    parse_timestamp,
)
from drexfy.adapters.sqlite.db import Database
from drexfy.adapters.sqlite.uow import SqliteUnitOfWork
from drexfy.adapters.system import SystemClock
from drexfy.domain.errors import IllegalTransition, NotFound, ValidationFailed
from drexfy.domain.ports import (
    IN_PROGRESS,
    Clock,
    IdempotencyRepository,
    IdempotentResponse,
    JournalEntry,
    JournalStatus,
    MessageQueue,
    MessageStatus,
    OperationJournal,
    QueuedMessage,
    Store,
    UnitOfWork,
)

Conn = sqlite3.Connection


def _message(row: Any) -> QueuedMessage:
    return QueuedMessage(
        id=row[0],
        key=row[1],
        kind=row[2],
        payload=loads(row[3]),
        created_at=parse_timestamp(row[4]),
        status=MessageStatus(row[5]),
        attempts=row[6],
        next_attempt_at=parse_optional_timestamp(row[7]),
        last_error=row[8],
    )


class SqliteQueue:
    """One named queue (inbox or outbox) in the `queue_messages` table. Implements MessageQueue."""

    def __init__(self, db: Database, name: str) -> None:
        self._db = db
        self.name = name

    async def add(self, message: QueuedMessage) -> bool:
        """Insert unless the key (or id) exists in this queue: one short transaction."""
        claimable = message.status in (MessageStatus.PENDING, MessageStatus.RUNNING)
        params = (
            self.name,
            message.id,
            message.key,
            message.kind,
            dumps(message.payload),
            format_timestamp(message.created_at),
            message.status.value,
            message.attempts,
            format_optional_timestamp(message.next_attempt_at),
            message.last_error,
            (format_optional_timestamp(message.next_attempt_at) or "") if claimable else None,
        )

        def add(conn: Conn) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO queue_messages (queue, id, key, kind, payload, created_at, status, attempts,"
                " next_attempt_at, last_error, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            return cursor.rowcount == 1

        add.single_statement = True  # type: ignore[attr-defined]
        return await self._db.write(add)

    async def claim(self, now: datetime, limit: int, lease_seconds: int) -> list[QueuedMessage]:
        if limit <= 0:
            return []
        if lease_seconds <= 0:
            raise ValidationFailed("lease_seconds must be positive")
        lease_end = format_timestamp(now + timedelta(seconds=lease_seconds))
        due = format_timestamp(now)

        def claim(conn: Conn) -> list[QueuedMessage]:
            # Two index ranges: first what has waited for a time (retries due, leases run out: the
            # job of a worker that died may hold the ledger's oldest nonce), then new messages
            # (due_at ''). New first would starve a lapsed lease under a steady inflow.
            rows = conn.execute(
                "UPDATE queue_messages SET status = 'RUNNING', attempts = attempts + 1, next_attempt_at = ?,"
                " due_at = ? WHERE queue = ? AND id IN (SELECT id FROM (SELECT id FROM queue_messages"
                " WHERE queue = ? AND due_at > '' AND due_at <= ? ORDER BY due_at LIMIT ?) UNION ALL"
                " SELECT id FROM (SELECT id FROM queue_messages WHERE queue = ? AND due_at = ''"
                " ORDER BY created_at LIMIT ?) LIMIT ?)"
                " RETURNING id, key, kind, payload, created_at, status, attempts, next_attempt_at, last_error",
                (lease_end, lease_end, self.name, self.name, due, limit, self.name, limit, limit),
            ).fetchall()
            return [_message(row) for row in rows]

        claimed = await self._db.write(claim)
        claimed.sort(key=lambda m: (m.created_at, m.id))
        return claimed

    async def _update(self, message_id: str, sql: str, params: tuple[Any, ...]) -> None:
        def update(conn: Conn) -> None:
            if conn.execute(sql, (*params, self.name, message_id)).rowcount == 0:
                raise NotFound(f"no {self.name} message {message_id}")

        await self._db.write(update)

    async def complete(self, message_id: str) -> None:
        await self._update(
            message_id,
            "UPDATE queue_messages SET status = 'DONE', next_attempt_at = NULL, due_at = NULL WHERE queue = ? AND id = ?",
            (),
        )

    async def retry_later(self, message_id: str, error: str, at: datetime) -> None:
        stamp = format_timestamp(at)
        await self._update(
            message_id,
            "UPDATE queue_messages SET status = 'PENDING', last_error = ?, next_attempt_at = ?, due_at = ?"
            " WHERE queue = ? AND id = ?",
            (error, stamp, stamp),
        )

    async def dead(self, message_id: str, error: str) -> None:
        await self._update(
            message_id,
            "UPDATE queue_messages SET status = 'DEAD', last_error = ?, next_attempt_at = NULL, due_at = NULL"
            " WHERE queue = ? AND id = ?",
            (error,),
        )

    async def requeue(self, message_id: str, now: datetime) -> None:
        """DEAD -> PENDING, due at `now`, with a fresh attempt count (last_error is kept)."""
        stamp = format_timestamp(now)

        def requeue(conn: Conn) -> None:
            cursor = conn.execute(
                "UPDATE queue_messages SET status = 'PENDING', attempts = 0, next_attempt_at = ?, due_at = ?"
                " WHERE queue = ? AND id = ? AND status = 'DEAD'",
                (stamp, stamp, self.name, message_id),
            )
            if cursor.rowcount == 1:
                return
            row = conn.execute(
                "SELECT status FROM queue_messages WHERE queue = ? AND id = ?", (self.name, message_id)
            ).fetchone()
            if row is None:
                raise NotFound(f"no {self.name} message {message_id}")
            raise IllegalTransition(f"{self.name} message {message_id} is {row[0]}, only DEAD messages are requeued")

        await self._db.write(requeue)

    async def get(self, message_id: str) -> QueuedMessage:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT id, key, kind, payload, created_at, status, attempts, next_attempt_at, last_error FROM queue_messages WHERE queue = ? AND id = ?",
                (self.name, message_id),
            ).fetchone()
        )
        if row is None:
            raise NotFound(f"no {self.name} message {message_id}")
        return _message(row)

    async def list(self, status: MessageStatus | None = None, limit: int = 100) -> list[QueuedMessage]:
        sql = "SELECT id, key, kind, payload, created_at, status, attempts, next_attempt_at, last_error FROM queue_messages WHERE queue = ?"
        params: list[Any] = [self.name]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        sql += " ORDER BY created_at, id LIMIT ?"
        params.append(max(limit, 0))
        rows = await self._db.read(lambda conn: conn.execute(sql, params).fetchall())
        return [_message(row) for row in rows]

    async def purge_done(self, before: datetime, limit: int = 500) -> int:
        params = (self.name, MessageStatus.DONE.value, format_timestamp(before), max(limit, 0))

        def purge(conn: Conn) -> int:
            return conn.execute(
                "DELETE FROM queue_messages WHERE rowid IN (SELECT rowid FROM queue_messages"
                " WHERE queue = ? AND status = ? AND created_at < ? ORDER BY created_at LIMIT ?)",
                params,
            ).rowcount

        return await self._db.write(purge)

    async def counts(self) -> dict[MessageStatus, int]:
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT status, COUNT(*) FROM queue_messages WHERE queue = ? GROUP BY status", (self.name,)
            ).fetchall()
        )
        counts = dict.fromkeys(MessageStatus, 0)
        for status, count in rows:
            counts[MessageStatus(status)] = count
        return counts


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


class SqliteIdempotency:
    """Stored answers to POSTs made with an Idempotency-Key (IdempotencyRepository)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, scope: str, key: str) -> IdempotentResponse | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT request_hash, status, body, created_at FROM idempotency WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()
        )
        if row is None:
            return None
        return IdempotentResponse(
            scope=scope,
            key=key,
            request_hash=row[0],
            status=row[1],
            body=loads(row[2]),
            created_at=parse_timestamp(row[3]),
        )

    async def put(self, response: IdempotentResponse) -> bool:
        params = (
            response.scope,
            response.key,
            response.request_hash,
            response.status,
            dumps(response.body),
            format_timestamp(response.created_at),
        )

        def put(conn: Conn) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO idempotency (scope, key, request_hash, status, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                params,
            )
            return cursor.rowcount == 1

        return await self._db.write(put)

    async def begin(
        self, scope: str, key: str, request_hash: str, now: datetime, lease: timedelta
    ) -> IdempotentResponse | None:
        stamp, stale = format_timestamp(now), format_timestamp(now - lease)

        def begin(conn: Conn) -> Any:
            cursor = conn.execute(
                "INSERT INTO idempotency (scope, key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, '{}', ?)"
                " ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at"
                " WHERE idempotency.status = ? AND idempotency.created_at <= ?",
                (scope, key, request_hash, IN_PROGRESS, stamp, IN_PROGRESS, stale),
            )
            if cursor.rowcount == 1:
                return None  # reserved (or taken over from an attempt that died)
            return conn.execute(
                "SELECT request_hash, status, body, created_at FROM idempotency WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()

        row = await self._db.write(begin)
        if row is None:
            return None
        return IdempotentResponse(scope, key, row[0], row[1], loads(row[2]), parse_timestamp(row[3]))

    async def finish(self, response: IdempotentResponse) -> None:
        params = (
            response.request_hash,
            response.status,
            dumps(response.body),
            format_timestamp(response.created_at),
            response.scope,
            response.key,
            IN_PROGRESS,
        )

        def finish(conn: Conn) -> None:
            conn.execute(
                "UPDATE idempotency SET request_hash = ?, status = ?, body = ?, created_at = ?"
                " WHERE scope = ? AND key = ? AND status = ?",
                params,
            )

        await self._db.write(finish)

    async def abandon(self, scope: str, key: str) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM idempotency WHERE scope = ? AND key = ? AND status = ?", (scope, key, IN_PROGRESS)
            )
        )

    async def purge(self, before: datetime, limit: int = 500) -> int:
        params = (format_timestamp(before), max(limit, 0))

        def purge(conn: Conn) -> int:
            return conn.execute(
                "DELETE FROM idempotency WHERE (scope, key) IN"
                " (SELECT scope, key FROM idempotency WHERE created_at < ? ORDER BY created_at LIMIT ?)",
                params,
            ).rowcount

        return await self._db.write(purge)


class SqliteStore:
    """The embedded Store: a SQLite file in WAL mode (see `open_sqlite_store`)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        # Annotated with the ports: the Store protocol's attributes are invariant.
        self.inbox: MessageQueue = SqliteQueue(db, "inbox")
        self.outbox: MessageQueue = SqliteQueue(db, "outbox")
        self.journal: OperationJournal = SqliteJournal(db)
        self.idempotency: IdempotencyRepository = SqliteIdempotency(db)

    @property
    def path(self) -> str:
        """The database file (a private temporary file when opened with ":memory:")."""
        return self.db.path

    def unit_of_work(self) -> UnitOfWork:
        return SqliteUnitOfWork(self)

    async def ping(self) -> None:
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self.db.close()

    async def schema_version(self) -> int:
        """The highest migration applied to the file."""
        row = await self.db.read(lambda conn: conn.execute("SELECT MAX(version) FROM schema_version").fetchone())
        return int(row[0] or 0)


async def open_sqlite_store(
    path: str | Path,
    clock: Clock | None = None,
    *,
    busy_timeout_ms: int = 10_000,
    synchronous: str = "FULL",
) -> SqliteStore:
    """Open (creating and migrating if needed) the store at `path`.

    ":memory:" gives a private temporary file removed on `close()` (for tests). `synchronous="FULL"`
    makes every commit durable before it returns (an accepted webhook survives a power cut);
    "NORMAL" is faster and still never corrupts the file, but may lose the last commits on power loss.
    """
    clock = clock or SystemClock()
    db = Database(path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)
    await db.open(clock.now())
    return SqliteStore(db, clock)


if TYPE_CHECKING:
    _store_is_a_store: type[Store] = SqliteStore
