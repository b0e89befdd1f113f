"""The DynamoDB unit of work: reads go to the table (strongly consistent where the key is known);
writes are collected and flushed at `commit()` in one TransactWriteItems, so an aggregate, its events
and their outbox rows change together or not at all.

Semantics, next to the SQLite unit of work (which is a real database transaction):

- Every write is *conditional* at commit: `attribute_not_exists` for adds, `version = :seen` for saves
  (optimistic concurrency), counters only within bounds (no overselling). If someone else got there
  first, the whole transaction is cancelled and `commit()` raises DuplicateEntity / Conflict / SoldOut.
- The same errors are raised *early* too, when the call happens (a consistent read checks the
  version, the existence or the units left), so the processes see them where SQLite raises them; the
  commit-time condition is what makes them hold under concurrency.
- Reads by key inside a unit of work see its own pending writes (the pending change is applied to
  the item read). Queries (by investor, holders, ...) read the table and overlay pending changes on
  the items they return; items added in this unit of work and not committed yet are not found by
  queries. Global secondary indexes are eventually consistent in AWS (moto is immediate): a query
  right after another process's commit may miss it; lookups that must be exact (by id, symbol,
  KYC applicant, wallet address) go through the primary key.
- Two changes to one item in one unit of work are merged into one transaction item (DynamoDB refuses
  two operations on the same item in one transaction).
- TransactWriteItems takes at most 100 items. When the business items plus the event/outbox items
  do not fit, the event/outbox items are packed into a few "event batch" items that commit in the
  same transaction and are unpacked into their own items right after (idempotently, and again by
  `EventBatches.recover` after a crash). More than ~99 business items is refused.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import random
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import attrs

from drexfy.adapters.aws import error_code
from drexfy.adapters.dynamodb.table import Item, Table, key, names_in, to_av
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
    DomainError,
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
    AllocationStatus,
    Instrument,
    Investor,
    Order,
    OrderStatus,
    Position,
    Repayment,
    Withdrawal,
    check_positive_units,
)
from drexfy.domain.money import Money
from drexfy.domain.ports import StoredEvent

if TYPE_CHECKING:
    from drexfy.adapters.dynamodb.store import DynamoStore

log = logging.getLogger(__name__)

MAX_TRANSACTION_ITEMS = 100
#: Attempts of a transaction cancelled by a *conflict* with another transaction (not a condition).
CONFLICT_ATTEMPTS = 5
Key = tuple[str, str]
_placeholders = itertools.count()


# --- pending writes ----------------------------------------------------------------------------------


@attrs.define
class Write:
    """All changes this unit of work makes to one item, merged; compiled to one transaction item."""

    key: Key
    put: Item | None = None  # a whole new item (add)
    sets: Item = attrs.field(factory=dict)
    adds: dict[str, int] = attrs.field(factory=dict)  # counters: ADD attr :delta
    removes: set[str] = attrs.field(factory=set)
    delete: bool = False
    expect_version: int | None = None
    must_exist: bool = False
    must_not_exist: bool = False
    #: Lower bounds checked at commit on counters with a net decrease: attr >= -net.
    bounded: set[str] = attrs.field(factory=set)
    on_fail: Callable[[], DomainError] = lambda: Conflict("the store changed underneath this unit of work")
    business: bool = True

    def apply(self, item: Item | None) -> Item | None:
        """The item as it will be once this write commits."""
        if self.delete:
            return None
        result = copy.deepcopy(self.put) if self.put is not None else copy.deepcopy(item)
        if result is None:
            if not (self.sets or self.adds):
                return None
            pk, sk = self.key
            result = {"PK": pk, "SK": sk}
        result.update(copy.deepcopy(self.sets))
        for attr, delta in self.adds.items():
            result[attr] = int(result.get(attr, 0)) + delta
        for attr in self.removes - {a for a, v in self.sets.items() if v is not None}:
            result.pop(attr, None)
        for attr in [a for a, v in result.items() if v is None]:
            del result[attr]
        return result

    def compile(self, table: str) -> dict[str, Any]:
        pk, sk = self.key
        if self.delete:
            return {"Delete": {"TableName": table, "Key": key(pk, sk)}}
        if self.put is not None:
            item = self.apply(None)
            assert item is not None
            put: dict[str, Any] = {"TableName": table, "Item": to_av(item)}
            if self.must_not_exist:
                put["ConditionExpression"] = "attribute_not_exists(#a_PK)"
                put["ExpressionAttributeNames"] = {"#a_PK": "PK"}
            return {"Put": put}
        values: Item = {}
        clauses_set, clauses_add, conditions = [], [], []
        for attr, value in self.sets.items():
            if value is None:
                self.removes.add(attr)
                continue
            n = next(_placeholders)
            clauses_set.append(f"#a_{attr} = :s{n}")
            values[f":s{n}"] = value
        for attr, delta in self.adds.items():
            n = next(_placeholders)
            clauses_add.append(f"#a_{attr} :d{n}")
            values[f":d{n}"] = delta
            if attr in self.bounded and delta < 0:
                conditions.append(f"#a_{attr} >= :b{n}")
                values[f":b{n}"] = -delta
        if self.expect_version is not None:
            n = next(_placeholders)
            conditions.append(f"#a_version = :v{n}")
            values[f":v{n}"] = self.expect_version
        if self.must_exist:
            conditions.append("attribute_exists(#a_PK)")
        expression = ""
        if clauses_set:
            expression += "SET " + ", ".join(clauses_set)
        if clauses_add:
            expression += " ADD " + ", ".join(clauses_add)
        removes = [f"#a_{attr}" for attr in sorted(self.removes - set(self.sets) - set(self.adds))]
        removes += [f"#a_{a}" for a, v in self.sets.items() if v is None]
        if removes:
            expression += " REMOVE " + ", ".join(sorted(set(removes)))
        update: dict[str, Any] = {"TableName": table, "Key": key(pk, sk), "UpdateExpression": expression.strip()}
        condition = " AND ".join(conditions)
        if condition:
            update["ConditionExpression"] = condition
        names = names_in(expression, condition)
        if names:
            update["ExpressionAttributeNames"] = names
        if values:
            update["ExpressionAttributeValues"] = to_av(values)
        return {"Update": update}


class _Contended(Exception):
    """A transaction was cancelled because another one touched the same items at the same time."""


def _cancellation_codes(exc: BaseException) -> list[str]:
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [str(r.get("Code", "None")) for r in reasons]


# --- the unit of work ---------------------------------------------------------------------------------


class DynamoUnitOfWork:
    """`async with store.unit_of_work() as uow: ...; await uow.commit()` (see the module docstring)."""

    def __init__(self, store: DynamoStore) -> None:
        self._store = store
        self.table: Table = store.table
        self._writes: dict[Key, Write] = {}
        self._events: list[tuple[str, DomainEvent]] = []
        #: Reservations applied at once (reserve_units); undone if the unit ends without commit.
        self._reservations: list[tuple[str, int]] = []
        self._entered = False
        self.investors = DynamoInvestors(self)
        self.instruments = DynamoInstruments(self)
        self.orders = DynamoOrders(self)
        self.positions = DynamoPositions(self)
        self.repayments = DynamoRepayments(self)
        self.withdrawals = DynamoWithdrawals(self)
        self.events = DynamoEventLog(self)

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a unit of work cannot be entered twice")
        self._entered = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._writes.clear()
        self._events.clear()
        self._entered = False
        reservations, self._reservations = self._reservations, []
        for instrument_id, units in reservations:
            await self._release_reservation(instrument_id, units)

    def reserved(self, instrument_id: str, units: int) -> None:
        self._reservations.append((instrument_id, units))

    async def _release_reservation(self, instrument_id: str, units: int) -> None:
        try:
            await self.table.update(
                f"INS#{instrument_id}",
                "A",
                "ADD #a_units_reserved :neg, #a_units_available :u",
                {":u": units, ":neg": -units},
                condition="#a_units_reserved >= :u",
            )
        except Exception:
            # The units stay reserved (never oversold, possibly undersold) until reconciliation.
            log.exception("could not release %s units of %s after a rollback", units, instrument_id)

    def _check(self) -> None:
        if not self._entered:
            raise RuntimeError("use the unit of work as `async with store.unit_of_work() as uow:`")

    def now(self) -> datetime:
        return self._store.clock.now()

    # --- pending state -------------------------------------------------------------------------

    def write(self, pk: str, sk: str = "A") -> Write:
        self._check()
        found = self._writes.get((pk, sk))
        if found is None:
            found = self._writes[(pk, sk)] = Write((pk, sk))
        return found

    def pending(self, pk: str, sk: str = "A") -> Write | None:
        return self._writes.get((pk, sk))

    def overlay(self, item: Item | None, pk: str, sk: str = "A") -> Item | None:
        pending = self._writes.get((pk, sk))
        return item if pending is None else pending.apply(item)

    async def current(self, pk: str, sk: str = "A") -> Item | None:
        """The item as this unit of work sees it: the table's, with pending changes applied."""
        self._check()
        pending = self._writes.get((pk, sk))
        if pending is not None and (pending.put is not None or pending.delete):
            return pending.apply(None)
        return self.overlay(await self.table.get(pk, sk), pk, sk)

    def collect(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            self._events.append((new_sortable_id("evt"), event))

    def record(self, event: DomainEvent) -> None:
        """Persist a free-standing event (and queue it if it notifies) when the unit commits."""
        self._check()
        self.collect([event])

    # --- commit --------------------------------------------------------------------------------

    def _event_writes(self, now: datetime) -> list[Write]:
        writes: list[Write] = []
        for event_id, event in self._events:
            stamp = format_timestamp(event.occurred_at)
            writes.append(
                Write(
                    (f"EVT#{event_id}", "A"),
                    put={
                        "PK": f"EVT#{event_id}",
                        "SK": "A",
                        "type": "event",
                        "id": event_id,
                        "name": event.name,
                        "aggregate_id": event.aggregate_id,
                        "occurred_at": stamp,
                        "payload": dumps(event.payload()),
                        "GSI1PK": f"AGG#{event.aggregate_id}",
                        "GSI1SK": event_id,
                        "GSI2PK": "EVTLOG",
                        "GSI2SK": event_id,
                    },
                    business=False,
                )
            )
            if type(event).notify:
                writes.extend(self._store.outbox.writes_for(outbox_message(event_id, event, now)))
        return writes

    async def commit(self) -> None:
        """Flush every pending write atomically (see the module docstring for > 100 items)."""
        self._check()
        writes = list(self._writes.values())
        events = self._event_writes(self.now())
        self._writes.clear()
        self._events.clear()
        if not writes and not events:
            self._reservations.clear()
            return
        business = [w for w in writes if w.business]
        rest = [w for w in writes if not w.business] + events
        if len(business) + len(rest) <= MAX_TRANSACTION_ITEMS:
            await self._transact(business + rest)
            self._reservations.clear()
            return
        # Too many items for one transaction: the event/outbox items travel packed in "event batch"
        # items inside the business transaction (so they commit with it, atomically), and are
        # unpacked right after into their own items. A crash before that is repaired by
        # `EventBatches.recover` (run before every outbox claim).
        batches = self._store.event_batches.pack([w.apply(None) or {} for w in rest])
        if len(business) + len(batches) > MAX_TRANSACTION_ITEMS:
            raise ValidationFailed(
                f"a unit of work changes {len(business)} records; a DynamoDB transaction takes at most "
                f"{MAX_TRANSACTION_ITEMS} (with DynamoDB keep processes.distribution_batch_size below "
                f"{MAX_TRANSACTION_ITEMS - 5})"
            )
        await self._transact(business + batches)
        self._reservations.clear()
        await self._store.event_batches.unpack_quietly([w.key[0] for w in batches])

    async def _transact(self, writes: list[Write]) -> None:
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                await self._transact_once(writes)
                return
            except _Contended:
                # Conditions are checked again on the next attempt, so retrying is safe.
                await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))
        raise Conflict("concurrent transactions kept touching the same records; retry")

    async def _transact_once(self, writes: list[Write]) -> None:
        items = [w.compile(self.table.name) for w in writes]
        try:
            if len(items) == 1 and "Put" in items[0] and "ConditionExpression" not in items[0]["Put"]:
                await self.table.put({k: v for k, v in (writes[0].apply(None) or {}).items()})
                return
            # The token makes botocore's retry of a timed-out commit idempotent (for 10 minutes).
            await self.table.transact(items, token=uuid.uuid4().hex)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise writes[0].on_fail() from None
            if error_code(exc) != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(exc)
            for write, code in zip(writes, codes, strict=False):
                if code == "ConditionalCheckFailed":
                    raise write.on_fail() from None
            if any(code == "TransactionConflict" for code in codes):
                raise _Contended from None
            raise Conflict(f"the transaction was cancelled: {codes or 'no reasons given'}") from None


