"""Settlement on a chain with real block times: `python -m bench.blocks [--investors N] [--block-time S]`.

anvil mines a block every `--block-time` seconds (Moonbeam: 6); `drexfy serve --no-worker` and
`drexfy worker` run as separate processes over SQLite (tests/soak/harness.py). Investors are
onboarded by signed KYC webhooks, each places two orders, and every order is paid by a signed
payment webhook. Reported: settlements per block (the busiest block and the mean over the blocks
that settled any), each order's latency in blocks from the block in which its payment webhook was
accepted to its settlement's block (p50, p90, max), and the wall time. Issue target (1,000 orders from 500 investors at 6 s): at least 200
settlements per block, p90 under 3 blocks. Settlement transactions are read from the journal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.soak.harness import Platform, SoakConfig, onboard, open_instrument, place_and_pay

RESULTS = Path(__file__).resolve().parent / "results" / "blocks.json"


def _settled_blocks(directory: Path) -> dict[str, int]:
    """Order id -> the block its settlement was mined in."""
    with contextlib.closing(sqlite3.connect(directory / "drexfy.sqlite", timeout=10)) as conn:
        rows = conn.execute(
            "SELECT op_id, result FROM journal WHERE op_id LIKE 'settle:%' AND status = 'CONFIRMED'"
        ).fetchall()
    return {row[0].removeprefix("settle:"): int(json.loads(row[1])["block"]) for row in rows}


def run(investors: int, per_investor: int, block_time: float, directory: Path) -> dict[str, Any]:
    config = SoakConfig(
        investors=investors, orders_per_investor=per_investor, kills=0, block_time=block_time, receipt_timeout=60.0
    )
    run = Platform(directory, config)
    run.env["DREXFY_LEDGER__EVM__BLOCK_TIME_S"] = str(block_time)
    started = time.monotonic()
    try:
        run.start()
        ids = onboard(run, investors)
        instrument = open_instrument(run)
        paid_at = time.monotonic()
        orders = place_and_pay(run, ids, instrument["id"], per_investor, note_block=True)
        deadline = time.monotonic() + 60 * block_time + 120
        blocks: dict[str, int] = {}
        while time.monotonic() < deadline:
            blocks = _settled_blocks(directory)
            if len(blocks) >= len(orders):
                break
            time.sleep(1.0)
        settle_wall = time.monotonic() - paid_at
    finally:
        run.stop()
    per_block: dict[int, int] = {}
    for block in blocks.values():
        per_block[block] = per_block.get(block, 0) + 1
    # From the block in which each order's payment webhook was accepted to its settlement's block.
    latency = sorted(blocks[o["id"]] - o["paid_at_block"] for o in orders if o["id"] in blocks)
    return {
        "block_time_s": block_time,
        "investors": investors,
        "orders": len(orders),
        "settled": len(blocks),
        "settlements_per_block_max": max(per_block.values(), default=0),
        "settlements_per_block_mean": round(statistics.mean(per_block.values()), 1) if per_block else 0,
        "blocks_with_settlements": len(per_block),
        "latency_blocks_p50": latency[len(latency) // 2] if latency else None,
        "latency_blocks_p90": latency[int(len(latency) * 0.9) - 1] if latency else None,
        "latency_blocks_max": latency[-1] if latency else None,
        "settle_wall_s": round(settle_wall, 1),
        "total_wall_s": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.blocks")
    parser.add_argument("--investors", type=int, default=100)
    parser.add_argument("--orders", type=int, default=2, help="orders per investor")
    parser.add_argument("--block-time", type=float, default=6.0)
    args = parser.parse_args([] if argv is None else argv)  # `make bench` calls main() with defaults
    with tempfile.TemporaryDirectory(prefix="drexfy-bench-blocks-") as directory:
        result = run(args.investors, args.orders, args.block_time, Path(directory))
    print(json.dumps(result, indent=2))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["settled"] == result["orders"] else 1


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
