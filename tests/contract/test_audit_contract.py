"""The audit trail's contract, on every store: entries appended with the change (and only with it),
one linear chain under concurrent writers, filters and paging, and `verify` finding each kind of
tampering (edited, removed, inserted, reordered) at the entry where it happened.

Tampering goes around the adapters, as someone with access to the database would: raw SQL on the
SQLite file (after dropping the append-only triggers) and raw item writes on the DynamoDB table.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import attrs
import pytest

from drexfy.adapters.dynamodb.audit import ENTRY_PK, entry_item, entry_of
from drexfy.adapters.dynamodb.store import DynamoStore
from drexfy.adapters.sqlite.store import SqliteStore
from drexfy.domain import events as ev
from drexfy.domain.audit import (
    Actor,
    AuditEntry,
    AuditFilter,
    AuditHead,
    AuditRecord,
    ChainProblem,
    acting_as,
    chain,
    verify_chain,
)
from drexfy.domain.errors import DuplicateEntity
from drexfy.domain.ports import Store
from drexfy.domain.processes.audit import all_entries, verify_audit
from tests.contract import builders as b
from tests.contract.builders import T0
from tests.contract.conftest import OpenStores

ALICE = Actor("person:alice", "compliance")


def blocked(investor_id: str, reason: str = "alert 17 under review") -> ev.InvestorBlocked:
    return ev.InvestorBlocked(aggregate_id=investor_id, occurred_at=T0, reason=reason, source="aml")


async def record(store: Store, *events: ev.DomainEvent) -> None:
    async with store.unit_of_work() as uow:
        for event in events:
            uow.record(event)
        await uow.commit()


async def entries(store: Store) -> list[AuditEntry]:
    return [e async for e in all_entries(store)]


async def test_each_committed_event_is_one_entry_chained_to_the_last(store: Store) -> None:
    with acting_as(ALICE, "req-1"):
        await record(store, blocked("inv_1"), blocked("inv_2", "second"))
    await record(store, blocked("inv_3"))

    log = await entries(store)
    assert [(e.seq, e.subject, e.action) for e in log] == [
        (1, "inv_1", "InvestorBlocked"),
        (2, "inv_2", "InvestorBlocked"),
        (3, "inv_3", "InvestorBlocked"),
    ]
    assert (log[0].actor, log[0].role, log[0].request_id, log[0].reason) == (
        "person:alice",
        "compliance",
        "req-1",
        "alert 17 under review",
    )
    assert (log[2].actor, log[2].role, log[2].request_id) == ("system", "system", "")
    assert log[1].prev_hash == log[0].hash and log[2].prev_hash == log[1].hash
    assert all(e.hash == e.computed_hash() for e in log)
    assert log[0].ref and log[0].ref != log[1].ref  # each entry names its event row
    assert log[0].digest != log[1].digest
    head = await store.audit.head()
    assert (head.seq, head.hash) == (3, log[2].hash)
    assert await verify_audit(store) == (3, None)


async def test_aggregates_saved_in_a_unit_are_audited_with_their_events(store: Store) -> None:
    investor = b.investor()
    investor.events.append(blocked(investor.id))
    with acting_as(Actor("frontend-client", "frontend"), "req-9"):
        async with store.unit_of_work() as uow:
            await uow.investors.add(investor)
            await uow.commit()
    (entry,) = await entries(store)
    assert (entry.action, entry.subject, entry.actor, entry.request_id) == (
        "InvestorBlocked",
        investor.id,
        "frontend-client",
        "req-9",
    )


async def test_a_unit_that_does_not_commit_or_fails_records_nothing(store: Store) -> None:
    async with store.unit_of_work() as uow:
        uow.record(blocked("inv_1"))
        # no commit
    async with store.unit_of_work() as uow:
        await uow.investors.add(b.investor())
        await uow.commit()
    before = await entries(store)
    with pytest.raises(DuplicateEntity):
        async with store.unit_of_work() as uow:
            duplicate = b.investor()
            duplicate.events.append(blocked(duplicate.id))
            await uow.investors.add(duplicate)
            await uow.commit()
    assert await entries(store) == before
    assert all(e.action != "InvestorBlocked" for e in before)


async def test_an_action_without_a_change_is_appended_on_its_own(store: Store) -> None:
    with acting_as(Actor("ops-1", "admin"), "req-2"):
        (entry,) = await store.audit.append([AuditRecord.of_action("JobRetried", "job_1", "", T0, {"queue": "inbox"})])
    assert (entry.seq, entry.actor, entry.action, entry.subject, entry.ref) == (1, "ops-1", "JobRetried", "job_1", "")
    await record(store, blocked("inv_1"))
    assert [e.seq for e in await entries(store)] == [1, 2]
    assert await verify_audit(store) == (2, None)


async def test_concurrent_writers_keep_one_linear_chain(open_store: OpenStores) -> None:
    """Four store objects (as four workers) append 8 units of work each at once: every entry gets
    its own seq, 1..n without gaps, each linked to the one before."""
    stores = [await open_store() for _ in range(4)]

    async def writer(store: Store, w: int) -> None:
        for i in range(8):
            with acting_as(Actor(f"worker-{w}", "system")):
                await record(store, blocked(f"inv_{w}_{i}"), blocked(f"inv_{w}_{i}b"))

    await asyncio.gather(*(writer(s, w) for w, s in enumerate(stores)))
    log = await entries(stores[0])
    assert [e.seq for e in log] == list(range(1, 65))
    assert len({e.subject for e in log}) == 64
    assert await verify_audit(stores[0]) == (64, None)
    # The two entries of one unit of work are adjacent: a unit's entries are appended together.
    for first, second in zip(log[::2], log[1::2], strict=True):
        assert second.subject == first.subject + "b"


async def test_filters_and_cursor_pages(store: Store) -> None:
    with acting_as(ALICE):
        await record(store, blocked("inv_1"), blocked("inv_2"))
    with acting_as(Actor("bob", "admin")):
        await record(store, ev.InstrumentMatured(aggregate_id="ins_1", occurred_at=T0), blocked("inv_1"))

    page, cursor = await store.audit.list(AuditFilter(actor="person:alice"), limit=10)
    assert [e.seq for e in page] == [1, 2] and cursor is None
    page, _ = await store.audit.list(AuditFilter(action="InstrumentMatured"))
    assert [e.subject for e in page] == ["ins_1"]
    page, _ = await store.audit.list(AuditFilter(subject="inv_1"))
    assert [e.seq for e in page] == [1, 4]
    page, cursor = await store.audit.list(None, limit=3)
    assert [e.seq for e in page] == [1, 2, 3] and cursor == 3
    page, cursor = await store.audit.list(None, after=cursor, limit=3)
    assert [e.seq for e in page] == [4] and cursor is None
    at = (await entries(store))[0].at
    assert len((await store.audit.list(AuditFilter(since=at)))[0]) == 4
    assert (await store.audit.list(AuditFilter(until=at)))[0] == []


# --- tampering --------------------------------------------------------------------------------------


class Raw:
    """Direct access to the stored entries, past the adapters (what an attacker with the database
    can do)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def put(self, entry: AuditEntry) -> None:
        """Write `entry` at its seq, replacing what is there."""
        if isinstance(self.store, SqliteStore):
            self._sql(
                "INSERT OR REPLACE INTO audit_log (seq, actor, role, action, subject, reason, request_id, at, ref,"
                " digest, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.seq,
                    entry.actor,
                    entry.role,
                    entry.action,
                    entry.subject,
                    entry.reason,
                    entry.request_id,
                    entry.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    entry.ref,
                    entry.digest,
                    entry.prev_hash,
                    entry.hash,
                ),
            )
        else:
            assert isinstance(self.store, DynamoStore)
            await self.store.table.put(entry_item(entry))

    async def delete(self, seq: int) -> None:
        if isinstance(self.store, SqliteStore):
            self._sql("DELETE FROM audit_log WHERE seq = ?", (seq,))
        else:
            assert isinstance(self.store, DynamoStore)
            await self.store.table.delete(ENTRY_PK, f"{seq:020d}")

    async def get(self, seq: int) -> AuditEntry:
        if isinstance(self.store, DynamoStore):
            item = await self.store.table.get(ENTRY_PK, f"{seq:020d}")
            assert item is not None
            return entry_of(item)
        return next(e for e in await entries(self.store) if e.seq == seq)

    def _sql(self, sql: str, params: tuple[Any, ...]) -> None:
        assert isinstance(self.store, SqliteStore)
        with sqlite3.connect(self.store.path) as conn:
            conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
            conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
            conn.execute(sql, params)