# --- repositories -------------------------------------------------------------------------------------


class _Repo:
    def __init__(self, uow: DynamoUnitOfWork) -> None:
        self.uow = uow
        self.table = uow.table


def _after(index: str, partition: str, after: str | None) -> tuple[str, Item]:
    """Key condition for a keyset page: the partition, and sort keys after `after` if given (an empty
    string is not a valid key value, so "from the start" omits the bound)."""
    if after:
        return f"#a_{index}PK = :p AND #a_{index}SK > :a", {":p": partition, ":a": after}
    return f"#a_{index}PK = :p", {":p": partition}


def _data(aggregate: Any, *drop: str) -> str:
    data = to_dict(aggregate)
    for name in ("version", *drop):
        data.pop(name, None)
    return dumps(data)


class _Aggregates(_Repo):
    """Shared add/save/get for aggregates stored whole as JSON under PK = <prefix>#<id>."""

    prefix = ""
    cls: type[Any] = object
    kind = ""
    not_found: type[NotFound] = NotFound

    def pk(self, aggregate_id: str) -> str:
        return f"{self.prefix}#{aggregate_id}"

    def attributes(self, aggregate: Any) -> Item:
        """Index and lookup attributes next to `data`."""
        return {}

    def load(self, item: Item) -> Any:
        data = loads(item["data"])
        data["version"] = int(item["version"])
        return from_dict(self.cls, data)

    def data(self, aggregate: Any) -> str:
        return _data(aggregate)

    async def extra_writes(self, aggregate: Any, before: Item | None) -> None:
        """Pointer items kept in step with the aggregate (same transaction)."""

    async def add(self, aggregate: Any) -> None:
        pk = self.pk(aggregate.id)
        what = f"{self.kind} {aggregate.id}"
        if await self.uow.current(pk) is not None:
            raise DuplicateEntity(f"{what} already exists")
        write = self.uow.write(pk)
        write.put = {
            "PK": pk,
            "SK": "A",
            "type": self.kind,
            "version": aggregate.version,
            "data": self.data(aggregate),
            **self.attributes(aggregate),
        }
        write.must_not_exist = True
        write.on_fail = lambda: DuplicateEntity(f"{what} already exists")
        await self.extra_writes(aggregate, None)
        self._drain(aggregate)

    async def save(self, aggregate: Any) -> None:
        pk = self.pk(aggregate.id)
        before = await self.uow.current(pk)
        if before is None:
            raise self.not_found(f"no {self.kind} {aggregate.id}")
        seen = aggregate.version
        if int(before["version"]) != seen:
            raise Conflict(
                f"{self.kind} {aggregate.id} was saved by someone else (version {before['version']}, yours {seen})"
            )
        write = self.uow.write(pk)
        if write.put is None and write.expect_version is None:
            write.expect_version = seen
            write.on_fail = lambda: Conflict(f"{self.kind} {aggregate.id} was saved by someone else")
        write.sets.update({"version": seen + 1, "data": self.data(aggregate), **self.attributes(aggregate)})
        for attr in self.nullable:
            if write.sets.get(attr) is None:
                write.sets.pop(attr, None)
                if write.put is not None:
                    write.put.pop(attr, None)
                else:
                    write.removes.add(attr)
        await self.extra_writes(aggregate, before)
        aggregate.version = seen + 1
        self._drain(aggregate)

    def _drain(self, aggregate: Any) -> None:
        events = getattr(aggregate, "events", None)  # Withdrawal has none
        if events:
            self.uow.collect(events)
            events.clear()

    #: Index attributes that disappear when the aggregate leaves an index (sparse GSIs).
    nullable: tuple[str, ...] = ()

    async def find(self, aggregate_id: str) -> Any | None:
        item = await self.uow.current(self.pk(aggregate_id))
        return None if item is None else self.load(item)

    async def get(self, aggregate_id: str) -> Any:
        found = await self.find(aggregate_id)
        if found is None:
            raise self.not_found(f"no {self.kind} {aggregate_id}")
        return found

    async def query(self, condition: str, values: Item, index: str, limit: int | None = None) -> list[Any]:
        items = await self.table.query_items(condition, values, index=index, limit=limit)
        out = []
        for item in items:
            current = self.uow.overlay(item, item["PK"], item["SK"])
            if current is not None:
                out.append(self.load(current))
        return out

    async def _pointer(self, kind: str, value: str | None, old: str | None, target: str, unique: bool = False) -> None:
        """A lookup item `<kind>#<value>` -> target id, written when the value changes."""
        if value == old:
            return
        if old is not None:
            self.uow.write(f"{kind}#{old}", "L").delete = True
        if value is not None:
            write = self.uow.write(f"{kind}#{value}", "L")
            write.delete = False
            write.put = {"PK": f"{kind}#{value}", "SK": "L", "type": "lookup", "target": target}
            if unique:
                write.must_not_exist = True
                write.on_fail = lambda: DuplicateEntity(f"{kind.lower()} {value} is taken")

    async def _by_pointer(self, kind: str, value: str) -> Any | None:
        pointer = await self.uow.current(f"{kind}#{value}", "L")
        if pointer is None:
            return None
        return await self.find(str(pointer["target"]))


