"""`SqliteStore`: the embedded implementation of `drexfy.domain.ports.Store`.

Units of work (see `uow.py`), plus the inbox/outbox queues, the operation journal and the
idempotency records, each of which writes in its own short transaction.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from drexfy.adapters.sqlite.access import SqliteAccessRecords
from drexfy.adapters.sqlite.audit import SqliteAuditLog
from drexfy.adapters.sqlite.db import Database
from drexfy.adapters.sqlite.idempotency import SqliteIdempotency
from drexfy.adapters.sqlite.journal import SqliteJournal
from drexfy.adapters.sqlite.queue import SqliteQueue
from drexfy.adapters.sqlite.uow import SqliteUnitOfWork
from drexfy.adapters.system import SystemClock
from drexfy.domain.ports import (
    AccessRecords,
    AuditLog,
    Clock,
    IdempotencyRepository,
    MessageQueue,
    OperationJournal,
    Store,
    UnitOfWork,
)

Conn = sqlite3.Connection


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
        self.access: AccessRecords = SqliteAccessRecords(db)
        self.audit: AuditLog = SqliteAuditLog(db)

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
