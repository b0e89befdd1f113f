"""HTTP benchmark: signed payment webhooks ingested per second, beside a bare aiohttp handler.

"Ingested" means what the real endpoint does before it answers: verify the Stripe signature with
the `stripe` package, parse the event, commit it durably to the SQLite inbox (synchronous=FULL,
fsync per commit) keyed by the event id, and answer 202 (new) or 200 (duplicate). The bare handler
reads the body and answers 200 - the ceiling of aiohttp itself on this machine.

Both servers run in this process; the load generator runs in another process (this file with
`--loadgen`) over loopback, so server and client do not share a core. Each server gets the same
closed-loop load (CONCURRENCY requests in flight), then the webhook endpoint also gets an open-loop
run paced at half the bare handler's throughput, the load at which the target (p99 < 50 ms) is
stated. 10 % of the deliveries are redeliveries of earlier events; after the run the inbox must
hold exactly one message per distinct event (zero lost, zero duplicated).

    .venv/bin/python -m bench.http        (or `make bench`, which runs every area)

The worker is not running during the ingestion runs (it would compete for the same two cores);
the end-to-end settlement rate on anvil is the EVM ledger's benchmark (see docs/http.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from drexfy.adapters.notify import RecordingNotifier

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "whsec_bench_secret"
REQUESTS = int(os.environ.get("DREXFY_BENCH_HTTP_REQUESTS", "4000"))
CONCURRENCY = int(os.environ.get("DREXFY_BENCH_HTTP_CONCURRENCY", "16"))
ROUNDS = int(os.environ.get("DREXFY_BENCH_HTTP_ROUNDS", "5"))
ANVIL_ORDERS = int(os.environ.get("DREXFY_BENCH_HTTP_ANVIL_ORDERS", "300"))
DUPLICATE_SHARE = 0.10
#: Connections the open-loop generator may open: enough that it never waits for one (a capped pool
#: would turn the paced run back into a closed loop and hide queueing in the client).
OPEN_LOOP_CONNECTIONS = 256
#: An open-loop run offers load for this long: long enough that a server slower than the offered
#: rate shows a growing queue (a half-second burst can hide it in the client's buffers).
PACED_SECONDS = 4.0
#: Fractions of the bare handler's rate tried, highest first, to find the highest open-loop rate the
#: webhook path sustains with p99 under 50 ms.
SUSTAINED_FRACTIONS = (0.4, 0.35, 0.3, 0.25, 0.2)
#: The same search for the floor handler (it goes higher).
FLOOR_SUSTAINED_FRACTIONS = (0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1)
WRK_SECONDS = int(os.environ.get("DREXFY_BENCH_HTTP_WRK_SECONDS", "3"))
#: Distinct signed deliveries prepared for a wrk run: more than it can send, so none repeats.
WRK_BODIES_PER_SECOND = 12_000


# ------------------------------------------------------------------------------------------------
# Load generator (runs in its own process)
# ------------------------------------------------------------------------------------------------


def _bodies(n: int, seed: int) -> list[bytes]:
    from drexfy.adapters.webhooks import sandbox

    rng = random.Random(seed)
    distinct = int(n * (1 - DUPLICATE_SHARE))
    events = [
        sandbox.stripe_event(
            f"evt_bench_{seed}_{i}", "payment_intent.succeeded", order_id=f"ord_{i}", amount_minor=10_000 + i
        )
        for i in range(distinct)
    ]
    deliveries = events + [rng.choice(events) for _ in range(n - distinct)]
    rng.shuffle(deliveries)
    return deliveries


async def _loadgen(config: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    from drexfy.adapters.webhooks import sandbox

    bodies = _bodies(config["requests"], config["seed"])
    url = config["url"]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    pool = OPEN_LOOP_CONNECTIONS if config.get("rate") else config["concurrency"]
    connector = aiohttp.TCPConnector(limit=pool)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(body: bytes) -> None:
            headers = sandbox.stripe_headers(body, SECRET) if config["signed"] else {"Content-Type": "application/json"}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append(time.perf_counter() - started)

        # warm-up (not measured): connections, code paths
        for body in bodies[:20]:
            await send(body)
        latencies.clear()
        statuses.clear()
        measured = bodies[20:]
        started = time.perf_counter()
        if config.get("rate"):
            interval = 1.0 / config["rate"]
            tasks = []
            for i, body in enumerate(measured):
                delay = started + i * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(body)))
            await asyncio.gather(*tasks)
        else:
            queue = iter(measured)

            async def lane() -> None:
                for body in queue:
                    await send(body)

            await asyncio.gather(*(lane() for _ in range(config["concurrency"])))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(measured),
        "seconds": round(elapsed, 3),
        "per_second": round(len(measured) / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99) - 1], 2),
        "max_ms": round(1000 * latencies[-1], 2),
        "mean_ms": round(1000 * statistics.fmean(latencies), 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "distinct_events_sent": len({b for b in bodies}),
    }


def _run_loadgen(config: dict[str, Any]) -> dict[str, Any]:
    """Run the generator in a child process; blocks this thread (the server runs in another)."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.http", "--loadgen", json.dumps(config)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed: {completed.stderr[-2000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------------------------
# Servers
# ------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(app: Any) -> tuple[Any, str]:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def _measure(app: Any, path: str, config: dict[str, Any]) -> dict[str, Any]:
    runner, base = await _serve(app)
    try:
        cpu = time.process_time()  # this process only: the server (the load generator is a child)
        loop_cpu = time.thread_time()  # the event loop's own thread
        if config.get("wrk"):
            result = await asyncio.to_thread(_run_wrk, base + path, config)
        else:
            result = await asyncio.to_thread(_run_loadgen, {**config, "url": base + path})
        result["server_cpu_ms_per_request"] = round((time.process_time() - cpu) / result["requests"] * 1000, 3)
        result["event_loop_cpu_ms_per_request"] = round((time.thread_time() - loop_cpu) / result["requests"] * 1000, 3)
        return result
    finally:
        await runner.cleanup()


def _wrk_files(bodies: list[bytes], signed: bool, path: str, directory: str) -> str:
    """Write the raw HTTP requests (each pre-signed: the Stripe tolerance is 300 s, far longer than a
    run) and a wrk Lua script that sends them in order and prints the figures as one JSON line."""
    from drexfy.adapters.webhooks import sandbox

    data = Path(directory) / "requests.bin"
    with data.open("wb") as out:
        for body in bodies:
            headers = sandbox.stripe_headers(body, SECRET) if signed else {"Content-Type": "application/json"}
            head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Host": "127.0.0.1"}.items())
            raw = f"POST {path} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
            out.write(b"%d\n" % len(raw) + raw)
    script = Path(directory) / "requests.lua"
    script.write_text(
        f"""local reqs = {{}}
local f = assert(io.open({json.dumps(str(data))}, "rb"))
local data = f:read("*a")
f:close()
local pos = 1
while pos <= #data do
  local nl = string.find(data, "\\n", pos, true)
  local len = tonumber(string.sub(data, pos, nl - 1))
  reqs[#reqs + 1] = string.sub(data, nl + 1, nl + len)
  pos = nl + len + 1
end
local n = 0
request = function()
  n = n + 1
  return reqs[((n - 1) % #reqs) + 1]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {{"requests": %d, "us": %d, "p50": %d, "p99": %d, "max": %d, "non_2xx": %d, "errors": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""
    )
    return str(script)


def _run_wrk(url: str, config: dict[str, Any]) -> dict[str, Any]:
    """Closed loop from wrk (C, one thread): a load generator that costs the machine far less CPU
    per request than the Python one, so the servers get more of the two cores."""
    count = WRK_BODIES_PER_SECOND * WRK_SECONDS if config["signed"] else 100
    bodies = _bodies(count, config["seed"])
    with tempfile.TemporaryDirectory(prefix="drexfy-bench-wrk-") as directory:
        script = _wrk_files(bodies, config["signed"], "/" + url.split("/", 3)[3], directory)
        args = ["wrk", "-t1", f"-c{config['concurrency']}", f"-d{WRK_SECONDS}s", "-s", script, url]
        completed = subprocess.run(args, capture_output=True, text=True, check=False)
    found = [line for line in completed.stdout.splitlines() if line.startswith("WRK ")]
    if completed.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed: {completed.stderr[-500:] or completed.stdout[-500:]}")
    raw = json.loads(found[0][4:])
    sent = min(raw["requests"], len(bodies))  # requests past the list's end repeat earlier events
    return {
        "requests": raw["requests"],
        "seconds": round(raw["us"] / 1e6, 3),
        "per_second": round(raw["requests"] / (raw["us"] / 1e6), 1),
        "p50_ms": round(raw["p50"] / 1000, 2),
        "p99_ms": round(raw["p99"] / 1000, 2),
        "max_ms": round(raw["max"] / 1000, 2),
        "statuses": {"non_2xx": raw["non_2xx"], "socket_errors": raw["errors"]},
        "distinct_events_sent": len(set(bodies[:sent])),
        "load_generator": "wrk 4 (C), 1 thread",
    }


async def _bare(wrk: bool = False, concurrency: int = CONCURRENCY) -> dict[str, Any]:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "accepted"})

    app = web.Application()
    app.router.add_post("/webhooks/payments", handler)
    config = {"requests": REQUESTS, "concurrency": concurrency, "signed": False, "seed": 1, "wrk": wrk}
    return await _measure(app, "/webhooks/payments", config)


async def _floor(concurrency: int = CONCURRENCY, rate: float | None = None) -> dict[str, Any]:
    """Diagnostic: the least a durable ingestion handler can do, to tell this machine's limit from
    the service's own cost. It verifies the Stripe signature (stripe package), parses the event and
    inserts it with dedup into SQLite (WAL, synchronous=FULL) through a minimal group-commit thread,
    then answers; no middleware, no metrics, no logging, no domain decoding."""
    import queue
    import sqlite3
    import threading

    import stripe
    from aiohttp import web

    with tempfile.TemporaryDirectory(prefix="drexfy-bench-floor-") as directory:
        conn = sqlite3.connect(Path(directory) / "floor.db", isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE inbox (key TEXT PRIMARY KEY, payload TEXT NOT NULL) WITHOUT ROWID")
        jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()

        def writer() -> None:
            while (first := jobs.get()) is not None:
                batch = [first]
                while not jobs.empty():
                    batch.append(jobs.get_nowait())
                live = [job for job in batch if job is not None]
                conn.execute("BEGIN IMMEDIATE")
                added = [
                    conn.execute("INSERT OR IGNORE INTO inbox VALUES (?, ?)", (k, b)).rowcount == 1
                    for k, b, _, _ in live
                ]
                conn.execute("COMMIT")
                for (_, _, loop, future), new in zip(live, added, strict=True):
                    loop.call_soon_threadsafe(future.set_result, new)
                if len(live) < len(batch):
                    return

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()

        async def handler(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                stripe.WebhookSignature.verify_header(body.decode(), request.headers["Stripe-Signature"], SECRET, 300)
            except (stripe.SignatureVerificationError, KeyError):
                return web.Response(status=401)
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            jobs.put((json.loads(body)["id"], body.decode(), loop, future))
            new = await future
            return web.json_response({"status": "accepted" if new else "duplicate"}, status=202 if new else 200)

        app = web.Application()
        app.router.add_post("/webhooks/payments", handler)
        try:
            config: dict[str, Any] = {"requests": REQUESTS, "concurrency": concurrency, "signed": True, "seed": 30}
            if rate:
                config.update(rate=rate, requests=max(REQUESTS, int(rate * PACED_SECONDS)))
            result = await _measure(app, "/webhooks/payments", config)
        finally:
            jobs.put(None)
            thread.join(5)
            conn.close()
    return result


async def _floor_over_store() -> dict[str, Any]:
    """Diagnostic: the floor's handler (stripe verify, json.loads, answer) writing through the
    service's SQLite inbox (`store.inbox.add`: the queue_messages row, its indexes, the store's group
    commit) instead of the floor's one-table writer. Between this and the floor lies the cost of
    the store's write path; between this and the service, the cost of the service's HTTP layer."""
    import stripe
    from aiohttp import web

    from drexfy.adapters.sqlite import open_sqlite_store
    from drexfy.adapters.system import RANDOM, SystemClock
    from drexfy.domain.ports import QueuedMessage

    clock = SystemClock()
    with tempfile.TemporaryDirectory(prefix="drexfy-bench-floor-store-") as directory:
        store = await open_sqlite_store(Path(directory) / "store.db", clock)

        async def handler(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                stripe.WebhookSignature.verify_header(body.decode(), request.headers["Stripe-Signature"], SECRET, 300)
            except (stripe.SignatureVerificationError, KeyError):
                return web.Response(status=401)
            event = json.loads(body)
            message = QueuedMessage(RANDOM.token_hex(16), event["id"], "payment.event", {"event": event}, clock.now())
            new = await store.inbox.add(message)
            return web.json_response({"status": "accepted" if new else "duplicate"}, status=202 if new else 200)

        app = web.Application()
        app.router.add_post("/webhooks/payments", handler)
        try:
            config = {"requests": REQUESTS, "concurrency": CONCURRENCY, "signed": True, "seed": 31}
            return await _measure(app, "/webhooks/payments", config)
        finally:
            await store.close()


class _NullQueue:
    """Diagnostic only: an inbox that stores nothing, to isolate the HTTP layer's own cost."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def add(self, message: Any) -> bool:
        self.keys.append(message.key)
        return True


class _StoreWithInbox:
    def __init__(self, inner: Any, inbox: Any) -> None:
        self._inner, self.inbox = inner, inbox

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def _webhooks(
    seed: int, rate: float | None, variant: str = "full", wrk: bool = False, concurrency: int = CONCURRENCY
) -> dict[str, Any]:
    """The real endpoint over the real store. Variants (diagnostics): "normal" opens the SQLite
    store with synchronous=NORMAL (no fsync per commit); "noop" replaces the inbox write."""
    import logging

    import attrs

    from drexfy.adapters.sqlite import open_sqlite_store
    from drexfy.domain.ports import MessageStatus
    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.container import build_container
    from drexfy.entrypoints.http import create_app
    from drexfy.entrypoints.http.state import STATE
    from drexfy.entrypoints.runtime.settings import HttpSettings

    logging.getLogger("drexfy").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="drexfy-bench-http-") as directory:
        settings = load_settings(env={}, overrides={"data_dir": directory, "ledger.kind": "memory"})
        overrides = {}
        if variant == "normal":
            overrides["store"] = await open_sqlite_store(Path(directory) / "normal.sqlite", synchronous="NORMAL")
        container = build_container(settings, **overrides)
        services = await container.services()
        null = _NullQueue()
        if variant == "noop":
            services = attrs.evolve(services, store=_StoreWithInbox(services.store, null))
        try:
            http = HttpSettings(
                kyc_webhook_secret="k", payments_webhook_secret=SECRET, jwt_secret="j" * 32, run_worker=False
            )
            app = create_app(services, http, notifier=RecordingNotifier())
            config = {"requests": REQUESTS, "concurrency": concurrency, "signed": True, "seed": seed, "wrk": wrk}
            if rate:
                config["rate"] = rate
                config["requests"] = max(REQUESTS, int(rate * PACED_SECONDS))
            result = await _measure(app, "/webhooks/payments", config)
            if variant == "noop":  # nothing is stored, so nothing to check: a diagnostic of cost only
                keys = null.keys
            else:
                stored = await services.store.inbox.list(MessageStatus.PENDING, limit=10**6)
                keys = [m.key for m in stored]
            result["inbox_messages"] = len(keys)
            if not wrk:
                result["lost"] = result["distinct_events_sent"] - len(set(keys))
            else:  # wrk stops mid-flight, so count what the server acknowledged (202) instead
                accepted = int(app[STATE].metrics.webhooks_received.value(source="payments"))
                result["accepted_202"] = accepted
                result["lost"] = accepted - len(set(keys))
            result["duplicated"] = len(keys) - len(set(keys))
            if variant == "noop":
                result["lost"] = result["duplicated"] = None
        finally:
            shutdown = container.shutdown_resources()
            if shutdown is not None:
                await shutdown
            if "store" in overrides:
                await overrides["store"].close()
    return result


async def _anvil_settlements(orders: int = ANVIL_ORDERS, investors: int = 20) -> dict[str, Any]:
    """Settled purchases per second end to end on anvil: signed payment webhooks in, the worker
    settles each paid order on chain (DvP via the EVM ledger adapter), measured from the first
    webhook to the last settlement."""
    import logging

    from aiohttp.test_utils import TestClient, TestServer
    from tests.support.anvil import start_evm_environment

    from drexfy.adapters.webhooks import sandbox
    from drexfy.domain.model import OrderStatus
    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.container import build_container
    from drexfy.entrypoints.http import create_app, issue_token
    from drexfy.entrypoints.http.state import STATE
    from drexfy.entrypoints.runtime.settings import HttpSettings, WorkerSettings

    logging.getLogger("drexfy").setLevel(logging.WARNING)
    env = await asyncio.to_thread(start_evm_environment)  # it runs its own event loop
    try:
        with tempfile.TemporaryDirectory(prefix="drexfy-bench-anvil-") as directory:
            settings = load_settings(env={}, overrides={"data_dir": directory, "ledger.kind": "evm", **env.overrides})
            container = build_container(settings)
            services = await container.services()
            http = HttpSettings(
                kyc_webhook_secret="k",
                payments_webhook_secret=SECRET,
                jwt_secret="j" * 32,
                run_worker=True,
                worker=WorkerSettings(batch_size=128, concurrency=32, poll_interval=0.01, base_delay=0.1),
            )
            app = create_app(services, http, notifier=RecordingNotifier())
            client = TestClient(TestServer(app))
            await client.start_server()
            try:
                auth = {"Authorization": "Bearer " + issue_token(http.jwt_secret, "admin")}
                front = {"Authorization": "Bearer " + issue_token(http.jwt_secret, "frontend")}

                async def api(method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
                    response = await client.request(method, path, json=body, headers=headers)
                    data = await response.json()
                    if response.status >= 400:
                        raise RuntimeError(f"{path}: {data}")
                    return data

                ins = await api(
                    "POST",
                    "/api/v1/instruments",
                    {
                        "symbol": "BENCH",
                        "name": "bench pool",
                        "unit_price": {"minor": 100, "currency": "EUR"},
                        "total_units": 10**6,
                        "eligible": ["EU_NON_ACCREDITED"],
                        "min_ticket": {"minor": 100, "currency": "EUR"},
                        "max_ticket": {"minor": 10**9, "currency": "EUR"},
                    },
                    auth,
                )
                await api("POST", f"/api/v1/instruments/{ins['id']}/open", None, auth)
                ids = []
                for i in range(investors):
                    inv = await api(
                        "POST",
                        "/api/v1/investors",
                        {
                            "legal_name": "Bench",
                            "email": f"bench{i}@example.com",
                            "country": "DE",
                            "kind": "INDIVIDUAL",
                        },
                        front,
                    )
                    kyc = await api("POST", f"/api/v1/investors/{inv['id']}/kyc", None, front)
                    body = sandbox.kyc_review(kyc["applicant_id"], country="DE")
                    await client.post("/webhooks/kyc", data=body, headers=sandbox.digest_headers(body, "k"))
                    ids.append(inv["id"])
                for _ in range(3000):
                    views = [await api("GET", f"/api/v1/investors/{i}", None, front) for i in ids]
                    if all(v["status"] == "ACTIVE" for v in views):
                        break
                    await asyncio.sleep(0.05)
                placed = []
                for n in range(orders):
                    placed.append(
                        await api(
                            "POST",
                            "/api/v1/orders",
                            {"investor_id": ids[n % investors], "instrument_id": ins["id"], "units": 1 + n % 3},
                            front,
                        )
                    )
                bodies = [
                    sandbox.stripe_event(
                        f"evt_anvil_{o['id']}",
                        "payment_intent.succeeded",
                        order_id=o["id"],
                        amount_minor=o["amount"]["minor"],
                    )
                    for o in placed
                ]
                state = app[STATE]
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        client.post("/webhooks/payments", data=b, headers=sandbox.stripe_headers(b, SECRET))
                        for b in bodies
                    )
                )
                accepted = time.perf_counter() - started
                settled = 0
                while time.perf_counter() - started < 300:
                    async with state.services.store.unit_of_work() as uow:
                        statuses = [(await uow.orders.get(o["id"])).status for o in placed]
                    settled = sum(1 for s in statuses if s is OrderStatus.SETTLED)
                    if settled == len(placed):
                        break
                    # The probe shares the worker's process and cores: poll gently so it does not
                    # slow down what it measures (at most 0.1 s of extra wall time).
                    await asyncio.sleep(0.1)
                elapsed = time.perf_counter() - started
                latency = state.metrics.settlement_latency
                return {
                    "orders": len(placed),
                    "settled": settled,
                    "seconds": round(elapsed, 3),
                    "settled_per_second": round(settled / elapsed, 1),
                    "webhooks_accepted_in_s": round(accepted, 3),
                    "settlement_latency_mean_s": round(latency.total() / max(latency.count(), 1), 3),
                    "settle_purchase_ledger_mean_s": _mean(
                        state.metrics.ledger_latency, operation="settle_purchase", outcome="ok"
                    ),
                    "worker_concurrency": http.worker.concurrency,
                    "ledger": "EVM adapter on anvil (automine), one DvP transaction per order",
                }
            finally:
                await client.close()
                shutdown = container.shutdown_resources()
                if shutdown is not None:
                    await shutdown
    finally:
        env.node.stop()


