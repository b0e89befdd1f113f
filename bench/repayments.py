"""Repayments to many holders: `python -m bench.repayments [--holders 1000,10000,100000] [--anvil ...]`.

Two measurements per size, each beside a baseline taken in the same run:

- **store** (SQLite, memory ledger): `take_snapshot` (the holders' snapshot: one share row each)
  and `continue_repayment` (batches: shares fixed, paid, recorded), per holder. Baseline: the
  bare SQLite floor of the same rows, a share row inserted and then updated once per holder in
  transactions of the same batch size, with no domain code.
- **anvil** (SQLite, EVM adapter on anvil; `--block-time`, 0 = automine): the whole repayment, wall
  time and gas per holder. The target's clock runs from the request to the last batch recorded
  (snapshot, every batch paid on chain and recorded in the store, the auto cash-out pass); set-up
  (holders on chain and in the store) and the checks after are outside it. Baseline: the ledger
  alone, `EvmLedger.distribute` of the same payouts in the same batches (fresh wallets: a first
  payment; then the repayment's holders again: a repeat payment), no store and no process.

Every phase prints its wall time, anvil's CPU seconds and memory and the load average when it ends
(`bench/phases.py`), and the payments print progress every 10 s (holders paid, rate, ETA, time in
the ledger); the JSON row keeps the phase times (`phase_s`, `node_cpu_s`).

Holders are written straight into the store (tests/support/holders.py) and classified on chain by
writing the registry's status word with `anvil_setStorageAt`: onboarding 100,000 investors through
KYC and a classification transaction each would take hours and measure onboarding, not repayments.
The slot is found by classifying one wallet the ordinary way and looking for its word, so a change
of the registry's storage layout is followed; each holder gets one unit of the instrument the same way
(Distribution pays only holders). Interest only: retiring principal would burn units the token's
supply never counted. Issue target (anvil, SQLite): 100,000 holders in under 5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from tests.support.anvil import start_anvil
from tests.support.holders import seed_holders, seed_instrument, services_over

from bench.phases import Phases, Proc
from drexfy.adapters.evm import EvmConfig, build_evm_ledger, connect, deploy_suite
from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.memory import MemoryLedger
from drexfy.adapters.secp256k1 import evm_address
from drexfy.adapters.sqlite import open_sqlite_store
from drexfy.domain import processes as p
from drexfy.domain.classification import Classification
from drexfy.domain.errors import LedgerPending
from drexfy.domain.model import Instrument, InstrumentStatus, Wallet
from drexfy.domain.money import Money
from drexfy.domain.ports import InstrumentSpec, Payout, Purchase, RepaymentFunding
from drexfy.domain.processes import queries as q
from drexfy.entrypoints.config import DEFAULT_BATCH

RESULTS = Path(__file__).resolve().parent / "results" / "repayments.json"
#: Holders per domain batch: the product's default on SQLite (`processes.distribution_batch_size` 0).
BATCH = DEFAULT_BATCH
EUR = "EUR"


def sqlite_floor(holders: int, directory: Path, batch: int = BATCH) -> float:
    """Seconds to insert a ~300-byte share row per holder and update each once, in transactions
    of `batch` rows, with the store's pragmas (WAL, synchronous NORMAL)."""
    conn = sqlite3.connect(directory / "floor.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE s (r TEXT, i TEXT, status TEXT, data TEXT, PRIMARY KEY (r, i)) WITHOUT ROWID")
    row = "x" * 300
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO s VALUES ('r', ?, 'PENDING', ?)", ((f"inv_{i:06d}", row) for i in range(holders)))
    conn.execute("COMMIT")
    for start in range(0, holders, batch):
        conn.execute("BEGIN")
        conn.executemany(
            "UPDATE s SET status = 'PAID', data = ? WHERE r = 'r' AND i = ?",
            ((row, f"inv_{i:06d}") for i in range(start, min(start + batch, holders))),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def store_run(holders: int, directory: Path, batch: int = BATCH) -> dict[str, Any]:
    store = await open_sqlite_store(directory / "store.sqlite")
    ledger = MemoryLedger()
    try:
        svc = services_over(store, ledger, directory, batch)
        instrument = await seed_instrument(store, ledger, holders, 1)
        await seed_holders(store, ledger, instrument, holders, 1)
        interest = Money(holders * 100, EUR)
        started = time.perf_counter()
        cmd = p.TriggerRepayment(instrument.id, "2026-11", interest, Money(0, EUR))
        repayment = await p.take_snapshot(svc, (await p.request_repayment(svc, cmd)).id)
        snapshot = time.perf_counter() - started
        done = await p.continue_repayment(svc, repayment.id)
        total = time.perf_counter() - started
        assert done.paid_count == holders and ledger.stablecoin_supply == interest.minor
    finally:
        await store.close()
    floor = sqlite_floor(holders, directory, batch)
    return {
        "holders": holders,
        "snapshot_s": round(snapshot, 2),
        "total_s": round(total, 2),
        "us_per_holder": round(total / holders * 1e6),
        "floor_s": round(floor, 2),
        "floor_us_per_holder": round(floor / holders * 1e6),
    }


async def _mapping_slot(w3: Any, contract: str, probe: str) -> tuple[int, str]:
    """The storage slot of `contract`'s `address => word` mapping in which `probe` has a non-zero
    word (the registry's status word, a token's balance), and that word."""
    for slot in range(64):
        key = keccak(bytes.fromhex(probe[2:].rjust(64, "0")) + slot.to_bytes(32, "big"))
        word = await w3.eth.get_storage_at(contract, int.from_bytes(key, "big"))
        if int.from_bytes(word, "big"):
            return slot, "0x" + bytes(word).hex()
    raise RuntimeError(f"no mapping of {contract} holds a word for the probe in its first 64 slots")


def _address(i: int) -> str:
    return to_checksum_address("0x" + f"{0x10_0000_0000 + i:040x}")  # clear of the precompiles


async def _set_in_bulk(url: str, contract: str, slot: int, word: str, count: int, phases: Phases) -> None:
    """`contract`'s mapping at `slot` gets `word` for the first `count` bench addresses."""
    async with httpx.AsyncClient(timeout=120) as client:
        for start in range(0, count, 1000):
            calls = []
            for i in range(start, min(start + 1000, count)):
                key = keccak(bytes.fromhex(_address(i)[2:].rjust(64, "0")) + slot.to_bytes(32, "big"))
                calls.append(
                    {
                        "jsonrpc": "2.0",
                        "id": i,
                        "method": "anvil_setStorageAt",
                        "params": [contract, "0x" + key.hex(), word],
                    }
                )
            answer = (await client.post(url, json=calls)).json()
            failed = [a for a in answer if "error" in a]
            if failed:
                raise RuntimeError(f"anvil_setStorageAt failed: {failed[0]}")
            phases.tick(min(start + 1000, count), count, unit="storage words")


#: States anvil keeps in memory (`--prune-history`). Anvil keeps each block's state as a full
#: copy of the whole state (not a diff), so memory grows with blocks x holders: 256 states grew to
#: gigabytes at 20,000 holders (17 GB of unpruned history at 100,000). Nothing here reads state
#: more than a few blocks old (a revert's reason is replayed on the block before it).
PRUNE_HISTORY = 8
#: Interval mining, in seconds (0: anvil's automine, a block per transaction). Blocks hold what the
#: pipelined batches send within the interval, up to the 60 M gas of Moonbeam's blocks (Moonbeam
#: mines every 6 s). Anvil's work per block grows with its state (about 1-2 s at 100,000 holders
#: here), so it could not keep 1 s blocks at that size; automine made a block per transaction.
BLOCK_TIME = 3


class TimedLedger:
    """The ledger the repayment uses, timing its `distribute` calls (the chain's part of each batch:
    sign, send, mined, receipt) and printing progress every few seconds; the rest of a batch's
    time is the store's and the process's."""

    def __init__(self, inner: Any, phases: Phases, total_holders: int) -> None:
        self._inner, self._phases, self._total = inner, phases, total_holders
        self.calls = 0
        self.holders = 0
        self.chain_s = 0.0
        self.per_call: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def distribute(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = await self._inner.distribute(*args, **kwargs)
        spent = time.perf_counter() - started
        self.calls += 1
        self.holders += len(args[2])
        self.chain_s += spent
        self.per_call.append(spent)
        last = self.per_call[-10:]
        self._phases.tick(
            self.holders,
            self._total,
            extra=f"; {self.calls} batches, chain {self.chain_s:.0f} s, last 10 batches {sum(last) / len(last):.2f} s each",
        )
        return result


#: States anvil keeps in memory (`--prune-history`). Anvil keeps each block's state as a full
#: copy of the whole state (not a diff), so memory grows with blocks x holders: 256 states grew to
#: gigabytes at 20,000 holders (17 GB of unpruned history at 100,000). Nothing here reads state
#: more than a few blocks old (a revert's reason is replayed on the block before it).
PRUNE_HISTORY = 8
#: Interval mining, in seconds (0: anvil's automine, a block per transaction). Blocks hold what the
#: pipelined batches send within the interval, up to the 60 M gas of Moonbeam's blocks (Moonbeam
#: mines every 6 s). Anvil's work per block grows with its state (about 1-2 s at 100,000 holders
#: here), so it could not keep 1 s blocks at that size; automine made a block per transaction.
BLOCK_TIME = 3


async def anvil_run(
    holders: int,
    directory: Path,
    prune_history: int = PRUNE_HISTORY,
    batch: int = BATCH,
    block_time: int = BLOCK_TIME,
) -> dict[str, Any]:
    # Set-up runs on automine (no empty blocks meanwhile: anvil copies its whole state per block,
    # which made 200,000 storage writes crawl at 1 s blocks); the payments at `block_time`.
    node = start_anvil(extra_args=("--prune-history", str(prune_history)) if prune_history else ())
    phases = Phases(f"anvil {holders}", Proc(node._proc.pid if node._proc else None))
    store = await open_sqlite_store(directory / "chain.sqlite")
    vault = LocalVault(directory / "vault", os.urandom(32))
    cfg = EvmConfig(
        rpc_url=node.url,
        chain_id=1287,
        deployment_file=directory / "deployment.json",
        batch_size=250,
        block_time_s=float(block_time or 1),
    )
    try:
        with phases.run("setup: deploy"):
            w3 = await connect(cfg)
            (await deploy_suite(w3, vault, store.journal, cfg)).save(cfg.deployment_file)
            await w3.provider.disconnect()  # type: ignore[union-attr]
            ledger = await build_evm_ledger(cfg, vault, store.journal)
        try:
            with phases.run("setup: classify on chain"):
                public_key = await vault.create_key("probe")
                probe = Wallet("probe", evm_address(public_key), public_key.hex())
                await ledger.record_classification("classify:probe", probe, Classification.EU_ACCREDITED)
                registry = to_checksum_address(ledger.deployment.registry)
                slot, word = await _mapping_slot(ledger.w3, registry, probe.address)
                # The holders, and as many fresh wallets for the ledger-alone baseline (first payments).
                await _set_in_bulk(node.url, registry, slot, word, 2 * holders, phases)
            with phases.run("setup: units on chain"):
                spec = InstrumentSpec(
                    "ins_scale",
                    "SCALE26",
                    "Scale pool",
                    2 * holders + 1,
                    frozenset({Classification.EU_ACCREDITED}),
                    Money(100_00, EUR),
                )
                issued = await ledger.issue_instrument("issue:scale", spec)
                # Distribution pays only holders of the instrument: one unit each, written like the
                # classification (a settled unit of the probe shows where balances live).
                await ledger.settle_purchase(
                    "settle:probe", Purchase("probe", probe, issued.ledger_ref, 1, Money(100_00, EUR))
                )
                token = to_checksum_address(issued.ledger_ref)
                slot, word = await _mapping_slot(ledger.w3, token, probe.address)
                await _set_in_bulk(node.url, token, slot, word, 2 * holders, phases)
            timed = TimedLedger(ledger, phases, holders)
            svc = services_over(store, timed, directory, batch)
            with phases.run("setup: holders in the store"):
                memory = MemoryLedger()  # only to satisfy the seeding helper's bookkeeping
                instrument = await seed_instrument(store, memory, holders, 1)
                async with store.unit_of_work() as uow:
                    fresh: Instrument = await uow.instruments.get(instrument.id)
                    fresh.ledger_ref, fresh.ledger_position, fresh.status = (
                        issued.ledger_ref,
                        issued.position,
                        InstrumentStatus.OPEN,
                    )
                    await uow.instruments.save(fresh)
                    await uow.commit()
                await seed_holders(store, memory, instrument, holders, 1, address=_address)
            interest = Money(holders * 100, EUR)
            if block_time:
                node.rpc("evm_setIntervalMining", block_time)
            # The target's clock: from the request to the last batch recorded (what the worker's
            # job does: snapshot, then every batch paid on chain and recorded in the store).
            started = time.perf_counter()
            with phases.run("repayment: request + snapshot"):
                cmd = p.TriggerRepayment(instrument.id, "2026-11", interest, Money(0, EUR))
                requested = await p.request_repayment(svc, cmd)
                await p.take_snapshot(svc, requested.id)
            first_block = await ledger.w3.eth.block_number
            with phases.run("repayment: pay batches"):
                repayment = await _as_the_worker(svc, requested.id, node)
            blocks = await ledger.w3.eth.block_number - first_block
            total = time.perf_counter() - started
            assert repayment.paid_count == holders, repayment
            with phases.run("check: gas of the repayment"):
                gas = await _gas_of_repayment(ledger, svc, repayment.id)

            # The ledger alone: the same payouts in the same batches, to fresh wallets (first
            # payment, as the repayment's were), then again to the repayment's holders (a repeat
            # payment: balances not empty). No store, no process: what any implementation hits.
            def payouts(first: int) -> list[Payout]:
                return [
                    Payout(Wallet(f"w{i}", _address(i), "02" + "00" * 32), Money(100, EUR), 0)
                    for i in range(first, first + holders)
                ]

            floor = TimedLedger(ledger, phases, holders)
            with phases.run("floor: ledger alone, first payment"):
                started = time.perf_counter()
                first_tx = await _ledger_alone(floor, "bench:ledger-first", issued.ledger_ref, payouts(holders), batch)
                ledger_only = time.perf_counter() - started
            with phases.run("check: gas of the floor"):
                ledger_gas = await _gas(ledger, first_tx)
            repeat = TimedLedger(ledger, phases, holders)
            with phases.run("floor: ledger alone, repeat payment"):
                started = time.perf_counter()
                repeat_tx = await _ledger_alone(repeat, "bench:ledger-repeat", issued.ledger_ref, payouts(0), batch)
                repeat_s = time.perf_counter() - started
            repeat_gas = await _gas(ledger, repeat_tx)
        finally:
            await ledger.close()
    finally:
        await store.close()
        node.stop()
    return {
        "holders": holders,
        "total_s": round(total, 1),
        "ms_per_holder": round(total / holders * 1000, 2),
        "chain_s": round(timed.chain_s, 1),
        "gas_per_holder": round(gas / holders),
        "ledger_only_s": round(ledger_only, 1),
        "ledger_only_gas_per_holder": round(ledger_gas / holders),
        "repeat_s": round(repeat_s, 1),
        "repeat_gas_per_holder": round(repeat_gas / holders),
        "transactions": len(first_tx),
        "blocks": blocks,
        **phases.record(),
    }


async def _as_the_worker(svc: p.Services, repayment_id: str, node: Any) -> Any:
    """`continue_repayment` as the worker runs it: a transaction not mined within the receipt
    timeout (LedgerPending) is waited for again by the job's next attempt (printed: it is time)."""
    while True:
        try:
            return await p.continue_repayment(svc, repayment_id)
        except LedgerPending as pending:
            pool = node.rpc("txpool_status")
            print(
                f"  pending past the receipt timeout, retried as the worker would: {pending}; pool {pool}", flush=True
            )


async def _ledger_alone(ledger: TimedLedger, op: str, ref: str, payouts: list[Payout], batch: int) -> list[str]:
    """`distribute` of `payouts` in the repayment's batches (`batch` holders a call), one round."""
    funding = RepaymentFunding(op, Money(sum(x.amount.minor for x in payouts), EUR))
    tx_ids: list[str] = []
    for n, i in enumerate(range(0, len(payouts), batch)):
        while True:
            try:
                result = await ledger.distribute(f"{op}:{n}", ref, payouts[i : i + batch], funding)
                break
            except LedgerPending as pending:
                # Back to back, the batches fill the blocks and raise the base fee until a chunk
                # is priced out; the worker's next attempt replaces it with a higher fee, so does this.
                print(f"  pending past the receipt timeout, sent again as the worker would: {pending}", flush=True)
        tx_ids += result.tx_ids
    return tx_ids


async def _gas_of_repayment(ledger: Any, svc: p.Services, repayment_id: str) -> int:
    tx_ids: set[str] = set()
    after = None
    while True:
        page = await q.repayment_allocations(svc, repayment_id, after=after, limit=500)
        for allocation in page.items:
            tx_ids.update(allocation.tx_ids)
        if page.next is None:
            break
        after = page.next
    return await _gas(ledger, sorted(tx_ids))


async def _gas(ledger: Any, tx_ids: Any) -> int:
    return sum([int((await ledger.w3.eth.get_transaction_receipt(t))["gasUsed"]) for t in tx_ids])


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


async def amain(
    store_sizes: list[int],
    anvil_sizes: list[int],
    prune_history: int = PRUNE_HISTORY,
    batch: int = BATCH,
    block_time: int = BLOCK_TIME,
) -> dict[str, Any]:
    out: dict[str, Any] = {"batch": batch, "store": [], "anvil": []}
    for holders in store_sizes:
        with tempfile.TemporaryDirectory() as tmp:
            row = await store_run(holders, Path(tmp), batch)
        print(
            f"store  {holders:>7} holders: {row['total_s']:>7} s ({row['us_per_holder']} µs/holder; "
            f"snapshot {row['snapshot_s']} s)   SQLite floor {row['floor_s']} s ({row['floor_us_per_holder']} µs/holder)",
            flush=True,
        )
        out["store"].append(row)
    for holders in anvil_sizes:
        with tempfile.TemporaryDirectory() as tmp:
            row = await anvil_run(holders, Path(tmp), prune_history, batch, block_time)
            row["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            row["anvil_prune_history"] = prune_history
            row["batch"] = batch
            row["anvil_block_time_s"] = block_time
        print(
            f"anvil  {holders:>7} holders: {row['total_s']:>7} s ({row['ms_per_holder']} ms/holder; chain "
            f"{row['chain_s']} s), {row['gas_per_holder']} gas/holder   ledger alone {row['ledger_only_s']} s, "
            f"{row['ledger_only_gas_per_holder']} gas/holder in {row['transactions']} transactions; "
            f"a repeat payment {row['repeat_s']} s, {row['repeat_gas_per_holder']} gas/holder",
            flush=True,
        )
        out["anvil"].append(row)
    # A run of some sizes replaces those rows and keeps the others (each row says when and how).
    if RESULTS.exists():
        earlier = json.loads(RESULTS.read_text())
        for area in ("store", "anvil"):
            sizes = {row["holders"] for row in out[area]}
            out[area] = sorted(
                [*(row for row in earlier.get(area, []) if row["holders"] not in sizes), *out[area]],
                key=lambda row: row["holders"],
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holders", default="1000,10000,100000", help="store run sizes (comma-separated)")
    parser.add_argument("--anvil", default="1000,10000,100000", help="anvil run sizes (comma-separated)")
    parser.add_argument(
        "--prune-history", type=int, default=PRUNE_HISTORY, help="anvil states kept in memory (0: full history)"
    )
    parser.add_argument("--batch", type=int, default=BATCH, help="holders per domain batch (the store's unit)")
    parser.add_argument("--block-time", type=int, default=BLOCK_TIME, help="anvil's block time in s (0: automine)")
    args = parser.parse_args(argv if argv is not None else [])
    return asyncio.run(amain(_sizes(args.holders), _sizes(args.anvil), args.prune_history, args.batch, args.block_time))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
