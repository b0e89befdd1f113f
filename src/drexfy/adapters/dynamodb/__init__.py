"""DynamoDB store (implements `drexfy.domain.ports.Store`), single-table design; see docs/aws.md.

Build it from configuration values::

    store = await open_dynamodb_store(table="drexfy", region="eu-central-1", endpoint_url=None)

The table must exist (`drexfy store init` creates it; `create_table=True` does it here).
"""

from __future__ import annotations

from drexfy.adapters.dynamodb.errors import StoreFailure, StoreUnavailable
from drexfy.adapters.dynamodb.store import DynamoStore, create_dynamo_store
from drexfy.domain.ports import Clock

__all__ = ["DynamoStore", "StoreFailure", "StoreUnavailable", "create_dynamo_store", "open_dynamodb_store"]


async def open_dynamodb_store(
    *,
    table: str,
    region: str,
    endpoint_url: str | None = None,
    clock: Clock | None = None,
    create_table: bool = False,
) -> DynamoStore:
    """The container's entry point: `store.dynamodb.{table,region,endpoint_url}`."""
    return await create_dynamo_store(
        table_name=table, region=region, endpoint_url=endpoint_url, clock=clock, create_table=create_table
    )