class DynamoInvestors(_Aggregates):
    prefix, cls, kind, not_found = "INV", Investor, "investor", InvestorNotFound

    def attributes(self, investor: Investor) -> Item:
        return {
            "email": investor.email,
            "GSI1PK": f"EMAIL#{investor.email}",
            "GSI1SK": investor.id,
            "GSI2PK": "TYPE#investor",
            "GSI2SK": investor.id,
        }

    async def extra_writes(self, investor: Investor, before: Item | None) -> None:
        old = None if before is None else self.load(before)
        await self._pointer("APPLICANT", investor.applicant_id, old.applicant_id if old else None, investor.id)
        address = investor.wallet.address if investor.wallet else None
        old_address = old.wallet.address if old and old.wallet else None
        await self._pointer("ADDRESS", address, old_address, investor.id)

    async def get_by_applicant(self, applicant_id: str) -> Investor:
        found = await self._by_pointer("APPLICANT", applicant_id)
        if found is None or found.applicant_id != applicant_id:
            raise InvestorNotFound(f"no investor with KYC applicant {applicant_id}")
        return found  # type: ignore[no-any-return]

    async def get_by_address(self, address: str) -> Investor | None:
        found = await self._by_pointer("ADDRESS", address)
        if found is None or found.wallet is None or found.wallet.address != address:
            return None
        return found  # type: ignore[no-any-return]

    async def get_by_email(self, email: str) -> Investor | None:
        found = await self.query("#a_GSI1PK = :p", {":p": f"EMAIL#{email}"}, "GSI1", limit=1)
        return found[0] if found else None

    async def list(self, limit: int = 100, after: str | None = None) -> list[Investor]:
        if limit <= 0:
            return []
        condition, values = _after("GSI2", "TYPE#investor", after)
        return await self.query(condition, values, "GSI2", limit)


