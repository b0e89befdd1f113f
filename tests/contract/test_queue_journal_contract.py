"""Store contract, part 2: inbox/outbox queues, the operation journal and idempotency records.

Runs once per implementation registered in tests/contract/conftest.py (STORE_FACTORIES).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from drexfy.domain.errors import IllegalTransition, NotFound
from drexfy.domain.ports import (
    IN_PROGRESS,
    IdempotentResponse,
    JournalEntry,
    JournalStatus,
    MessageQueue,
    MessageStatus,
    OperationJournal,
    QueuedMessage,
    Store,
)
from tests.contract.builders import T0
from tests.contract.conftest import OpenStores


def message(key: str, **changes: Any) -> QueuedMessage:
    fields: dict[str, Any] = {
        "id": f"msg_{key}",
        "key": key,
        "kind": "payment.succeeded",
        "payload": {"order_id": "ord_1", "amount": 300_00, "nested": {"list": [1, "two", None]}},
        "created_at": T0,
    }
    fields.update(changes)
    return QueuedMessage(**fields)


@pytest.fixture(params=["inbox", "outbox"])
def queue(request: pytest.FixtureRequest, store: Store) -> MessageQueue:
    return getattr(store, request.param)  # type: ignore[no-any-return]


# --- queues ------------------------------------------------------------------------------------------------


async def test_a_message_round_trips_and_a_duplicate_key_is_dropped(queue: MessageQueue) -> None:
    original = message("evt_1")
    assert await queue.add(original) is True
    assert await queue.add(message("evt_1", id="msg_other", payload={"different": True})) is False
    assert await queue.get("msg_evt_1") == original
    with pytest.raises(NotFound):
        await queue.get("msg_other")
    assert (await queue.counts())[MessageStatus.PENDING] == 1


async def test_a_message_with_every_field_set_round_trips(queue: MessageQueue) -> None:
    full = message(
        "evt_full",
        status=MessageStatus.PENDING,
        attempts=4,
        next_attempt_at=T0 + timedelta(minutes=5, microseconds=3),
        last_error="gateway timeout",
    )
    assert await queue.add(full)
    assert await queue.get(full.id) == full


async def test_inbox_and_outbox_are_separate_queues(store: Store) -> None:
    assert await store.inbox.add(message("same"))
    assert await store.outbox.add(message("same"))
    assert len(await store.inbox.list()) == 1
    assert len(await store.outbox.list()) == 1


async def test_claim_leases_due_messages_once(queue: MessageQueue) -> None:
    for i in range(3):
        await queue.add(message(f"k{i}", created_at=T0 + timedelta(seconds=i)))
    await queue.add(message("later", next_attempt_at=T0 + timedelta(hours=1)))

    claimed = await queue.claim(T0, limit=2, lease_seconds=60)
    assert [m.key for m in claimed] == ["k0", "k1"]
    assert all(m.status is MessageStatus.RUNNING and m.attempts == 1 for m in claimed)
    assert all(m.next_attempt_at == T0 + timedelta(seconds=60) for m in claimed)
    assert await queue.get(claimed[0].id) == claimed[0]

    # leased ones are not handed out again while the lease runs; the future one is not due
    assert [m.key for m in await queue.claim(T0 + timedelta(seconds=30), 10, 60)] == ["k2"]
    assert await queue.claim(T0 + timedelta(seconds=59), 10, 60) == []

    # a lease that ran out (worker died) makes the message claimable again
    reclaimed = await queue.claim(T0 + timedelta(seconds=61), 10, 60)
    assert [(m.key, m.attempts) for m in reclaimed] == [("k0", 2), ("k1", 2)]
    counts = await queue.counts()
    assert counts == {
        MessageStatus.PENDING: 1,
        MessageStatus.RUNNING: 3,
        MessageStatus.DONE: 0,
        MessageStatus.DEAD: 0,
        MessageStatus.PARKED: 0,
    }


async def test_a_lapsed_lease_is_claimed_before_new_messages(queue: MessageQueue) -> None:
    """A worker died holding a job (which may hold the ledger's oldest nonce): once its lease runs
    out, that job comes before messages that keep arriving, never after all of them."""
    await queue.add(message("held"))
    assert [m.key for m in await queue.claim(T0, 1, 60)] == ["held"]
    for i in range(5):  # a steady inflow meanwhile
        await queue.add(message(f"new{i}", created_at=T0 + timedelta(seconds=10 + i)))
    await queue.add(message("retry", next_attempt_at=T0 + timedelta(seconds=30)))
    first = await queue.claim(T0 + timedelta(seconds=61), 2, 60)
    assert sorted((m.key, m.attempts) for m in first) == [("held", 2), ("retry", 1)]
    assert [m.key for m in await queue.claim(T0 + timedelta(seconds=62), 10, 60)] == [f"new{i}" for i in range(5)]


async def test_complete_retry_dead_and_requeue(queue: MessageQueue) -> None:
    for key in ("ok", "flaky", "broken"):
        await queue.add(message(key))
    claimed = {m.key: m for m in await queue.claim(T0, 10, 60)}

    await queue.complete(claimed["ok"].id)
    await queue.retry_later(claimed["flaky"].id, "timeout", T0 + timedelta(minutes=2))
    await queue.dead(claimed["broken"].id, "invalid payload")

    assert (await queue.get(claimed["ok"].id)).status is MessageStatus.DONE
    flaky = await queue.get(claimed["flaky"].id)
    assert (flaky.status, flaky.last_error, flaky.next_attempt_at, flaky.attempts) == (
        MessageStatus.PENDING,
        "timeout",
        T0 + timedelta(minutes=2),
        1,
    )
    broken = await queue.get(claimed["broken"].id)
    assert (broken.status, broken.last_error) == (MessageStatus.DEAD, "invalid payload")

    # done and dead are never claimed; the retry only once it is due
    assert await queue.claim(T0 + timedelta(minutes=1), 10, 60) == []
    assert [m.key for m in await queue.claim(T0 + timedelta(minutes=2), 10, 600)] == ["flaky"]

    with pytest.raises(IllegalTransition):
        await queue.requeue(claimed["ok"].id, T0)
    await queue.requeue(claimed["broken"].id, T0 + timedelta(minutes=3))
    requeued = await queue.get(claimed["broken"].id)
    assert requeued.status is MessageStatus.PENDING
    assert requeued.attempts == 0
    assert [m.key for m in await queue.claim(T0 + timedelta(minutes=3), 10, 60)] == ["broken"]

    assert [m.key for m in await queue.list(MessageStatus.DONE)] == ["ok"]
    assert {m.key for m in await queue.list(MessageStatus.RUNNING)} == {"flaky", "broken"}
    assert len(await queue.list(limit=2)) == 2


async def test_a_parked_message_is_kept_apart_never_claimed_and_requeued_by_hand(queue: MessageQueue) -> None:
    for key in ("stray", "ok"):
        await queue.add(message(key))
    claimed = {m.key: m for m in await queue.claim(T0, 10, 60)}
    await queue.park(claimed["stray"].id, "order-not-found: no order ord_x")
    await queue.complete(claimed["ok"].id)
    stray = await queue.get(claimed["stray"].id)
    assert (stray.status, stray.last_error) == (MessageStatus.PARKED, "order-not-found: no order ord_x")
    assert (await queue.counts())[MessageStatus.PARKED] == 1
    assert [m.key for m in await queue.list(MessageStatus.PARKED)] == ["stray"]
    assert await queue.claim(T0 + timedelta(days=1), 10, 60) == []
    assert await queue.purge_done(T0 + timedelta(days=1)) == 1  # the DONE one only
    await queue.requeue(stray.id, T0 + timedelta(minutes=1))
    assert [m.key for m in await queue.claim(T0 + timedelta(minutes=1), 10, 60)] == ["stray"]


async def test_a_message_is_found_by_its_key(queue: MessageQueue) -> None:
    await queue.add(message("evt_1", payload={"amount": 5}))
    found = await queue.get_by_key("evt_1")
    assert found is not None and (found.key, found.payload) == ("evt_1", {"amount": 5})
    assert await queue.get_by_key("evt_2") is None


async def test_unknown_message_ids_are_not_found(queue: MessageQueue) -> None:
    for call in (
        queue.get("nope"),
        queue.complete("nope"),
        queue.retry_later("nope", "x", T0),
        queue.dead("nope", "x"),
        queue.requeue("nope", T0),
    ):
        with pytest.raises(NotFound):
            await call


async def test_concurrent_claims_never_hand_out_a_message_twice(open_store: OpenStores) -> None:
    first, second = await open_store(), await open_store()
    for i in range(40):
        await first.inbox.add(message(f"k{i:02d}"))

    batches = await asyncio.gather(*((first if i % 2 else second).inbox.claim(T0, 3, 60) for i in range(20)))
    keys = [m.key for batch in batches for m in batch]
    assert len(keys) == len(set(keys)) == 40


async def test_adding_the_same_key_concurrently_stores_it_once(open_store: OpenStores) -> None:
    first, second = await open_store(), await open_store()
    results = await asyncio.gather(
        *((first if i % 2 else second).inbox.add(message("dup", id=f"msg_{i}")) for i in range(10))
    )
    assert sorted(results) == [False] * 9 + [True]
    assert len(await first.inbox.list()) == 1


# --- journal ---------------------------------------------------------------------------------------------------


def entry(op_id: str = "op_1", **changes: Any) -> JournalEntry:
    fields: dict[str, Any] = {
        "op_id": op_id,
        "ledger": "evm",
        "fingerprint": "sha256:abc",
        "status": JournalStatus.PREPARED,
        "created_at": T0,
    }
    fields.update(changes)
    return JournalEntry(**fields)


async def test_journal_create_is_insert_if_absent_and_round_trips(store: Store) -> None:
    full = entry(
        account="0xRelayer",
        sequence=42,
        tx_id="0xhash",
        payload="0x02f8...",
        result={"block": 12, "logs": ["a", "b"]},
        updated_at=T0 + timedelta(seconds=5),
    )
    assert await store.journal.create(full) is True
    assert await store.journal.create(entry(fingerprint="sha256:other")) is False
    assert await store.journal.get("op_1") == full
    assert await store.journal.get("op_missing") is None


async def test_journal_update_and_unfinished(store: Store) -> None:
    await store.journal.create(entry("op_b", created_at=T0 + timedelta(seconds=1)))
    await store.journal.create(entry("op_a", created_at=T0 + timedelta(seconds=2), status=JournalStatus.SUBMITTED))
    await store.journal.create(entry("op_c", created_at=T0))
    await store.journal.create(entry("op_x", ledger="xrpl"))

    done = entry("op_c", status=JournalStatus.CONFIRMED, tx_id="0x1", result={"ok": True}, updated_at=T0)
    await store.journal.update(done)
    assert await store.journal.get("op_c") == done
    assert [e.op_id for e in await store.journal.unfinished("evm")] == ["op_b", "op_a"]
    assert [e.op_id for e in await store.journal.unfinished("xrpl")] == ["op_x"]

    with pytest.raises(NotFound):
        await store.journal.update(entry("op_missing"))


async def test_allocate_sequence_is_max_of_chain_and_last_plus_one(store: Store) -> None:
    await journal_allocates_max_of_chain_and_last_plus_one(store.journal)


async def journal_allocates_max_of_chain_and_last_plus_one(journal: OperationJournal) -> None:
    """Shared with the in-memory journal's unit test."""
    assert await journal.allocate_sequence("0xA", 5, "op_1") == 5
    assert await journal.allocate_sequence("0xA", 5, "op_2") == 6
    assert await journal.allocate_sequence("0xA", 0, "op_3") == 7
    assert await journal.allocate_sequence("0xA", 20, "op_4") == 20  # the chain moved ahead
    assert await journal.allocate_sequence("0xB", 0, "op_5") == 0  # accounts are independent
    assert await journal.allocate_sequence("0xA", 3, "op_6") == 21
    # The same claim gets its number back (a retry after a crash), whatever the chain says now...
    assert await journal.allocate_sequence("0xA", 30, "op_2") == 6
    # ...and handing it back did not use up a number: the next claim follows on.
    assert await journal.allocate_sequence("0xA", 0, "op_7") == 22
    # A claim is per account: one operation may take a number on several accounts (a batch).
    assert await journal.allocate_sequence("0xB", 0, "op_2") == 1
    # held_sequence reads a claim's number and allocates nothing.
    assert await journal.held_sequence("0xA", "op_2") == 6
    assert await journal.held_sequence("0xB", "op_5") == 0  # a zero is a number, not "none"
    assert await journal.held_sequence("0xA", "op_5") is None  # held on 0xB only
    assert await journal.held_sequence("0xA", "op_never") is None
    assert await journal.allocate_sequence("0xA", 0, "op_8") == 23  # the lookups used up nothing


async def test_allocate_sequence_is_unique_under_concurrency(open_store: OpenStores) -> None:
    first, second = await open_store(), await open_store()
    got = await asyncio.gather(
        *((first if i % 2 else second).journal.allocate_sequence("0xRelayer", 100, f"op_{i}") for i in range(40))
    )
    assert sorted(got) == list(range(100, 140))


async def test_concurrent_claims_of_one_operation_get_one_number(open_store: OpenStores) -> None:
    """Two processes preparing the same operation at once: both get the same number, and no number
    is skipped (a skipped nonce would stall every later transaction of the account)."""
    first, second = await open_store(), await open_store()
    got = await asyncio.gather(
        *((first if i % 2 else second).journal.allocate_sequence("0xRelayer", 7, f"op_{i // 4}") for i in range(40))
    )
    by_claim: dict[int, set[int]] = {}
    for i, number in enumerate(got):
        by_claim.setdefault(i // 4, set()).add(number)
    assert all(len(numbers) == 1 for numbers in by_claim.values())
    assert sorted(n for (n,) in by_claim.values()) == list(range(7, 17))


async def test_record_signed_keeps_the_first_signed_transaction(open_store: OpenStores) -> None:
    first, second = await open_store(), await open_store()
    await first.journal.create(entry("op_sig"))
    mine = entry("op_sig", account="0xR", sequence=3, tx_id="0xmine", payload="0x01", updated_at=T0)
    theirs = entry("op_sig", account="0xR", sequence=3, tx_id="0xtheirs", payload="0x02", updated_at=T0)
    stored = await asyncio.gather(first.journal.record_signed(mine), second.journal.record_signed(theirs))
    assert stored[0] == stored[1]  # both preparers see one and the same transaction...
    assert stored[0].tx_id in ("0xmine", "0xtheirs")
    assert await first.journal.get("op_sig") == stored[0]  # ...which is the one journalled
    later = entry("op_sig", account="0xR", sequence=3, tx_id="0xlate", payload="0x03", updated_at=T0)
    assert (await second.journal.record_signed(later)).tx_id == stored[0].tx_id
    with pytest.raises(NotFound):
        await first.journal.record_signed(entry("op_absent", payload="0x04"))


async def test_replace_signed_is_a_compare_and_set_on_the_transaction(open_store: OpenStores) -> None:
    first, second = await open_store(), await open_store()
    original = entry("op_r", account="0xR", sequence=4, tx_id="0xold", payload="0x01", updated_at=T0)
    await first.journal.create(original)
    mine = entry("op_r", account="0xR", sequence=4, tx_id="0xmine", payload="0x02", result={"superseded": ["0xold"]})
    theirs = entry(
        "op_r", account="0xR", sequence=4, tx_id="0xtheirs", payload="0x03", result={"superseded": ["0xold"]}
    )
    stored = await asyncio.gather(
        first.journal.replace_signed(mine, previous_tx_id="0xold"),
        second.journal.replace_signed(theirs, previous_tx_id="0xold"),
    )
    assert stored[0] == stored[1] and stored[0].tx_id in ("0xmine", "0xtheirs")  # one replacement, agreed
    assert await first.journal.get("op_r") == stored[0]
    # A replacement of a version that is no longer stored changes nothing.
    late = entry("op_r", account="0xR", sequence=4, tx_id="0xlate", payload="0x04")
    assert (await second.journal.replace_signed(late, previous_tx_id="0xold")).tx_id == stored[0].tx_id
    with pytest.raises(NotFound):
        await first.journal.replace_signed(entry("op_absent"), previous_tx_id="0xold")


async def test_record_signed_replaces_an_unsigned_or_simulation_failed_entry(store: Store) -> None:
    await store.journal.create(entry("op_f", status=JournalStatus.FAILED, result={"reason": "x", "signed": False}))
    signed = entry("op_f", account="0xR", sequence=1, tx_id="0xnew", payload="0x05", updated_at=T0)
    assert await store.journal.record_signed(signed) == signed
    assert await store.journal.get("op_f") == signed


# --- idempotency ------------------------------------------------------------------------------------------------


async def test_idempotency_put_if_absent(store: Store) -> None:
    response = IdempotentResponse(
        scope="orders:create",
        key="idem-1",
        request_hash="h1",
        status=201,
        body={"id": "ord_1", "amount": {"minor": 300_00, "currency": "EUR"}},
        created_at=T0,
    )
    assert await store.idempotency.get("orders:create", "idem-1") is None
    assert await store.idempotency.put(response) is True
    assert await store.idempotency.put(IdempotentResponse("orders:create", "idem-1", "h2", 500, {}, T0)) is False
    assert await store.idempotency.get("orders:create", "idem-1") == response
    assert await store.idempotency.get("other:scope", "idem-1") is None


async def test_ping_answers(store: Store) -> None:
    await store.ping()


async def test_idempotency_reservations(open_store: OpenStores) -> None:
    first, second = await open_store(), await open_store()
    lease = timedelta(seconds=60)
    # Two processes start the same first attempt: exactly one holds the key.
    got = await asyncio.gather(
        first.idempotency.begin("s", "k1", "h1", T0, lease), second.idempotency.begin("s", "k1", "h1", T0, lease)
    )
    assert sorted(g is None for g in got) == [False, True]
    seen = next(g for g in got if g is not None)
    assert (seen.status, seen.request_hash) == (IN_PROGRESS, "h1")
    # The holder finishes: everyone now replays the answer.
    answer = IdempotentResponse("s", "k1", "h1", 201, {"id": "ord_1"}, T0)
    await first.idempotency.finish(answer)
    assert await second.idempotency.begin("s", "k1", "h1", T0 + timedelta(hours=1), lease) == answer
    assert await second.idempotency.get("s", "k1") == answer
    # An abandoned attempt leaves nothing behind: the next one holds the key.
    assert await first.idempotency.begin("s", "k2", "h2", T0, lease) is None
    await first.idempotency.abandon("s", "k2")
    assert await second.idempotency.get("s", "k2") is None
    assert await second.idempotency.begin("s", "k2", "h3", T0, lease) is None
    # abandon and finish never touch a finished answer.
    await first.idempotency.abandon("s", "k1")
    await first.idempotency.finish(IdempotentResponse("s", "k1", "h9", 500, {}, T0))
    assert await second.idempotency.get("s", "k1") == answer


async def test_an_idempotency_reservation_past_its_lease_is_taken_over(store: Store) -> None:
    lease = timedelta(seconds=60)
    assert await store.idempotency.begin("s", "k", "h1", T0, lease) is None
    still = await store.idempotency.begin("s", "k", "h2", T0 + timedelta(seconds=59), lease)
    assert still is not None and still.status == IN_PROGRESS and still.request_hash == "h1"
    assert await store.idempotency.begin("s", "k", "h2", T0 + timedelta(seconds=61), lease) is None
    held = await store.idempotency.get("s", "k")
    assert held is not None and held.request_hash == "h2" and held.created_at == T0 + timedelta(seconds=61)


# --- retention ------------------------------------------------------------------------------------------------


async def test_purge_done_deletes_only_old_done_messages_and_forgets_their_keys(queue: MessageQueue) -> None:
    statuses = ["done", "done", "dead", "pending", "done"]
    for i in range(len(statuses)):
        await queue.add(message(f"evt_p{i}", created_at=T0 + timedelta(days=i)))
    for claimed in await queue.claim(T0 + timedelta(days=10), 10, 60):
        status = statuses[int(claimed.key.removeprefix("evt_p"))]
        if status == "done":
            await queue.complete(claimed.id)
        elif status == "dead":
            await queue.dead(claimed.id, "boom")
        else:
            await queue.retry_later(claimed.id, "later", T0 + timedelta(days=11))
    # Created on days 0..4; the purge takes DONE ones created before day 4, two at most per call.
    cutoff = T0 + timedelta(days=4)
    assert await queue.purge_done(cutoff, limit=1) == 1
    assert await queue.purge_done(cutoff, limit=10) == 1
    assert await queue.purge_done(cutoff, limit=10) == 0
    left = {m.key: m.status for m in await queue.list()}
    assert left == {"evt_p2": MessageStatus.DEAD, "evt_p3": MessageStatus.PENDING, "evt_p4": MessageStatus.DONE}
    # A purged key is accepted again (hence a retention longer than any redelivery window).
    assert await queue.add(message("evt_p0", id="msg_again")) is True
    assert await queue.add(message("evt_p4", id="msg_kept")) is False


async def test_idempotency_purge_deletes_old_records_only(store: Store) -> None:
    lease = timedelta(seconds=60)
    await store.idempotency.put(IdempotentResponse("s", "old", "h", 201, {"id": 1}, T0))
    assert await store.idempotency.begin("s", "stuck", "h", T0 + timedelta(minutes=1), lease) is None
    await store.idempotency.put(IdempotentResponse("s", "new", "h", 201, {"id": 2}, T0 + timedelta(days=2)))
    assert await store.idempotency.purge(T0 + timedelta(days=1)) == 2
    assert await store.idempotency.get("s", "old") is None
    assert await store.idempotency.get("s", "stuck") is None
    assert await store.idempotency.get("s", "new") is not None
    assert await store.idempotency.purge(T0 + timedelta(days=1)) == 0
