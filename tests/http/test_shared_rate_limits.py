"""Rate limits shared across replicas (`rate_limits.kind = "store"`): two app instances on one store
(two SQLite store objects on one file, as two processes would open it; two DynamoDB stores on one
moto table) refuse together once their combined requests pass the limit, with Retry-After; the
stored counters hold no client address; the in-process default lets each replica count its own."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from drexfy.adapters.notify import RecordingNotifier
from drexfy.domain import processes as p
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from drexfy.entrypoints.http import Role, create_app, issue_token
from drexfy.entrypoints.http.ratelimit import SharedWindows
from drexfy.entrypoints.runtime.access import AccessSettings, Bucket, RateLimits
from tests.http.conftest import BANK, JWT_SECRET, http_settings
from tests.support.moto import REGION, MotoServer, moto_server  # noqa: F401  (fixture)


async def _replicas(tmp_path: Path, store: dict[str, Any]) -> AsyncIterator[list[p.Services]]:
    containers = []
    for n in range(2):
        overrides = {"data_dir": str(tmp_path / f"replica{n}"), "ledger.kind": "memory", **BANK, **store}
        containers.append(build_container(load_settings(env={}, overrides=overrides)))
    services = [await c.services() for c in containers]
    yield services
    for container in containers:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown


@pytest.fixture(params=["sqlite", pytest.param("dynamodb", marks=pytest.mark.moto)])
async def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, list[p.Services]]]:
    if request.param == "sqlite":
        store = {"store.path": str(tmp_path / "shared.db")}
        detail: str = str(tmp_path / "shared.db")
    else:
        server: MotoServer = request.getfixturevalue("moto_server")
        detail = f"drexfy-{uuid.uuid4().hex[:12]}"
        store = {
            "store.kind": "dynamodb",
            "store.dynamodb.region": REGION,
            "store.dynamodb.endpoint_url": server.endpoint,
            "store.dynamodb.table": detail,
            "store.dynamodb.create_table": True,
        }
    async for services in _replicas(tmp_path, store):
        yield detail, services


def _app(services: p.Services, kind: str, **buckets: Bucket) -> Any:
    limits = RateLimits(enabled=True, kind=kind, **buckets)
    return create_app(services, http_settings(access=AccessSettings(rate_limits=limits)), notifier=RecordingNotifier())


async def _clear_of_a_window_edge(bucket: Bucket, margin_s: float = 30.0) -> None:
    """The shared windows follow the wall clock: a test that crosses a window's edge gets a fresh
    count (by design, up to twice the burst at an edge). Start it well inside a window."""
    span = bucket.burst / bucket.per_second
    left = span - time.time() % span
    if left < margin_s:
        await asyncio.sleep(left + 0.5)


def _bearer() -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(JWT_SECRET, Role("admin"))}


async def test_two_replicas_on_one_store_share_the_address_limit(replicas, aiohttp_client):
    where, (one, two) = replicas
    bucket = Bucket(burst=6, per_second=0.01)  # a 600 s window: nothing refills during the test
    await _clear_of_a_window_edge(bucket)
    clients = [await aiohttp_client(_app(svc, "store", address=bucket)) for svc in (one, two)]
    statuses = [(await clients[n % 2].get("/api/v1/instruments", headers=_bearer())).status for n in range(6)]
    assert statuses == [200] * 6  # 3 on each replica: within the shared limit of 6
    for client in clients:  # both refuse now, though each alone has served only 3
        refused = await client.get("/api/v1/instruments", headers=_bearer())
        assert refused.status == 429 and refused.content_type == "application/problem+json"
        assert 1 <= int(refused.headers["Retry-After"]) <= 600
        assert (await refused.json())["type"].endswith("/rate-limited")
    _assert_no_address_stored(where)


async def test_tokens_are_counted_across_replicas_too(replicas, aiohttp_client):
    _, (one, two) = replicas
    await _clear_of_a_window_edge(Bucket(2, 0.01))
    clients = [await aiohttp_client(_app(svc, "store", token=Bucket(2, 0.01))) for svc in (one, two)]
    token, other = _bearer(), _bearer()
    assert (await clients[0].get("/api/v1/instruments", headers=token)).status == 200
    assert (await clients[1].get("/api/v1/instruments", headers=token)).status == 200
    assert (await clients[0].get("/api/v1/instruments", headers=token)).status == 429
    assert (await clients[1].get("/api/v1/instruments", headers=other)).status == 200  # its own count


async def test_in_process_limits_count_per_replica(replicas, aiohttp_client):
    _, (one, two) = replicas
    bucket = Bucket(burst=3, per_second=0.01)
    clients = [await aiohttp_client(_app(svc, "process", address=bucket)) for svc in (one, two)]
    statuses = [(await clients[n % 2].get("/api/v1/instruments", headers=_bearer())).status for n in range(6)]
    assert statuses == [200] * 6  # each replica lets its own 3 through: 6 in all, twice the limit


async def test_a_window_admits_its_burst_then_the_next_window_starts_afresh(replicas):
    _, (one, two) = replicas
    now = [1_000.0]
    a = SharedWindows(Bucket(4, 2.0), "address", one.store.access, clock=lambda: now[0])  # 2 s windows
    b = SharedWindows(Bucket(4, 2.0), "address", two.store.access, clock=lambda: now[0])
    assert [await w.acquire("10.0.0.1") for w in (a, b, a, b)] == [0.0] * 4
    assert await a.acquire("10.0.0.1") == pytest.approx(2.0)  # the window [1000, 1002) is full
    assert await b.acquire("10.0.0.2") == 0.0  # another key
    now[0] += 1.5
    assert await b.acquire("10.0.0.1") == pytest.approx(0.5)
    now[0] += 0.5  # the next window
    assert [await w.acquire("10.0.0.1") for w in (b, a, b, a)] == [0.0] * 4
    assert await a.acquire("10.0.0.1") > 0


def _assert_no_address_stored(where: str) -> None:
    """The counters are keyed by a hash: no client address in the database (the DynamoDB items are
    read in test_dynamodb_windows_are_items_with_a_ttl)."""
    if where.endswith(".db"):
        with sqlite3.connect(where) as conn:
            rows = conn.execute("SELECT * FROM rate_windows").fetchall()
        assert rows and "127.0.0.1" not in repr(rows)


async def test_dynamodb_windows_are_items_with_a_ttl(moto_server, tmp_path):  # noqa: F811
    table = f"drexfy-{uuid.uuid4().hex[:12]}"
    store = {
        "store.kind": "dynamodb",
        "store.dynamodb.region": REGION,
        "store.dynamodb.endpoint_url": moto_server.endpoint,
        "store.dynamodb.table": table,
        "store.dynamodb.create_table": True,
    }
    async for services in _replicas(tmp_path, store):
        windows = SharedWindows(Bucket(2, 1.0), "address", services[0].store.access, clock=lambda: 5_000.0)
        assert [await windows.acquire("127.0.0.1") for _ in range(3)][-1] == pytest.approx(2.0)
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server.endpoint)
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    items = [i for i in client.scan(TableName=table)["Items"] if i["PK"]["S"].startswith("RATE#")]
    assert len(items) == 1 and items[0]["count"]["N"] == "2" and int(items[0]["expires_at"]["N"]) >= 5_002
    assert "127.0.0.1" not in repr(items)