_COUNTERS = ("units_sold", "units_reserved", "units_retired")


class DynamoInstruments(_Aggregates):
    """Counters are numeric attributes changed only by conditional ADDs. DynamoDB conditions cannot
    add attributes together, so two derived counters are kept in step: units_available (= total -
    sold - reserved) and units_outstanding (= sold - retired); a condition `units_available >= :n`
    is the no-overselling rule."""

    prefix, cls, kind, not_found = "INS", Instrument, "instrument", InstrumentNotFound

    def attributes(self, instrument: Instrument) -> Item:
        return {"symbol": instrument.symbol, "GSI2PK": "TYPE#instrument", "GSI2SK": instrument.id}

    def data(self, instrument: Instrument) -> str:
        return _data(instrument, *_COUNTERS)

    def load(self, item: Item) -> Instrument:
        data = loads(item["data"])
        data.update(
            version=int(item["version"]),
            units_sold=int(item["units_sold"]),
            units_reserved=int(item["units_reserved"]),
            units_retired=int(item["units_retired"]),
        )
        return from_dict(Instrument, data)

    async def _check_symbol(self, instrument: Instrument) -> None:
        pointer = await self.uow.current(f"SYMBOL#{instrument.symbol}", "L")
        if pointer is not None and pointer["target"] != instrument.id:
            raise DuplicateEntity(f"another instrument has symbol {instrument.symbol}")

    async def add(self, instrument: Instrument) -> None:
        await self._check_symbol(instrument)
        await super().add(instrument)
        write = self.uow.write(self.pk(instrument.id))
        assert write.put is not None
        write.put.update(
            total_units=instrument.total_units,
            units_sold=instrument.units_sold,
            units_reserved=instrument.units_reserved,
            units_retired=instrument.units_retired,
            units_available=instrument.units_available,
            units_outstanding=instrument.units_outstanding,
        )

    async def save(self, instrument: Instrument) -> None:
        await self._check_symbol(instrument)
        before = await self.uow.current(self.pk(instrument.id))
        await super().save(instrument)
        assert before is not None
        delta = instrument.total_units - int(before["total_units"])
        if delta:
            if int(before["units_available"]) + delta < 0:
                raise Conflict(f"instrument {instrument.id}: total units below units sold and reserved")
            write = self.uow.write(self.pk(instrument.id))
            write.sets["total_units"] = instrument.total_units
            write.adds["units_available"] = write.adds.get("units_available", 0) + delta
            write.bounded.add("units_available")

    async def extra_writes(self, instrument: Instrument, before: Item | None) -> None:
        old = None if before is None else str(before["symbol"])
        await self._pointer("SYMBOL", instrument.symbol, old, instrument.id, unique=True)

    async def get_by_symbol(self, symbol: str) -> Instrument | None:
        found = await self._by_pointer("SYMBOL", symbol)
        return found if found is not None and found.symbol == symbol else None

    async def list(self, limit: int = 100, after: str | None = None) -> list[Instrument]:
        if limit <= 0:
            return []
        condition, values = _after("GSI2", "TYPE#instrument", after)
        return await self.query(condition, values, "GSI2", limit)

    async def _counters(
        self, instrument_id: str, units: int, deltas: dict[str, int], refuse: Callable[[Item], DomainError]
    ) -> None:
        check_positive_units(units)
        pk = self.pk(instrument_id)
        item = await self.uow.current(pk)
        if item is None:
            raise InstrumentNotFound(f"no instrument {instrument_id}")
        if any(int(item[attr]) + delta < 0 for attr, delta in deltas.items()):
            raise refuse(item)
        write = self.uow.write(pk)
        for attr, delta in deltas.items():
            write.adds[attr] = write.adds.get(attr, 0) + delta
            write.bounded.add(attr)
        if write.put is None:
            write.must_exist = True
            write.on_fail = lambda: refuse(item)

    async def reserve_units(self, instrument_id: str, units: int) -> None:
        """Applied at once as one conditional UpdateItem (the no-overselling rule holds across
        processes at the moment of the call, as the port promises); released again if this unit of
        work ends without committing. See docs/aws.md for the crash window this leaves."""
        check_positive_units(units)
        pk = self.pk(instrument_id)
        pending = self.uow.pending(pk)
        if pending is not None and pending.put is not None:  # added in this unit of work: not in the table yet
            await self._reserve_deferred(instrument_id, units)
            return
        updated = await self.table.update(
            pk,
            "A",
            "ADD #a_units_reserved :u, #a_units_available :neg",
            {":u": units, ":neg": -units},
            condition="attribute_exists(#a_PK) AND #a_units_available >= :u",
        )
        if updated is None:
            item = await self.uow.current(pk)
            if item is None:
                raise InstrumentNotFound(f"no instrument {instrument_id}")
            raise SoldOut([f"only {item['units_available']} units left, {units} asked"])
        self.uow.reserved(instrument_id, units)

    async def _reserve_deferred(self, instrument_id: str, units: int) -> None:
        await self._counters(
            instrument_id,
            units,
            {"units_reserved": units, "units_available": -units},
            lambda item: SoldOut([f"only {item['units_available']} units left, {units} asked"]),
        )

    async def release_units(self, instrument_id: str, units: int) -> None:
        await self._counters(
            instrument_id,
            units,
            {"units_reserved": -units, "units_available": units},
            lambda item: Conflict(
                f"instrument {instrument_id} has {item['units_reserved']} units reserved, cannot release {units}"
            ),
        )

    async def commit_units(self, instrument_id: str, units: int) -> None:
        await self._counters(
            instrument_id,
            units,
            {"units_reserved": -units, "units_sold": units, "units_outstanding": units},
            lambda item: Conflict(
                f"instrument {instrument_id} has {item['units_reserved']} units reserved, cannot commit {units}"
            ),
        )

    async def retire_units(self, instrument_id: str, units: int) -> None:
        await self._counters(
            instrument_id,
            units,
            {"units_retired": units, "units_outstanding": -units},
            lambda item: Conflict(
                f"instrument {instrument_id} has {item['units_outstanding']} units outstanding, cannot retire {units}"
            ),
        )