def where(result: tuple[int, ChainProblem | None]) -> tuple[str, int] | None:
    found = result[1]
    return None if found is None else (found.kind, found.seq)


async def five_entries(store: Store) -> list[AuditEntry]:
    with acting_as(ALICE, "req-1"):
        for n in range(5):
            await record(store, blocked(f"inv_{n + 1}"))
    log = await entries(store)
    assert await verify_audit(store) == (5, None)
    return log


async def test_the_append_only_guard_refuses_updates_on_sqlite(store: Store) -> None:
    if not isinstance(store, SqliteStore):
        pytest.skip("a SQLite trigger; DynamoDB has no equivalent, verify and the anchors cover it")
    await five_entries(store)
    with sqlite3.connect(store.path) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET reason = 'nothing' WHERE seq = 2")


async def test_verify_finds_an_edited_entry(store: Store) -> None:
    log = await five_entries(store)
    await Raw(store).put(attrs.evolve(log[2], reason="routine check"))
    assert where(await verify_audit(store)) == ("edited", 3)


async def test_verify_finds_a_removed_entry(store: Store) -> None:
    await five_entries(store)
    await Raw(store).delete(3)
    assert where(await verify_audit(store)) == ("removed", 3)


async def test_verify_finds_a_removed_last_entry_through_the_head(store: Store) -> None:
    await five_entries(store)
    await Raw(store).delete(5)
    assert where(await verify_audit(store)) == ("removed", 5)


