"""Anchoring the audit log's head and `verify --anchors`, through the container on the memory ledger
and the XRPL double (the EVM contract is covered by tests/contract/test_audit_anchor_contract.py:
the EVM stack shares one AuditAnchor per test process, whose heads only move forward).

The point of anchors: someone who can write the database may rewrite the chain from an entry on,
recomputing every hash and the head, and `verify` alone then finds nothing. The anchored heads on
the ledger no longer match, and `verify --anchors` names the entry."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from drexfy.domain import events as ev
from drexfy.domain.audit import AuditHead, chain
from drexfy.domain.processes import Services
from drexfy.domain.processes.audit import all_entries, anchor_audit, verify_audit, verify_audit_with_anchors
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from tests.contract.builders import T0
from tests.support.ledgers import ledger_overrides


@attrs.define
class Stack:
    svc: Services
    run: Any


@pytest.fixture(params=["memory", "xrpl"])
def stack(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Stack]:
    loop = asyncio.new_event_loop()
    overrides = {"data_dir": str(tmp_path), **ledger_overrides(request.param, request, tmp_path)}
    container = build_container(load_settings(env={}, overrides=overrides))

    async def start() -> Any:
        return await container.services()

    async def stop() -> None:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown

    yield Stack(loop.run_until_complete(start()), loop.run_until_complete)
    loop.run_until_complete(stop())
    loop.close()


async def _record(svc: Services, n: int) -> None:
    for i in range(n):
        async with svc.store.unit_of_work() as uow:
            uow.record(ev.InstrumentMatured(aggregate_id=f"ins_{i}", occurred_at=T0))
            await uow.commit()


def _rewrite_from(path: str, seq: int) -> None:
    """Edit entry `seq` and recompute every later hash and the head: a consistent forgery."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = ?", (seq,))


async def _reforge(svc: Services, seq: int) -> None:
    entries = [e async for e in all_entries(svc.store)]
    before = entries[seq - 2]
    rest = [attrs.evolve(e, hash="", prev_hash="") for e in entries[seq - 1 :]]
    records = [_record_of(e) for e in rest]
    forged = chain(records, AuditHead(before.seq, before.hash))
    path = svc.store.path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as conn:
        for entry in forged:
            conn.execute(
                "UPDATE audit_log SET reason = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (entry.reason, entry.prev_hash, entry.hash, entry.seq),
            )
        conn.execute("UPDATE audit_head SET hash = ? WHERE id = 1", (forged[-1].hash,))


def _record_of(entry: Any) -> Any:
    from drexfy.domain.audit import AuditRecord

    fields = {f.name: getattr(entry, f.name) for f in attrs.fields(AuditRecord)}
    return AuditRecord(**fields)


def test_anchors_match_until_the_chain_is_rewritten(stack: Stack) -> None:
    svc, run = stack.svc, stack.run
    run(_record(svc, 3))
    first = run(anchor_audit(svc))
    assert first is not None and first.seq == 3
    assert run(anchor_audit(svc)) is None  # nothing new since (the anchor's own entry aside)
    run(_record(svc, 1))
    second = run(anchor_audit(svc))
    assert second is not None and second.seq == 5
    assert run(svc.ledger.audit_anchor(second.tx_id)) == second
    assert run(verify_audit_with_anchors(svc)) == (6, 2, None)

    # A consistent rewrite from entry 2 on: the chain alone verifies, the anchors do not.
    _rewrite_from(svc.store.path, 2)  # type: ignore[attr-defined]
    run(_reforge(svc, 2))
    assert run(verify_audit(svc.store)) == (6, None)
    _, _, problem = run(verify_audit_with_anchors(svc))
    assert problem is not None and (problem.kind, problem.seq) == ("anchor", 3)
    assert "differs from the head anchored" in problem.detail
