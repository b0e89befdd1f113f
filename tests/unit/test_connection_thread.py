"""`ConnectionThread`: the one thread behind each SQLite connection."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from drexfy.adapters.sqlite.db import ConnectionThread


async def test_calls_run_in_order_on_one_thread_and_answer_on_the_loop() -> None:
    worker = ConnectionThread("test-conn")
    seen: list[tuple[int, str]] = []

    def call(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        return i * 2

    try:
        results = await asyncio.gather(*(worker.submit(lambda i=i: call(i)) for i in range(50)))
    finally:
        worker.stop()
    assert results == [i * 2 for i in range(50)]
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"test-conn"}


async def test_an_exception_reaches_the_caller_and_the_thread_goes_on() -> None:
    worker = ConnectionThread("test-conn")

    def boom() -> None:
        raise ValueError("no")

    def stop_iteration() -> None:
        raise StopIteration

    try:
        with pytest.raises(ValueError, match="no"):
            await worker.submit(boom)
        with pytest.raises(RuntimeError, match="StopIteration"):
            await worker.submit(stop_iteration)
        assert await worker.submit(lambda: 7) == 7
    finally:
        worker.stop()


async def test_a_cancelled_caller_does_not_break_later_calls() -> None:
    worker = ConnectionThread("test-conn")
    try:
        slow = worker.submit(lambda: time.sleep(0.05))
        slow.cancel()
        assert await worker.submit(lambda: "after") == "after"
    finally:
        worker.stop()
