"""Operators, API tokens and approval requests (AccessRecords) in the single table.

Items: PK `ACCESS#<kind>`, SK the record's id, so one strongly consistent query lists a kind in id
order; `version` guards every change with a conditional write (compare-and-set).

Shared rate-limit windows: PK `RATE#<counter>`, SK `W#<window>`, counted by one conditional
UpdateItem (`ADD count 1` if `count < limit`); `expires_at` is the table's TTL attribute, so DynamoDB
deletes past windows by itself (within days; a past window is never read again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drexfy.adapters.dynamodb.table import Item, Table
from drexfy.adapters.serialization import dumps, loads
from drexfy.domain.ports import AccessRecord


class DynamoAccessRecords:
    def __init__(self, table: Table) -> None:
        self.table = table

    @staticmethod
    def _item(kind: str, record_id: str, data: Mapping[str, Any], version: int) -> Item:
        return {
            "PK": f"ACCESS#{kind}",
            "SK": record_id,
            "type": "access",
            "version": version,
            "data": dumps(dict(data)),
        }

    @staticmethod
    def _record(kind: str, item: Item) -> AccessRecord:
        return AccessRecord(kind, str(item["SK"]), int(item["version"]), loads(item["data"]))

    async def get(self, kind: str, record_id: str) -> AccessRecord | None:
        item = await self.table.get(f"ACCESS#{kind}", record_id)
        return None if item is None else self._record(kind, item)

    async def create(self, kind: str, record_id: str, data: Mapping[str, Any]) -> bool:
        return await self.table.put(self._item(kind, record_id, data, 1), "attribute_not_exists(#a_PK)")

    async def replace(self, kind: str, record_id: str, data: Mapping[str, Any], version: int) -> bool:
        return await self.table.put(self._item(kind, record_id, data, version + 1), "#a_version = :v", {":v": version})

    async def list(self, kind: str, after: str | None = None, limit: int = 100) -> list[AccessRecord]:
        if limit <= 0:
            return []
        if after:
            items = await self.table.query_items(
                "#a_PK = :p AND #a_SK > :a", {":p": f"ACCESS#{kind}", ":a": after}, limit=limit
            )
        else:
            items = await self.table.query_items("#a_PK = :p", {":p": f"ACCESS#{kind}"}, limit=limit)
        return [self._record(kind, item) for item in items]

    async def count_in_window(self, counter: str, window: int, limit: int, expires_at: float) -> bool:
        counted = await self.table.update(
            f"RATE#{counter}",
            f"W#{window}",
            "ADD #a_count :one SET #a_expires_at = :expires",
            {":one": 1, ":limit": limit, ":expires": int(expires_at) + 1},
            "attribute_not_exists(#a_count) OR #a_count < :limit",
        )
        return counted is not None
