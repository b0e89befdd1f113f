"""The SQLite repositories of the unit of work: one per aggregate, with the table-driven write path
(`_Aggregates`) they share, and the event log. (About 730 lines: the SQL of one schema stays
together, so a column change is made in one file; each repository is short.)"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

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
from drexfy.adapters.sqlite.audit import append_audit
from drexfy.domain.audit import AuditContext, AuditRecord, current_context
from drexfy.domain.deposit import Deposit
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
    COMMITTED_ORDER_STATES,
    RESERVING,
    Allocation,
    Instrument,
    Investor,
    Order,
    OrderStatus,
    Position,
    Repayment,
    Withdrawal,
    WithdrawalStatus,
    check_positive_units,
)
from drexfy.domain.money import Money
from drexfy.domain.ports import StoredEvent

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from drexfy.adapters.sqlite.uow import SqliteUnitOfWork

T = TypeVar("T")
Conn = sqlite3.Connection

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


def append_events(conn: Conn, events: Iterable[DomainEvent], now: datetime, context: AuditContext) -> list[str]:
    """Persist events, queue the notify ones in the outbox and chain an audit entry for each, as
    `context`'s (same transaction)."""
    ids = []
    records = []
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
        records.append(AuditRecord.of_event(event, event_id, now, context))
    append_audit(conn, records)
    return ids


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


class _Aggregate(Protocol):
    id: str
    version: int
    events: list[DomainEvent]


A = TypeVar("A", bound=_Aggregate)


class _Aggregates(_Repository, Generic[A]):
    """The write path of one kind of aggregate, declared rather than written per table.

    Every aggregate table holds the aggregate as JSON (`data`) beside its `version` and a few
    indexed columns. `add` inserts; `save` is a compare-and-set on the version (a stale copy is a
    Conflict, a missing row the kind's NotFound); both append the aggregate's pending events to the
    log (and the notify ones to the outbox) in the same transaction, then clear them."""

    TABLE: ClassVar[str]
    #: Indexed columns beside `data`, written on add and save (values from `columns`).
    COLUMNS: ClassVar[tuple[str, ...]] = ()
    #: Columns written on add only (the instrument's unit counters change only through conditional
    #: updates); kept out of `data`.
    COUNTERS: ClassVar[tuple[str, ...]] = ()

    def columns(self, aggregate: A) -> tuple[Any, ...]:
        """The values of COLUMNS for `aggregate`, in order."""
        return ()

    def describe(self, aggregate: A) -> str:
        return f"{self.TABLE[:-1]} {aggregate.id}"

    def not_found(self, aggregate_id: str) -> NotFound:
        return NotFound(f"no {self.TABLE[:-1]} {aggregate_id}")

    def also(self, conn: Conn, aggregate: A) -> None:
        """Writes that accompany every add and save of the aggregate (same transaction)."""

    def refused(self, aggregate: A, exc: sqlite3.IntegrityError) -> Exception:
        """The domain error for a save that breaks a constraint."""
        return ValidationFailed(f"{self.describe(aggregate)} breaks a store constraint: {exc}")

    def _data(self, aggregate: A) -> str:
        return _data(aggregate, "version", *self.COUNTERS)

    async def add(self, aggregate: A) -> None:
        events, now, context = list(aggregate.events), self._uow.now(), current_context()
        names = ("id", "version", *self.COLUMNS, *self.COUNTERS, "data")
        values = (
            aggregate.id,
            aggregate.version,
            *self.columns(aggregate),
            *(getattr(aggregate, name) for name in self.COUNTERS),
            self._data(aggregate),
        )
        sql = f"INSERT INTO {self.TABLE} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608

        def add(conn: Conn) -> None:
            _insert(conn, sql, values, self.describe(aggregate))
            self.also(conn, aggregate)
            append_events(conn, events, now, context)

        await self._run(add)
        del aggregate.events[: len(events)]

    async def save(self, aggregate: A) -> None:
        events, now, version = list(aggregate.events), self._uow.now(), aggregate.version
        context = current_context()
        assignments = "".join(f", {name} = ?" for name in (*self.COLUMNS, "data"))
        sql = f"UPDATE {self.TABLE} SET version = version + 1{assignments} WHERE id = ? AND version = ?"  # noqa: S608
        values = (*self.columns(aggregate), self._data(aggregate), aggregate.id, version)

        def save(conn: Conn) -> None:
            try:
                cursor = conn.execute(sql, values)
            except sqlite3.IntegrityError as exc:
                raise self.refused(aggregate, exc) from exc
            if cursor.rowcount == 0:
                _check_version(conn, self.TABLE, aggregate.id, version, self.not_found(aggregate.id))
            self.also(conn, aggregate)
            append_events(conn, events, now, context)

        await self._run(save)
        aggregate.version = version + 1
        del aggregate.events[: len(events)]


