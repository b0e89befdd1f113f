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

import logging
import uuid
from typing import Any

from drexfy.adapters.aws import AwsSettings, call
from drexfy.adapters.dynamodb.access import DynamoAccessRecords
from drexfy.adapters.dynamodb.audit import ENTRY_PK as AUDIT_ENTRY_PK
from drexfy.adapters.dynamodb.audit import DynamoAuditLog
from drexfy.adapters.dynamodb.errors import StoreFailure, StoreUnavailable, translate
from drexfy.adapters.dynamodb.idempotency import DynamoIdempotency
from drexfy.adapters.dynamodb.journal import DynamoJournal
from drexfy.adapters.dynamodb.queue import DynamoQueue
from drexfy.adapters.dynamodb.schema import create_table
from drexfy.adapters.dynamodb.table import Item, Table
from drexfy.adapters.dynamodb.uow import DynamoUnitOfWork, Write
from drexfy.adapters.dynamodb.upgrade import upgrade
from drexfy.adapters.serialization import dumps, loads
from drexfy.adapters.system import SystemClock
from drexfy.domain.errors import DomainError
from drexfy.domain.ports import Clock

__all__ = ["DynamoStore", "StoreUnavailable", "create_dynamo_store"]

log = logging.getLogger(__name__)


def _immutable(item: Item) -> bool:
    """Events and audit entries: written once under a unique key, never changed."""
    return str(item["PK"]).startswith("EVT#") or item["PK"] == AUDIT_ENTRY_PK


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
        items = loads(batch["items"])
        # Audit events are immutable under unique ids: written 25 at a time. Queue messages and key
        # guards only where absent (a message a worker has claimed is never reset).
        await self.table.batch_write(puts=[i for i in items if _immutable(i)])
        for item in items:
            if not _immutable(item):
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
        self.access = DynamoAccessRecords(self.table)
        self.audit = DynamoAuditLog(self.table, self)

    def __repr__(self) -> str:
        return f"DynamoStore(table={self.table.name!r})"

    def unit_of_work(self) -> DynamoUnitOfWork:
        return DynamoUnitOfWork(self)

    async def ping(self) -> None:
        await self.table.describe()

    async def close(self) -> None:
        self.client.close()

    async def init_table(self) -> bool:
        """Create the table if missing and bring its items to the current layout (what `drexfy store
        init` runs). True if created now."""
        try:
            created = await call(create_table, client=self.client, table_name=self.table.name)
        except Exception as exc:
            raise translate(exc, "CreateTable") from None
        await self.upgrade()
        return created

    async def upgrade(self) -> int:
        """Items written by earlier versions rewritten to the current layout (see `upgrade.py`)."""
        return await upgrade(self.table)


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
    await store.upgrade()
    return store