class DynamoOrders(_Aggregates):
    prefix, cls, kind, not_found = "ORD", Order, "order", OrderNotFound
    nullable = ("GSI2PK", "GSI2SK")

    def attributes(self, order: Order) -> Item:
        created = format_timestamp(order.created_at)
        # Sparse GSI2: CREATED orders by expiry (the expiry sweep), PAID orders by creation (with
        # the CREATED ones, every order holding reserved units, for reconciliation); none else.
        if order.status is OrderStatus.CREATED:
            gsi2: tuple[str | None, str | None] = ("ORDEXP", f"{format_timestamp(order.expires_at)}#{order.id}")
        elif order.status is OrderStatus.PAID:
            gsi2 = ("ORDPAID", f"{created}#{order.id}")
        else:
            gsi2 = (None, None)
        return {
            "investor_id": order.investor_id,
            "instrument_id": order.instrument_id,
            "status": order.status.value,
            "amount_minor": order.amount.minor,
            "currency": order.amount.currency,
            "GSI1PK": f"INVORD#{order.investor_id}",
            "GSI1SK": f"{created}#{order.id}",
            "GSI2PK": gsi2[0],
            "GSI2SK": gsi2[1],
        }

    async def by_investor(self, investor_id: str) -> list[Order]:
        return await self.query("#a_GSI1PK = :p", {":p": f"INVORD#{investor_id}"}, "GSI1")

    async def expired(self, now: datetime, limit: int = 100) -> list[Order]:
        if limit <= 0:
            return []
        found = await self.query(
            "#a_GSI2PK = :p AND #a_GSI2SK < :b", {":p": "ORDEXP", ":b": format_timestamp(now) + "$"}, "GSI2", limit
        )
        return [o for o in found if o.status is OrderStatus.CREATED and o.expires_at <= now]

    async def reserving(self, instrument_id: str) -> list[Order]:
        """Unpaid and paid-not-settled orders are few at any time (reservations last minutes), so
        both GSI2 partitions are read whole and filtered by instrument."""
        found: list[Order] = []
        for partition in ("ORDEXP", "ORDPAID"):
            found += await self.query("#a_GSI2PK = :p", {":p": partition}, "GSI2")
        return sorted(
            (o for o in found if o.instrument_id == instrument_id and o.reserves_units),
            key=lambda o: (o.created_at, o.id),
        )

    async def committed_amount(self, investor_id: str, instrument_id: str) -> Money | None:
        orders = [
            o
            for o in await self.by_investor(investor_id)
            if o.instrument_id == instrument_id and o.status in COMMITTED_ORDER_STATES
        ]
        if not orders:
            return None
        if len({o.amount.currency for o in orders}) > 1:
            raise CurrencyMismatch(f"orders of {investor_id} in {instrument_id} mix currencies")
        return Money(sum(o.amount.minor for o in orders), orders[0].amount.currency)