# --- investors ---------------------------------------------------------------------------------------


def _investor(row: Any) -> Investor:
    investor = from_dict(Investor, loads(row[0]))
    investor.version = row[1]
    return investor


class SqliteInvestors(_Aggregates[Investor]):
    TABLE = "investors"
    COLUMNS = ("applicant_id", "address", "email")
    _SELECT = "SELECT data, version FROM investors"

    def columns(self, investor: Investor) -> tuple[Any, ...]:
        return (investor.applicant_id, investor.wallet.address if investor.wallet else None, investor.email)

    def not_found(self, investor_id: str) -> NotFound:
        return InvestorNotFound(f"no investor {investor_id}")

    async def get(self, investor_id: str) -> Investor:
        found = await self.find(investor_id)
        if found is None:
            raise InvestorNotFound(f"no investor {investor_id}")
        return found

    async def find(self, investor_id: str) -> Investor | None:
        return await self._one(f"{self._SELECT} WHERE id = ?", (investor_id,))

    async def get_many(self, investor_ids: Sequence[str]) -> dict[str, Investor]:
        ids = list(dict.fromkeys(investor_ids))
        found: dict[str, Investor] = {}
        for start in range(0, len(ids), 500):  # SQLite binds at most 999 parameters by default
            chunk = ids[start : start + 500]
            sql = f"{self._SELECT} WHERE id IN ({', '.join('?' * len(chunk))})"

            def read(conn: Conn, sql: str = sql, chunk: list[str] = chunk) -> list[Any]:
                return conn.execute(sql, chunk).fetchall()

            found.update((i.id, i) for i in map(_investor, await self._run(read)))
        return found

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


class SqliteInstruments(_Aggregates[Instrument]):
    TABLE = "instruments"
    COLUMNS = ("symbol", "total_units")
    COUNTERS = _COUNTERS
    _SELECT = "SELECT data, version, units_sold, units_reserved, units_retired FROM instruments"

    def columns(self, instrument: Instrument) -> tuple[Any, ...]:
        return (instrument.symbol, instrument.total_units)

    def describe(self, instrument: Instrument) -> str:
        return f"instrument {instrument.id} (symbol {instrument.symbol})"

    def not_found(self, instrument_id: str) -> NotFound:
        return InstrumentNotFound(f"no instrument {instrument_id}")

    def refused(self, instrument: Instrument, exc: sqlite3.IntegrityError) -> Exception:
        if _is_unique_violation(exc):
            return DuplicateEntity(f"another instrument has symbol {instrument.symbol}")
        return Conflict(f"instrument {instrument.id}: total units below units sold and reserved")

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
        check_positive_units(units)

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


class SqliteOrders(_Aggregates[Order]):
    TABLE = "orders"
    COLUMNS = ("investor_id", "instrument_id", "status", "created_at", "expires_at", "amount_minor", "currency")
    _SELECT = "SELECT data, version FROM orders"

    def columns(self, order: Order) -> tuple[Any, ...]:
        return (
            order.investor_id,
            order.instrument_id,
            order.status.value,
            format_timestamp(order.created_at),
            format_timestamp(order.expires_at),
            order.amount.minor,
            order.amount.currency,
        )

    def not_found(self, order_id: str) -> NotFound:
        return OrderNotFound(f"no order {order_id}")

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

    async def refund_due(self, limit: int = 100) -> list[Order]:
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE status = ? ORDER BY created_at, id LIMIT ?",
                (OrderStatus.REFUND_DUE.value, max(limit, 0)),
            ).fetchall()
        )
        return [_order(row) for row in rows]

    async def committed_amount(self, investor_id: str, instrument_id: str) -> Money | None:
        states = sorted(s.value for s in COMMITTED_ORDER_STATES)
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


def _allocation(row: Any) -> Allocation:
    return from_dict(Allocation, loads(row[0]))


