"""Stored answers to POSTs made with an Idempotency-Key (IdempotencyRepository), in the single table."""

from __future__ import annotations

from datetime import datetime, timedelta

from drexfy.adapters.dynamodb.table import Item, Table
from drexfy.adapters.serialization import dumps, format_timestamp, loads, parse_timestamp
from drexfy.domain.ports import IN_PROGRESS, IdempotentResponse


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
