"""The SQLite database behind the store: two connections, each owned by one worker thread.

- The *writer* connection runs every write transaction, one at a time: an asyncio lock serialises
  writers inside this process (so they never spin in SQLite's busy handler), `BEGIN IMMEDIATE` plus
  `busy_timeout` serialises them against other processes or store objects on the same file.
- The *reader* connection serves reads made outside a unit of work (queues, journal, idempotency);
  in WAL mode it reads the last committed state while a writer is busy.

sqlite3 calls run in the connection's own thread (`ConnectionThread`), so the event loop only waits
on futures. (About 410 lines: the connection threads, the group commit and the migrations share
one lifecycle; the file modes of the personal data it holds are set here, where the files open.)
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

from drexfy.adapters.serialization import format_timestamp

T = TypeVar("T")

MEMORY = ":memory:"


#: The token of the write-lock acquisition this task (or its parent task) made for a unit of work.
#: Child tasks inherit it, so a write from a task the holder waits on is caught too; a value left
#: behind after the release never matches the current holder's token, so it cannot misfire.
_writer_token: contextvars.ContextVar[object | None] = contextvars.ContextVar("drexfy_sqlite_writer", default=None)


class NestedWriteError(RuntimeError):
    """A store write was attempted by a task that holds an open unit-of-work transaction.

    It would wait for its own transaction forever; commit (or leave) the unit of work first.
    """


def _migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every packaged migration, in order."""
    found = []
    for entry in resources.files("drexfy.adapters.sqlite").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            number = entry.name.split("_", 1)[0]
            found.append((int(number), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    # Numbers are unique; gaps are allowed (branches reserve numbers and merge in any order).
    if len({v for v, _, _ in found}) != len(found) or not found or found[0][0] < 1:
        raise RuntimeError(f"migrations must have unique numbers from 1: {[n for _, n, _ in found]}")
    return found


def _statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (triggers and quoted ';' stay whole)."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()):
        raise RuntimeError(f"incomplete SQL statement at the end of a migration: {buffer[:80]!r}")
    return out


def migrate(conn: sqlite3.Connection, now: datetime) -> list[int]:
    """Apply the migrations the database lacks, each in its own IMMEDIATE transaction.

    Safe to run again and from several processes at once: the version is re-read under the write
    lock. Returns the versions applied now.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied: list[int] = []
    for version, name, sql in _migrations():
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT 1 FROM schema_version WHERE version = ?", (version,)).fetchone()
            if row is not None:
                conn.execute("COMMIT")
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, format_timestamp(now)),
            )
            conn.execute("COMMIT")
            applied.append(version)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return applied


def _private_file(path: str) -> None:
    """Create the database file readable by its owner only (it holds personal data), or tighten an
    existing one. SQLite gives its -wal and -shm files the database file's mode.

    Never open and close an existing database file here: closing any descriptor of a file drops
    every POSIX lock this process holds on it, including the shared lock by which this process's
    other SQLite connections say they are still using the WAL. Another process closing its last
    connection would then take them for gone, checkpoint, and delete the WAL and its index under
    them: their later commits go to a deleted file nobody else reads (seen in the blocks bench:
    the worker's settlements invisible to every other process). So the file is opened only when
    this call creates it (O_EXCL), and an existing one is tightened by path."""
    if path.startswith("file:") or path == ":memory:":
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for each in (Path(path), Path(f"{path}-wal"), Path(f"{path}-shm")):
        if each.exists() and each.stat().st_mode & 0o077:
            each.chmod(0o600)


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> str:
    """Ask for WAL mode, retrying while another connection holds a lock.

    SQLite answers "database is locked" at once, without calling the busy handler, when the
    switch needs the exclusive lock another connection is also after (several processes opening a
    new file together: one of them is switching it already). Once one has switched, the mode is
    stored in the file and the others just read it."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _connect(path: str, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
    _private_file(path)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves (the sqlite3 module's implicit
    # transactions would start them at surprising points).
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    mode = _switch_to_wal(conn, busy_timeout_ms)
    if str(mode).lower() != "wal":
        conn.close()
        raise RuntimeError(f"could not switch {path} to WAL mode (got {mode})")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _run_batch(conn: sqlite3.Connection, jobs: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple[bool, Any]]:
    """Run jobs in one IMMEDIATE transaction, each in a savepoint; (ok, result or exception) each."""
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for job in jobs:
            if getattr(job, "single_statement", False):
                # One statement is atomic on its own: SQLite undoes a failing statement and keeps
                # the transaction (an error that aborts the transaction fails the COMMIT below, and
                # then every job of the batch reports it). Saves two round trips per inbox write.
                try:
                    outcomes.append((True, job(conn)))
                except sqlite3.Error as exc:
                    outcomes.append((False, exc))
                continue
            conn.execute("SAVEPOINT job")
            try:
                result = job(conn)
            except Exception as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((False, exc))
            else:
                conn.execute("RELEASE job")
                outcomes.append((True, result))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller was cancelled; the result has no one to go to
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class ConnectionThread:
    """One thread that runs calls in submission order and answers each on its caller's event loop.

    Lighter than a one-thread `ThreadPoolExecutor` with `run_in_executor` (no locks, condition or
    second future per call): the event loop and this thread share the GIL, and every Python step
    here is time the loop may wait for it.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]] | None]
        self._calls = queue.SimpleQueue()
        self._name = name
        self._thread: threading.Thread | None = None  # started by the first call

    def submit(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        self._calls.put((fn, loop, future))
        return future

    def stop(self) -> None:
        """Let the thread end once the calls already submitted have run."""
        if self._thread is not None:
            self._calls.put(None)

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            fn, loop, future = call
            try:
                ok, value = True, fn()
            except StopIteration as exc:  # cannot travel through a future
                ok, value = False, RuntimeError(repr(exc))
            except BaseException as exc:  # handed to the caller, who decides
                ok, value = False, exc
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, ok, value)


class Database:
    """Two connections (writer, reader) with one thread each, and the in-process write lock."""

    #: Most writes committed together by one group commit (keeps each transaction short).
    MAX_BATCH = 256

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        self._tempdir: str | None = None
        if str(path) == MEMORY:
            # A private file rather than a real in-memory database: the reader connection must see
            # the writer's commits, and WAL semantics should be the same as in production.
            self._tempdir = tempfile.mkdtemp(prefix="drexfy-sqlite-")
            path = Path(self._tempdir) / "store.db"
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous.upper()
        self._writer_thread = ConnectionThread("drexfy-sqlite-w")
        self._reader_thread = ConnectionThread("drexfy-sqlite-r")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        #: The token of the unit of work holding the write lock (to refuse its nested writes).
        self._holder: object | None = None
        self._closed = False
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def open(self, now: datetime) -> None:
        def open_writer() -> None:
            self._writer = _connect(self.path, self._busy_timeout_ms, self._synchronous)
            migrate(self._writer, now)

        def open_reader() -> None:
            self._reader = _connect(self.path, self._busy_timeout_ms, self._synchronous)

        try:
            await self._writer_thread.submit(open_writer)
            await self._reader_thread.submit(open_reader)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def close_writer() -> None:
            if self._writer is not None:
                self._writer.close()

        def close_reader() -> None:
            if self._reader is not None:
                self._reader.close()

        try:
            await self._writer_thread.submit(close_writer)
            await self._reader_thread.submit(close_reader)
        finally:
            self._writer_thread.stop()
            self._reader_thread.stop()
            if self._tempdir is not None:
                shutil.rmtree(self._tempdir, ignore_errors=True)

    # --- the write lock ------------------------------------------------------------------------

    def _write_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            # A store used from a new event loop (e.g. sync test steps running coroutines) gets a
            # fresh lock; a lock cannot be shared between loops.
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    def check_not_nested(self) -> None:
        token = _writer_token.get()
        if token is not None and token is self._holder:
            raise NestedWriteError(
                "this task holds an open unit-of-work transaction on the store; a second write "
                "would wait for it forever. Commit the unit of work before calling the queue, "
                "journal or idempotency store (or a ledger that uses the journal)."
            )

    async def acquire_writer(self) -> asyncio.Lock:
        """Take the in-process write lock for a unit of work; give the returned lock back to
        `release_writer`."""
        self.check_not_nested()
        self._check_open()
        lock = self._write_lock()
        await lock.acquire()
        self._holder = token = object()
        _writer_token.set(token)
        return lock

    def release_writer(self, lock: asyncio.Lock) -> None:
        self._holder = None
        lock.release()

    # --- running statements --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the SQLite store is closed")

    def submit_writer(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run `fn(writer)` in the writer thread. The caller must hold the write lock."""
        self._check_open()
        writer = self._writer
        assert writer is not None, "the SQLite store is not open"
        return self._writer_thread.submit(functools.partial(fn, writer))

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` atomically in a short IMMEDIATE transaction; durable when this returns.

        Group commit: writes that arrive while another is running are run together, each in its
        own SAVEPOINT (so one failing rolls back only itself), and committed at once — many
        callers share one fsync. `fn` must only touch the connection (it runs in the writer thread).
        """
        self.check_not_nested()
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._drainer is not None and self._drainer.get_loop() is not loop:
            self._pending = []  # jobs of a previous event loop can no longer be answered
            self._drainer = None
        self._pending.append((fn, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return cast(T, await future)

    async def _drain(self) -> None:
        # A task of its own, so a caller's cancellation never strands the others' futures.
        try:
            while self._pending:
                async with self._write_lock():
                    batch, self._pending = self._pending[: self.MAX_BATCH], self._pending[self.MAX_BATCH :]
                    live = [(fn, fut) for fn, fut in batch if not fut.cancelled()]
                    if not live:
                        continue
                    try:
                        outcomes = await self.submit_writer(functools.partial(_run_batch, jobs=[fn for fn, _ in live]))
                    except BaseException as exc:
                        for _, fut in live:
                            if not fut.done():
                                fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
                        if not isinstance(exc, Exception):
                            raise
                        continue
                    for (_, fut), (ok, value) in zip(live, outcomes, strict=True):
                        if fut.done():
                            continue
                        if ok:
                            fut.set_result(value)
                        else:
                            fut.set_exception(value)
        finally:
            for _, fut in self._pending:
                if not fut.done():
                    fut.set_exception(RuntimeError("the SQLite store stopped before this write ran"))
            self._pending = []

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the reader connection in one read transaction (a consistent snapshot)."""
        self._check_open()

        def transaction() -> T:
            conn = self._reader
            assert conn is not None
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

        return await self._reader_thread.submit(transaction)
