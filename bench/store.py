"""SQLite store benchmark: inbox ingestion (sequential and concurrent), units of work, claims.

What the HTTP webhook path costs in the store: one `inbox.add` per accepted webhook. Sequential adds
pay one commit (and, with synchronous=FULL, one fsync) each; concurrent adds are group-committed
(many per transaction and fsync), which is what a busy HTTP service sees. Both FULL (the default:
an accepted webhook survives a power cut) and NORMAL are measured.

    .venv/bin/python -m bench.store        (or `make bench`)
"""

from __future__ import annotations

import asyncio
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ADDS = 3_000
CONCURRENCY = 64
UNITS_OF_WORK = 1_000
RESERVATIONS = 500


async def _run(synchronous: str, directory: Path) -> dict[str, Any]:
    from drexfy.adapters.sqlite import open_sqlite_store
    from drexfy.domain.classification import Classification
    from drexfy.domain.model import Instrument, InstrumentStatus, Investor, InvestorKind
    from drexfy.domain.money import Money
    from drexfy.domain.ports import QueuedMessage

    store = await open_sqlite_store(directory / f"bench-{synchronous}.db", synchronous=synchronous)
    now = datetime.now(UTC)
    out: dict[str, Any] = {"synchronous": synchronous}
    try:
        started = time.perf_counter()
        for i in range(ADDS):
            await store.inbox.add(QueuedMessage(f"s{i}", f"s{i}", "webhook", {"n": i}, now))
        out["inbox_add_sequential_per_s"] = round(ADDS / (time.perf_counter() - started))

        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def add(i: int) -> bool:
            async with semaphore:
                return await store.inbox.add(QueuedMessage(f"c{i}", f"c{i}", "webhook", {"n": i}, now))

        started = time.perf_counter()
        added = await asyncio.gather(*(add(i) for i in range(ADDS)))
        out[f"inbox_add_concurrent{CONCURRENCY}_per_s"] = round(ADDS / (time.perf_counter() - started))
        assert all(added)

        started = time.perf_counter()
        claimed = 0
        while batch := await store.inbox.claim(now, 100, 60):
            claimed += len(batch)
            for message in batch:
                await store.inbox.complete(message.id)
        out["claim_and_complete_per_s"] = round(claimed / (time.perf_counter() - started))
        assert claimed == 2 * ADDS

        started = time.perf_counter()
        for i in range(UNITS_OF_WORK):
            async with store.unit_of_work() as uow:
                await uow.investors.add(
                    Investor(f"inv_{i}", "Bench", f"b{i}@x.test", "DE", InvestorKind.INDIVIDUAL, False, now)
                )
                await uow.commit()
        out["unit_of_work_add_investor_per_s"] = round(UNITS_OF_WORK / (time.perf_counter() - started))

        eur = Money(100, "EUR")
        async with store.unit_of_work() as uow:
            await uow.instruments.add(
                Instrument(
                    "ins_bench",
                    "BENCH",
                    "bench",
                    eur,
                    RESERVATIONS // 2,
                    frozenset({Classification.EU_ACCREDITED}),
                    eur,
                    eur * 10,
                    now,
                    status=InstrumentStatus.OPEN,
                )
            )
            await uow.commit()

        async def reserve() -> bool:
            async with store.unit_of_work() as uow:
                try:
                    await uow.instruments.reserve_units("ins_bench", 1)
                except Exception:
                    return False
                await uow.commit()
                return True

        started = time.perf_counter()
        won = await asyncio.gather(*(reserve() for _ in range(RESERVATIONS)))
        out["concurrent_reservations_per_s"] = round(RESERVATIONS / (time.perf_counter() - started))
        assert sum(won) == RESERVATIONS // 2, "oversold or undersold"
    finally:
        await store.close()
    return out


async def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="drexfy-bench-store-") as tmp:
        runs = [await _run(mode, Path(tmp)) for mode in ("FULL", "NORMAL")]
    result = {"machine": platform.platform(), "python": platform.python_version(), "runs": runs}
    for run in runs:
        print(f"  synchronous={run['synchronous']}")
        for key, value in run.items():
            if key != "synchronous":
                print(f"    {key:<36} {value:>8}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "store.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    asyncio.run(main())
