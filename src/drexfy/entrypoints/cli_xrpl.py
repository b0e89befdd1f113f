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
from typing import Any


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


def cmd_setup(args: argparse.Namespace) -> int:
    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.xrpl_setup import setup_from_settings

    settings = load_settings(getattr(args, "config", None))
    for line in asyncio.run(setup_from_settings(settings, fund_from_genesis=args.fund_from_genesis)):
        print(line)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from drexfy.entrypoints.demo import main as demo_main

    return int(demo_main(argparse.Namespace(ledger="xrpl", data_dir=args.data_dir)))


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))
