"""`drexfy agent`: the agent's forced transfer and wallet recovery, from an operator's shell.

    drexfy agent force-transfer --instrument ID --from INVESTOR --to INVESTOR --units N --reason TEXT --operator NAME
    drexfy agent recover-wallet INVESTOR --reason TEXT --operator NAME

Four-eyes, as at the API: while the kind (`forced_transfer`, `wallet_recovery`) is in
`approvals.required` (the default), the command signs `--operator` in (password and TOTP code) and
records a pending request; a second admin approves it with `drexfy approvals approve ID`, and only
then do the units move (the record names both). A kind left out of `approvals.required` acts at
once: the command is then one operation whose id is printed first; run it again with
`--operation-id` to finish one that was interrupted (nothing is done twice). The actor recorded is
then the signed-in operator, else `--actor`, by default `cli:<login name>`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any, TextIO

from drexfy.domain import processes as p
from drexfy.domain.errors import DomainError
from drexfy.domain.processes import queries as q
from drexfy.entrypoints import cli_approvals
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
    cli_approvals.add_operator_option(parser)
    add_config_option(parser)


def _actor(args: argparse.Namespace) -> str:
    from drexfy.domain.audit import AUDIT_ACTOR

    if args.operator:  # signed in (cli_approvals.sign_in set the actor): the operator's id
        return AUDIT_ACTOR.get().subject
    return str(args.actor or f"cli:{getpass.getuser()}")


def cmd_force_transfer(args: argparse.Namespace) -> int:
    return asyncio.run(_force_transfer(args, sys.stdout))


async def _force_transfer(args: argparse.Namespace, out: TextIO) -> int:
    settings = load(args)
    async with open_services(settings) as services:
        op = args.operation_id or services.ids.new("agt")
        try:
            instrument = await q.get_instrument(services, args.instrument)  # unknown: refused before a request
            params = {
                "operation_id": op,
                "from_investor_id": args.sender,
                "to_investor_id": args.receiver,
                "units": args.units,
                "reason": args.reason,
            }
            pending = await cli_approvals.request(services, settings, args, "forced_transfer", instrument.id, params)
            if pending is not None:
                cli_approvals.print_pending(pending, out)
                return 0
            print(f"operation {op}", file=out, flush=True)
            cmd = p.ForceTransfer(op, instrument.id, args.sender, args.receiver, args.units, args.reason, _actor(args))
            done = await p.force_transfer(services, cmd)
        except DomainError as error:
            print(f"agent force-transfer: {error.message}", file=sys.stderr)
            return 2
    print(f"{done.units} unit(s) moved from {done.sender_id} to {done.receiver_id}: {', '.join(done.tx_ids)}", file=out)
    return 0


def cmd_recover_wallet(args: argparse.Namespace) -> int:
    return asyncio.run(_recover_wallet(args, sys.stdout))


async def _recover_wallet(args: argparse.Namespace, out: TextIO) -> int:
    settings = load(args)
    async with open_services(settings) as services:
        op = args.operation_id or services.ids.new("agt")
        try:
            async with services.store.unit_of_work() as uow:
                await uow.investors.get(args.investor_id)  # unknown: refused before a request
            params = {"operation_id": op, "reason": args.reason}
            pending = await cli_approvals.request(services, settings, args, "wallet_recovery", args.investor_id, params)
            if pending is not None:
                cli_approvals.print_pending(pending, out)
                return 0
            print(f"operation {op}", file=out, flush=True)
            investor = await p.recover_wallet(
                services, p.RecoverWallet(op, args.investor_id, args.reason, _actor(args))
            )
        except DomainError as error:
            print(f"agent recover-wallet: {error.message}", file=sys.stderr)
            return 2
    assert investor.wallet is not None
    print(f"investor {investor.id} now holds wallet {investor.wallet.address}", file=out)
    return 0
