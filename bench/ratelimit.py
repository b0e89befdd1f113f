"""Rate-limit benchmark: what a request pays for its limits, in process and shared on the store.

Per limiter: the cost of one `acquire` (sequential, one caller at a time; and 64 callers at once,
which the SQLite store group-commits), then whole API requests (`GET /api/v1/instruments`, admin
token, address and token limits on with buckets too large to refuse) through the aiohttp app, one
at a time, with `rate_limits.kind` = process and = store (SQLite as the container opens it).
DynamoDB is measured on moto over loopback: the figure is moto's, not AWS's (a conditional
UpdateItem in the same region is typically a few milliseconds).

    .venv/bin/python -m bench.ratelimit        (or `make bench AREAS=ratelimit`)
"""

from __future__ import annotations

import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
CALLS = 2_000
CONCURRENCY = 64
REQUESTS = 600


async def _acquire_costs(limiter: Any, calls: int = CALLS) -> dict[str, float]:
    started = time.perf_counter()
    for n in range(calls):
        await limiter.acquire(f"10.0.{n % 200}.1")
    sequential_us = (time.perf_counter() - started) / calls * 1e6
    started = time.perf_counter()
    for _ in range(calls // CONCURRENCY):
        await asyncio.gather(*(limiter.acquire(f"10.1.0.{k}") for k in range(CONCURRENCY)))
    concurrent_us = (time.perf_counter() - started) / (calls // CONCURRENCY * CONCURRENCY) * 1e6
    return {"acquire_us_sequential": round(sequential_us, 1), "acquire_us_64_concurrent": round(concurrent_us, 1)}


async def _requests(directory: Path, kind: str) -> dict[str, Any]:
    from aiohttp.test_utils import TestClient, TestServer

    from drexfy.adapters.notify import RecordingNotifier
    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.container import build_container
    from drexfy.entrypoints.http import Role, create_app, issue_token
    from drexfy.entrypoints.runtime.access import AccessSettings, Bucket, RateLimits
    from drexfy.entrypoints.runtime.settings import HttpSettings

    secret = "bench-jwt-secret-of-enough-length-32"
    overrides = {
        "data_dir": str(directory / kind),
        "ledger.kind": "memory",
        "bank.name": "Bench GmbH",
        "bank.iban": "DE02120300000000202051",
    }
    container = build_container(load_settings(env={}, overrides=overrides))
    services = await container.services()
    big = Bucket(10**6, 10**5)
    limits = RateLimits(enabled=True, kind=kind, token=big, address=big)
    settings = HttpSettings(secret, "stripe-secret", secret, access=AccessSettings(rate_limits=limits))
    client = TestClient(TestServer(create_app(services, settings, notifier=RecordingNotifier())))
    await client.start_server()
    headers = {"Authorization": "Bearer " + issue_token(secret, Role("admin"))}
    try:
        for _ in range(50):  # warm up
            assert (await client.get("/api/v1/instruments", headers=headers)).status == 200
        times = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            response = await client.get("/api/v1/instruments", headers=headers)
            await response.read()
            times.append(time.perf_counter() - started)
            assert response.status == 200
    finally:
        await client.close()
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown
    times.sort()
    return {
        "kind": kind,
        "request_ms_mean": round(statistics.fmean(times) * 1e3, 3),
        "request_ms_p99": round(times[int(len(times) * 0.99)] * 1e3, 3),
    }


async def _dynamodb() -> dict[str, Any]:
    import os
    import uuid

    from tests.support.moto import AWS_ENV, REGION, MotoServer

    from drexfy.adapters.dynamodb import create_dynamo_store
    from drexfy.entrypoints.http.ratelimit import SharedWindows
    from drexfy.entrypoints.runtime.access import Bucket

    for name, value in AWS_ENV.items():
        os.environ.setdefault(name, value)
    server = MotoServer()
    server.start()
    try:
        store = await create_dynamo_store(
            table_name=f"bench-{uuid.uuid4().hex[:8]}", region=REGION, endpoint_url=server.endpoint, create_table=True
        )
        try:
            return await _acquire_costs(SharedWindows(Bucket(10**6, 10**5), "address", store.access), calls=320)
        finally:
            await store.close()
    finally:
        server.stop()


async def main() -> dict[str, Any]:
    from drexfy.adapters.sqlite import open_sqlite_store
    from drexfy.entrypoints.http.ratelimit import SharedWindows, TokenBuckets
    from drexfy.entrypoints.runtime.access import Bucket

    big = Bucket(10**6, 10**5)
    result: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version()}
    with tempfile.TemporaryDirectory(prefix="drexfy-bench-ratelimit-") as tmp:
        directory = Path(tmp)
        result["process"] = await _acquire_costs(TokenBuckets(big))
        for synchronous in ("FULL", "NORMAL"):
            store = await open_sqlite_store(directory / f"limits-{synchronous}.db", synchronous=synchronous)
            try:
                result[f"sqlite_{synchronous.lower()}"] = await _acquire_costs(
                    SharedWindows(big, "address", store.access)
                )
            finally:
                await store.close()
        result["requests"] = [await _requests(directory, kind) for kind in ("process", "store")]
    result["dynamodb_on_moto"] = await _dynamodb()
    for key, value in result.items():
        print(f"  {key:<20} {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ratelimit.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    asyncio.run(main())
