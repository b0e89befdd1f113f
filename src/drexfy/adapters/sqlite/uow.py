"""The SQLite unit of work.

A unit of work takes the write lock and opens `BEGIN IMMEDIATE` at its first statement, so units of
work are serialised and every read inside one sees a state no one else can change before it
commits. Without `commit()` everything is rolled back when the block ends. Its repositories are in
`repositories.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from drexfy.domain.audit import current_context
from drexfy.domain.events import DomainEvent
from drexfy.domain.ports import (
    DepositRepository,
    EventLog,
    InstrumentRepository,
    InvestorRepository,
    OrderRepository,
    PositionRepository,
    RepaymentRepository,
    WithdrawalRepository,
)

if TYPE_CHECKING:
    from drexfy.adapters.sqlite.store import SqliteStore

from drexfy.adapters.sqlite.repositories import (
    Conn,
    SqliteDeposits,
    SqliteEventLog,
    SqliteInstruments,
    SqliteInvestors,
    SqliteOrders,
    SqlitePositions,
    SqliteRepayments,
    SqliteWithdrawals,
    append_events,
)

T = TypeVar("T")


class SqliteUnitOfWork:
    """`async with store.unit_of_work() as uow: ...; await uow.commit()`."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._db = store.db
        self._entered = False
        self._lock: asyncio.Lock | None = None  # the write lock while this unit holds it
        self._begun = False  # BEGIN IMMEDIATE done (read and written in the writer thread only)
        self._begin_lock = asyncio.Lock()
        self._recorded: list[DomainEvent] = []
        # Annotated with the ports: the UnitOfWork protocol's attributes are invariant.
        self.investors: InvestorRepository = SqliteInvestors(self)
        self.instruments: InstrumentRepository = SqliteInstruments(self)
        self.orders: OrderRepository = SqliteOrders(self)
        self.positions: PositionRepository = SqlitePositions(self)
        self.repayments: RepaymentRepository = SqliteRepayments(self)
        self.withdrawals: WithdrawalRepository = SqliteWithdrawals(self)
        self.events: EventLog = SqliteEventLog(self)
        self.deposits: DepositRepository = SqliteDeposits(self)

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a unit of work cannot be entered twice")
        self._entered = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._recorded.clear()
        self._entered = False
        if self._lock is not None:
            await self._finish("ROLLBACK")

    def now(self) -> datetime:
        return self._store.clock.now()

    async def run(self, fn: Callable[[Conn], T]) -> T:
        """Run `fn` inside this unit of work's transaction (opened by the first call)."""
        if not self._entered:
            raise RuntimeError("use the unit of work as `async with store.unit_of_work() as uow:`")
        if self._lock is None:
            async with self._begin_lock:  # two concurrent first calls must not both take the lock
                if self._lock is None:
                    self._lock = await self._db.acquire_writer()
                    self._begun = False
        return await self._db.submit_writer(lambda conn: self._in_transaction(conn, fn))

    def _in_transaction(self, conn: Conn, fn: Callable[[Conn], T]) -> T:
        # Runs in the writer thread, where this unit's jobs run one after another in order: the
        # first one opens the transaction, in the same hop as its statement.
        if not self._begun:
            conn.execute("BEGIN IMMEDIATE")
            self._begun = True
        elif not conn.in_transaction:
            # SQLite rolled the transaction back by itself (disk full, I/O error): running on would
            # commit each statement alone and break the unit's atomicity.
            raise RuntimeError("the unit of work's transaction was aborted by SQLite; start a new one")
        return fn(conn)

    async def _finish(self, statement: str) -> None:
        # Submitted *before* the lock is released: the writer thread runs jobs in order, so this
        # COMMIT/ROLLBACK precedes the next writer's BEGIN even if we are cancelled while waiting.
        def finish(conn: Conn) -> None:
            if not conn.in_transaction:
                return
            try:
                conn.execute(statement)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        lock, self._lock = self._lock, None
        assert lock is not None
        try:
            future = self._db.submit_writer(finish)
        finally:
            self._db.release_writer(lock)
        await asyncio.shield(future)

    async def commit(self) -> None:
        """Write the recorded events and commit. The unit of work may be used again afterwards."""
        if not self._entered:
            raise RuntimeError("commit() outside `async with`")
        if self._recorded:
            recorded, self._recorded = self._recorded, []
            now, context = self.now(), current_context()
            await self.run(lambda conn: append_events(conn, recorded, now, context))
        if self._lock is not None:
            await self._finish("COMMIT")

    def record(self, event: DomainEvent) -> None:
        """Persist a free-standing event (and queue it if it notifies) when the unit commits."""
        if not self._entered:
            raise RuntimeError("record() outside `async with`")
        self._recorded.append(event)
