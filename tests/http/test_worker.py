"""The worker: retries with backoff, dead letter, operator retry, lease-based crash recovery,
the outbox relay with signed notifications, and the worker embedded in the app."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import attrs
import pytest
from aiohttp import web

from drexfy.adapters.notify import HttpNotifier, RecordingNotifier, verify_notification
from drexfy.adapters.webhooks import sandbox
from drexfy.domain.errors import LedgerUnavailable
from drexfy.domain.ports import MessageStatus
from drexfy.entrypoints.http import create_app
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.worker import Worker, backoff_delay
from tests.http.conftest import http_settings
from tests.support.metrics import sample


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(60.0, 1.0 * 2 ** (attempt - 1))
        samples = [backoff_delay(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(0.1 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # spread over the whole window: jitter
    assert len({round(backoff_delay(5, 1.0, 60.0, rng), 6) for _ in range(20)}) > 15


class ShiftedClock:
    def __init__(self, inner, delta: timedelta) -> None:
        self.inner, self.delta = inner, delta

    def now(self):
        return self.inner.now() + self.delta


async def _paid_order(api, email: str, symbol: str) -> dict:
    investor_id = await api.active_investor(email)
    instrument_id = await api.open_instrument(symbol)
    order = await api.order(investor_id, instrument_id, 1)
    await api.payment(
        sandbox.stripe_event(f"evt_{symbol}", "payment_intent.succeeded", order_id=order["id"], amount_minor=10_000)
    )
    return order


async def test_a_job_failing_every_time_is_dead_lettered_visible_and_retried_by_an_operator(api):
    order = await _paid_order(api, "dead@example.com", "DEAD1")
    ledger = api.svc.ledger.inner
    for _ in range(3):  # a fault of the job's own (a bug), every attempt; max_attempts is 3 here
        ledger.fail_next(RuntimeError("injected: a bug in the settlement path"))
    for _ in range(20):
        await api.drain()
        await asyncio.sleep(0.02)
    [job] = [m for m in await api.svc.store.inbox.list() if m.key == "payments:evt_DEAD1"]
    assert job.status is MessageStatus.DEAD
    assert job.attempts == 3
    assert "RuntimeError" in job.last_error

    status, jobs = await api.call("GET", "/api/v1/jobs?status=DEAD", "admin")
    assert status == 200
    assert [j["id"] for j in jobs["items"]] == [job.id]
    assert jobs["counts"]["DEAD"] == 1
    metrics_text = await (await api.client.get("/metrics")).text()
    assert sample(metrics_text, "drexfy_jobs", queue="inbox", status="dead") == 1

    status, problem = await api.call("POST", "/api/v1/jobs/job_missing/retry", "admin")
    assert status == 404
    status, retried = await api.call("POST", f"/api/v1/jobs/{job.id}/retry", "admin")
    assert (status, retried["status"], retried["attempts"]) == (200, "PENDING", 0)
    status, problem = await api.call("POST", f"/api/v1/jobs/{job.id}/retry", "admin")
    assert status == 409 and problem["type"].endswith("/job-not-dead")
    await api.drain()
    _, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert got["status"] == "SETTLED"


async def test_a_ledger_node_down_past_every_attempt_never_dead_letters_a_paid_order(api):
    """The node is unreachable for longer than all the attempts' backoff (a restart, an RPC
    provider's outage): the settlement job waits, at most `ledger_retry_max_s` apart, and settles
    when the node is back. Dead-lettering it would leave the paid order unsettled until an operator
    noticed (the old behaviour: dead after `max_attempts`)."""
    from drexfy.entrypoints.runtime.settings import WorkerSettings

    settings = WorkerSettings(base_delay=0.001, max_delay=300, max_attempts=3, ledger_retry_max_s=7.0)
    worker = Worker(api.state.services, api.notifier, settings)
    order = await _paid_order(api, "outage@example.com", "DOWN1")
    ledger = api.svc.ledger.inner
    ledger.online = False
    [job] = [m for m in await api.svc.store.inbox.list() if m.key == "payments:evt_DOWN1"]
    for _ in range(12):  # far beyond max_attempts, with delays that would reach minutes
        await api.svc.store.inbox.retry_later(job.id, "test", api.svc.clock.now())
        await worker.drain_inbox_once()
        job = await api.svc.store.inbox.get(job.id)
        assert job.status is MessageStatus.PENDING, job.last_error
        assert job.next_attempt_at is not None
        assert (job.next_attempt_at - api.svc.clock.now()).total_seconds() <= 7.0 + 0.5
    assert job.attempts >= 12 and "ledger-unavailable" in (job.last_error or "")
    ledger.online = True
    await api.svc.store.inbox.retry_later(job.id, "test", api.svc.clock.now())
    await worker.drain_inbox_once()
    _, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert got["status"] == "SETTLED"


async def test_at_start_unfinished_ledger_transactions_are_resumed_with_the_jobs_short_wait(api):
    """The worker resumes what a crash left unconfirmed before taking new work, waiting for each
    only as long as a job would: with the chain stopped, the full receipt timeout per transaction
    in turn kept the worker from its inbox for minutes."""
    from drexfy.domain.ports import LEDGER_WAIT
    from drexfy.entrypoints.runtime.settings import WorkerSettings

    seen: list[float | None] = []

    async def resume_unfinished() -> list[str]:
        seen.append(LEDGER_WAIT.get())
        return []

    api.svc.ledger.inner.resume_unfinished = resume_unfinished
    worker = Worker(api.state.services, api.notifier, WorkerSettings(ledger_wait_s=0.3))
    await worker._resume_ledger()
    assert seen == [0.3]
    assert LEDGER_WAIT.get() is None  # reset for whatever runs next in this task


async def test_a_payment_for_an_unknown_order_is_parked_not_dead_lettered(api):
    await api.payment(
        sandbox.stripe_event("evt_ghost", "payment_intent.succeeded", order_id="ord_ghost", amount_minor=100)
    )
    for _ in range(10):
        await api.drain()
        await asyncio.sleep(0.02)
    [job] = await api.svc.store.inbox.list()
    assert job.status is MessageStatus.PARKED and job.attempts == 1
    assert job.last_error.startswith("order-not-found")


async def test_a_job_whose_worker_died_is_taken_over_after_its_lease(api):
    order = await _paid_order(api, "crash@example.com", "CRSH1")
    # a worker claims the message and dies before finishing it
    [claimed] = await api.svc.store.inbox.claim(api.svc.clock.now(), 10, lease_seconds=30)
    assert claimed.key == "payments:evt_CRSH1"
    assert await api.drain() == 0  # still leased: nobody else takes it
    later = attrs.evolve(api.svc, clock=ShiftedClock(api.svc.clock, timedelta(seconds=31)))
    successor = Worker(later, api.notifier, api.worker.settings, api.metrics)
    assert await successor.drain_inbox_once() == 1
    _, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert got["status"] == "SETTLED"


async def test_a_crash_between_ledger_and_store_resumes_without_settling_twice(api):
    order = await _paid_order(api, "half@example.com", "HALF1")
    ledger = api.svc.ledger.inner
    ledger.crash_after_effect("settle:")
    await api.drain()  # settlement reaches the ledger, then the worker "dies" before the store commit
    await asyncio.sleep(0.05)
    await api.drain()
    _, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert got["status"] == "SETTLED"
    settlements = [d for _, d in ledger.transactions if order["id"] in d and "settle" in d.lower()]
    assert len(settlements) == 1, ledger.transactions


async def test_notifications_are_signed_and_retried_until_acknowledged(services, aiohttp_server):
    received: list[tuple[bytes, str]] = []
    failures = {"left": 2}

    async def bubble(request: web.Request) -> web.Response:
        body = await request.read()
        if failures["left"] > 0:
            failures["left"] -= 1
            return web.Response(status=503)
        received.append((body, request.headers["X-Drexfy-Signature"]))
        return web.Response(status=200)

    server_app = web.Application()
    server_app.router.add_post("/hook", bubble)
    server = await aiohttp_server(server_app)
    notifier = HttpNotifier(str(server.make_url("/hook")), "notify-secret")
    settings = http_settings()
    app = create_app(services, settings, notifier=notifier)
    state = app[STATE]
    worker = Worker(state.services, notifier, settings.worker, state.metrics)
    try:
        from drexfy.domain import processes as p
        from drexfy.domain.model import InvestorKind

        investor = await p.register_investor(
            state.services, p.RegisterInvestor("N", "n@example.com", "DE", InvestorKind.INDIVIDUAL)
        )
        await p.block_investor(state.services, investor.id, "test", "test")
        for _ in range(20):
            await worker.relay_outbox_once()
            if received:
                break
            await asyncio.sleep(0.02)
    finally:
        await notifier.close()
    assert len(received) == 1
    body, signature = received[0]
    assert verify_notification(body, signature, "notify-secret")
    assert not verify_notification(body, signature, "wrong-secret")
    assert b'"event":"InvestorBlocked"' in body
    assert b"n@example.com" not in body
    [message] = await services.store.outbox.list()
    assert message.status is MessageStatus.DONE and message.attempts == 3


async def test_the_app_runs_the_worker_by_default(services, aiohttp_client):
    settings = http_settings(run_worker=True)
    app = create_app(services, settings, notifier=RecordingNotifier())
    client = await aiohttp_client(app)
    body = sandbox.stripe_event("evt_bg", "payment_intent.succeeded", order_id="ord_none", amount_minor=1)
    r = await client.post(
        "/webhooks/payments", data=body, headers=sandbox.stripe_headers(body, settings.payments_webhook_secret)
    )
    assert r.status == 202
    for _ in range(200):
        [job] = await services.store.inbox.list()
        if job.attempts > 0:
            break
        await asyncio.sleep(0.01)
    assert job.attempts > 0  # the embedded worker picked it up without anyone calling it


async def test_a_transient_error_is_retried_and_then_succeeds(api):
    order = await _paid_order(api, "flaky@example.com", "FLKY1")
    api.svc.ledger.inner.fail_next(LedgerUnavailable("blip"))
    await api.drain()
    await asyncio.sleep(0.05)
    await api.drain()
    _, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert got["status"] == "SETTLED"
    assert api.metrics.jobs_processed.value(queue="inbox", outcome="retry") >= 1


class SlowFor:
    """Delays settle_purchase of one order, to play a slow ledger call."""

    def __init__(self, inner, order_id: str, release: asyncio.Event) -> None:
        self._inner, self._order_id, self._release = inner, order_id, release

    def __getattr__(self, name):
        return getattr(self._inner, name)

    async def settle_purchase(self, op_id, purchase):
        if purchase.order_id == self._order_id:
            await self._release.wait()
        return await self._inner.settle_purchase(op_id, purchase)


async def test_one_slow_settlement_does_not_hold_back_the_others(api):
    from drexfy.entrypoints.runtime.settings import WorkerSettings

    investor_id = await api.active_investor("pipe@example.com")
    instrument_id = await api.open_instrument("PIPE1")
    orders = [await api.order(investor_id, instrument_id, 1) for _ in range(6)]
    release = asyncio.Event()
    slow = attrs.evolve(api.svc, ledger=SlowFor(api.svc.ledger, orders[0]["id"], release))
    worker = Worker(slow, api.notifier, WorkerSettings(concurrency=2, batch_size=2, poll_interval=0.01), api.metrics)
    for n, order in enumerate(orders):
        await api.payment(
            sandbox.stripe_event(f"evt_pipe_{n}", "payment_intent.succeeded", order_id=order["id"], amount_minor=10_000)
        )
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(300):
            async with api.svc.store.unit_of_work() as uow:
                statuses = [(await uow.orders.get(o["id"])).status.value for o in orders]
            if statuses[1:] == ["SETTLED"] * 5:
                break
            await asyncio.sleep(0.01)
        assert statuses == ["PAID"] + ["SETTLED"] * 5  # the others went past the stuck one
        release.set()
        for _ in range(300):
            async with api.svc.store.unit_of_work() as uow:
                if (await uow.orders.get(orders[0]["id"])).status.value == "SETTLED":
                    break
            await asyncio.sleep(0.01)
    finally:
        release.set()
        worker.stop()
        await task
    async with api.svc.store.unit_of_work() as uow:
        assert (await uow.orders.get(orders[0]["id"])).status.value == "SETTLED"


class _ResumingLedger:
    """Wraps the test ledger and records the start-up resume call."""

    def __init__(self, inner, finished=(), error=None):
        self._inner, self._finished, self._error = inner, list(finished), error
        self.resumed = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    async def resume_unfinished(self):
        self.resumed += 1
        if self._error is not None:
            raise self._error
        return self._finished


async def test_the_worker_finishes_unconfirmed_ledger_transactions_before_new_work(api):
    ledger = _ResumingLedger(api.svc.ledger, finished=["0xabc"])
    worker = Worker(attrs.evolve(api.svc, ledger=ledger), api.notifier, api.worker.settings, api.metrics)
    task = asyncio.create_task(worker.run())
    for _ in range(100):
        if ledger.resumed:
            break
        await asyncio.sleep(0.01)
    worker.stop()
    await asyncio.wait_for(task, 5)
    assert ledger.resumed == 1


async def test_a_ledger_that_cannot_resume_yet_does_not_stop_the_worker(api):
    ledger = _ResumingLedger(api.svc.ledger, error=LedgerUnavailable("node down"))
    worker = Worker(attrs.evolve(api.svc, ledger=ledger), api.notifier, api.worker.settings, api.metrics)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    assert not task.done()  # still serving: the operations' own retries finish the job later
    worker.stop()
    await asyncio.wait_for(task, 5)
    assert ledger.resumed == 1


async def test_the_worker_purges_old_done_jobs_on_its_own_schedule(api):
    investor_id = await api.active_investor("purge@example.com")  # leaves DONE inbox jobs behind
    done_before = (await api.svc.store.inbox.counts())[MessageStatus.DONE]
    assert done_before > 0
    keep_all = Worker(api.svc, api.notifier, attrs.evolve(api.worker.settings, purge_every=0.0))
    await keep_all.tick()  # 30-day retention: nothing is old enough
    assert (await api.svc.store.inbox.counts())[MessageStatus.DONE] == done_before
    eager = attrs.evolve(api.worker.settings, purge_every=0.0, done_retention_days=-1.0)
    await Worker(api.svc, api.notifier, eager).tick()  # everything DONE is "old" now
    assert (await api.svc.store.inbox.counts())[MessageStatus.DONE] == 0
    _, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "admin")
    assert investor["status"] == "ACTIVE"  # purging jobs changes no business state


async def test_the_worker_reconciles_ledger_and_store_and_reports_drift(api, caplog):
    from tests.http.test_api import _holder_with_units

    investor_id, instrument_id = await _holder_with_units(api, "drift@example.com", "DRF1", 3)
    reports = await api.worker.reconcile_once()
    assert [(r.symbol, r.in_sync) for r in reports] == [("DRF1", True)]
    metrics_text = await (await api.client.get("/metrics")).text()
    assert sample(metrics_text, "drexfy_ledger_drift_addresses", instrument="DRF1") == 0
    assert sample(metrics_text, "drexfy_reserved_units_without_order", instrument="DRF1") == 0
    assert 0 < api.metrics.reconciled_at.value() <= api.svc.clock.now().timestamp()

    # A unit leaves the investor's wallet on the ledger behind the platform's back.
    _, instrument = await api.call("GET", f"/api/v1/instruments/{instrument_id}", "admin")
    token = api.svc.ledger.tokens[instrument["ledger_ref"]]
    holder = next(a for a, units in token.balances.items() if units == 3)
    token.balances[holder] -= 1
    caplog.clear()
    reports = await api.worker.reconcile_once()
    assert not reports[0].in_sync
    metrics_text = await (await api.client.get("/metrics")).text()
    assert sample(metrics_text, "drexfy_ledger_drift_addresses", instrument="DRF1") == 1
    warnings = [r for r in caplog.records if r.getMessage() == "ledger and store disagree"]
    assert len(warnings) == 1 and warnings[0].investor_id == investor_id and warnings[0].instrument_id == instrument_id


async def test_the_running_worker_reconciles_beside_the_inbox_and_survives_a_ledger_outage(api):
    await api.open_instrument("RUN1")
    node = api.svc.ledger._inner  # the memory ledger inside the latency-timing wrapper
    node.online = False  # the first round fails: logged, and the loop goes on
    settings = attrs.evolve(api.worker.settings, reconcile_every=0.02, poll_interval=0.01)
    worker = Worker(api.svc, api.notifier, settings, api.metrics)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.1)
        assert api.metrics.reconciled_at.value() == 0
        node.online = True
        for _ in range(100):
            if api.metrics.reconciled_at.value():
                break
            await asyncio.sleep(0.02)
        assert api.metrics.reconciled_at.value() > 0
        assert api.metrics.ledger_drift.value(instrument="RUN1") == 0
    finally:
        worker.stop()
        await asyncio.wait_for(task, 5)


async def test_an_order_held_by_a_dead_attempt_is_retried_at_the_lease_end_and_never_dead_lettered(api):
    """A worker died mid-settlement and left the order's settlement lease: the job waits for the
    lease to run out, however many attempts that takes, instead of being dead-lettered (a paid
    order must settle), and comes back when the lease ends rather than on the usual backoff."""
    from datetime import timedelta

    from drexfy.entrypoints.runtime.settings import WorkerSettings
    from drexfy.entrypoints.worker import Worker

    worker = Worker(api.state.services, api.notifier, WorkerSettings(base_delay=0.001, max_delay=300, max_attempts=3))
    order = await _paid_order(api, "lease@example.com", "LEASE1")
    until = api.svc.clock.now() + timedelta(seconds=30)
    async with api.svc.store.unit_of_work() as uow:
        held = await uow.orders.get(order["id"])
        held.mark_paid(f"pi_{held.id}", held.amount, api.svc.clock.now())  # paid; its settler died
        held.take_settlement_lease("lease_dead_worker", api.svc.clock.now(), timedelta(seconds=30))
        await uow.orders.save(held)
        await uow.commit()
    [job] = [m for m in await api.svc.store.inbox.list() if m.key == "payments:evt_LEASE1"]
    for _ in range(5):  # beyond max_attempts (3 in the test settings)
        await api.svc.store.inbox.retry_later(job.id, "test", api.svc.clock.now())
        await worker.drain_inbox_once()
    job = await api.svc.store.inbox.get(job.id)
    assert job.status is MessageStatus.PENDING and job.attempts >= 5
    assert "settlement-in-progress" in (job.last_error or "")
    # retried when the lease ends, not after a short backoff
    assert job.next_attempt_at is not None
    assert until <= job.next_attempt_at <= until + timedelta(seconds=1)


async def test_a_transaction_not_included_yet_hands_the_slot_back_and_comes_again_after_a_block(api):
    """A slow chain: the settlement's transaction is on the network but not in a block within the
    receipt wait. The job gives its worker slot back and is due again one block later, however
    many blocks that takes: a paid order is never dead-lettered for a slow chain."""
    from drexfy.domain.errors import LedgerPending
    from drexfy.entrypoints.runtime.settings import WorkerSettings
    from drexfy.entrypoints.worker import Worker

    worker = Worker(api.state.services, api.notifier, WorkerSettings(base_delay=0.001, max_delay=300, max_attempts=3))
    order = await _paid_order(api, "slow@example.com", "SLOW1")
    [job] = [m for m in await api.svc.store.inbox.list() if m.key == "payments:evt_SLOW1"]
    for _ in range(5):  # beyond max_attempts
        api.svc.ledger.inner.fail_next(LedgerPending("not included yet", retry_after_s=6.0))
        await api.svc.store.inbox.retry_later(job.id, "test", api.svc.clock.now())
        await worker.drain_inbox_once()
    job = await api.svc.store.inbox.get(job.id)
    assert job.status is MessageStatus.PENDING and job.attempts >= 5
    assert job.next_attempt_at is not None
    wait = (job.next_attempt_at - api.svc.clock.now()).total_seconds()
    assert 5.0 <= wait <= 6.5, wait
    await api.svc.store.inbox.retry_later(job.id, "test", api.svc.clock.now())
    await worker.drain_inbox_once()  # included by now: it settles
    _, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert got["status"] == "SETTLED"


async def test_notifications_can_carry_a_bearer_api_token_as_bubble_expects(tmp_path, aiohttp_server):
    """`http.notify_auth = "bearer"`: the container's notifier sends `Authorization: Bearer <token>`
    (what a Bubble API workflow checks natively) and no HMAC header; the body is the same."""
    from drexfy.domain.errors import ConfigurationError
    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.container import build_container

    seen: list[dict[str, str]] = []

    async def bubble(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(status=200)

    server_app = web.Application()
    server_app.router.add_post("/api/1.1/wf/drexfy", bubble)
    server = await aiohttp_server(server_app)
    overrides = {
        "data_dir": str(tmp_path),
        "ledger.kind": "memory",
        "http.notify_url": str(server.make_url("/api/1.1/wf/drexfy")),
        "http.notify_auth": "bearer",
    }
    with pytest.raises(ConfigurationError, match="notify_api_token"):
        load_settings(env={}, overrides=overrides)
    settings = load_settings(env={}, overrides={**overrides, "http.notify_api_token": "bubble-api-token"})
    container = build_container(settings)
    notifier = await container.notifier()
    try:
        await notifier.notify("evt_1", "OrderSettled", "ord_1", {"units": 1})
    finally:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown
    [headers] = seen
    assert headers["Authorization"] == "Bearer bubble-api-token"
    assert headers["X-Drexfy-Event-Id"] == "evt_1" and "X-Drexfy-Signature" not in headers
