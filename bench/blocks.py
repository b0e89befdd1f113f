"""Settlement on a chain with real block times: `python -m bench.blocks [--investors N] [--block-time S]`.

anvil mines a block every `--block-time` seconds (Moonbeam: 6); `drexfy serve --no-worker` and
`drexfy worker` run as separate processes over SQLite (tests/soak/harness.py). Investors are
onboarded by signed KYC webhooks, each places two orders, and every order is paid by a signed
payment webhook. Reported: settlements per block (the busiest block and the mean over the blocks
that settled any), each order's latency in blocks from the block in which its payment webhook was
accepted to its settlement's block (p50, p90, max), and the wall time. Issue target (1,000 orders from 500 investors at 6 s): at least 200
settlements per block, p90 under 3 blocks. Settlement transactions are read from the journal.
`--pay-rate N` sends the payment webhooks as a steady inflow of N a second instead of a burst (all
1,000 accepted within seconds, so the p90 of a burst measures how fast the worker drains a backlog,
and the latency at a rate the pipeline keeps up with is what a customer sees).

Beside it, in the same run: node requests per settlement (the processes talk to anvil through a
counting proxy, bench/rpc_count.py), and the chain's floor: the node is reverted to its state before
the orders and the transactions the chain mined meanwhile (read from its blocks, reverted ones
included, so no nonce is missing) are sent raw at once; the time until all are mined is the best
any relayer could do here (`share_of_floor`; issue target at least 0.5).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.soak.harness import Platform, SoakConfig, onboard, open_instrument, place_and_pay

from bench.rpc_count import CountingProxy

RESULTS = Path(__file__).resolve().parent / "results" / "blocks.json"
#: The harness's settings for kill runs that this bench leaves at their defaults.
SOAK_TUNING = (
    "DREXFY_WORKER__MAX_DELAY",
    "DREXFY_WORKER__LEDGER_KEEPER_EVERY",
    "DREXFY_LEDGER__EVM__KEEPER_GRACE_S",
    "DREXFY_LEDGER__EVM__POLL_INTERVAL_S",
    "DREXFY_WORKER__LEASE_SECONDS",
    "DREXFY_PROCESSES__SETTLEMENT_LEASE_S",
)


def _settled_blocks(directory: Path) -> dict[str, int]:
    """Order id -> the block its settlement was mined in."""
    with contextlib.closing(sqlite3.connect(directory / "drexfy.sqlite", timeout=10)) as conn:
        rows = conn.execute(
            "SELECT op_id, result FROM journal WHERE op_id LIKE 'settle:%' AND status = 'CONFIRMED'"
        ).fetchall()
    return {row[0].removeprefix("settle:"): int(json.loads(row[1])["block"]) for row in rows}


def _stop_processes(run: Platform, extra: list[subprocess.Popen[bytes]]) -> None:
    """Stop the API and the workers, keep the node (the floor replays on it)."""
    for process in (*extra, run.worker_process, run.api_process):
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _first_base_fee(run: Platform, block: int) -> int | None:
    """The base fee of the first block after `block` that holds a transaction: the fee level the
    relayer priced its first settlements at."""
    head = int(run.node.rpc("eth_blockNumber"), 16)
    for number in range(block + 1, head + 1):
        found = run.node.rpc("eth_getBlockByNumber", hex(number), False)
        if found["transactions"]:
            return int(found.get("baseFeePerGas") or "0x0", 16)
    return None


def _mined_since(run: Platform, block: int) -> list[tuple[str, int, str]]:
    """The raw bytes of every transaction mined after `block`, in block and index order, read from
    the chain itself: the journal keeps only each operation's last transaction, and a settlement
    that reverted (a permit overtaken) and was sent again under a new nonce would leave its first
    nonce out of a replay, holding every later transaction of the relayer behind the hole."""
    mined = []
    head = int(run.node.rpc("eth_blockNumber"), 16)
    for number in range(block + 1, head + 1):
        for tx in run.node.rpc("eth_getBlockByNumber", hex(number), True)["transactions"]:
            raw = str(run.node.rpc("eth_getRawTransactionByHash", tx["hash"]))
            mined.append((str(tx["from"]), int(tx["nonce"], 16), raw))
    return mined


def _floor(
    run: Platform, snapshot: str, mined: list[tuple[str, int, str]], settlements: int, base_fee: int | None
) -> dict[str, Any]:
    """The chain's limit on this machine: the same transactions, pre-signed, sent raw at once to
    the node reverted to the state before the run, and the time and blocks until all are mined.
    The next block's base fee is set to the one the first settlements were mined at: while the
    orders were placed, empty blocks lowered it, and the relayer priced its transactions (at most
    twice the base fee) for that level, which the reverted node's fee would exceed. A replay that
    does not finish (a transaction the node refuses, a nonce hole) is reported as such, with no
    rate: a deadline is not a measurement."""
    run.node.rpc("evm_revert", snapshot)
    if base_fee is not None:
        run.node.rpc("anvil_setNextBlockBaseFeePerGas", hex(base_fee))
    last: dict[str, int] = {}
    for sender, nonce, _ in mined:
        last[sender] = max(last.get(sender, -1), nonce)
    start_block = int(run.node.rpc("eth_blockNumber"), 16)
    started = time.monotonic()
    refused = 0
    for _, _, raw in mined:
        try:
            run.node.rpc("eth_sendRawTransaction", raw)
        except Exception:  # the node's refusal, counted: the replay is then not the floor
            refused += 1
    sent_s = time.monotonic() - started
    deadline = time.monotonic() + 60 * run.config.block_time + 60
    done = False
    while time.monotonic() < deadline:
        if all(int(run.node.rpc("eth_getTransactionCount", s, "latest"), 16) > n for s, n in last.items()):
            done = True
            break
        time.sleep(0.1)
    wall = time.monotonic() - started
    blocks = int(run.node.rpc("eth_blockNumber"), 16) - start_block
    return {
        "transactions": len(mined),
        "refused": refused,
        "complete": done,
        "send_s": round(sent_s, 1),
        "mined_wall_s": round(wall, 1),
        "blocks": blocks,
        "settlements_per_s": round(settlements / wall, 1) if wall and done else None,
    }


def run(
    investors: int,
    per_investor: int,
    block_time: float,
    directory: Path,
    pay_concurrency: int = 16,
    pay_rate: float | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    config = SoakConfig(
        investors=investors, orders_per_investor=per_investor, kills=0, block_time=block_time, receipt_timeout=60.0
    )
    run = Platform(directory, config)
    run.env["DREXFY_LEDGER__EVM__BLOCK_TIME_S"] = str(block_time)
    # The soak harness tunes the worker for quick recovery from kills (a 3 s retry cap, a keeper
    # every second with a 2 s grace, 6 s leases); a throughput bench runs the defaults an operator
    # gets, so a job handed back for its block comes back after that block, not every 3 s.
    for tuned in SOAK_TUNING:
        run.env.pop(tuned, None)
    started = time.monotonic()
    load_before = os.getloadavg()
    with CountingProxy(run.node.url) as proxy:
        run.env["DREXFY_LEDGER__EVM__RPC_URL"] = proxy.url
        extra: list[subprocess.Popen[bytes]] = []
        try:
            run.start()
            # More worker processes on the same store (what an operator scales out with): they
            # share the inbox through leases and the relayer's nonces through the journal.
            extra = [run._drexfy("worker") for _ in range(workers - 1)]
            ids = onboard(run, investors)
            instrument = open_instrument(run)
            snapshot = run.node.rpc("evm_snapshot")
            snapshot_block = int(run.node.rpc("eth_blockNumber"), 16)
            proxy.reset()
            paid_at = time.monotonic()
            orders = place_and_pay(
                run,
                ids,
                instrument["id"],
                per_investor,
                note_block=True,
                pay_concurrency=pay_concurrency,
                pay_rate=pay_rate,
            )
            paid_wall = time.monotonic() - paid_at
            deadline = time.monotonic() + 60 * block_time + 120
            blocks: dict[str, int] = {}
            while time.monotonic() < deadline:
                blocks = _settled_blocks(directory)
                if len(blocks) >= len(orders):
                    break
                time.sleep(0.5)
            settle_wall = time.monotonic() - paid_at
            requests = proxy.snapshot()
            _stop_processes(run, extra)
            floor = _floor(
                run,
                snapshot,
                _mined_since(run, snapshot_block),
                len(blocks),
                _first_base_fee(run, snapshot_block),
            )
        finally:
            _stop_processes(run, extra)
            run.stop()
    per_block: dict[int, int] = {}
    for block in blocks.values():
        per_block[block] = per_block.get(block, 0) + 1
    # From the block in which each order's payment webhook was accepted to its settlement's block.
    latency = sorted(blocks[o["id"]] - o["paid_at_block"] for o in orders if o["id"] in blocks)
    settled_per_s = len(blocks) / settle_wall if settle_wall else 0.0
    return {
        "block_time_s": block_time,
        "investors": investors,
        "orders": len(orders),
        "settled": len(blocks),
        "payment_webhooks_at_once": pay_concurrency,
        "payment_rate_offered_per_s": pay_rate,
        "worker_processes": workers,
        "payment_webhooks_wall_s": round(paid_wall, 1),
        "settlements_per_block_max": max(per_block.values(), default=0),
        "settlements_per_block_mean": round(statistics.mean(per_block.values()), 1) if per_block else 0,
        "blocks_with_settlements": len(per_block),
        "latency_blocks_p50": latency[len(latency) // 2] if latency else None,
        "latency_blocks_p90": latency[int(len(latency) * 0.9) - 1] if latency else None,
        "latency_blocks_max": latency[-1] if latency else None,
        "settle_wall_s": round(settle_wall, 1),
        "settled_per_s": round(settled_per_s, 1),
        "node_requests_per_settlement": round(sum(requests.values()) / max(1, len(blocks)), 1),
        "node_requests_by_method": dict(requests.most_common()),
        "floor_presigned": floor,
        "share_of_floor": round(settled_per_s / floor["settlements_per_s"], 2) if floor["settlements_per_s"] else None,
        "total_wall_s": round(time.monotonic() - started, 1),
        # The machine's 1/5/15-minute load averages before and after (2 cores shared with others).
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.blocks")
    parser.add_argument("--investors", type=int, default=100)
    parser.add_argument("--orders", type=int, default=2, help="orders per investor")
    parser.add_argument("--block-time", type=float, default=6.0)
    parser.add_argument("--pay-concurrency", type=int, default=16, help="payment webhooks sent at once")
    parser.add_argument(
        "--pay-rate", type=float, default=None, help="payment webhooks per second (default: as fast as they go)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes on the one store")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON result goes")
    args = parser.parse_args([] if argv is None else argv)  # `make bench` calls main() with defaults
    with tempfile.TemporaryDirectory(prefix="drexfy-bench-blocks-") as directory:
        result = run(
            args.investors,
            args.orders,
            args.block_time,
            Path(directory),
            args.pay_concurrency,
            args.pay_rate,
            args.workers,
        )
    print(json.dumps(result, indent=2))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["settled"] == result["orders"] else 1


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
