"""Anchoring the audit log's head and `verify --anchors`, through the container on the memory ledger,
the XRPL double and anvil (each test on a chain of its own: `verify --anchors` reads every anchor
the platform's account ever published, so another test's anchors would be reported).

The point of anchors: someone who can write the database may rewrite the chain from an entry on,
recomputing every hash and the head, and `verify` alone then finds nothing. The anchored heads on
the ledger no longer match, and `verify --anchors` names the entry; it reads the anchors from the
ledger (AuditAnchor events, the registrar's account_tx), so removing the anchor entries from the
rewritten log hides nothing."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import attrs
import pytest
from xrpl.models.requests import AccountTx

from drexfy.adapters.serialization import format_timestamp
from drexfy.adapters.xrpl import anchors as xrpl_anchors
from drexfy.domain import events as ev
from drexfy.domain.audit import AuditHead, AuditRecord, chain
from drexfy.domain.processes import Services
from drexfy.domain.processes.audit import (
    ANCHORED,
    all_entries,
    anchor_audit,
    verify_audit,
    verify_audit_with_anchors,
)
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from tests.contract.builders import T0


@attrs.define
class Stack:
    svc: Services
    run: Any


@contextlib.contextmanager
def _private_chain(kind: str) -> Iterator[dict[str, Any]]:
    """Settings overrides pointing at a ledger only this test uses."""
    if kind == "memory":
        yield {"ledger.kind": "memory"}
    elif kind == "xrpl":
        from tests.support.xrpl_double.environment import start_environment

        xrpl = start_environment()
        try:
            yield {"ledger.kind": "xrpl", **xrpl.overrides}
        finally:
            xrpl.stop()
    else:
        from tests.support.anvil import start_evm_environment

        evm = start_evm_environment(extra_args=("--prune-history", "2"))  # a node with no old state
        try:
            yield {"ledger.kind": "evm", **evm.overrides}
        finally:
            evm.node.stop()
            shutil.rmtree(evm.directory, ignore_errors=True)


@pytest.fixture(
    params=["memory", pytest.param("xrpl", marks=pytest.mark.xrpl), pytest.param("evm", marks=pytest.mark.anvil)]
)
def stack(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Stack]:
    yield from _stack(request.param, tmp_path)


def _stack(kind: str, tmp_path: Any) -> Iterator[Stack]:
    with _private_chain(kind) as chain_overrides:
        loop = asyncio.new_event_loop()
        container = build_container(load_settings(env={}, overrides={"data_dir": str(tmp_path), **chain_overrides}))

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


def _rewrite_without_anchors(svc: Services, entries: list[Any]) -> None:
    """The forger's best move: edit an entry, drop every anchor entry, renumber and re-hash the whole
    chain, and set the head, so the log verifies and names no anchor to check."""
    kept = [e for e in entries if e.action != ANCHORED]
    records = [_record_of(e) for e in kept]
    records[1] = attrs.evolve(records[1], reason="nothing to see")
    forged = chain(records, AuditHead(0, "0" * 64))
    with sqlite3.connect(svc.store.path) as conn:  # type: ignore[attr-defined]
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log")
        for entry in forged:
            values = attrs.asdict(entry)
            columns = ", ".join(values)
            conn.execute(
                f"INSERT INTO audit_log ({columns}) VALUES ({', '.join('?' for _ in values)})",
                [format_timestamp(v) if isinstance(v, datetime) else v for v in values.values()],
            )
        conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (forged[-1].seq, forged[-1].hash))


def test_a_consistent_rewrite_that_drops_its_anchor_entries_is_still_caught(stack: Stack) -> None:
    svc, run = stack.svc, stack.run
    run(_record(svc, 3))
    first = run(anchor_audit(svc))
    run(_record(svc, 2))
    second = run(anchor_audit(svc))
    if svc.ledger.kind == "evm":
        _assert_pruned(svc, run)
        svc.ledger.log_chunk_blocks = 1  # type: ignore[attr-defined]  # one eth_getLogs per block
    assert run(svc.ledger.published_audit_anchors()) == [first, second]
    assert run(verify_audit_with_anchors(svc)) == (7, 2, None)

    _rewrite_without_anchors(svc, run(_entries(svc)))
    entries = run(_entries(svc))
    assert len(entries) == 5 and not any(e.action == ANCHORED for e in entries)
    assert run(verify_audit(svc.store)) == (5, None)  # the chain alone is consistent
    _, _, problem = run(verify_audit_with_anchors(svc))
    assert problem is not None and problem.kind == "anchor" and problem.seq == 3
    assert "differs from the head anchored" in problem.detail


def test_an_anchor_entry_that_is_not_on_the_ledger_is_reported(stack: Stack) -> None:
    svc, run = stack.svc, stack.run
    run(_record(svc, 2))
    real = run(anchor_audit(svc))
    assert real is not None
    head = run(svc.store.audit.head())
    forged = AuditRecord.of_action(ANCHORED, "0x" + "ab" * 32, f"{head.seq}:{head.hash}", T0, {})
    run(svc.store.audit.append([forged]))
    assert run(verify_audit(svc.store))[1] is None
    _, checked, problem = run(verify_audit_with_anchors(svc))
    assert checked == 1 and problem is not None and (problem.kind, problem.seq) == ("anchor", 4)
    assert "is not on the ledger" in problem.detail


async def _entries(svc: Services) -> list[Any]:
    return [e async for e in all_entries(svc.store)]


def _assert_pruned(svc: Services, run: Any) -> None:
    """The node refuses old state, as a pruned node does: the anchors must come from logs alone."""
    w3 = svc.ledger.w3  # type: ignore[attr-defined]
    with pytest.raises(Exception, match=r"(?i)state|prun|histor|out ?of ?range"):
        run(w3.eth.get_balance(svc.ledger.deployment.registrar, block_identifier=1))  # type: ignore[attr-defined]


@pytest.fixture
def xrpl_stack(tmp_path: Any) -> Iterator[Stack]:
    yield from _stack("xrpl", tmp_path)


@pytest.mark.xrpl
def test_xrpl_anchors_are_read_across_account_tx_pages(xrpl_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    svc, run = xrpl_stack.svc, xrpl_stack.run
    anchored = []
    for _ in range(11):
        run(_record(svc, 1))
        anchored.append(run(anchor_audit(svc)))
    registrar = run(svc.ledger.platform("registrar"))  # type: ignore[attr-defined]
    first = run(svc.ledger.rpc.call(AccountTx(account=registrar.address, limit=10, forward=True)))  # type: ignore[attr-defined]
    assert "marker" in first  # the registrar's history spans more than one page of 10
    monkeypatch.setattr(xrpl_anchors, "PAGE", 10)  # rippled's smallest page: only the markers find them all
    assert run(svc.ledger.published_audit_anchors()) == anchored
    assert run(verify_audit_with_anchors(svc)) == (22, 11, None)