class DynamoPositions(_Repo):
    """PK = POS#<instrument>, SK = <investor>: `holders` is one query, ordered by investor id."""

    async def units(self, investor_id: str, instrument_id: str) -> int:
        item = await self.uow.current(f"POS#{instrument_id}", investor_id)
        return 0 if item is None else int(item.get("units", 0))

    async def add_units(self, investor_id: str, instrument_id: str, delta: int) -> None:
        if not isinstance(delta, int) or isinstance(delta, bool):
            raise ValidationFailed(f"a position changes by whole units, got {delta!r}")
        pk = f"POS#{instrument_id}"
        if delta < 0 and await self.units(investor_id, instrument_id) + delta < 0:
            raise Conflict(f"{investor_id} holds fewer than {-delta} units of {instrument_id}")
        write = self.uow.write(pk, investor_id)
        write.adds["units"] = write.adds.get("units", 0) + delta
        write.bounded.add("units")
        write.sets.update(
            type="position",
            investor_id=investor_id,
            instrument_id=instrument_id,
            GSI1PK=f"INVPOS#{investor_id}",
            GSI1SK=instrument_id,
        )
        write.on_fail = lambda: Conflict(f"{investor_id} holds fewer than {-delta} units of {instrument_id}")

    @staticmethod
    def _position(item: Item) -> Position:
        return Position(investor_id=item["investor_id"], instrument_id=item["instrument_id"], units=int(item["units"]))

    async def holders(self, instrument_id: str) -> list[Position]:
        items = await self.table.query_items("#a_PK = :p", {":p": f"POS#{instrument_id}"})
        current = [self.uow.overlay(i, i["PK"], i["SK"]) for i in items]
        return [self._position(i) for i in current if i is not None and int(i.get("units", 0)) > 0]

    async def by_investor(self, investor_id: str) -> list[Position]:
        items = await self.table.query_items("#a_GSI1PK = :p", {":p": f"INVPOS#{investor_id}"}, index="GSI1")
        current = [self.uow.overlay(i, i["PK"], i["SK"]) for i in items]
        return [self._position(i) for i in current if i is not None and int(i.get("units", 0)) > 0]


