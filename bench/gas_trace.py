"""Where a repeat repayment's gas goes, per holder, beside the plain OpenZeppelin batch transfer.

`python -m bench.gas_trace` starts anvil, deploys the suite and the baseline as bench/gas.py does,
pays two groups of holders (20 and 40) twice on both sides and on the rules-kept floor
(bench/contracts/RepaymentFloor.sol, `payTwoReads`), and traces each repeat transaction
with anvil's struct logger (`debug_traceTransaction`, stack and memory off). Every step's own cost
(a call's cost without what its callee spends) is put in a bucket by contract and kind (cold/warm
SLOAD, SSTORE, LOG, call, keccak, the rest); the calldata's intrinsic cost is counted from the
transaction's bytes. The difference between the 40- and the 20-holder transaction, divided by 20,
is the marginal cost of one holder, fixed costs (21,000, the attestation, role checks) excluded.
Prints the table and writes bench/results/gas_trace.json. Gas is deterministic: the load of the
machine does not move it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.anvil import AnvilNode, start_anvil

from bench.gas import BATCH, EU_ACC, Chain, _pay, fresh, role

RESULTS = Path(__file__).resolve().parent / "results" / "gas_trace.json"
SMALL, LARGE = 20, 40
DETAIL = bool(os.environ.get("GAS_TRACE_DETAIL"))


def _kind(op: str, cost: int) -> str:
    if op == "SLOAD":
        return "SLOAD cold" if cost >= 2100 else "SLOAD warm"
    if op == "SSTORE":
        return "SSTORE"
    if op.startswith("LOG"):
        return "LOG (events)"
    if op in ("CALL", "STATICCALL", "DELEGATECALL"):
        return "call (own cost)"
    if op == "KECCAK256":
        return "keccak"
    return "logic (other opcodes)"


def _frame_names(steps: list[dict[str, Any]], names: list[str]) -> list[str]:
    """The contract of each step: `names` lists the frames in the order they are entered
    (depth 1 first); a frame entered again later takes the next name in the list."""
    out: list[str] = []
    stack: list[str] = []
    it = iter(names)
    for step in steps:
        depth = int(step["depth"])
        while len(stack) > depth:
            stack.pop()
        while len(stack) < depth:
            stack.append(next(it))
        out.append(stack[-1])
    return out


def breakdown(node: AnvilNode, tx_hash: str, frames: list[str], tx_input: bytes, gas_used: int) -> Counter[str]:
    trace = node.rpc(
        "debug_traceTransaction",
        tx_hash,
        {"disableStack": True, "disableMemory": True, "disableStorage": True},
    )
    steps = trace["structLogs"]
    names = _frame_names(steps, frames)
    buckets: Counter[str] = Counter()
    for i, step in enumerate(steps):
        op, depth, gas = step["op"], int(step["depth"]), int(step["gas"])
        cost = int(step["gasCost"])
        if op in ("CALL", "STATICCALL", "DELEGATECALL"):
            # struct logger's gasCost of a call includes the gas handed to the callee: take the
            # gas left after the call returns instead, minus what the callee spent.
            j = i + 1
            while j < len(steps) and int(steps[j]["depth"]) > depth:
                j += 1
            if j < len(steps) and j > i + 1:
                child_start = int(steps[i + 1]["gas"])
                last = steps[j - 1]
                child_left = int(last["gas"]) - int(last["gasCost"])
                cost = (gas - int(steps[j]["gas"])) - (child_start - child_left)
        buckets[f"{names[i]}: {_kind(op, cost)}"] += cost
        if DETAIL:
            buckets[f"~{names[i]}: {op}"] += cost
    zero = tx_input.count(0)
    buckets["tx: calldata (16/nonzero, 4/zero byte)"] = 16 * (len(tx_input) - zero) + 4 * zero
    buckets["tx: base"] = 21_000
    # The struct logger's gas at a callee's first step is not always what the caller handed over
    # (the reserve kept by the 63/64 rule, memory expansion): the outermost frame's own call costs
    # are taken as what the receipt's total leaves once every other bucket is counted.
    top = f"{frames[0]}: call (own cost)"
    buckets[top] = 0
    buckets[top] = gas_used - sum(buckets.values())
    return buckets


def _send(c: Chain, fn: Any) -> tuple[str, bytes, int]:
    tx_hash = fn.transact({"from": c.relayer, "gas": 30_000_000})
    receipt = c.wait(tx_hash)
    tx = c.w3.eth.get_transaction(tx_hash)
    return tx_hash.to_0x_hex(), bytes(tx["input"]), int(receipt.gasUsed)


def measure(node: AnvilNode) -> dict[str, Any]:
    c = Chain(node)
    reg = c.deploy("InvestorClassification", c.admin)
    instruments = c.deploy("InstrumentRegistry", reg.address, c.admin)
    coin = c.deploy("Stablecoin", reg.address, c.admin)
    dist = c.deploy("Distribution", coin.address, instruments.address, BATCH, c.admin, c.relayer, c.treasury.address)
    inst = c.deploy(
        "FinancialInstrument", "Pool", "SME1", reg.address, c.issuer, (1 << 3), 10**12, c.admin, c.relayer,
        c.admin, dist.address,
    )  # fmt: skip
    c.gas(instruments.functions.register(inst.address), c.admin)
    c.gas(reg.functions.grantRole(role("REGISTRAR_ROLE"), c.relayer), c.admin)
    c.gas(coin.functions.grantRole(role("MINTER_ROLE"), dist.address), c.admin)
    erc20 = c.deploy("BaselineERC20")
    c.gas(erc20.functions.mint(c.relayer, 10**30), c.admin)
    floor = c.deploy("RepaymentFloor")
    results: dict[str, Any] = {}
    for n in (SMALL, LARGE):
        holders = fresh(n)
        c.fire([reg.functions.mint(h, EU_ACC) for h in holders], c.relayer)
        c.fire([inst.functions.forcedTransfer(c.issuer, h, 10) for h in holders], c.relayer)
        c.gas(floor.functions.setUp(holders, EU_ACC, 10, 10**30), c.admin)
        amounts = [10**4] * n
        for label in ("first", "repeat"):
            ours = _send(c, _pay(c, dist, inst, f"trace-{label}-{n}", holders, amounts, []))
            base = _send(c, erc20.functions.batchTransfer(holders, amounts))
            two_reads = _send(c, floor.functions.payTwoReads(holders, amounts))
        # The repeat transactions: Distribution calls the registry of instruments, the instrument
        # (retireBatch), then the stablecoin (mintBatch), which calls the identity registry once
        # (statusOfMany).
        ours_frames = ["Distribution", "InstrumentRegistry", "FinancialInstrument", "Stablecoin"]
        ours_frames += ["InvestorClassification"]
        results[f"ours {n}"] = (ours[2], breakdown(node, ours[0], ours_frames + ["?"] * 8, ours[1], ours[2]))
        results[f"base {n}"] = (base[2], breakdown(node, base[0], ["BaselineERC20"], base[1], base[2]))
        floor_trace = breakdown(node, two_reads[0], ["RepaymentFloor"], two_reads[1], two_reads[2])
        results[f"floor {n}"] = (two_reads[2], floor_trace)
    out: dict[str, Any] = {}
    for side in ("ours", "base", "floor"):
        small_gas, small = results[f"{side} {SMALL}"]
        large_gas, large = results[f"{side} {LARGE}"]
        keys = sorted(set(small) | set(large))
        per_holder = {k: (large[k] - small[k]) / (LARGE - SMALL) for k in keys}
        out[side] = {
            "gas_used": {str(SMALL): small_gas, str(LARGE): large_gas},
            "traced_total": {str(SMALL): sum(small.values()), str(LARGE): sum(large.values())},
            "marginal_per_holder": (large_gas - small_gas) / (LARGE - SMALL),
            "per_holder_by_component": {k: round(v, 1) for k, v in per_holder.items() if abs(v) >= 0.05},
        }
    return out


def main() -> dict[str, Any]:
    node = start_anvil(extra_args=("--steps-tracing",))
    try:
        out = measure(node)
    finally:
        node.stop()
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    for side, data in out.items():
        print(f"{side}: marginal gas per holder {data['marginal_per_holder']:.1f} (gasUsed {data['gas_used']})")
        for k, v in sorted(data["per_holder_by_component"].items(), key=lambda kv: -kv[1]):
            print(f"  {k:<55} {v:>9.1f}")
    return out


if __name__ == "__main__":
    main()
