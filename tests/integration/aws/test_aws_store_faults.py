"""DynamoDB faults against a moto server we stop, restart, pause and resume mid-run.

What each test proves, and what it cannot:
- stop/restart: while the endpoint refuses connections every kind of store call fails with the
  transient StoreUnavailable after a bounded number of attempts (no fallback, no hang); after the
  restart the same store object works again. moto keeps its data in memory, so a restart *loses the
  table*: the test recreates it (as `drexfy store init` would) and cannot say anything about
  durability, which is DynamoDB's job, not ours.
- pause/resume (SIGSTOP/SIGCONT): the server keeps its state but stops answering, like a hung
  endpoint. Requests sent during the pause time out client-side and may still be applied when the
  server wakes up: exactly the "did my write happen?" case. Retrying the conditional writes after
  the resume must leave every message, journal entry and idempotency record exactly once.
- throttling: botocore's own retry loop is exercised by making the first responses
  ThrottlingException (injected at the HTTP layer, the request never reaches moto); the number of
  HTTP attempts is counted.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from botocore.awsrequest import AWSResponse

from drexfy.adapters.aws import AwsSettings, CallCounter
from drexfy.adapters.dynamodb import DynamoStore, StoreUnavailable
from drexfy.adapters.dynamodb.schema import create_table
from drexfy.domain.ports import IdempotentResponse, JournalEntry, JournalStatus, MessageStatus, QueuedMessage
from tests.contract import builders as b
from tests.integration.aws.conftest import fast_failing
from tests.support.moto import REGION, MotoServer

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def message(key: str) -> QueuedMessage:
    return QueuedMessage(id=f"msg_{key}", key=key, kind="kyc", payload={"k": key}, created_at=T0)


def new_store(server: MotoServer, attempts: int = 2) -> DynamoStore:
    settings = fast_failing(server.endpoint, attempts)
    store = DynamoStore(settings.client("dynamodb"), f"drexfy-{uuid.uuid4().hex[:8]}")
    set_up_table(server, store.table.name)
    return store


def set_up_table(server: MotoServer, name: str) -> None:
    """Create the table through a patient client: only the store under test fails fast (a CreateTable
    on a loaded machine can take more than the fast client's 1 s read timeout; that is no fault)."""
    create_table(AwsSettings(region=REGION, endpoint_url=server.endpoint).client("dynamodb"), name)


async def test_unreachable_store_fails_transiently_with_bounded_retries_then_recovers(
    private_moto_server: MotoServer,
) -> None:
    store = new_store(private_moto_server, attempts=3)
    counter = CallCounter().attach(store.client)
    await store.inbox.add(message("before"))
    private_moto_server.stop()

    calls = {
        "ping": store.ping(),
        "inbox.add": store.inbox.add(message("during")),
        "journal.get": store.journal.get("op_1"),
        "idempotency.get": store.idempotency.get("orders", "k"),
    }
    for name, coroutine in calls.items():
        counter.reset()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            await coroutine
        assert info.value.transient, name
        assert counter.total == 3, f"{name}: expected exactly max_attempts HTTP attempts, got {counter.calls}"
        assert time.monotonic() - started < 10, f"{name} took too long to give up"

    async with store.unit_of_work() as uow:
        with pytest.raises(StoreUnavailable):
            await uow.investors.find("inv_1")

    private_moto_server.start()  # same port, empty state (moto keeps nothing)
    set_up_table(private_moto_server, store.table.name)
    assert await store.inbox.add(message("after")) is True
    async with store.unit_of_work() as uow:
        await uow.investors.add(b.investor("inv_1"))
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert (await uow.investors.get("inv_1")).id == "inv_1"
    await store.close()


async def test_hung_store_then_resumed_keeps_everything_once(private_moto_server: MotoServer) -> None:
    store = new_store(private_moto_server, attempts=1)
    keys = [f"evt_{i}" for i in range(6)]
    await store.inbox.add(message("before_pause"))
    assert await store.journal.create(JournalEntry("op_before", "evm", "fp", JournalStatus.PREPARED, T0))

    private_moto_server.pause()
    failed = []
    try:
        for key in keys:
            with pytest.raises(StoreUnavailable):
                await store.inbox.add(message(key))
            failed.append(key)
        with pytest.raises(StoreUnavailable):
            await store.journal.create(JournalEntry("op_during", "evm", "fp", JournalStatus.PREPARED, T0))
        with pytest.raises(StoreUnavailable):
            await store.idempotency.put(IdempotentResponse("orders", "idem_1", "h", 201, {"id": "o1"}, T0))
    finally:
        private_moto_server.resume()
    assert failed == keys

    # The senders retry (a provider redelivers its webhook, the worker retries its job).
    retried = {key: await store.inbox.add(message(key)) for key in keys}
    created = await store.journal.create(JournalEntry("op_during", "evm", "fp", JournalStatus.PREPARED, T0))
    stored = await store.idempotency.put(IdempotentResponse("orders", "idem_1", "h", 201, {"id": "o1"}, T0))

    inbox = await store.inbox.list(limit=100)
    assert sorted(m.key for m in inbox) == sorted([*keys, "before_pause"]), "lost or doubled messages"
    assert (await store.inbox.counts())[MessageStatus.PENDING] == len(keys) + 1
    # A retry answers False when its timed-out first attempt landed after the resume: the caller
    # treats that as "already stored", which is the truth.
    assert set(retried) == set(keys)
    assert (await store.journal.get("op_before")) is not None
    assert (await store.journal.get("op_during")) is not None
    assert (await store.journal.unfinished("evm")) and len(await store.journal.unfinished("evm")) == 2
    assert (await store.idempotency.get("orders", "idem_1")) is not None
    # A second, different write with an existing key is still refused after all this.
    assert await store.inbox.add(message(keys[0])) is False
    assert await store.journal.create(JournalEntry("op_during", "evm", "fp", JournalStatus.PREPARED, T0)) is False
    del created, stored
    await store.close()


def _throttle_first(store: DynamoStore, times: int) -> CallCounter:
    """Answer the first `times` requests with HTTP 400 ThrottlingException before they leave."""
    counter = CallCounter().attach(store.client)
    remaining = [times]

    def throttle(request: object = None, **kwargs: object) -> AWSResponse | None:
        if remaining[0] <= 0:
            return None
        remaining[0] -= 1
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"})
        raw = _Raw(body.encode())
        return AWSResponse("http://throttled", 400, {"Content-Type": "application/x-amz-json-1.0"}, raw)

    store.client.meta.events.register_last("before-send", throttle)
    return counter


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: object) -> list[bytes]:
        return [self._body]

    def read(self, *args: object) -> bytes:
        return self._body