class SqliteRepayments(_Aggregates[Repayment]):
    """Repayments, and their shares as rows of `repayment_allocations` written in the same
    transaction as the repayment (the repayment's version guards them)."""

    TABLE = "repayments"
    COLUMNS = ("instrument_id", "created_at")
    _SELECT = "SELECT data, version FROM repayments"

    def __init__(self, uow: SqliteUnitOfWork) -> None:
        super().__init__(uow)
        self._rows: Sequence[Allocation] = ()

    def columns(self, repayment: Repayment) -> tuple[Any, ...]:
        return (repayment.instrument_id, format_timestamp(repayment.created_at))

    def not_found(self, repayment_id: str) -> NotFound:
        return RepaymentNotFound(f"no repayment {repayment_id}")

    def also(self, conn: Conn, repayment: Repayment) -> None:
        conn.executemany(
            "INSERT INTO repayment_allocations (repayment_id, investor_id, status, data) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (repayment_id, investor_id) DO UPDATE SET status = excluded.status, data = excluded.data",
            [(repayment.id, a.investor_id, a.status.value, dumps(to_dict(a))) for a in self._rows],
        )

    async def add(self, repayment: Repayment, allocations: Sequence[Allocation] = ()) -> None:
        self._rows = allocations
        try:
            await super().add(repayment)
        finally:
            self._rows = ()

    async def save(self, repayment: Repayment, allocations: Sequence[Allocation] = ()) -> None:
        self._rows = allocations
        try:
            await super().save(repayment)
        finally:
            self._rows = ()

    async def get(self, repayment_id: str) -> Repayment:
        row = await self._run(lambda conn: conn.execute(f"{self._SELECT} WHERE id = ?", (repayment_id,)).fetchone())
        if row is None:
            raise RepaymentNotFound(f"no repayment {repayment_id}")
        return _repayment(row)

    async def allocation(self, repayment_id: str, investor_id: str) -> Allocation:
        row = await self._run(
            lambda conn: conn.execute(
                "SELECT data FROM repayment_allocations WHERE repayment_id = ? AND investor_id = ?",
                (repayment_id, investor_id),
            ).fetchone()
        )
        if row is None:
            raise RepaymentNotFound(f"repayment {repayment_id} has no share for {investor_id}")
        return _allocation(row)

    async def allocations(
        self, repayment_id: str, *, after: str = "", upto: str | None = None, limit: int = 1000
    ) -> list[Allocation]:
        bound, params = ("AND investor_id <= ?", (upto,)) if upto is not None else ("", ())
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT data FROM repayment_allocations WHERE repayment_id = ? AND investor_id > ?"  # noqa: S608
                f" {bound} ORDER BY investor_id LIMIT ?",
                (repayment_id, after, *params, limit),
            ).fetchall()
        )
        return [_allocation(row) for row in rows]

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
                "SELECT r.data, r.version FROM repayment_allocations a JOIN repayments r ON r.id = a.repayment_id"
                " WHERE a.investor_id = ? AND a.status = 'HELD_BACK' ORDER BY r.created_at, r.id",
                (investor_id,),
            ).fetchall()
        )
        return [_repayment(row) for row in rows]

    async def snapshot(self, repayment: Repayment, allocations: Sequence[Allocation]) -> None:
        # One transaction: an unfinished snapshot leaves no shares behind to replace.
        await self.save(repayment, allocations)


# --- withdrawals ---------------------------------------------------------------------------------------


def _withdrawal(row: Any) -> Withdrawal:
    withdrawal = from_dict(Withdrawal, loads(row[0]))
    withdrawal.version = row[1]
    return withdrawal


class SqliteWithdrawals(_Aggregates[Withdrawal]):
    TABLE = "withdrawals"
    COLUMNS = ("investor_id", "created_at", "status")
    _SELECT = "SELECT data, version FROM withdrawals"

    def columns(self, withdrawal: Withdrawal) -> tuple[Any, ...]:
        return (withdrawal.investor_id, format_timestamp(withdrawal.created_at), withdrawal.status.value)

    async def payable(self, limit: int = 100) -> list[Withdrawal]:
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE status = ? ORDER BY created_at, id LIMIT ?",
                (WithdrawalStatus.BURNED.value, max(limit, 0)),
            ).fetchall()
        )
        return [_withdrawal(row) for row in rows]

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


# --- deposits ------------------------------------------------------------------------------------------


def _deposit(row: Any) -> Deposit:
    deposit = from_dict(Deposit, loads(row[0]))
    deposit.version = row[1]
    return deposit


class SqliteDeposits(_Aggregates[Deposit]):
    TABLE = "deposits"
    COLUMNS = ("status", "investor_id")
    _SELECT = "SELECT data, version FROM deposits"

    def columns(self, deposit: Deposit) -> tuple[Any, ...]:
        return (deposit.status.value, deposit.investor_id)

    async def find(self, deposit_id: str) -> Deposit | None:
        row = await self._run(lambda conn: conn.execute(f"{self._SELECT} WHERE id = ?", (deposit_id,)).fetchone())
        return None if row is None else _deposit(row)

    async def get(self, deposit_id: str) -> Deposit:
        found = await self.find(deposit_id)
        if found is None:
            raise NotFound(f"no deposit {deposit_id}")
        return found

    async def with_status(self, status: str, limit: int = 100, after: str | None = None) -> list[Deposit]:
        rows = await self._run(
            lambda conn: conn.execute(
                f"{self._SELECT} WHERE status = ? AND id > ? ORDER BY id LIMIT ?", (status, after or "", max(limit, 0))
            ).fetchall()
        )
        return [_deposit(row) for row in rows]


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
