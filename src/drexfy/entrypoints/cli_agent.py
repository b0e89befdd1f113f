"""`drexfy agent`: the agent's forced transfer and wallet recovery, from an operator's shell.

    drexfy agent force-transfer --instrument ID --from INVESTOR --to INVESTOR --units N --reason TEXT
    drexfy agent recover-wallet INVESTOR --reason TEXT

Each command is one operation: its id is printed first; run the command again with
`--operation-id` to finish one that was interrupted (nothing is done twice). The actor recorded is
`--actor`, by default `cli:<login name>`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any, TextIO

from drexfy.domain import processes as p
from drexfy.domain.errors import DomainError
from drexfy.entrypoints.cli_common import add_config_option, load, open_services


def register(subparsers: Any) -> None:
    """Add `agent force-transfer|recover-wallet` to the main parser's sub-commands."""
    agent = subparsers.add_parser("agent", help="forced transfers and wallet recovery (the agent key)")
    sub = agent.add_subparsers(dest="agent_command", required=True)
    force = sub.add_parser("force-transfer", help="move units between investors without the sender's consent")
    force.add_argument("--instrument", required=True, help="instrument id")
    force.add_argument("--from", dest="sender", required=True, help="investor id of the sender")
    force.add_argument("--to", dest="receiver", required=True, help="investor id of the receiver")
    force.add_argument("--units", required=True, type=int, help="whole units")
    _common(force)
    force.set_defaults(func=cmd_force_transfer)
    recover = sub.add_parser("recover-wallet", help="give an investor a new wallet and move every unit to it")
    recover.add_argument("investor_id")
    _common(recover)
    recover.set_defaults(func=cmd_recover_wallet)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why (recorded with the actor)")
    parser.add_argument("--actor", help="who acts (default: cli:<login name>)")
    parser.add_argument("--operation-id", help="finish an interrupted operation of this id")
    add_config_option(parser)


def _actor(args: argparse.Namespace) -> str:
    return str(args.actor or f"cli:{getpass.getuser()}")


def cmd_force_transfer(args: argparse.Namespace) -> int:
    return asyncio.run(_force_transfer(args, sys.stdout))


async def _force_transfer(args: argparse.Namespace, out: TextIO) -> int:
    async with open_services(load(args)) as services:
        op = args.operation_id or services.ids.new("agt")
        print(f"operation {op}", file=out, flush=True)
        cmd = p.ForceTransfer(op, args.instrument, args.sender, args.receiver, args.units, args.reason, _actor(args))
        try:
            done = await p.force_transfer(services, cmd)
        except DomainError as error:
            print(f"agent force-transfer: {error.message}", file=sys.stderr)
            return 2
    print(f"{done.units} unit(s) moved from {done.sender_id} to {done.receiver_id}: {', '.join(done.tx_ids)}", file=out)
    return 0


def cmd_recover_wallet(args: argparse.Namespace) -> int:
    return asyncio.run(_recover_wallet(args, sys.stdout))


async def _recover_wallet(args: argparse.Namespace, out: TextIO) -> int:
    async with open_services(load(args)) as services:
        op = args.operation_id or services.ids.new("agt")
        print(f"operation {op}", file=out, flush=True)
        try:
            investor = await p.recover_wallet(
                services, p.RecoverWallet(op, args.investor_id, args.reason, _actor(args))
            )
        except DomainError as error:
            print(f"agent recover-wallet: {error.message}", file=sys.stderr)
            return 2
    assert investor.wallet is not None
    print(f"investor {investor.id} now holds wallet {investor.wallet.address}", file=out)
    return 0