async def test_throttling_is_retried_with_backoff_and_succeeds_within_the_budget(moto_server: MotoServer) -> None:
    store = new_store(moto_server, attempts=3)
    counter = _throttle_first(store, 2)
    assert await store.inbox.add(message("k1")) is True
    assert counter.total == 3  # two throttled attempts, then the one that reached moto
    assert [m.key for m in await store.inbox.list()] == ["k1"]


async def test_throttling_beyond_the_budget_is_a_transient_error(moto_server: MotoServer) -> None:
    store = new_store(moto_server, attempts=3)
    counter = _throttle_first(store, 10)
    with pytest.raises(StoreUnavailable):
        await store.inbox.get("msg_nothing")
    assert counter.total == 3


async def test_a_unit_of_work_that_failed_to_commit_leaves_nothing_behind(private_moto_server: MotoServer) -> None:
    store = new_store(private_moto_server, attempts=1)
    async with store.unit_of_work() as uow:
        await uow.instruments.add(b.instrument(total_units=10, units_sold=0, units_reserved=0, units_retired=0))
        await uow.commit()
    async with store.unit_of_work() as uow:
        instrument = await uow.instruments.get("ins_1")
        instrument.name = "renamed"
        await uow.instruments.save(instrument)
        private_moto_server.pause()
        try:
            with pytest.raises(StoreUnavailable):
                await uow.commit()
        finally:
            private_moto_server.resume()
    await asyncio.sleep(0.2)  # let the woken server finish whatever it had queued
    async with store.unit_of_work() as uow:
        reloaded = await uow.instruments.get("ins_1")
    # The timed-out commit either landed once (after the resume) or not at all; never half.
    assert (reloaded.name, reloaded.version) in (("renamed", 1), (b.instrument().name, 0))
    await store.close()
