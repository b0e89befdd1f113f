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
from drexfy.adapters.dynamodb.audit import HEAD_PK as AUDIT_HEAD_PK
from drexfy.adapters.dynamodb.audit import AuditHeadMoved
from drexfy.adapters.dynamodb.repositories import (
    DynamoDeposits,
    DynamoEventLog,
    DynamoInstruments,
    DynamoInvestors,
    DynamoOrders,
    DynamoPositions,
    DynamoRepayments,
    DynamoWithdrawals,
)
from drexfy.adapters.dynamodb.table import Item, Table, key, names_in, to_av
from drexfy.adapters.serialization import dumps, format_timestamp, new_sortable_id, outbox_message
from drexfy.domain.audit import AuditContext, AuditEntry, AuditRecord, current_context
from drexfy.domain.errors import Conflict, DomainError, ValidationFailed
from drexfy.domain.events import DomainEvent

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
        self._events: list[tuple[str, DomainEvent, AuditContext]] = []
        #: Audit entries for actions that changed no aggregate (`DynamoAuditLog.append`).
        self.audit_records: list[AuditRecord] = []
        #: Rows too many for a transaction, written before it (`bulk`).
        self._bulk: list[Item] = []
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
        self.deposits = DynamoDeposits(self)

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
        self.audit_records.clear()
        self._bulk.clear()
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

    def bulk(self, items: Iterable[Item]) -> None:
        """Rows that only become reachable through an item this unit of work adds (a repayment's
        shares under its new id): written with BatchWriteItem just before the transaction, so any
        number fit. If the transaction then fails they stay behind under an id that never committed,
        which no read reaches. (They are not deleted: a commit whose answer was lost may have
        succeeded, and deleting would then destroy a committed repayment's shares.)"""
        self._check()
        self._bulk.extend(items)

    def collect(self, events: Iterable[DomainEvent]) -> None:
        context = current_context()  # who made the change, read where it is made
        for event in events:
            self._events.append((new_sortable_id("evt"), event, context))

    def record(self, event: DomainEvent) -> None:
        """Persist a free-standing event (and queue it if it notifies) when the unit commits."""
        self._check()
        self.collect([event])

    # --- commit --------------------------------------------------------------------------------

    def _event_writes(self, now: datetime) -> list[Write]:
        writes: list[Write] = []
        for event_id, event, _ in self._events:
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
        await self.commit_audited()

    async def commit_audited(self) -> list[AuditEntry]:
        """`commit()`, returning the audit entries it appended (one per event, then `audit_records`):
        chained on the log's head, which moves in the same transaction (see `dynamodb/audit.py`)."""
        self._check()
        now = self.now()
        writes = list(self._writes.values())
        events = self._event_writes(now)
        records = [AuditRecord.of_event(e, event_id, now, context) for event_id, e, context in self._events]
        records += self.audit_records
        bulk, self._bulk = self._bulk, []
        self._writes.clear()
        self._events.clear()
        self.audit_records = []
        if not writes and not events and not records:
            self._reservations.clear()
            return []
        if bulk:
            await self.table.batch_write(puts=bulk)
        return await self._store.audit.commit_with(records, lambda audit: self._commit(writes, events + audit))

    async def _commit(self, writes: list[Write], events: list[Write]) -> None:
        business = [w for w in writes + events if w.business]  # the audit head's move is one
        rest = [w for w in writes if not w.business] + [w for w in events if not w.business]
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
        if any(w.key[0] == AUDIT_HEAD_PK for w in writes):
            raise AuditHeadMoved("concurrent appends to the audit log; chaining again")
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
