"""The single table: key schema, indexes and `create_table` (used by `drexfy store init`).

Every item has a string partition key `PK` and sort key `SK`; two sparse global secondary indexes
(`GSI1PK`/`GSI1SK`, `GSI2PK`/`GSI2SK`) serve the lookups that are not by primary key. Items without an
index attribute are simply not in that index. docs/aws.md lists every item type and access pattern.
"""

from __future__ import annotations

import time
from typing import Any

GSI1 = "GSI1"
GSI2 = "GSI2"


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments (on-demand capacity, all attributes projected)."""
    key_attrs = ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in key_attrs],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{index}PK", "KeyType": "HASH"},
                    {"AttributeName": f"{index}SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in (GSI1, GSI2)
        ],
    }


def create_table(client: Any, table_name: str, wait_seconds: float = 60.0) -> bool:
    """Create the table unless it exists; wait until ACTIVE. True if it was created now."""
    created = True
    try:
        client.create_table(**table_definition(table_name))
    except client.exceptions.ResourceInUseException:
        created = False
    deadline = time.monotonic() + wait_seconds
    while True:
        status = client.describe_table(TableName=table_name)["Table"]["TableStatus"]
        if status == "ACTIVE":
            enable_ttl(client, table_name)
            return created
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {table_name} is still {status}")
        time.sleep(0.5)


#: The TTL attribute (epoch seconds): items past it are deleted by DynamoDB (shared rate-limit windows).
TTL_ATTRIBUTE = "expires_at"


def enable_ttl(client: Any, table_name: str) -> None:
    """Turn on TTL on `expires_at` unless it is on (also for tables created by older versions)."""
    described = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if described.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