class DynamoRepayments(_Aggregates):
    """Held-back allocations get a pointer item HELD#<investor> / <repayment id>, kept in step."""

    prefix, cls, kind, not_found = "REP", Repayment, "repayment", RepaymentNotFound

    def attributes(self, repayment: Repayment) -> Item:
        return {
            "instrument_id": repayment.instrument_id,
            "GSI1PK": f"INSREP#{repayment.instrument_id}",
            "GSI1SK": f"{format_timestamp(repayment.created_at)}#{repayment.id}",
        }

    @staticmethod
    def _held(repayment: Repayment | None) -> set[str]:
        if repayment is None:
            return set()
        return {a.investor_id for a in repayment.allocations if a.status is AllocationStatus.HELD_BACK}

    async def extra_writes(self, repayment: Repayment, before: Item | None) -> None:
        old = self._held(None if before is None else self.load(before))
        new = self._held(repayment)
        for investor_id in old - new:
            self.uow.write(f"HELD#{investor_id}", repayment.id).delete = True
        for investor_id in new - old:
            write = self.uow.write(f"HELD#{investor_id}", repayment.id)
            write.delete = False
            write.put = {"PK": f"HELD#{investor_id}", "SK": repayment.id, "type": "holdback"}

    async def by_instrument(self, instrument_id: str) -> list[Repayment]:
        return await self.query("#a_GSI1PK = :p", {":p": f"INSREP#{instrument_id}"}, "GSI1")

    async def held_back_for(self, investor_id: str) -> list[Repayment]:
        pointers = await self.table.query_items("#a_PK = :p", {":p": f"HELD#{investor_id}"})
        found = []
        for pointer in pointers:
            if self.uow.overlay(pointer, pointer["PK"], pointer["SK"]) is None:
                continue
            repayment = await self.find(str(pointer["SK"]))
            if repayment is not None and investor_id in self._held(repayment):
                found.append(repayment)
        found.sort(key=lambda r: (r.created_at, r.id))
        return found


