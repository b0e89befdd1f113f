"""The DynamoDB repositories of the unit of work: one per aggregate (stored whole as JSON under
PK = <prefix>#<id>, with the shared add/save/get of `_Aggregates`), positions and the event log.
Reads overlay the unit of work's pending writes; writes are collected by the unit of work and
committed in one transaction (see `uow.py`). (About 660 lines: the key design of the single table
stays together, so an access pattern is changed in one file; each repository is short.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from drexfy.adapters.dynamodb.table import Item
from drexfy.adapters.serialization import (
    dumps,
    format_timestamp,
    from_dict,
    loads,
    parse_timestamp,
    to_dict,
)
from drexfy.domain.deposit import Deposit
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
from drexfy.domain.model import (
    COMMITTED_ORDER_STATES,
    Allocation,
    AllocationStatus,
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
    from drexfy.adapters.dynamodb.uow import DynamoUnitOfWork


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

    async def get_many(self, investor_ids: Sequence[str]) -> dict[str, Investor]:
        keys = [(self.pk(i), "A") for i in dict.fromkeys(investor_ids)]
        items = {(str(i["PK"]), str(i["SK"])): i for i in await self.table.batch_get(keys)}
        found: dict[str, Investor] = {}
        for pk, sk in keys:
            pending = self.uow.pending(pk, sk)
            if pending is not None and (pending.put is not None or pending.delete):
                current = pending.apply(None)
            else:
                current = self.uow.overlay(items.get((pk, sk)), pk, sk)
            if current is not None:
                investor = self.load(current)
                found[investor.id] = investor
        return found

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
        # the CREATED ones, every order holding reserved units, for reconciliation), REFUND_DUE
        # orders by creation (money owed back); none else.
        if order.status is OrderStatus.CREATED:
            gsi2: tuple[str | None, str | None] = ("ORDEXP", f"{format_timestamp(order.expires_at)}#{order.id}")
        elif order.status is OrderStatus.PAID:
            gsi2 = ("ORDPAID", f"{created}#{order.id}")
        elif order.status is OrderStatus.REFUND_DUE:
            gsi2 = ("ORDREFUND", f"{created}#{order.id}")  # the refund sweep
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

    async def refund_due(self, limit: int = 100) -> list[Order]:
        if limit <= 0:
            return []
        found = await self.query("#a_GSI2PK = :p", {":p": "ORDREFUND"}, "GSI2", limit)
        return [o for o in found if o.status is OrderStatus.REFUND_DUE]

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
    """A repayment's shares are items `ALLOC#<repayment id>` / `<investor id>` (so a page of them is
    one Query in investor-id order); a held-back share also has a pointer item
    `HELD#<investor id>` / `<repayment id>`, kept in step. A new repayment's shares are written in
    bulk before its transaction (`uow.bulk`): any number of holders fit."""

    prefix, cls, kind, not_found = "REP", Repayment, "repayment", RepaymentNotFound

    def attributes(self, repayment: Repayment) -> Item:
        return {
            "instrument_id": repayment.instrument_id,
            "GSI1PK": f"INSREP#{repayment.instrument_id}",
            "GSI1SK": f"{format_timestamp(repayment.created_at)}#{repayment.id}",
        }

    @staticmethod
    def _row(repayment_id: str, allocation: Allocation) -> Item:
        return {
            "PK": f"ALLOC#{repayment_id}",
            "SK": allocation.investor_id,
            "type": "allocation",
            "status": allocation.status.value,
            "data": dumps(to_dict(allocation)),
        }

    def _load_allocation(self, item: Item) -> Allocation:
        return from_dict(Allocation, loads(item["data"]))

    async def add(self, repayment: Repayment, allocations: Sequence[Allocation] = ()) -> None:
        await super().add(repayment)
        self.uow.bulk(self._row(repayment.id, a) for a in allocations)
        for allocation in allocations:
            self._held(repayment.id, allocation)

    async def save(self, repayment: Repayment, allocations: Sequence[Allocation] = ()) -> None:
        await super().save(repayment)
        for allocation in allocations:
            write = self.uow.write(f"ALLOC#{repayment.id}", allocation.investor_id)
            write.delete = False
            write.put = self._row(repayment.id, allocation)
            self._held(repayment.id, allocation)

    def _held(self, repayment_id: str, allocation: Allocation) -> None:
        """Keep the investor's HELD# pointer in step with the share's status."""
        if allocation.status is AllocationStatus.HELD_BACK:
            write = self.uow.write(f"HELD#{allocation.investor_id}", repayment_id)
            write.delete = False
            write.put = {"PK": f"HELD#{allocation.investor_id}", "SK": repayment_id, "type": "holdback"}
        elif allocation.status is AllocationStatus.RELEASED:
            write = self.uow.write(f"HELD#{allocation.investor_id}", repayment_id)
            write.put = None
            write.delete = True

    async def allocation(self, repayment_id: str, investor_id: str) -> Allocation:
        item = await self.uow.current(f"ALLOC#{repayment_id}", investor_id)
        if item is None:
            raise RepaymentNotFound(f"repayment {repayment_id} has no share for {investor_id}")
        return self._load_allocation(item)

    async def allocations(
        self, repayment_id: str, *, after: str = "", upto: str | None = None, limit: int = 1000
    ) -> list[Allocation]:
        partition = f"ALLOC#{repayment_id}"
        values: Item = {":p": partition}
        if after and upto is not None:
            condition, values[":a"], values[":u"] = "#a_PK = :p AND #a_SK BETWEEN :a AND :u", after, upto
        elif after:
            condition, values[":a"] = "#a_PK = :p AND #a_SK > :a", after
        elif upto is not None:
            condition, values[":u"] = "#a_PK = :p AND #a_SK <= :u", upto
        else:
            condition = "#a_PK = :p"
        # BETWEEN includes `after`; ask for one more and drop it.
        items = await self.table.query_items(condition, values, limit=limit + 1)
        out = []
        for item in items:
            if item["SK"] == after:
                continue
            current = self.uow.overlay(item, item["PK"], item["SK"])
            if current is not None:
                out.append(self._load_allocation(current))
        return out[:limit]

    async def by_instrument(self, instrument_id: str) -> list[Repayment]:
        return await self.query("#a_GSI1PK = :p", {":p": f"INSREP#{instrument_id}"}, "GSI1")

    async def held_back_for(self, investor_id: str) -> list[Repayment]:
        pointers = await self.table.query_items("#a_PK = :p", {":p": f"HELD#{investor_id}"})
        found = []
        for pointer in pointers:
            if self.uow.overlay(pointer, pointer["PK"], pointer["SK"]) is None:
                continue
            repayment = await self.find(str(pointer["SK"]))
            if repayment is not None:
                found.append(repayment)
        found.sort(key=lambda r: (r.created_at, r.id))
        return found

    async def snapshot(self, repayment: Repayment, allocations: Sequence[Allocation]) -> None:
        """The shares go in bulk before the repayment's transaction (like `add`). An earlier attempt
        whose transaction failed after its bulk write left shares behind: those of holders no
        longer in the snapshot are deleted first (the rest are overwritten)."""
        await super().save(repayment)
        kept = {a.investor_id for a in allocations}
        leftovers = await self.table.query_items("#a_PK = :p", {":p": f"ALLOC#{repayment.id}"})
        stale = [(str(i["PK"]), str(i["SK"])) for i in leftovers if i["SK"] not in kept]
        if stale:
            await self.table.batch_write(deletes=stale)
        self.uow.bulk(self._row(repayment.id, a) for a in allocations)


class DynamoWithdrawals(_Aggregates):
    prefix, cls, kind, not_found = "WDR", Withdrawal, "withdrawal", NotFound

    def attributes(self, withdrawal: Withdrawal) -> Item:
        # Sparse GSI2: BURNED withdrawals (owed, not in a transfer file yet) for the payout file.
        payable = withdrawal.status is WithdrawalStatus.BURNED
        return {
            "GSI1PK": f"INVWDR#{withdrawal.investor_id}",
            "GSI1SK": f"{format_timestamp(withdrawal.created_at)}#{withdrawal.id}",
            "GSI2PK": "WDPAY" if payable else None,
            "GSI2SK": f"{format_timestamp(withdrawal.created_at)}#{withdrawal.id}" if payable else None,
        }

    async def payable(self, limit: int = 100) -> list[Withdrawal]:
        if limit <= 0:
            return []
        found = await self.query("#a_GSI2PK = :p", {":p": "WDPAY"}, "GSI2", limit)
        return [w for w in found if w.status is WithdrawalStatus.BURNED]

    async def by_investor(self, investor_id: str) -> list[Withdrawal]:
        return await self.query("#a_GSI1PK = :p", {":p": f"INVWDR#{investor_id}"}, "GSI1")


class DynamoDeposits(_Aggregates):
    prefix, cls, kind, not_found = "DEP", Deposit, "deposit", NotFound

    def attributes(self, deposit: Deposit) -> Item:
        # GSI2: deposits by status, in id order (the operators' list, the mints still due).
        return {"GSI2PK": f"DEPST#{deposit.status.value}", "GSI2SK": deposit.id}

    async def with_status(self, status: str, limit: int = 100, after: str | None = None) -> list[Deposit]:
        if limit <= 0:
            return []
        condition, values = _after("GSI2", f"DEPST#{status}", after)
        found = await self.query(condition, values, "GSI2", limit)
        return [d for d in found if d.status.value == status]


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
