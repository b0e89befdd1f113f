"""`make bench`: run every benchmark of the project and print where the figures went.

Each area has a module `bench/<area>.py` with `main()` (sync or async) that measures, compares with
its baseline in the same run, prints a table and writes `bench/results/<area>.json`. Areas run one
after another in this process so they never compete for the two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import sys
import time
from pathlib import Path

AREAS = ("gas", "http", "kms", "store", "xrpl", "blocks", "ratelimit")
RESULTS = Path(__file__).resolve().parent / "results"


def run_area(name: str) -> dict[str, object]:
    module = importlib.import_module(f"bench.{name}")
    started = time.perf_counter()
    outcome = module.main()
    if inspect.isawaitable(outcome):
        outcome = asyncio.run(outcome)
    return {"area": name, "seconds": round(time.perf_counter() - started, 1), "ok": True, "result": outcome}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("areas", nargs="*", default=list(AREAS), help=f"areas to run (default: {' '.join(AREAS)})")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = []
    failed = False
    for name in args.areas:
        print(f"\n=== bench: {name} ===", flush=True)
        try:
            summary.append(run_area(name))
        except Exception as error:
            failed = True
            print(f"bench {name} failed: {type(error).__name__}: {error}", file=sys.stderr)
            summary.append({"area": name, "ok": False, "error": f"{type(error).__name__}: {error}"})
    print("\n=== summary ===")
    for entry in summary:
        status = "ok" if entry["ok"] else f"FAILED ({entry['error']})"
        print(f"  {entry['area']:<6} {status}  -> bench/results/{entry['area']}.json")
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