def _mean(histogram: Any, **labels: str) -> float | None:
    count = histogram.count(**labels)
    return round(histogram.total(**labels) / count, 4) if count else None


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput (the machine is shared: single runs are noisy)."""
    ordered = sorted(runs, key=lambda r: r["per_second"])
    return {**ordered[len(ordered) // 2], "all_per_second": [r["per_second"] for r in runs]}


async def _highest_open_loop_rate(run: Any, base_rate: float, fractions: tuple[float, ...]) -> dict[str, Any]:
    """The highest of `fractions` x `base_rate` that `run(rate)` answers with p99 under 50 ms
    and at least 95 % of the offered rate, highest first."""
    found: dict[str, Any] = {"rate": None, "tried": []}
    for fraction in fractions:
        rate = round(base_rate * fraction, 1)
        result = await run(rate)
        ok = result["p99_ms"] < 50 and result["per_second"] >= rate * 0.95
        found["tried"].append({"rate": rate, "per_second": result["per_second"], "p99_ms": result["p99_ms"], "ok": ok})
        if ok:
            found.update(rate=rate, fraction_of_bare=fraction, run=result)
            break
    return found


async def main() -> dict[str, Any]:
    bares, closeds, floors = [], [], []
    over_store, noops = [], []
    for round_ in range(ROUNDS):  # interleaved, so all see the same machine load
        bares.append(await _bare())
        closeds.append(await _webhooks(seed=10 + round_, rate=None))
        floors.append(await _floor())
        over_store.append(await _floor_over_store())
        noops.append(await _webhooks(seed=5, rate=None, variant="noop"))
    bare, closed, floor = _median_run(bares), _median_run(closeds), _median_run(floors)
    # The target as restated for this machine (issue 10): closed loop at least 80 % of the floor
    # handler's, and p99 < 50 ms at 80 % of the highest open-loop rate at which the floor itself
    # keeps p99 under 50 ms.
    floor_sustained = await _highest_open_loop_rate(
        lambda rate: _floor(rate=rate), bare["per_second"], FLOOR_SUSTAINED_FRACTIONS
    )
    at_80_of_floor: dict[str, Any] = {"target_rate": None}
    if floor_sustained["rate"]:
        target_rate = round(floor_sustained["rate"] * 0.8, 1)
        at_80_of_floor = {"target_rate": target_rate, **await _webhooks(seed=21, rate=target_rate)}
    paced_rate = round(bare["per_second"] * 0.5, 1)
    paced = await _webhooks(seed=3, rate=paced_rate)
    sustained: dict[str, Any] = {"rate": None, "tried": []}
    for fraction in SUSTAINED_FRACTIONS:  # the highest offered rate still answered within target
        rate = round(bare["per_second"] * fraction, 1)
        run = await _webhooks(seed=20, rate=rate)
        ok = run["p99_ms"] < 50 and run["per_second"] >= rate * 0.95
        sustained["tried"].append({"rate": rate, "per_second": run["per_second"], "p99_ms": run["p99_ms"], "ok": ok})
        if ok:
            sustained.update(rate=rate, fraction_of_bare=fraction, run=run)
            break
    normal = await _webhooks(seed=4, rate=None, variant="normal")
    noop = _median_run(noops)
    floor_paced = await _floor(rate=paced_rate)
    floor_wide = await _floor(concurrency=64)
    bare_wide = await _bare(concurrency=64)
    service_wide = await _webhooks(seed=8, rate=None, concurrency=64)
    c_loadgen: dict[str, Any] = {"skipped": "wrk is not on PATH (Debian package `wrk`)"}
    if shutil.which("wrk"):
        c_loadgen = {
            "bare_handler": await _bare(wrk=True),
            "webhooks": await _webhooks(seed=6, rate=None, wrk=True),
            "webhooks_inbox_write_noop": await _webhooks(seed=7, rate=None, variant="noop", wrk=True),
        }
        c_loadgen["throughput_ratio_vs_bare"] = round(
            c_loadgen["webhooks"]["per_second"] / c_loadgen["bare_handler"]["per_second"], 3
        )
    try:
        anvil = await _anvil_settlements()
    except Exception as exc:  # anvil missing or the EVM adapter failing must not hide the other figures
        anvil = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    ratio = closed["per_second"] / bare["per_second"]
    per_round = [round(c["per_second"] / f["per_second"], 3) for c, f in zip(closeds, floors, strict=True)]
    floor_ratio = statistics.median(per_round)
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "method": {
            "requests_per_run": REQUESTS,
            "rounds": ROUNDS,
            "closed_loop_concurrency": CONCURRENCY,
            "duplicate_share": DUPLICATE_SHARE,
            "store": "SQLite, WAL, synchronous=FULL (fsync per commit)",
            "load_generator": "separate process, aiohttp client, loopback",
            "reported": "median of interleaved rounds; all_per_second lists every round; the ratio to the floor"
            " is the median of each round's ratio",
            "open_loop": f"paced arrivals for {PACED_SECONDS:g} s, up to {OPEN_LOOP_CONNECTIONS} connections",
        },
        "bare_handler": bare,
        "webhooks_closed_loop": closed,
        "webhooks_paced_at_half_bare": {"target_rate": paced_rate, **paced},
        "webhooks_sustained_open_loop_p99_under_50ms": sustained,
        "diagnostics": {
            "webhooks_sqlite_synchronous_normal": normal,
            "webhooks_inbox_write_noop": noop,
            "note": "normal: same path without an fsync per commit (not durable on power loss); "
            "noop: the HTTP layer alone (verify, parse, encode, answer) without the inbox write",
            "c_load_generator": c_loadgen,
            "floor_minimal_durable_handler": floor,
            "floor_handler_over_the_service_inbox": _median_run(over_store),
            "decomposition_note": "rounds interleaved with the closed-loop runs: floor -> floor over the "
            "service's inbox = the store write path's cost; webhooks with the inbox write a no-op = the "
            "service's HTTP layer without it",
            "floor_minimal_durable_handler_open_loop_at_half_bare": {"target_rate": paced_rate, **floor_paced},
            "floor_minimal_durable_handler_64_in_flight": floor_wide,
            "bare_handler_64_in_flight": bare_wide,
            "webhooks_64_in_flight": service_wide,
            "floor_note": "the least a durable ingestion handler can do (stripe verify, parse, fsync'd"
            " group-commit insert, no middleware): how close this machine lets any Python service get",
        },
        "settlements_on_anvil": anvil,
        "throughput_ratio_vs_bare": round(ratio, 3),
        "floor_closed_loop": {**floor, "all_per_second": [r["per_second"] for r in floors]},
        # Each round's service run beside the floor run of the same round: on this shared machine
        # the load swings between rounds (3x seen), which a ratio of two medians does not cancel.
        "throughput_ratio_vs_floor": floor_ratio,
        "throughput_ratio_vs_floor_per_round": per_round,
        "throughput_ratio_of_medians_vs_floor": round(closed["per_second"] / floor["per_second"], 3),
        "floor_sustained_open_loop_p99_under_50ms": floor_sustained,
        "webhooks_open_loop_at_80pct_of_floor_sustained": at_80_of_floor,
        "targets": {
            "closed_loop_at_least_80pct_of_floor": floor_ratio >= 0.8,
            "p99_under_50ms_at_80pct_of_floor_sustained_rate": bool(
                at_80_of_floor["target_rate"]
                and at_80_of_floor["p99_ms"] < 50
                and at_80_of_floor["per_second"] >= at_80_of_floor["target_rate"] * 0.95
            ),
            "superseded_ratio_at_least_0.5_of_bare": ratio >= 0.5,
            "superseded_p99_under_50ms_at_half_bare_load": paced["p99_ms"] < 50
            and paced["per_second"] >= paced_rate * 0.95,
            "anvil_settled_per_second_at_least_50": anvil.get("settled_per_second", 0) >= 50,
            "zero_lost_or_duplicated": all(
                r["lost"] == 0 and r["duplicated"] == 0
                for r in (*closeds, paced, *([c_loadgen["webhooks"]] if "webhooks" in c_loadgen else []))
            ),
        },
    }
    _print(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "http.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _print(result: dict[str, Any]) -> None:
    rows = [
        ("bare aiohttp handler (closed loop)", result["bare_handler"]),
        ("signed webhooks -> inbox (closed loop)", result["webhooks_closed_loop"]),
        (
            f"signed webhooks paced at {result['webhooks_paced_at_half_bare']['target_rate']}/s",
            result["webhooks_paced_at_half_bare"],
        ),
        ("diag: inbox on synchronous=NORMAL", result["diagnostics"]["webhooks_sqlite_synchronous_normal"]),
        ("diag: inbox write replaced by a no-op", result["diagnostics"]["webhooks_inbox_write_noop"]),
        ("floor: minimal durable handler", result["diagnostics"]["floor_minimal_durable_handler"]),
        ("floor handler over the service's inbox", result["diagnostics"]["floor_handler_over_the_service_inbox"]),
        (
            "floor: open loop at half the bare rate",
            result["diagnostics"]["floor_minimal_durable_handler_open_loop_at_half_bare"],
        ),
        ("64 in flight: bare aiohttp handler", result["diagnostics"]["bare_handler_64_in_flight"]),
        ("64 in flight: signed webhooks -> inbox", result["diagnostics"]["webhooks_64_in_flight"]),
        ("64 in flight: floor", result["diagnostics"]["floor_minimal_durable_handler_64_in_flight"]),
    ]
    c_loadgen = result["diagnostics"]["c_load_generator"]
    if "webhooks" in c_loadgen:
        rows += [
            ("wrk: bare aiohttp handler", c_loadgen["bare_handler"]),
            ("wrk: signed webhooks -> inbox", c_loadgen["webhooks"]),
            ("wrk: inbox write replaced by a no-op", c_loadgen["webhooks_inbox_write_noop"]),
        ]
    print(f"{'run':<42} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'cpu ms':>7} {'loop ms':>7}  statuses")
    for name, r in rows:
        cpu, loop_cpu = r.get("server_cpu_ms_per_request", ""), r.get("event_loop_cpu_ms_per_request", "")
        print(
            f"{name:<42} {r['per_second']:>9} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} {cpu:>7} {loop_cpu:>7}"
            f"  {r['statuses']}"
        )
    closed, paced = result["webhooks_closed_loop"], result["webhooks_paced_at_half_bare"]
    print(
        f"throughput vs bare: {result['throughput_ratio_vs_bare']:.0%}; lost/duplicated: "
        f"{closed['lost']}/{closed['duplicated']} (closed), {paced['lost']}/{paced['duplicated']} (paced)"
    )
    sustained = result["webhooks_sustained_open_loop_p99_under_50ms"]
    if sustained["rate"]:
        run = sustained["run"]
        print(
            f"highest open-loop rate with p99 < 50 ms: {sustained['rate']}/s offered ({sustained['fraction_of_bare']:.0%}"
            f" of bare), {run['per_second']}/s answered, p99 {run['p99_ms']} ms"
        )
    else:
        print(f"no open-loop rate tried met p99 < 50 ms: {sustained['tried']}")
    floor_sustained = result["floor_sustained_open_loop_p99_under_50ms"]
    at_80 = result["webhooks_open_loop_at_80pct_of_floor_sustained"]
    print(
        f"restated target: closed loop {result['webhooks_closed_loop']['per_second']}/s vs floor "
        f"{result['floor_closed_loop']['per_second']}/s = {result['throughput_ratio_vs_floor']:.0%} (>= 80 %); "
        f"floor holds p99 < 50 ms up to {floor_sustained['rate']}/s offered; "
        + (
            f"service at 80 % of it ({at_80['target_rate']}/s): {at_80['per_second']}/s answered, p99 {at_80['p99_ms']} ms"
            if at_80["target_rate"]
            else f"the floor met p99 < 50 ms at none of {floor_sustained['tried']}"
        )
    )
    anvil = result["settlements_on_anvil"]
    if "settled_per_second" in anvil:
        print(
            f"end to end on anvil: {anvil['settled']}/{anvil['orders']} orders settled in {anvil['seconds']} s = "
            f"{anvil['settled_per_second']}/s (mean webhook->settled {anvil['settlement_latency_mean_s']} s)"
        )
    else:
        print(f"end to end on anvil: not measured ({anvil.get('error')})")
    print(f"targets: {result['targets']}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--loadgen":
        print(json.dumps(asyncio.run(_loadgen(json.loads(sys.argv[2])))))
    else:
        asyncio.run(main())
