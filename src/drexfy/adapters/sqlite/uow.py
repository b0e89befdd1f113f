"""The SQLite unit of work and the repositories it carries.

A unit of work takes the write lock and opens `BEGIN IMMEDIATE` at its first statement, so units of
work are serialised and every read inside one sees a state no one else can change before it
commits. Without `commit()` everything is rolled back when the block ends.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from drexfy.adapters.serialization import (
    dumps,
    format_timestamp,
    from_dict,
    loads,
    new_sortable_id,
    outbox_message,
    parse_timestamp,
    to_dict,
)
from drexfy.domain.errors import (
    Conflict,
    CurrencyMismatch,
    DuplicateEntity,
    InstrumentNotFound,
    InvestorNotFound,
    NotFound,
    OrderNotFound,
    RepaymentNotFound,
    SoldOut,
    ValidationFailed,
)
from drexfy.domain.events import DomainEvent
from drexfy.domain.model import (
    RESERVING,
    AllocationStatus,
    Instrument,
    Investor,
    Order,
    OrderStatus,
    Position,
    Repayment,
    Withdrawal,
)
from drexfy.domain.money import Money
from drexfy.domain.ports import (
    EventLog,
    InstrumentRepository,
    InvestorRepository,
    OrderRepository,
    PositionRepository,
    RepaymentRepository,
    StoredEvent,
    WithdrawalRepository,
)

if TYPE_CHECKING:
    from drexfy.adapters.sqlite.store import SqliteStore

T = TypeVar("T")
Conn = sqlite3.Connection

#: Orders that count against an investor's ticket limits and caps.
COMMITTED_ORDER_STATES = (OrderStatus.CREATED, OrderStatus.PAID, OrderStatus.SETTLED)
_COUNTERS = ("units_sold", "units_reserved", "units_retired")


def _is_unique_violation(exc: sqlite3.IntegrityError) -> bool:
    return "UNIQUE constraint failed" in str(exc) or "PRIMARY KEY" in str(exc)


def _insert(conn: Conn, sql: str, params: Sequence[Any], what: str) -> None:
    try:
        conn.execute(sql, params)
    except sqlite3.IntegrityError as exc:
        if _is_unique_violation(exc):
            raise DuplicateEntity(f"{what} already exists") from exc
        raise ValidationFailed(f"{what} breaks a store constraint: {exc}") from exc


def _check_version(conn: Conn, table: str, entity_id: str, version: int, not_found: NotFound) -> None:
    """After a version-checked UPDATE touched no row: say whether it was missing or stale."""
    row = conn.execute(f"SELECT version FROM {table} WHERE id = ?", (entity_id,)).fetchone()  # noqa: S608
    if row is None:
        raise not_found
    raise Conflict(f"{table[:-1]} {entity_id} was saved by someone else (version {row[0]}, yours {version})")


def append_events(conn: Conn, events: Iterable[DomainEvent], now: datetime) -> list[str]:
    """Persist events in the audit log and queue the notify ones in the outbox (same transaction)."""
    ids = []
    for event in events:
        event_id = new_sortable_id("evt")
        conn.execute(
            "INSERT INTO events (id, name, aggregate_id, occurred_at, payload) VALUES (?, ?, ?, ?, ?)",
            (event_id, event.name, event.aggregate_id, format_timestamp(event.occurred_at), dumps(event.payload())),
        )
        if type(event).notify:
            message = outbox_message(event_id, event, now)
            conn.execute(
                "INSERT OR IGNORE INTO queue_messages (queue, id, key, kind, payload, created_at, status,"
                " attempts, next_attempt_at, last_error, due_at) VALUES ('outbox', ?, ?, ?, ?, ?, ?, 0, NULL,"
                " NULL, '')",
                (
                    message.id,
                    message.key,
                    message.kind,
                    dumps(message.payload),
                    format_timestamp(message.created_at),
                    message.status.value,
                ),
            )
        ids.append(event_id)
    return ids


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
            now = self.now()
            await self.run(lambda conn: append_events(conn, recorded, now))
        if self._lock is not None:
            await self._finish("COMMIT")

    def record(self, event: DomainEvent) -> None:
        """Persist a free-standing event (and queue it if it notifies) when the unit commits."""
        if not self._entered:
            raise RuntimeError("record() outside `async with`")
        self._recorded.append(event)


class _Repository:
    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow

    async def _run(self, fn: Callable[[Conn], T]) -> T:
        return await self._uow.run(fn)


def _data(aggregate: Any, *drop: str) -> str:
    data = to_dict(aggregate)
    for key in drop:
        data.pop(key, None)
    return dumps(data)


# --- investors ---------------------------------------------------------------------------------------


def _investor(row: Any) -> Investor:
    investor = from_dict(Investor, loads(row[0]))
    investor.version = row[1]
    return investor


class SqliteInvestors(_Repository):
    _SELECT = "SELECT data, version FROM investors"

    async def add(self, investor: Investor) -> None:
        events, now = list(investor.events), self._uow.now()

        def add(conn: Conn) -> None:
            _insert(
                conn,
                "INSERT INTO investors (id, version, applicant_id, address, email, data) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    investor.id,
                    investor.version,
                    investor.applicant_id,
                    investor.wallet.address if investor.wallet else None,
                    investor.email,
                    _data(investor, "version"),
                ),
                f"investor {investor.id}",
            )
            append_events(conn, events, now)

        await self._run(add)
        del investor.events[: len(events)]

    async def save(self, investor: Investor) -> None:
        events, now, version = list(investor.events), self._uow.now(), investor.version

        def save(conn: Conn) -> None:
            cursor = conn.execute(
                "UPDATE investors SET version = version + 1, applicant_id = ?, address = ?, email = ?, data = ?"
                " WHERE id = ? AND version = ?",
                (
                    investor.applicant_id,
                    investor.wallet.address if investor.wallet else None,
                    investor.email,
                    _data(investor, "version"),
                    investor.id,
                    version,
                ),
            )
            if cursor.rowcount == 0:
                _check_version(conn, "investors", investor.id, version, InvestorNotFound(f"no investor {investor.id}"))
            append_events(conn, events, now)

        await self._run(save)
        investor.version = version + 1
        del investor.events[: len(events)]

    async def get(self, investor_id: str) -> Investor:
        found = await self.find(investor_id)
        if found is None:
            raise InvestorNotFound(f"no investor {investor_id}")
        return found

    async def find(self, investor_id: str) -> Investor | None:
        return await self._one(f"{self._SELECT} WHERE id = ?", (investor_id,))

    async def get_by_applicant(self, applicant_id: str) -> Investor:
        found = await self._one(f"{self._SELECT} WHERE applicant_id = ? ORDER BY id LIMIT 1", (applicant_id,))
        if found is None:
            raise InvestorNotFound(f"no investor with KYC applicant {applicant_id}")
        return found

    async def get_by_address(self, address: str) -> Investor | None:
        return await self._one(f"{self._SELECT} WHERE address = ? ORDER BY id LIMIT 1", (address,))

    async def get_by_email(self, email: str) -> Investor | None:
        return await self._one(f"{self._SELECT} WHERE email = ? ORDER BY id LIMIT 1", (email,))

    async def list(self, limit: int = 100, after: str | None = None) -> list[Investor]:
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE id > ? ORDER BY id LIMIT ?", (after or "", max(limit, 0))
            ).fetchall()
        )
        return [_investor(row) for row in rows]

    async def _one(self, sql: str, params: Sequence[Any]) -> Investor | None:
        row = await self._run(lambda conn: conn.execute(sql, params).fetchone())
        return None if row is None else _investor(row)


# --- instruments ------------------------------------------------------------------------------------


def _instrument(row: Any) -> Instrument:
    data = loads(row[0])
    data.update(version=row[1], units_sold=row[2], units_reserved=row[3], units_retired=row[4])
    return from_dict(Instrument, data)


def _positive(units: int) -> None:
    if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
        raise ValidationFailed(f"units must be a positive integer, got {units!r}")


class SqliteInstruments(_Repository):
    _SELECT = "SELECT data, version, units_sold, units_reserved, units_retired FROM instruments"

    async def add(self, instrument: Instrument) -> None:
        events, now = list(instrument.events), self._uow.now()

        def add(conn: Conn) -> None:
            _insert(
                conn,
                "INSERT INTO instruments (id, version, symbol, total_units, units_sold, units_reserved,"
                " units_retired, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    instrument.id,
                    instrument.version,
                    instrument.symbol,
                    instrument.total_units,
                    instrument.units_sold,
                    instrument.units_reserved,
                    instrument.units_retired,
                    _data(instrument, "version", *_COUNTERS),
                ),
                f"instrument {instrument.id} (symbol {instrument.symbol})",
            )
            append_events(conn, events, now)

        await self._run(add)
        del instrument.events[: len(events)]

    async def save(self, instrument: Instrument) -> None:
        events, now, version = list(instrument.events), self._uow.now(), instrument.version

        def save(conn: Conn) -> None:
            try:
                cursor = conn.execute(
                    "UPDATE instruments SET version = version + 1, symbol = ?, total_units = ?, data = ?"
                    " WHERE id = ? AND version = ?",
                    (
                        instrument.symbol,
                        instrument.total_units,
                        _data(instrument, "version", *_COUNTERS),
                        instrument.id,
                        version,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                if _is_unique_violation(exc):
                    raise DuplicateEntity(f"another instrument has symbol {instrument.symbol}") from exc
                raise Conflict(f"instrument {instrument.id}: total units below units sold and reserved") from exc
            if cursor.rowcount == 0:
                _check_version(
                    conn, "instruments", instrument.id, version, InstrumentNotFound(f"no instrument {instrument.id}")
                )
            append_events(conn, events, now)

        await self._run(save)
        instrument.version = version + 1
        del instrument.events[: len(events)]

    async def get(self, instrument_id: str) -> Instrument:
        row = await self._run(lambda conn: conn.execute(f"{self._SELECT} WHERE id = ?", (instrument_id,)).fetchone())
        if row is None:
            raise InstrumentNotFound(f"no instrument {instrument_id}")
        return _instrument(row)

    async def get_by_symbol(self, symbol: str) -> Instrument | None:
        row = await self._run(lambda conn: conn.execute(f"{self._SELECT} WHERE symbol = ?", (symbol,)).fetchone())
        return None if row is None else _instrument(row)

    async def list(self, limit: int = 100, after: str | None = None) -> list[Instrument]:
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE id > ? ORDER BY id LIMIT ?", (after or "", max(limit, 0))
            ).fetchall()
        )
        return [_instrument(row) for row in rows]

    async def _counter_update(
        self, instrument_id: str, units: int, sql: str, params: Sequence[Any], refuse: Callable[[Any], Exception]
    ) -> None:
        _positive(units)

        def update(conn: Conn) -> None:
            if conn.execute(sql, params).rowcount == 1:
                return
            row = conn.execute(
                "SELECT total_units, units_sold, units_reserved, units_retired FROM instruments WHERE id = ?",
                (instrument_id,),
            ).fetchone()
            if row is None:
                raise InstrumentNotFound(f"no instrument {instrument_id}")
            raise refuse(row)

        await self._run(update)

    async def reserve_units(self, instrument_id: str, units: int) -> None:
        await self._counter_update(
            instrument_id,
            units,
            "UPDATE instruments SET units_reserved = units_reserved + ?"
            " WHERE id = ? AND units_sold + units_reserved + ? <= total_units",
            (units, instrument_id, units),
            lambda row: SoldOut([f"only {row[0] - row[1] - row[2]} units left, {units} asked"]),
        )

    async def release_units(self, instrument_id: str, units: int) -> None:
        await self._counter_update(
            instrument_id,
            units,
            "UPDATE instruments SET units_reserved = units_reserved - ? WHERE id = ? AND units_reserved >= ?",
            (units, instrument_id, units),
            lambda row: Conflict(f"instrument {instrument_id} has {row[2]} units reserved, cannot release {units}"),
        )

    async def commit_units(self, instrument_id: str, units: int) -> None:
        await self._counter_update(
            instrument_id,
            units,
            "UPDATE instruments SET units_reserved = units_reserved - ?, units_sold = units_sold + ?"
            " WHERE id = ? AND units_reserved >= ?",
            (units, units, instrument_id, units),
            lambda row: Conflict(f"instrument {instrument_id} has {row[2]} units reserved, cannot commit {units}"),
        )

    async def retire_units(self, instrument_id: str, units: int) -> None:
        await self._counter_update(
            instrument_id,
            units,
            "UPDATE instruments SET units_retired = units_retired + ? WHERE id = ? AND units_retired + ? <= units_sold",
            (units, instrument_id, units),
            lambda row: Conflict(
                f"instrument {instrument_id} has {row[1] - row[3]} units outstanding, cannot retire {units}"
            ),
        )


# --- orders ------------------------------------------------------------------------------------------


def _order(row: Any) -> Order:
    order = from_dict(Order, loads(row[0]))
    order.version = row[1]
    return order


def _order_columns(order: Order) -> tuple[Any, ...]:
    return (
        order.investor_id,
        order.instrument_id,
        order.status.value,
        format_timestamp(order.created_at),
        format_timestamp(order.expires_at),
        order.amount.minor,
        order.amount.currency,
        _data(order, "version"),
    )


class SqliteOrders(_Repository):
    _SELECT = "SELECT data, version FROM orders"

    async def add(self, order: Order) -> None:
        events, now = list(order.events), self._uow.now()

        def add(conn: Conn) -> None:
            _insert(
                conn,
                "INSERT INTO orders (id, version, investor_id, instrument_id, status, created_at, expires_at,"
                " amount_minor, currency, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (order.id, order.version, *_order_columns(order)),
                f"order {order.id}",
            )
            append_events(conn, events, now)

        await self._run(add)
        del order.events[: len(events)]

    async def save(self, order: Order) -> None:
        events, now, version = list(order.events), self._uow.now(), order.version

        def save(conn: Conn) -> None:
            cursor = conn.execute(
                "UPDATE orders SET version = version + 1, investor_id = ?, instrument_id = ?, status = ?,"
                " created_at = ?, expires_at = ?, amount_minor = ?, currency = ?, data = ?"
                " WHERE id = ? AND version = ?",
                (*_order_columns(order), order.id, version),
            )
            if cursor.rowcount == 0:
                _check_version(conn, "orders", order.id, version, OrderNotFound(f"no order {order.id}"))
            append_events(conn, events, now)

        await self._run(save)
        order.version = version + 1
        del order.events[: len(events)]

    async def get(self, order_id: str) -> Order:
        row = await self._run(lambda conn: conn.execute(f"{self._SELECT} WHERE id = ?", (order_id,)).fetchone())
        if row is None:
            raise OrderNotFound(f"no order {order_id}")
        return _order(row)

    async def by_investor(self, investor_id: str) -> list[Order]:
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE investor_id = ? ORDER BY created_at, id", (investor_id,)
            ).fetchall()
        )
        return [_order(row) for row in rows]

    async def expired(self, now: datetime, limit: int = 100) -> list[Order]:
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE status = ? AND expires_at <= ? ORDER BY expires_at, id LIMIT ?",
                (OrderStatus.CREATED.value, format_timestamp(now), max(limit, 0)),
            ).fetchall()
        )
        return [_order(row) for row in rows]

    async def reserving(self, instrument_id: str) -> list[Order]:
        states = sorted(s.value for s in RESERVING)
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE instrument_id = ? AND status IN ({', '.join('?' for _ in states)})"
                " ORDER BY created_at, id",
                (instrument_id, *states),
            ).fetchall()
        )
        return [_order(row) for row in rows]

    async def committed_amount(self, investor_id: str, instrument_id: str) -> Money | None:
        states = [s.value for s in COMMITTED_ORDER_STATES]
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT currency, SUM(amount_minor) FROM orders WHERE investor_id = ? AND instrument_id = ?"
                " AND status IN (?, ?, ?) GROUP BY currency",
                (investor_id, instrument_id, *states),
            ).fetchall()
        )
        if not rows:
            return None
        if len(rows) > 1:
            raise CurrencyMismatch(f"orders of {investor_id} in {instrument_id} mix currencies")
        return Money(int(rows[0][1]), rows[0][0])


# --- positions --------------------------------------------------------------------------------------


class SqlitePositions(_Repository):
    async def units(self, investor_id: str, instrument_id: str) -> int:
        row = await self._run(
            lambda conn: conn.execute(
                "SELECT units FROM positions WHERE instrument_id = ? AND investor_id = ?", (instrument_id, investor_id)
            ).fetchone()
        )
        return 0 if row is None else int(row[0])

    async def add_units(self, investor_id: str, instrument_id: str, delta: int) -> None:
        if not isinstance(delta, int) or isinstance(delta, bool):
            raise ValidationFailed(f"a position changes by whole units, got {delta!r}")

        def add(conn: Conn) -> None:
            if delta >= 0:
                conn.execute(
                    "INSERT INTO positions (instrument_id, investor_id, units) VALUES (?, ?, ?)"
                    " ON CONFLICT (instrument_id, investor_id) DO UPDATE SET units = units + excluded.units",
                    (instrument_id, investor_id, delta),
                )
                return
            cursor = conn.execute(
                "UPDATE positions SET units = units + ? WHERE instrument_id = ? AND investor_id = ? AND units >= ?",
                (delta, instrument_id, investor_id, -delta),
            )
            if cursor.rowcount == 0:
                raise Conflict(f"{investor_id} holds fewer than {-delta} units of {instrument_id}")

        await self._run(add)

    async def holders(self, instrument_id: str) -> list[Position]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT investor_id, units FROM positions WHERE instrument_id = ? AND units > 0 ORDER BY investor_id",
                (instrument_id,),
            ).fetchall()
        )
        return [Position(investor_id=r[0], instrument_id=instrument_id, units=r[1]) for r in rows]

    async def by_investor(self, investor_id: str) -> list[Position]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT instrument_id, units FROM positions WHERE investor_id = ? AND units > 0 ORDER BY instrument_id",
                (investor_id,),
            ).fetchall()
        )
        return [Position(investor_id=investor_id, instrument_id=r[0], units=r[1]) for r in rows]


# --- repayments -----------------------------------------------------------------------------------


def _repayment(row: Any) -> Repayment:
    repayment = from_dict(Repayment, loads(row[0]))
    repayment.version = row[1]
    return repayment


def _write_holdbacks(conn: Conn, repayment: Repayment) -> None:
    conn.execute("DELETE FROM repayment_holdbacks WHERE repayment_id = ?", (repayment.id,))
    held = sorted({a.investor_id for a in repayment.allocations if a.status is AllocationStatus.HELD_BACK})
    conn.executemany(
        "INSERT INTO repayment_holdbacks (investor_id, repayment_id) VALUES (?, ?)",
        [(investor_id, repayment.id) for investor_id in held],
    )


class SqliteRepayments(_Repository):
    _SELECT = "SELECT data, version FROM repayments"

    async def add(self, repayment: Repayment) -> None:
        events, now = list(repayment.events), self._uow.now()

        def add(conn: Conn) -> None:
            _insert(
                conn,
                "INSERT INTO repayments (id, version, instrument_id, created_at, data) VALUES (?, ?, ?, ?, ?)",
                (
                    repayment.id,
                    repayment.version,
                    repayment.instrument_id,
                    format_timestamp(repayment.created_at),
                    _data(repayment, "version"),
                ),
                f"repayment {repayment.id}",
            )
            _write_holdbacks(conn, repayment)
            append_events(conn, events, now)

        await self._run(add)
        del repayment.events[: len(events)]

    async def save(self, repayment: Repayment) -> None:
        events, now, version = list(repayment.events), self._uow.now(), repayment.version

        def save(conn: Conn) -> None:
            cursor = conn.execute(
                "UPDATE repayments SET version = version + 1, instrument_id = ?, created_at = ?, data = ?"
                " WHERE id = ? AND version = ?",
                (
                    repayment.instrument_id,
                    format_timestamp(repayment.created_at),
                    _data(repayment, "version"),
                    repayment.id,
                    version,
                ),
            )
            if cursor.rowcount == 0:
                _check_version(
                    conn, "repayments", repayment.id, version, RepaymentNotFound(f"no repayment {repayment.id}")
                )
            _write_holdbacks(conn, repayment)
            append_events(conn, events, now)

        await self._run(save)
        repayment.version = version + 1
        del repayment.events[: len(events)]

    async def get(self, repayment_id: str) -> Repayment:
        row = await self._run(lambda conn: conn.execute(f"{self._SELECT} WHERE id = ?", (repayment_id,)).fetchone())
        if row is None:
            raise RepaymentNotFound(f"no repayment {repayment_id}")
        return _repayment(row)

    async def by_instrument(self, instrument_id: str) -> list[Repayment]:
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE instrument_id = ? ORDER BY created_at, id", (instrument_id,)
            ).fetchall()
        )
        return [_repayment(row) for row in rows]

    async def held_back_for(self, investor_id: str) -> list[Repayment]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT r.data, r.version FROM repayment_holdbacks h JOIN repayments r ON r.id = h.repayment_id"
                " WHERE h.investor_id = ? ORDER BY r.created_at, r.id",
                (investor_id,),
            ).fetchall()
        )
        return [_repayment(row) for row in rows]


# --- withdrawals ---------------------------------------------------------------------------------------


def _withdrawal(row: Any) -> Withdrawal:
    withdrawal = from_dict(Withdrawal, loads(row[0]))
    withdrawal.version = row[1]
    return withdrawal


class SqliteWithdrawals(_Repository):
    _SELECT = "SELECT data, version FROM withdrawals"

    async def add(self, withdrawal: Withdrawal) -> None:
        events, now = list(withdrawal.events), self._uow.now()

        def add(conn: Conn) -> None:
            _insert(
                conn,
                "INSERT INTO withdrawals (id, version, investor_id, created_at, data) VALUES (?, ?, ?, ?, ?)",
                (
                    withdrawal.id,
                    withdrawal.version,
                    withdrawal.investor_id,
                    format_timestamp(withdrawal.created_at),
                    _data(withdrawal, "version"),
                ),
                f"withdrawal {withdrawal.id}",
            )
            append_events(conn, events, now)

        await self._run(add)
        del withdrawal.events[: len(events)]

    async def save(self, withdrawal: Withdrawal) -> None:
        events, now, version = list(withdrawal.events), self._uow.now(), withdrawal.version

        def save(conn: Conn) -> None:
            cursor = conn.execute(
                "UPDATE withdrawals SET version = version + 1, investor_id = ?, created_at = ?, data = ?"
                " WHERE id = ? AND version = ?",
                (
                    withdrawal.investor_id,
                    format_timestamp(withdrawal.created_at),
                    _data(withdrawal, "version"),
                    withdrawal.id,
                    version,
                ),
            )
            if cursor.rowcount == 0:
                _check_version(conn, "withdrawals", withdrawal.id, version, NotFound(f"no withdrawal {withdrawal.id}"))
            append_events(conn, events, now)

        await self._run(save)
        withdrawal.version = version + 1
        del withdrawal.events[: len(events)]

    async def get(self, withdrawal_id: str) -> Withdrawal:
        row = await self._run(lambda conn: conn.execute(f"{self._SELECT} WHERE id = ?", (withdrawal_id,)).fetchone())
        if row is None:
            raise NotFound(f"no withdrawal {withdrawal_id}")
        return _withdrawal(row)

    async def by_investor(self, investor_id: str) -> list[Withdrawal]:
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE investor_id = ? ORDER BY created_at, id", (investor_id,)
            ).fetchall()
        )
        return [_withdrawal(row) for row in rows]


# --- events ------------------------------------------------------------------------------------------


class SqliteEventLog(_Repository):
    async def list(
        self, aggregate_id: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[StoredEvent]:
        sql = "SELECT id, name, aggregate_id, occurred_at, payload FROM events WHERE id > ?"
        params: list[Any] = [after or ""]
        if aggregate_id is not None:
            sql += " AND aggregate_id = ?"
            params.append(aggregate_id)
        sql += " ORDER BY id LIMIT ?"
        params.append(max(limit, 0))
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [
            StoredEvent(id=r[0], name=r[1], aggregate_id=r[2], occurred_at=parse_timestamp(r[3]), payload=loads(r[4]))
            for r in rows
        ]
