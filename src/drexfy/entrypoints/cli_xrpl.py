"""XRPL commands, registered into the main `drexfy` parser.

    drexfy xrpl setup [--fund-from-genesis]
        create the platform keys (issuer, instrument issuer, funding, registrar) in the vault, fund
        the platform accounts from the funding account and set the issuer's flags in the order XRPL
        requires (clawback, RequireAuth, DefaultRipple), then authorise the instrument issuer's
        stablecoin trust line. Safe to run again. `--fund-from-genesis` first funds the funding
        account from a stand-alone node's genesis account (the ledger double; never mainnet).
    drexfy xrpl demo [--data-dir DIR]
        start the ledger double from the repository's tests, set the platform up on it and run the
        lifecycle demo with ledger = xrpl, printing each step.

Settings come from the configuration (`ledger.xrpl.*`, `vault.*`, `store.*`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RPC_URL_ENV = "DREXFY_LEDGER__XRPL__RPC_URL"


def register(subparsers: Any) -> None:
    xrpl = subparsers.add_parser("xrpl", help="XRP Ledger helpers")
    sub = xrpl.add_subparsers(dest="xrpl_command", required=True)
    setup = sub.add_parser("setup", help="create, fund and configure the platform's XRPL accounts")
    setup.add_argument(
        "--fund-from-genesis",
        action="store_true",
        help="fund the funding account from a stand-alone node's genesis (ledger double only)",
    )
    _common(setup)
    setup.set_defaults(func=cmd_setup)
    demo = sub.add_parser("demo", help="run the lifecycle demo on the XRPL ledger double")
    demo.add_argument("--data-dir", default=None, help="keep the demo's store and keys here")
    demo.set_defaults(func=cmd_demo)


def _common(parser: argparse.ArgumentParser) -> None:
    if not any(a.dest == "config" for a in parser._actions):
        parser.add_argument("--config", default=None, help="TOML configuration file (or DREXFY_CONFIG)")


async def setup_from_settings(settings: Any, *, fund_from_genesis: bool) -> list[str]:
    """Build the vault and store the container would, and run the platform setup with them."""
    from drexfy.adapters.xrpl import build_xrpl_ledger, setup_platform
    from drexfy.adapters.xrpl.setup import STANDALONE_GENESIS_SEED
    from drexfy.entrypoints.adapter_config import xrpl_config
    from drexfy.entrypoints.container import build_container

    container = build_container(settings)
    try:
        vault = await container.vault()
        store = await container.store()
        ledger = await build_xrpl_ledger(xrpl_config(settings), vault, store.journal)
        try:
            return await setup_platform(ledger, fund_from_seed=STANDALONE_GENESIS_SEED if fund_from_genesis else None)
        finally:
            await ledger.close()
    finally:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown


def cmd_setup(args: argparse.Namespace) -> int:
    from drexfy.entrypoints.config import load_settings

    settings = load_settings(getattr(args, "config", None))
    for line in asyncio.run(setup_from_settings(settings, fund_from_genesis=args.fund_from_genesis)):
        print(line)
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_double(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m tests.support.xrpl_double` from the repository checkout; wait until it answers."""
    import httpx

    root = Path(__file__).resolve().parents[3]
    if not (root / "tests" / "support" / "xrpl_double").is_dir():
        raise SystemExit("the XRPL ledger double ships with the repository's tests: run from a checkout")
    port = port or _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own test server, a fixed argv
        [sys.executable, "-m", "tests.support.xrpl_double", "--port", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(200):
        try:
            httpx.post(url, json={"method": "server_info", "params": [{}]}, timeout=1.0)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.terminate()
    raise SystemExit("the XRPL ledger double did not start")


def cmd_demo(args: argparse.Namespace) -> int:
    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.demo import main as demo_main

    process, url = start_double()
    previous = os.environ.get(RPC_URL_ENV)
    os.environ[RPC_URL_ENV] = url
    try:
        with tempfile.TemporaryDirectory(prefix="drexfy-xrpl-demo-") as tmp:
            data_dir = args.data_dir or tmp
            settings = load_settings(overrides={"data_dir": data_dir, "ledger.kind": "xrpl"})
            print(f"XRPL ledger double at {url}; setting up the platform accounts")
            for line in asyncio.run(setup_from_settings(settings, fund_from_genesis=True)):
                print(f"  {line}")
            return int(demo_main(argparse.Namespace(ledger="xrpl", data_dir=data_dir)))
    finally:
        if previous is None:
            os.environ.pop(RPC_URL_ENV, None)
        else:
            os.environ[RPC_URL_ENV] = previous
        process.terminate()
        process.wait(timeout=10)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))
