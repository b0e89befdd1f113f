"""What only the SQLite store promises: migrations, WAL, the private ":memory:" file, and that a unit
of work never leaves the writer locked (nested writes, cancellation)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drexfy.adapters.sqlite import NestedWriteError, SqliteStore, SqliteUnitOfWork, open_sqlite_store
from drexfy.adapters.sqlite.db import _connect, _migrations, _statements, migrate
from drexfy.domain.errors import InvestorNotFound, NotFound
from drexfy.domain.ports import QueuedMessage
from tests.contract import builders as b
from tests.contract.builders import T0


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_opening_an_existing_file_again_keeps_data_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "drexfy.db"
    store = await open_sqlite_store(path)
    async with store.unit_of_work() as uow:
        await uow.investors.add(b.investor())
        await uow.commit()
    assert await store.schema_version() == _migrations()[-1][0]
    await store.close()

    for _ in range(2):
        store = await open_sqlite_store(path)
        try:
            assert await store.schema_version() == _migrations()[-1][0]
            async with store.unit_of_work() as uow:
                assert await uow.investors.get("inv_1") == b.investor()
        finally:
            await store.close()

    with sqlite3.connect(path) as conn:
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert versions == [(n,) for n, _, _ in _migrations()]
        conn.isolation_level = None
        assert migrate(conn, datetime.now(UTC)) == []  # a third run by hand: nothing to do
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"investors", "instruments", "orders", "queue_messages", "journal", "events"} <= _tables(path)


async def test_a_fresh_file_gets_every_migration(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "fresh.db", isolation_level=None)
    try:
        assert migrate(conn, T0) == [n for n, _, _ in _migrations()]
        applied_at = conn.execute("SELECT applied_at FROM schema_version WHERE version = 1").fetchone()[0]
        assert applied_at == "2026-11-22T09:30:15.123456Z"
    finally:
        conn.close()


async def test_two_stores_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    stores = await asyncio.gather(*(open_sqlite_store(path) for _ in range(4)))
    try:
        for store in stores:
            assert await store.schema_version() == _migrations()[-1][0]
    finally:
        for store in stores:
            await store.close()


def test_switching_to_wal_waits_for_a_connection_that_holds_the_lock(tmp_path: Path) -> None:
    """SQLite refuses the WAL switch at once (no busy handler) while another connection holds a
    write lock on a file still in rollback mode: what several processes opening a new file
    together meet (a CI failure: "database is locked" from one of four stores)."""
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        conn = _connect(str(path), busy_timeout_ms=5_000, synchronous="FULL")
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
        finally:
            conn.close()
    finally:
        release.join()
        holder.close()


def test_statements_are_split_whole() -> None:
    script = "-- note; not a statement\nCREATE TABLE a (x TEXT DEFAULT ';');\n\nCREATE INDEX i ON a (x);\n"
    assert _statements(script) == [
        "-- note; not a statement\nCREATE TABLE a (x TEXT DEFAULT ';');",
        "CREATE INDEX i ON a (x);",
    ]
    with pytest.raises(RuntimeError, match="incomplete"):
        _statements("CREATE TABLE b (x TEXT")


async def test_memory_store_is_a_private_file_removed_on_close() -> None:
    first = await open_sqlite_store(":memory:")
    second = await open_sqlite_store(":memory:")
    try:
        assert first.path != second.path
        async with first.unit_of_work() as uow:
            await uow.investors.add(b.investor())
            await uow.commit()
        async with second.unit_of_work() as uow:
            with pytest.raises(InvestorNotFound):
                await uow.investors.get("inv_1")
    finally:
        await second.close()
        await first.close()
    assert not await asyncio.to_thread(Path(first.path).exists)


async def test_a_store_write_inside_an_open_transaction_fails_loudly_instead_of_hanging(
    tmp_path: Path,
) -> None:
    store = await open_sqlite_store(tmp_path / "s.db")
    msg = QueuedMessage(id="m1", key="k1", kind="x", payload={}, created_at=T0)
    try:
        async with store.unit_of_work() as uow:
            await uow.investors.add(b.investor())
            with pytest.raises(NestedWriteError):
                await asyncio.wait_for(store.inbox.add(msg), timeout=5)
            with pytest.raises(NestedWriteError):
                async with store.unit_of_work() as inner:
                    await asyncio.wait_for(inner.investors.find("inv_1"), timeout=5)
            assert await store.inbox.list() == []  # reads outside the unit of work still work
            await uow.commit()
            # committed: the task no longer holds the writer
            assert await asyncio.wait_for(store.inbox.add(msg), timeout=5) is True
    finally:
        await store.close()


async def test_a_cancelled_unit_of_work_rolls_back_and_frees_the_writer(tmp_path: Path) -> None:
    store: SqliteStore = await open_sqlite_store(tmp_path / "s.db")
    entered = asyncio.Event()

    async def stuck() -> None:
        async with store.unit_of_work() as uow:
            await uow.investors.add(b.investor("inv_cancelled"))
            entered.set()
            await asyncio.sleep(3600)

    try:
        task = asyncio.create_task(stuck())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        async with asyncio.timeout(5):
            async with store.unit_of_work() as uow:
                assert await uow.investors.find("inv_cancelled") is None
                await uow.investors.add(b.investor("inv_after"))
                await uow.commit()
            async with store.unit_of_work() as uow:
                assert (await uow.investors.get("inv_after")).id == "inv_after"
    finally:
        await store.close()


async def test_a_waiting_unit_of_work_does_not_block_the_event_loop(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "s.db")
    other = await open_sqlite_store(tmp_path / "s.db")
    try:
        async with store.unit_of_work() as uow:
            await uow.investors.add(b.investor())  # holds the file's write lock
            waiter = asyncio.create_task(other.inbox.add(QueuedMessage("m", "k", "x", {}, T0)))
            ticks = 0
            for _ in range(5):  # the loop keeps running while `other` waits in its thread
                await asyncio.sleep(0.01)
                ticks += 1
            assert ticks == 5 and not waiter.done()
            await uow.commit()
        assert await asyncio.wait_for(waiter, timeout=5) is True
    finally:
        await other.close()
        await store.close()


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "s.db")
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await store.ping()


async def test_a_unit_of_work_committed_from_a_child_task_leaves_no_false_nesting(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "s.db")
    try:
        async with store.unit_of_work() as uow:
            await uow.investors.add(b.investor())
            await asyncio.wait_for(uow.commit(), timeout=5)  # released in another task's context
        msg = QueuedMessage(id="m1", key="k1", kind="x", payload={}, created_at=T0)
        assert await asyncio.wait_for(store.inbox.add(msg), timeout=5) is True
    finally:
        await store.close()


@pytest.mark.parametrize("ticks", [0, 1, 2, 3, 5, 8])
async def test_cancelling_a_unit_of_work_at_any_point_leaves_the_store_usable(tmp_path: Path, ticks: int) -> None:
    store = await open_sqlite_store(tmp_path / "s.db")

    async def work(i: int) -> None:
        async with store.unit_of_work() as uow:
            await uow.investors.add(b.investor(f"inv_{i}"))
            await uow.positions.add_units(f"inv_{i}", "ins_1", 1)
            await uow.commit()

    try:
        tasks = [asyncio.create_task(work(i)) for i in range(10)]
        for _ in range(ticks):
            await asyncio.sleep(0)
        for task in tasks[::2]:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)

        async with asyncio.timeout(5):
            async with store.unit_of_work() as uow:
                for i, outcome in enumerate(outcomes):
                    found = await uow.investors.find(f"inv_{i}")
                    units = await uow.positions.units(f"inv_{i}", "ins_1")
                    # all or nothing: a unit of work either committed both writes or neither
                    assert (found is not None, units) in ((True, 1), (False, 0))
                    if outcome is None:
                        assert found is not None
                await uow.investors.add(b.investor("inv_after"))
                await uow.commit()
            assert await store.inbox.add(QueuedMessage("m", "k", "x", {}, T0)) is True
    finally:
        await store.close()


async def test_group_committed_writes_succeed_or_fail_each_on_their_own(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "s.db")
    try:
        adds = [store.inbox.add(QueuedMessage(f"m{i}", f"k{i % 300}", "x", {"i": i}, T0)) for i in range(600)]
        failing = [store.inbox.complete(f"missing_{i}") for i in range(20)]
        outcomes = await asyncio.gather(*adds, *failing, return_exceptions=True)

        assert outcomes[:300] == [True] * 300  # more than one batch (MAX_BATCH) worth
        assert outcomes[300:600] == [False] * 300  # duplicate keys, dropped
        assert all(isinstance(o, NotFound) for o in outcomes[600:])
        counts = await store.inbox.counts()
        assert sum(counts.values()) == 300
    finally:
        await store.close()


async def test_a_cancelled_writer_does_not_strand_the_others(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "s.db")
    try:
        tasks = [asyncio.create_task(store.inbox.add(QueuedMessage(f"m{i}", f"k{i}", "x", {}, T0))) for i in range(30)]
        await asyncio.sleep(0)
        tasks[0].cancel()
        tasks[7].cancel()
        async with asyncio.timeout(5):
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(o is True for i, o in enumerate(outcomes) if i not in (0, 7))
        assert 28 <= len(await store.inbox.list()) <= 30  # a cancelled add may still have landed
    finally:
        await store.close()


async def test_a_transaction_aborted_under_the_unit_of_work_is_not_continued(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "s.db")
    try:
        uow = store.unit_of_work()
        assert isinstance(uow, SqliteUnitOfWork)
        async with uow:
            await uow.investors.add(b.investor("inv_a"))
            await uow.run(lambda conn: conn.execute("ROLLBACK"))  # as SQLite does on SQLITE_FULL
            with pytest.raises(RuntimeError, match="aborted"):
                await uow.investors.add(b.investor("inv_b"))
        async with store.unit_of_work() as fresh:
            assert await fresh.investors.find("inv_a") is None
            assert await fresh.investors.find("inv_b") is None
    finally:
        await store.close()


async def test_migration_5_moves_the_shares_of_existing_repayments_to_rows(tmp_path: Path) -> None:
    """A database written before shares had rows of their own: its repayments keep every share, the
    running totals are computed, and a batch that was assigned but not paid stays open."""
    from drexfy.adapters.serialization import dumps
    from drexfy.adapters.sqlite.db import _statements as statements
    from drexfy.domain.model import AllocationStatus

    path = tmp_path / "legacy.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for version, name, sql in _migrations()[:4]:
        for statement in statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, ?, '2026-01-01T00:00:00Z')", (version, name))
    shares = [
        b.allocation("inv_1", AllocationStatus.PAID, batch=0),
        b.allocation("inv_2", AllocationStatus.HELD_BACK, batch=None, tx_ids=()),
        b.allocation("inv_3", AllocationStatus.PENDING, batch=1, tx_ids=()),
        b.allocation("inv_4", AllocationStatus.PENDING, batch=1, tx_ids=()),
        b.allocation("inv_5", AllocationStatus.PENDING, batch=None, tx_ids=()),
    ]
    legacy = b.legacy_repayment("rep_old", shares)
    conn.execute(
        "INSERT INTO repayments (id, version, instrument_id, created_at, data) VALUES (?, 3, 'ins_1', ?, ?)",
        ("rep_old", "2026-11-01T00:00:00Z", dumps(legacy)),
    )
    conn.execute("INSERT INTO repayment_holdbacks (investor_id, repayment_id) VALUES ('inv_2', 'rep_old')")
    conn.close()

    store = await open_sqlite_store(str(path))
    try:
        assert await store.schema_version() == _migrations()[-1][0]
        async with store.unit_of_work() as uow:
            repayment = await uow.repayments.get("rep_old")
            rows = await uow.repayments.allocations("rep_old")
            held = await uow.repayments.held_back_for("inv_2")
    finally:
        await store.close()
    assert rows == shares
    assert [r.id for r in held] == ["rep_old"]
    assert (repayment.holders, repayment.pending, repayment.paid_count, repayment.held_back_count) == (5, 3, 1, 1)
    assert (repayment.paid_minor, repayment.held_back_minor, repayment.units_retired) == (5_79, 5_79, 1)
    assert (repayment.open_batch, repayment.batch_to, repayment.cursor) == (1, "inv_4", "inv_4")
    assert repayment.version == 3


async def test_the_database_its_wal_and_a_new_data_dir_are_the_owners_only(tmp_path) -> None:
    """They hold personal data: 0600 files in a 0700 directory, whatever the umask (issue 15)."""
    import os
    import stat

    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.container import build_container

    old = os.umask(0o022)
    try:
        data_dir = tmp_path / "new-data-dir"
        settings = load_settings(env={}, overrides={"data_dir": str(data_dir), "ledger.kind": "memory"})
        container = build_container(settings)
        svc = await container.services()
        async with svc.store.unit_of_work() as uow:
            await uow.investors.list()
        await svc.store.inbox.counts()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data_dir.iterdir() if "sqlite" in p.name}
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert {"drexfy.sqlite", "drexfy.sqlite-wal"} <= set(modes)
        assert all(mode == 0o600 for mode in modes.values()), modes
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown
    finally:
        os.umask(old)


def _count_in_another_process(path: Path) -> int:
    """What a separate process (another drexfy process, `sqlite3`, a bench) reads, opening and
    closing its own connection."""
    code = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        "print(conn.execute('SELECT count(*) FROM investors').fetchone()[0])\n"
        "conn.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


async def test_another_process_closing_its_connection_never_deletes_the_wal_in_use(tmp_path: Path) -> None:
    """Every process of a deployment shares the file (API, worker, CLI). A process that closed a
    descriptor of the database file dropped its connections' locks; the next process to close its
    last connection then deleted the WAL under it, and its later commits were lost to everyone
    else (the worker's settlements never reached the API)."""
    path = tmp_path / "drexfy.sqlite"
    store = await open_sqlite_store(path)  # a writer and a reader connection: the file exists for the second
    try:
        async with store.unit_of_work() as uow:
            await uow.investors.add(b.investor())
            await uow.commit()
        assert _count_in_another_process(path) == 1
        assert Path(f"{path}-wal").exists()  # noqa: ASYNC240 - still ours: the other process was not the last one
        async with store.unit_of_work() as uow:
            await uow.investors.add(b.investor("inv_2"))
            await uow.commit()
        assert _count_in_another_process(path) == 2
    finally:
        await store.close()