class DynamoWithdrawals(_Aggregates):
    prefix, cls, kind, not_found = "WDR", Withdrawal, "withdrawal", NotFound

    def attributes(self, withdrawal: Withdrawal) -> Item:
        return {
            "GSI1PK": f"INVWDR#{withdrawal.investor_id}",
            "GSI1SK": f"{format_timestamp(withdrawal.created_at)}#{withdrawal.id}",
        }

    async def by_investor(self, investor_id: str) -> list[Withdrawal]:
        return await self.query("#a_GSI1PK = :p", {":p": f"INVWDR#{investor_id}"}, "GSI1")


class DynamoEventLog(_Repo):
    @staticmethod
    def _event(item: Item) -> StoredEvent:
        return StoredEvent(
            id=item["id"],
            name=item["name"],
            aggregate_id=item["aggregate_id"],
            occurred_at=parse_timestamp(item["occurred_at"]),
            payload=loads(item["payload"]),
        )

    async def list(
        self, aggregate_id: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[StoredEvent]:
        if limit <= 0:
            return []
        if aggregate_id is not None:
            index, partition = "GSI1", f"AGG#{aggregate_id}"
        else:
            index, partition = "GSI2", "EVTLOG"
        condition, values = _after(index, partition, after)
        items = await self.table.query_items(condition, values, index=index, limit=limit)
        return [self._event(i) for i in items]
