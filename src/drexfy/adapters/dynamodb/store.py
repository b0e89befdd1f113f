"""`DynamoStore`: the DynamoDB implementation of `drexfy.domain.ports.Store` (single table).

Units of work are in `uow.py`. The queues, the operation journal and the idempotency records write
directly, one conditional request each (or one small transaction). Every failure to reach DynamoDB,
after botocore's bounded retries with backoff, raises `StoreUnavailable` (transient): the caller's
job waits and is retried; nothing falls back to another store.

Factory::

    store = await create_dynamo_store(table_name="drexfy", region="eu-west-1", endpoint_url=None,
                                      create_table=False)
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from drexfy.adapters.aws import AwsSettings, call, error_code
from drexfy.adapters.dynamodb.errors import StoreFailure, StoreUnavailable, translate
from drexfy.adapters.dynamodb.schema import create_table
from drexfy.adapters.dynamodb.table import Item, Table, key, names_in, to_av
from drexfy.adapters.dynamodb.uow import DynamoUnitOfWork, Write
from drexfy.adapters.serialization import (
    dumps,
    format_optional_timestamp,
    format_timestamp,
    loads,
    parse_optional_timestamp,
    parse_timestamp,
)
from drexfy.adapters.system import SystemClock
from drexfy.domain.errors import DomainError, IllegalTransition, NotFound, ValidationFailed
from drexfy.domain.ports import (
    IN_PROGRESS,
    Clock,
    IdempotentResponse,
    JournalEntry,
    JournalStatus,
    MessageStatus,
    QueuedMessage,
)

__all__ = ["DynamoStore", "StoreUnavailable", "create_dynamo_store"]

log = logging.getLogger(__name__)


class DynamoQueue:
    """One queue (inbox or outbox). Items: the message (PK Q#<queue>#<id>) and a key guard
    (PK QKEY#<queue>#<key>) written together, so a key is accepted once. GSI1 lists by status;
    GSI2 (sparse) holds claimable messages sorted by due time: '' (now), the retry time, or the
    lease end of a RUNNING one."""

    def __init__(self, table: Table, name: str, before_claim: Callable[[], Awaitable[object]] | None = None) -> None:
        self.table = table
        self.name = name
        self._before_claim = before_claim

    def pk(self, message_id: str) -> str:
        return f"Q#{self.name}#{message_id}"

    def _indexes(self, status: MessageStatus, created: str, message_id: str, due: str | None) -> Item:
        claimable = status in (MessageStatus.PENDING, MessageStatus.RUNNING)
        return {
            "status": status.value,
            "GSI1PK": f"QS#{self.name}#{status.value}",
            "GSI1SK": f"{created}#{message_id}",
            "GSI2PK": f"QDUE#{self.name}" if claimable else None,
            "GSI2SK": f"{due or ''}#{created}#{message_id}" if claimable else None,
        }

    def item(self, message: QueuedMessage) -> Item:
        created = format_timestamp(message.created_at)
        return {
            "PK": self.pk(message.id),
            "SK": "A",
            "type": "message",
            "queue": self.name,
            "id": message.id,
            "key": message.key,
            "kind": message.kind,
            "payload": dumps(message.payload),
            "created_at": created,
            "attempts": message.attempts,
            "next_attempt_at": format_optional_timestamp(message.next_attempt_at),
            "last_error": message.last_error,
            **self._indexes(message.status, created, message.id, format_optional_timestamp(message.next_attempt_at)),
        }

    def writes_for(self, message: QueuedMessage) -> list[Write]:
        """The two puts of a new message, for a unit of work's transaction (the outbox)."""
        guard = Write((f"QKEY#{self.name}#{message.key}", "L"), business=False)
        guard.put = {"PK": f"QKEY#{self.name}#{message.key}", "SK": "L", "type": "queue-key", "target": message.id}
        body = Write((self.pk(message.id), "A"), business=False)
        body.put = self.item(message)
        return [guard, body]

    @staticmethod
    def _message(item: Item) -> QueuedMessage:
        return QueuedMessage(
            id=item["id"],
            key=item["key"],
            kind=item["kind"],
            payload=loads(item["payload"]),
            created_at=parse_timestamp(item["created_at"]),
            status=MessageStatus(item["status"]),
            attempts=int(item["attempts"]),
            next_attempt_at=parse_optional_timestamp(item.get("next_attempt_at")),
            last_error=item.get("last_error"),
        )

    async def add(self, message: QueuedMessage) -> bool:
        writes = self.writes_for(message)
        for write in writes:
            write.must_not_exist = True
        items = [w.compile(self.table.name) for w in writes]
        try:
            # A random token only makes botocore's own retries of this call idempotent. A token
            # derived from the key would make a *duplicate* delivery look new (True) in AWS.
            await self.table.transact(items, token=uuid.uuid4().hex)
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException":
                return False
            if isinstance(exc, DomainError):
                raise
            raise translate(exc, "queue add") from None
        return True

    async def claim(self, now: datetime, limit: int, lease_seconds: int) -> list[QueuedMessage]:
        if limit <= 0:
            return []
        if lease_seconds <= 0:
            raise ValidationFailed("lease_seconds must be positive")
        if self._before_claim is not None:
            await self._before_claim()  # outbox: messages still packed by a crashed commit
        lease_end = format_timestamp(now + timedelta(seconds=lease_seconds))
        claimed: list[QueuedMessage] = []
        start: dict[str, Any] | None = None
        # Page through due messages until we hold `limit`: under contention other workers take
        # some of the first ones, and we move on past them.
        # Two ranges of the due index: first what has waited for a time (retries due, leases run
        # out: the job of a worker that died may hold the ledger's oldest nonce), then new messages
        # (sort key "#..."). New first would starve a lapsed lease under a steady inflow.
        for low, high in (("0", format_timestamp(now) + "$"), ("#", "#~")):
            start = None
            while len(claimed) < limit:
                due, start = await self.table.query_page(
                    "#a_GSI2PK = :p AND #a_GSI2SK BETWEEN :a AND :b",
                    {":p": f"QDUE#{self.name}", ":a": low, ":b": high},
                    index="GSI2",
                    limit=max(limit * 2, 10),
                    start=start,
                )
                for item in due:
                    if len(claimed) >= limit:
                        break
                    message = await self._take(item, lease_end)
                    if message is not None:
                        claimed.append(message)
                if start is None:
                    break
        claimed.sort(key=lambda m: (m.created_at, m.id))
        return claimed

    async def _take(self, item: Item, lease_end: str) -> QueuedMessage | None:
        """Mark one due message RUNNING unless someone else did meanwhile (its due key changed)."""
        indexes = self._indexes(MessageStatus.RUNNING, item["created_at"], item["id"], lease_end)
        updated = await self.table.update(
            item["PK"],
            "A",
            "SET #a_status = :s, #a_next_attempt_at = :n, #a_GSI1PK = :g1, #a_GSI2SK = :g2 ADD #a_attempts :one",
            {
                ":s": "RUNNING",
                ":n": lease_end,
                ":g1": indexes["GSI1PK"],
                ":g2": indexes["GSI2SK"],
                ":one": 1,
                ":old": item["GSI2SK"],
            },
            condition="#a_GSI2SK = :old",
        )
        return None if updated is None else self._message(updated)

    async def _set(
        self,
        message_id: str,
        status: MessageStatus,
        due: str | None,
        fields: Item,
        condition: str = "attribute_exists(#a_PK)",
        extra: Item | None = None,
    ) -> Item:
        current = await self.table.get(self.pk(message_id))
        if current is None:
            raise NotFound(f"no {self.name} message {message_id}")
        indexes = self._indexes(status, current["created_at"], message_id, due)
        sets = {k: v for k, v in {**fields, **indexes}.items() if v is not None}
        removes = [k for k, v in {**fields, **indexes}.items() if v is None]
        values = {f":v{i}": v for i, v in enumerate(sets.values())}
        expression = "SET " + ", ".join(f"#a_{k} = :v{i}" for i, k in enumerate(sets))
        if removes:
            expression += " REMOVE " + ", ".join(f"#a_{k}" for k in removes)
        updated = await self.table.update(self.pk(message_id), "A", expression, {**values, **(extra or {})}, condition)
        if updated is None:
            raise IllegalTransition(f"{self.name} message {message_id} changed state meanwhile")
        return updated

    async def complete(self, message_id: str) -> None:
        await self._set(message_id, MessageStatus.DONE, None, {"next_attempt_at": None})

    async def retry_later(self, message_id: str, error: str, at: datetime) -> None:
        stamp = format_timestamp(at)
        await self._set(message_id, MessageStatus.PENDING, stamp, {"last_error": error, "next_attempt_at": stamp})

    async def dead(self, message_id: str, error: str) -> None:
        await self._set(message_id, MessageStatus.DEAD, None, {"last_error": error, "next_attempt_at": None})

    async def requeue(self, message_id: str, now: datetime) -> None:
        current = await self.get(message_id)
        if current.status is not MessageStatus.DEAD:
            raise IllegalTransition(
                f"{self.name} message {message_id} is {current.status.value}, only DEAD messages are requeued"
            )
        stamp = format_timestamp(now)
        await self._set(
            message_id,
            MessageStatus.PENDING,
            stamp,
            {"attempts": 0, "next_attempt_at": stamp},
            condition="#a_status = :dead",
            extra={":dead": "DEAD"},
        )

    async def get(self, message_id: str) -> QueuedMessage:
        item = await self.table.get(self.pk(message_id))
        if item is None:
            raise NotFound(f"no {self.name} message {message_id}")
        return self._message(item)

    async def list(self, status: MessageStatus | None = None, limit: int = 100) -> list[QueuedMessage]:
        if limit <= 0:
            return []
        statuses = [status] if status is not None else list(MessageStatus)
        found: list[QueuedMessage] = []
        for each in statuses:
            items = await self.table.query_items(
                "#a_GSI1PK = :p", {":p": f"QS#{self.name}#{each.value}"}, index="GSI1", limit=limit
            )
            found.extend(self._message(i) for i in items)
        found.sort(key=lambda m: (m.created_at, m.id))
        return found[:limit]

    async def counts(self) -> dict[MessageStatus, int]:
        counts = {}
        for status in MessageStatus:
            result = await self.table.query(
                "#a_GSI1PK = :p", {":p": f"QS#{self.name}#{status.value}"}, index="GSI1", count_only=True
            )
            assert isinstance(result, int)
            counts[status] = result
        return counts

    async def purge_done(self, before: datetime, limit: int = 500) -> int:
        items = await self.table.query_items(
            "#a_GSI1PK = :p AND #a_GSI1SK < :b",
            {":p": f"QS#{self.name}#{MessageStatus.DONE.value}", ":b": format_timestamp(before)},
            index="GSI1",
            limit=max(limit, 0),
        )
        purged = 0
        for item in items:
            done = "#a_status = :done"
            deletes = [
                {
                    "Delete": {
                        "TableName": self.table.name,
                        "Key": key(item["PK"]),
                        "ConditionExpression": done,
                        "ExpressionAttributeNames": names_in(done),
                        "ExpressionAttributeValues": to_av({":done": MessageStatus.DONE.value}),
                    }
                },
                {"Delete": {"TableName": self.table.name, "Key": key(f"QKEY#{self.name}#{item['key']}", "L")}},
            ]
            try:
                await self.table.transact(deletes, None)
            except Exception as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                continue  # requeued meanwhile (the index lags): keep it
            purged += 1
        return purged


def _put(table: Table, item: Item, condition: str) -> dict[str, Any]:
    """A conditional Put for TransactWriteItems."""
    return {
        "Put": {
            "TableName": table.name,
            "Item": to_av(item),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names_in(condition),
        }
    }


class DynamoJournal:
    """Journal entries (PK JRN#<op id>; GSI1 lists the unfinished ones of a ledger) and account
    sequences (PK SEQ#<account>: the counter at SK A, compare-and-set, and the number each claim
    was given at SK C#<claim>)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    @staticmethod
    def _item(entry: JournalEntry) -> Item:
        open_ = entry.status in (JournalStatus.PREPARED, JournalStatus.SUBMITTED)
        created = format_timestamp(entry.created_at)
        return {
            "PK": f"JRN#{entry.op_id}",
            "SK": "A",
            "type": "journal",
            "op_id": entry.op_id,
            "ledger": entry.ledger,
            "fingerprint": entry.fingerprint,
            "status": entry.status.value,
            "created_at": created,
            "account": entry.account,
            "sequence": entry.sequence,
            "tx_id": entry.tx_id,
            "payload": entry.payload,
            "result": dumps(entry.result),
            "updated_at": format_optional_timestamp(entry.updated_at),
            "GSI1PK": f"JOPEN#{entry.ledger}" if open_ else None,
            "GSI1SK": f"{created}#{entry.op_id}" if open_ else None,
        }

    @staticmethod
    def _entry(item: Item) -> JournalEntry:
        sequence = item.get("sequence")
        return JournalEntry(
            op_id=item["op_id"],
            ledger=item["ledger"],
            fingerprint=item["fingerprint"],
            status=JournalStatus(item["status"]),
            created_at=parse_timestamp(item["created_at"]),
            account=item.get("account"),
            sequence=None if sequence is None else int(sequence),
            tx_id=item.get("tx_id"),
            payload=item.get("payload"),
            result=loads(item["result"]),
            updated_at=parse_optional_timestamp(item.get("updated_at")),
        )

    async def get(self, op_id: str) -> JournalEntry | None:
        item = await self.table.get(f"JRN#{op_id}")
        return None if item is None else self._entry(item)

    async def create(self, entry: JournalEntry) -> bool:
        return await self.table.put(self._item(entry), "attribute_not_exists(#a_PK)")

    async def update(self, entry: JournalEntry) -> None:
        if not await self.table.put(self._item(entry), "attribute_exists(#a_PK)"):
            raise NotFound(f"no journal entry for operation {entry.op_id}")

    async def record_signed(self, entry: JournalEntry) -> JournalEntry:
        if await self.table.put(self._item(entry), "attribute_exists(#a_PK) AND attribute_not_exists(#a_payload)"):
            return entry
        stored = await self.get(entry.op_id)  # another preparer signed first (or there is no entry)
        if stored is None:
            raise NotFound(f"no journal entry for operation {entry.op_id}")
        return stored

    async def replace_signed(self, entry: JournalEntry, previous_tx_id: str) -> JournalEntry:
        if await self.table.put(self._item(entry), "#a_tx_id = :prev", {":prev": previous_tx_id}):
            return entry
        stored = await self.get(entry.op_id)  # another process replaced it first (or there is no entry)
        if stored is None:
            raise NotFound(f"no journal entry for operation {entry.op_id}")
        return stored

    async def allocate_sequence(self, account: str, chain_next: int, claim: str) -> int:
        """The claim's number if it has one; else max(chain_next, last + 1), written together with
        the claim in one transaction conditioned on the counter it read (retried on a race)."""
        pk, claim_sk = f"SEQ#{account}", f"C#{claim}"
        for attempt in range(64):
            held = await self.table.get(pk, claim_sk)
            if held is not None:
                return int(held["sequence"])
            counter = await self.table.get(pk)
            last = None if counter is None else int(counter["last"])
            value = chain_next if last is None else max(chain_next, last + 1)
            claim_item = {"PK": pk, "SK": claim_sk, "type": "sequence_claim", "claim": claim, "sequence": value}
            if last is None:
                bump = _put(
                    self.table, {"PK": pk, "SK": "A", "type": "sequence", "last": value}, "attribute_not_exists(#a_PK)"
                )
            else:
                bump = {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": key(pk),
                        "UpdateExpression": "SET #a_last = :next",
                        "ConditionExpression": "#a_last = :seen",
                        "ExpressionAttributeNames": names_in("#a_last"),
                        "ExpressionAttributeValues": to_av({":next": value, ":seen": last}),
                    }
                }
            try:
                await self.table.transact([_put(self.table, claim_item, "attribute_not_exists(#a_PK)"), bump], None)
            except Exception as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                # The counter moved or the claim appeared: read both again, after a jittered pause
                # so that racers spread out instead of colliding again.
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 16)))
                continue
            return value
        raise StoreUnavailable(f"sequence of {account} is contended; retry")

    async def held_sequence(self, account: str, claim: str) -> int | None:
        held = await self.table.get(f"SEQ#{account}", f"C#{claim}")
        return None if held is None else int(held["sequence"])

    async def unfinished(self, ledger: str) -> list[JournalEntry]:
        items = await self.table.query_items("#a_GSI1PK = :p", {":p": f"JOPEN#{ledger}"}, index="GSI1")
        return [self._entry(i) for i in items]


class DynamoIdempotency:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def get(self, scope: str, key: str) -> IdempotentResponse | None:
        item = await self.table.get(f"IDEM#{scope}#{key}")
        if item is None:
            return None
        return IdempotentResponse(
            scope=scope,
            key=key,
            request_hash=item["request_hash"],
            status=int(item["status"]),
            body=loads(item["body"]),
            created_at=parse_timestamp(item["created_at"]),
        )

    async def put(self, response: IdempotentResponse) -> bool:
        return await self.table.put(self._item(response), "attribute_not_exists(#a_PK)")

    @staticmethod
    def _item(response: IdempotentResponse) -> Item:
        created = format_timestamp(response.created_at)
        return {
            "PK": f"IDEM#{response.scope}#{response.key}",
            "SK": "A",
            "type": "idempotency",
            "request_hash": response.request_hash,
            "status": response.status,
            "body": dumps(response.body),
            "created_at": created,
            # GSI1 lists every record by age, for `purge`.
            "GSI1PK": "IDEM",
            "GSI1SK": f"{created}#{response.scope}#{response.key}",
        }

    async def begin(
        self, scope: str, key: str, request_hash: str, now: datetime, lease: timedelta
    ) -> IdempotentResponse | None:
        reservation = IdempotentResponse(scope, key, request_hash, IN_PROGRESS, {}, now)
        taken = await self.table.put(
            self._item(reservation),
            "attribute_not_exists(#a_PK) OR (#a_status = :open AND #a_created_at <= :stale)",
            {":open": IN_PROGRESS, ":stale": format_timestamp(now - lease)},
        )
        if taken:
            return None
        stored = await self.get(scope, key)
        # Gone in between (the other attempt abandoned it): report it as still running; the
        # client's retry reserves it.
        return stored or reservation

    async def finish(self, response: IdempotentResponse) -> None:
        await self.table.put(self._item(response), "#a_status = :open", {":open": IN_PROGRESS})

    async def abandon(self, scope: str, key: str) -> None:
        await self.table.delete(f"IDEM#{scope}#{key}", condition="#a_status = :open", values={":open": IN_PROGRESS})

    async def purge(self, before: datetime, limit: int = 500) -> int:
        items = await self.table.query_items(
            "#a_GSI1PK = :p AND #a_GSI1SK < :b",
            {":p": "IDEM", ":b": format_timestamp(before)},
            index="GSI1",
            limit=max(limit, 0),
        )
        purged = 0
        for item in items:
            # Unless a new attempt took the key over meanwhile (it would have a new created_at).
            if await self.table.delete(item["PK"], condition="#a_created_at = :c", values={":c": item["created_at"]}):
                purged += 1
        return purged


class EventBatches:
    """Event and outbox items that did not fit in a unit of work's transaction travel packed in
    "event batch" items (PK EVTBATCH#<id>, GSI1 `EVTBATCH`), committed with the business change.

    `unpack` writes each packed item with `attribute_not_exists` (so an outbox message that a worker
    already claimed is never reset) and then deletes the batch; it is idempotent, so `recover` can
    redo it after a crash at any point.
    """

    #: DynamoDB items hold 400 KB; leave room for the attribute names and keys.
    MAX_BYTES = 300_000

    def __init__(self, table: Table) -> None:
        self.table = table

    def pack(self, items: list[Item]) -> list[Write]:
        batches: list[list[Item]] = [[]]
        size = 0
        for item in items:
            item_size = len(dumps(item))
            if batches[-1] and size + item_size > self.MAX_BYTES:
                batches.append([])
                size = 0
            batches[-1].append(item)
            size += item_size
        writes = []
        for packed in batches:
            batch_id = f"evb_{uuid.uuid4().hex}"
            write = Write((f"EVTBATCH#{batch_id}", "A"))
            write.put = {
                "PK": f"EVTBATCH#{batch_id}",
                "SK": "A",
                "type": "event-batch",
                "items": dumps(packed),
                "GSI1PK": "EVTBATCH",
                "GSI1SK": batch_id,
            }
            write.must_not_exist = True
            writes.append(write)
        return writes

    async def unpack(self, pk: str) -> None:
        batch = await self.table.get(pk)
        if batch is None:
            return
        for item in loads(batch["items"]):
            await self.table.put(item, "attribute_not_exists(#a_PK)")  # False = already there: fine
        await self.table.delete(pk)

    async def unpack_quietly(self, pks: list[str]) -> None:
        """After a commit: failures here are repaired by `recover`, never reported to the caller
        (the unit of work *did* commit)."""
        for pk in pks:
            try:
                await self.unpack(pk)
            except DomainError:
                log.warning("event batch %s left for recovery", pk)

    async def recover(self, limit: int = 10) -> int:
        """Unpack batches a crashed process left behind; returns how many."""
        pending = await self.table.query_items("#a_GSI1PK = :p", {":p": "EVTBATCH"}, index="GSI1", limit=limit)
        for batch in pending:
            await self.unpack(batch["PK"])
        return len(pending)


class DynamoStore:
    """The Store over one DynamoDB table (see docs/aws.md for the item layout)."""

    def __init__(self, client: Any, table_name: str, clock: Clock | None = None) -> None:
        self.client = client
        self.table = Table(client, table_name)
        self.clock = clock or SystemClock()
        self.event_batches = EventBatches(self.table)
        self.inbox = DynamoQueue(self.table, "inbox")
        self.outbox = DynamoQueue(self.table, "outbox", before_claim=self.event_batches.recover)
        self.journal = DynamoJournal(self.table)
        self.idempotency = DynamoIdempotency(self.table)

    def __repr__(self) -> str:
        return f"DynamoStore(table={self.table.name!r})"

    def unit_of_work(self) -> DynamoUnitOfWork:
        return DynamoUnitOfWork(self)

    async def ping(self) -> None:
        await self.table.describe()

    async def close(self) -> None:
        self.client.close()

    async def init_table(self) -> bool:
        """Create the table if missing (what `drexfy store init` runs). True if created now."""
        try:
            return await call(create_table, client=self.client, table_name=self.table.name)
        except Exception as exc:
            raise translate(exc, "CreateTable") from None


async def create_dynamo_store(
    *,
    table_name: str,
    region: str = "eu-west-1",
    endpoint_url: str | None = None,
    clock: Clock | None = None,
    create_table: bool = False,
    settings: AwsSettings | None = None,
) -> DynamoStore:
    """Build the store from config values; checks the table exists (or creates it when asked)."""
    settings = settings or AwsSettings(region=region, endpoint_url=endpoint_url)
    store = DynamoStore(settings.client("dynamodb"), table_name, clock)
    if create_table:
        await store.init_table()
    try:
        await store.ping()
    except StoreFailure as exc:
        raise StoreFailure(f"table {table_name!r} is not usable ({exc.message}); run `drexfy store init`") from exc
    return store