async def test_verify_finds_a_removed_entry_even_when_the_rest_is_renumbered(store: Store) -> None:
    log = await five_entries(store)
    raw = Raw(store)
    for entry in log[3:]:
        await raw.put(attrs.evolve(entry, seq=entry.seq - 1))
    await raw.delete(5)
    assert where(await verify_audit(store)) == ("removed", 3)


async def test_verify_finds_an_inserted_entry(store: Store) -> None:
    """A well-formed forged entry (hash and link computed) slipped in at 3, the rest moved up one."""
    log = await five_entries(store)
    raw = Raw(store)
    for entry in reversed(log[2:]):
        await raw.put(attrs.evolve(entry, seq=entry.seq + 1))
    forged_record = AuditRecord.of_action("InvestorUnblocked", "inv_3", "cleared", T0, {})
    (forged,) = chain([forged_record], AuditHead(seq=2, hash=log[1].hash))
    await raw.put(forged)
    assert where(await verify_audit(store)) == ("inserted", 3)


async def test_verify_finds_reordered_entries(store: Store) -> None:
    log = await five_entries(store)
    raw = Raw(store)
    await raw.put(attrs.evolve(log[3], seq=3))
    await raw.put(attrs.evolve(log[2], seq=4))
    assert where(await verify_audit(store)) == ("reordered", 3)


def test_an_intact_chain_verifies_and_an_empty_one_too() -> None:
    records = [AuditRecord.of_action("A", f"s{i}", "", T0, {}) for i in range(3)]
    assert verify_chain(chain(records, AuditHead())) is None
    assert verify_chain([]) is None
    assert verify_chain([], AuditHead(seq=1, hash="ab" * 32)) == ChainProblem(
        "removed", 1, "the log ends at 0 but its head says 1"
    )
