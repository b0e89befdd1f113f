"""The inbox and the outbox in the single table (MessageQueue)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from drexfy.adapters.aws import error_code
from drexfy.adapters.dynamodb.errors import translate
from drexfy.adapters.dynamodb.table import Item, Table, key, names_in, to_av
from drexfy.adapters.dynamodb.uow import Write
from drexfy.adapters.serialization import (
    dumps,
    format_optional_timestamp,
    format_timestamp,
    loads,
    parse_optional_timestamp,
    parse_timestamp,
)
from drexfy.domain.errors import DomainError, IllegalTransition, NotFound, ValidationFailed
from drexfy.domain.ports import MessageStatus, QueuedMessage


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

    async def park(self, message_id: str, error: str) -> None:
        await self._set(message_id, MessageStatus.PARKED, None, {"last_error": error, "next_attempt_at": None})

    async def requeue(self, message_id: str, now: datetime) -> None:
        current = await self.get(message_id)
        if current.status not in (MessageStatus.DEAD, MessageStatus.PARKED):
            raise IllegalTransition(
                f"{self.name} message {message_id} is {current.status.value}, only DEAD or PARKED messages are requeued"
            )
        stamp = format_timestamp(now)
        await self._set(
            message_id,
            MessageStatus.PENDING,
            stamp,
            {"attempts": 0, "next_attempt_at": stamp},
            condition="#a_status = :was",
            extra={":was": current.status.value},
        )

    async def get(self, message_id: str) -> QueuedMessage:
        item = await self.table.get(self.pk(message_id))
        if item is None:
            raise NotFound(f"no {self.name} message {message_id}")
        return self._message(item)

    async def get_by_key(self, key: str) -> QueuedMessage | None:
        guard = await self.table.get(f"QKEY#{self.name}#{key}", "L")
        if guard is None:
            return None
        try:
            return await self.get(guard["target"])
        except NotFound:
            return None

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
