"""A thin async wrapper over the low-level DynamoDB client: plain Python values in and out, every
failure translated (StoreUnavailable after botocore's bounded retries), pagination handled."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from drexfy.adapters.aws import call, error_code
from drexfy.adapters.dynamodb.errors import translate
from drexfy.domain.errors import StoreUnavailable

_ser = TypeSerializer()
_de = TypeDeserializer()
_NAME = re.compile(r"#a_(\w+)")

Item = dict[str, Any]
BATCH_WRITE_ITEMS = 25
BATCH_GET_KEYS = 100
BATCH_WRITE_ATTEMPTS = 8


def to_av(item: Mapping[str, Any]) -> dict[str, Any]:
    """Python values -> DynamoDB AttributeValues (None-valued attributes are left out)."""
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def from_av(item: Mapping[str, Any]) -> Item:
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}


def key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def names_in(*expressions: str | None) -> dict[str, str]:
    """ExpressionAttributeNames for every `#a_<attr>` placeholder (all names go through placeholders,
    so DynamoDB's reserved words never bite)."""
    found: dict[str, str] = {}
    for expression in expressions:
        for match in _NAME.finditer(expression or ""):
            found[f"#a_{match.group(1)}"] = match.group(1)
    return found


class Table:
    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    async def _call(self, method: str, action: str, **kwargs: Any) -> Any:
        try:
            return await call(getattr(self.client, method), **kwargs)
        except Exception as exc:
            if error_code(exc) in (
                "ConditionalCheckFailedException",
                "TransactionCanceledException",
                "IdempotentParameterMismatchException",
            ):
                raise
            raise translate(exc, action) from None

    async def get(self, pk: str, sk: str = "A") -> Item | None:
        response = await self._call("get_item", "GetItem", TableName=self.name, Key=key(pk, sk), ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else from_av(item)

    async def put(self, item: Item, condition: str | None = None, values: Item | None = None) -> bool:
        """Put; with a condition, False (instead of an error) when it fails."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": to_av(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
            if names_in(condition):
                kwargs["ExpressionAttributeNames"] = names_in(condition)
            if values:
                kwargs["ExpressionAttributeValues"] = to_av(values)
        try:
            await self._call("put_item", "PutItem", **kwargs)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def delete(self, pk: str, sk: str = "A", *, condition: str | None = None, values: Item | None = None) -> bool:
        """Delete; with a condition, False (instead of an error) when it fails."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk)}
        if condition:
            kwargs["ConditionExpression"] = condition
            kwargs["ExpressionAttributeNames"] = names_in(condition)
            if values:
                kwargs["ExpressionAttributeValues"] = to_av(values)
        try:
            await self._call("delete_item", "DeleteItem", **kwargs)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def update(self, pk: str, sk: str, update: str, values: Item, condition: str | None = None) -> Item | None:
        """UpdateItem returning the new item; None when the condition fails."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": key(pk, sk),
            "UpdateExpression": update,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        names = names_in(update, condition)
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = to_av(values)
        try:
            response = await self._call("update_item", "UpdateItem", **kwargs)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return from_av(response.get("Attributes", {}))

    async def query(
        self,
        condition: str,
        values: Item,
        *,
        index: str | None = None,
        limit: int | None = None,
        forward: bool = True,
        count_only: bool = False,
    ) -> list[Item] | int:
        """Query with pagination: follows LastEvaluatedKey until `limit` items (or all)."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_av(values),
            "ScanIndexForward": forward,
        }
        names = names_in(condition)
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if index:
            kwargs["IndexName"] = index
        else:
            kwargs["ConsistentRead"] = True
        if count_only:
            kwargs["Select"] = "COUNT"
        items: list[Item] = []
        count = 0
        while True:
            if limit is not None and not count_only:
                kwargs["Limit"] = max(limit - len(items), 1)
            response = await self._call("query", "Query", **kwargs)
            count += int(response.get("Count", 0))
            items.extend(from_av(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last or (limit is not None and len(items) >= limit):
                break
            kwargs["ExclusiveStartKey"] = last
        if count_only:
            return count
        return items[:limit] if limit is not None else items

    async def query_page(
        self, condition: str, values: Item, *, index: str, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[Item], dict[str, Any] | None]:
        """One page of a query on an index, and the key to continue from (None at the end)."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_av(values),
            "ExpressionAttributeNames": names_in(condition),
            "Limit": limit,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = await self._call("query", "Query", **kwargs)
        return [from_av(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

    async def scan_items(self, condition: str, values: Item) -> list[Item]:
        """Every item matching a filter, the whole table read (for upgrades, never on a request path)."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "FilterExpression": condition,
            "ExpressionAttributeValues": to_av(values),
            "ExpressionAttributeNames": names_in(condition),
            "ConsistentRead": True,
        }
        items: list[Item] = []
        while True:
            response = await self._call("scan", "Scan", **kwargs)
            items.extend(from_av(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            kwargs["ExclusiveStartKey"] = last

    async def query_items(self, condition: str, values: Item, **kwargs: Any) -> list[Item]:
        result = await self.query(condition, values, **kwargs)
        assert isinstance(result, list)
        return result

    async def transact(self, items: list[dict[str, Any]], token: str | None) -> None:
        kwargs: dict[str, Any] = {"TransactItems": items}
        if token:
            kwargs["ClientRequestToken"] = token
        await self._call("transact_write_items", "TransactWriteItems", **kwargs)

    async def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Item]:
        """The items that exist among `keys`, 100 per BatchGetItem (DynamoDB's limit), strongly
        consistent; unprocessed keys asked again with backoff. In no particular order."""
        found: list[Item] = []
        for start in range(0, len(keys), BATCH_GET_KEYS):
            wanted = [key(pk, sk) for pk, sk in keys[start : start + BATCH_GET_KEYS]]
            for attempt in range(BATCH_WRITE_ATTEMPTS):
                response = await self._call(
                    "batch_get_item",
                    "BatchGetItem",
                    RequestItems={self.name: {"Keys": wanted, "ConsistentRead": True}},
                )
                found.extend(from_av(i) for i in response.get("Responses", {}).get(self.name, []))
                wanted = response.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
                if not wanted:
                    break
                await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise StoreUnavailable(f"DynamoDB left {len(wanted)} keys unread after {BATCH_WRITE_ATTEMPTS} attempts")
        return found

    async def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[tuple[str, str]] = ()) -> None:
        """Unconditional puts and deletes, 25 per BatchWriteItem (DynamoDB's limit), unprocessed items
        resent with backoff. Not atomic: for rows that are invisible until a transaction commits."""
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": to_av(item)}} for item in puts]
        requests += [{"DeleteRequest": {"Key": key(pk, sk)}} for pk, sk in deletes]
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            chunk = requests[start : start + BATCH_WRITE_ITEMS]
            for attempt in range(BATCH_WRITE_ATTEMPTS):
                response = await self._call("batch_write_item", "BatchWriteItem", RequestItems={self.name: chunk})
                chunk = response.get("UnprocessedItems", {}).get(self.name, [])
                if not chunk:
                    break
                await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise StoreUnavailable(
                    f"DynamoDB left {len(chunk)} items unprocessed after {BATCH_WRITE_ATTEMPTS} attempts"
                )

    async def describe(self) -> None:
        await self._call("describe_table", "DescribeTable", TableName=self.name)
