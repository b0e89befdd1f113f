"""`make soak`: the fault harness at size. `python -m tests.soak [--investors N] [--orders N] [--kills N]`."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.soak.harness import SoakConfig, run_soak


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak")
    parser.add_argument("--investors", type=int, default=40)
    parser.add_argument("--orders", type=int, default=2, help="orders per investor")
    parser.add_argument("--kills", type=int, default=12, help="worker kills timed on in-flight operations")
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--store", choices=["sqlite", "dynamodb"], default="sqlite")
    parser.add_argument("--ledger", choices=["evm", "xrpl"], default="evm")
    args = parser.parse_args()
    config = SoakConfig(
        investors=args.investors,
        orders_per_investor=args.orders,
        kills=args.kills,
        block_time=args.block_time,
        store=args.store,
        ledger=args.ledger,
        settle_within_s=600.0,
    )
    with tempfile.TemporaryDirectory(prefix="drexfy-soak-") as directory:
        report = run_soak(Path(directory), config)
    for line in report.lines():
        print(line)
    ok = (
        report.settled == report.paid
        and not report.refunded
        and not report.unfinished
        and report.duplicates == 0
        and report.reconcile_exit == 0
    )
    print("soak: every paid order settled once" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
