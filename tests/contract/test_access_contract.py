"""Store contract, access records (operators, API tokens, approvals): create once, compare-and-set
on the version (of two writers with the same version exactly one wins, also across two store
objects as two processes would), listing in id order with a cursor.

Runs once per implementation registered in tests/contract/conftest.py (STORE_FACTORIES).
"""

from __future__ import annotations

import asyncio

from drexfy.domain.ports import Store
from tests.contract.conftest import OpenStores


async def test_a_record_is_created_once_and_read_back(store: Store) -> None:
    assert await store.access.get("operator", "opr_1") is None
    data = {"name": "ana", "roles": ["compliance"], "nested": {"n": 1, "none": None}}
    assert await store.access.create("operator", "opr_1", data) is True
    assert await store.access.create("operator", "opr_1", {"name": "mallory"}) is False
    record = await store.access.get("operator", "opr_1")
    assert record is not None and (record.kind, record.id, record.version, record.data) == (
        "operator",
        "opr_1",
        1,
        data,
    )
    assert await store.access.get("api-token", "opr_1") is None  # kinds are apart


async def test_replace_is_a_compare_and_set_on_the_version(store: Store) -> None:
    await store.access.create("approval", "apr_1", {"status": "PENDING"})
    assert await store.access.replace("approval", "apr_1", {"status": "EXECUTING"}, 1) is True
    assert await store.access.replace("approval", "apr_1", {"status": "REJECTED"}, 1) is False  # stale
    record = await store.access.get("approval", "apr_1")
    assert record is not None and (record.version, record.data) == (2, {"status": "EXECUTING"})
    assert await store.access.replace("approval", "apr_missing", {"status": "DONE"}, 1) is False
    assert await store.access.get("approval", "apr_missing") is None


async def test_of_concurrent_writers_with_one_version_exactly_one_wins(open_store: OpenStores) -> None:
    first, second = await open_store(), await open_store()
    await first.access.create("approval", "apr_race", {"status": "PENDING"})
    outcomes = await asyncio.gather(
        *[
            (first if n % 2 else second).access.replace("approval", "apr_race", {"status": "EXECUTING", "by": n}, 1)
            for n in range(8)
        ]
    )
    assert outcomes.count(True) == 1
    record = await second.access.get("approval", "apr_race")
    assert record is not None and record.version == 2 and record.data["by"] == outcomes.index(True)


async def test_a_kind_is_listed_in_id_order_with_a_cursor(store: Store) -> None:
    for record_id in ["tok_c", "tok_a", "tok_d", "tok_b"]:
        await store.access.create("api-token", record_id, {"id": record_id})
    await store.access.create("operator", "tok_0", {"id": "not a token"})
    page = await store.access.list("api-token", limit=3)
    assert [r.id for r in page] == ["tok_a", "tok_b", "tok_c"]
    rest = await store.access.list("api-token", after=page[-1].id, limit=3)
    assert [r.id for r in rest] == ["tok_d"]
    assert await store.access.list("api-token", limit=0) == []
    assert await store.access.list("nothing") == []
