"""Upgrades of items written by earlier versions, run when the store opens (`create_dynamo_store`)
and by `drexfy store init`. A marker item `META#schema` / `A` records the layout version, so an
upgraded table costs one GetItem per start.

Layout 1: a repayment's shares move from its `data` to items of their own (`ALLOC#<repayment>` /
`<investor>`), and the repayment gets its running totals (as SQLite migration 0005 does).
Idempotent and safe from several processes at once: the shares are plain puts of the same values,
and each repayment is rewritten only at the version it was read at."""

from __future__ import annotations

import logging
from typing import Any

from drexfy.adapters.dynamodb.table import Table
from drexfy.adapters.serialization import dumps, loads

log = logging.getLogger(__name__)

LAYOUT = 1
MARKER = ("META#schema", "A")


def split_legacy_repayment(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A repayment's JSON with embedded `allocations` -> (its new JSON, its shares' JSON)."""
    shares: list[dict[str, Any]] = list(data.get("allocations") or [])
    new = {k: v for k, v in data.items() if k != "allocations"}

    def amount(share: dict[str, Any]) -> int:
        return int(share["interest"]["minor"]) + int(share["principal"]["minor"])

    def having(*statuses: str) -> list[dict[str, Any]]:
        return [s for s in shares if s["status"] in statuses]

    # A batch assigned and not paid yet stays open; its members had the smallest pending ids.
    assigned = [s for s in having("PENDING") if s.get("batch") is not None]
    new.update(
        holders=len(shares),
        pending=len(having("PENDING")),
        paid_count=len(having("PAID")),
        held_back_count=len(having("HELD_BACK")),
        released_count=len(having("RELEASED")),
        paid_minor=sum(amount(s) for s in having("PAID", "RELEASED")),
        held_back_minor=sum(amount(s) for s in having("HELD_BACK")),
        units_retired=sum(int(s["units_retired"]) for s in having("PAID", "RELEASED")),
        open_batch=min((int(s["batch"]) for s in assigned), default=None),
        batch_from="",
        batch_to=max((s["investor_id"] for s in assigned), default=""),
        cursor=max((s["investor_id"] for s in assigned), default=""),
    )
    return new, shares


async def upgrade(table: Table) -> int:
    """Bring the table to the current layout; the number of repayments rewritten."""
    marker = await table.get(*MARKER)
    if marker is not None and int(marker.get("layout", 0)) >= LAYOUT:
        return 0
    rewritten = 0
    for item in await table.scan_items("#a_type = :t", {":t": "repayment"}):
        data = loads(item["data"])
        if "allocations" not in data:
            continue
        new, shares = split_legacy_repayment(data)
        repayment_id = str(item["PK"]).removeprefix("REP#")
        await table.batch_write(
            puts=[
                {
                    "PK": f"ALLOC#{repayment_id}",
                    "SK": s["investor_id"],
                    "type": "allocation",
                    "status": s["status"],
                    "data": dumps(s),
                }
                for s in shares
            ]
        )
        version = int(item["version"])
        done = await table.update(
            str(item["PK"]),
            "A",
            "SET #a_data = :d, #a_version = :n",
            {":d": dumps(new), ":n": version + 1, ":v": version},
            condition="#a_version = :v",
        )
        if done is None:
            log.info("repayment %s was upgraded by another process", repayment_id)
        else:
            rewritten += 1
    await table.put({"PK": MARKER[0], "SK": MARKER[1], "type": "meta", "layout": LAYOUT})
    return rewritten


__all__ = ["LAYOUT", "split_legacy_repayment", "upgrade"]
