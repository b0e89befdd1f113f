"""Run the ledger double as a process: `python -m tests.support.xrpl_double --port 5005`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from tests.support.xrpl_double.server import DoubleConfig, LedgerDouble


async def _serve(args: argparse.Namespace) -> None:
    config = DoubleConfig(auto_close=not args.manual_close, close_interval=args.close_interval or None)
    double = LedgerDouble(config, host=args.host, port=args.port)
    await double.start()
    print(f"xrpl ledger double listening on {double.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await double.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--manual-close", action="store_true", help="close ledgers only on ledger_accept")
    parser.add_argument("--close-interval", type=float, default=0.25, help="seconds between ledger closes (0: off)")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
