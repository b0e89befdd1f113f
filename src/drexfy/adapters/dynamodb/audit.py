"""The audit trail in DynamoDB.

Entries are items `PK = AUDIT`, `SK = <seq, 20 digits>` (one item collection, read in order with
strongly consistent queries); the head is `PK = AUDITHEAD` (`version` = the last seq, `hash`). A unit
of work chains its entries after the head it read and commits them with a conditional update of the
head (`version = <seq read>`), in the same transaction as the change. When another worker appended
first, the condition fails, nothing is written, and the commit is tried again on the new head
(`commit_with`), so concurrent workers keep one linear chain.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from drexfy.adapters.dynamodb.table import Item, Table
from drexfy.adapters.serialization import format_timestamp, parse_timestamp
from drexfy.domain.audit import AuditEntry, AuditFilter, AuditHead, AuditRecord, chain
from drexfy.domain.errors import Conflict

if TYPE_CHECKING:
    from drexfy.adapters.dynamodb.store import DynamoStore
    from drexfy.adapters.dynamodb.uow import Write

ENTRY_PK = "AUDIT"
HEAD_PK = "AUDITHEAD"
#: Commits retried when other writers moved the head first (jittered, growing waits).
HEAD_ATTEMPTS = 40
#: Entries read per query page while filtering, and at most per listing call (a filtered page may be short).
_PAGE = 200
_SCAN_BUDGET = 5000


class AuditHeadMoved(Conflict):
    """Another writer appended to the audit log since this commit read its head."""


def _sk(seq: int) -> str:
    return f"{seq:020d}"


def entry_item(entry: AuditEntry) -> Item:
    return {
        "PK": ENTRY_PK,
        "SK": _sk(entry.seq),
        "type": "audit",
        "seq": entry.seq,
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "subject": entry.subject,
        "reason": entry.reason,
        "request_id": entry.request_id,
        "at": format_timestamp(entry.at),
        "ref": entry.ref,
        "digest": entry.digest,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def entry_of(item: Item) -> AuditEntry:
    return AuditEntry(
        seq=int(item["seq"]),
        actor=item["actor"],
        role=item["role"],
        action=item["action"],
        subject=item["subject"],
        reason=item.get("reason", ""),
        request_id=item.get("request_id", ""),
        at=parse_timestamp(item["at"]),
        ref=item.get("ref", ""),
        digest=item["digest"],
        prev_hash=item["prev_hash"],
        hash=item["hash"],
    )


class DynamoAuditLog:
    """The `AuditLog` port over the store's table."""

    def __init__(self, table: Table, store: DynamoStore) -> None:
        self.table = table
        self._store = store

    async def head(self) -> AuditHead:
        item = await self.table.get(HEAD_PK)
        return AuditHead() if item is None else AuditHead(int(item["version"]), str(item["hash"]))

    def writes_for(self, head: AuditHead, entries: Sequence[AuditEntry]) -> list[Write]:
        """The head's conditional move (a business write: it stays inside the transaction) and the
        entries (immutable rows, which may travel packed when a transaction is full)."""
        from drexfy.adapters.dynamodb.uow import Write

        last = entries[-1]
        if head.seq == 0:
            move = Write((HEAD_PK, "A"), put={"PK": HEAD_PK, "SK": "A", "version": last.seq, "hash": last.hash})
            move.must_not_exist = True
        else:
            move = Write((HEAD_PK, "A"), sets={"version": last.seq, "hash": last.hash}, expect_version=head.seq)
        move.on_fail = lambda: AuditHeadMoved("the audit log moved on; chaining again")
        rows = [Write((ENTRY_PK, _sk(e.seq)), put=entry_item(e), must_not_exist=True, business=False) for e in entries]
        for row in rows:
            row.on_fail = move.on_fail
        return [move, *rows]

    async def commit_with(
        self, records: Sequence[AuditRecord], commit: Callable[[list[Write]], Awaitable[None]]
    ) -> list[AuditEntry]:
        """Run `commit` with the writes that append `records`, chained on the current head; again on
        the new head while other writers get there first. Without records, `commit([])` once."""
        if not records:
            await commit([])
            return []
        for attempt in range(HEAD_ATTEMPTS):
            head = await self.head()
            entries = chain(records, head)
            try:
                await commit(self.writes_for(head, entries))
                return entries
            except AuditHeadMoved:
                await asyncio.sleep(random.uniform(0, min(0.01 * 2**attempt, 0.5)))
        raise Conflict("the audit log kept moving; retry")

    async def append(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        async with self._store.unit_of_work() as uow:
            uow.audit_records.extend(records)
            return await uow.commit_audited()

    async def list(
        self, where: AuditFilter | None = None, after: int = 0, limit: int = 100
    ) -> tuple[list[AuditEntry], int | None]:
        if limit <= 0:
            return [], None
        where = where or AuditFilter()
        found: list[AuditEntry] = []
        cursor, scanned = after, 0
        while True:
            items = await self.table.query_items(
                "#a_PK = :p AND #a_SK > :a", {":p": ENTRY_PK, ":a": _sk(cursor)}, limit=_PAGE
            )
            for index, item in enumerate(items):
                entry = entry_of(item)
                cursor, scanned = entry.seq, scanned + 1
                if where.matches(entry):
                    found.append(entry)
                if len(found) >= limit:
                    more = index < len(items) - 1 or len(items) == _PAGE
                    return found, cursor if more else None
            if len(items) < _PAGE:
                return found, None
            if scanned >= _SCAN_BUDGET:
                return found, cursor
