"""`drexfy compliance`: decide an AML alert behind a block.

drexfy compliance confirm INVESTOR --reason TEXT   the sanctions match is real: SANCTIONED on chain
drexfy compliance dismiss INVESTOR --reason TEXT --operator NAME
                                                   a false positive: unblocked, wallet unfrozen once a
                                                   second compliance officer approves (four-eyes)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from drexfy.entrypoints import cli_approvals
from drexfy.entrypoints.cli_common import add_config_option, load, open_services, refuse_process_local_ledger


def register(subparsers: Any) -> None:
    compliance = subparsers.add_parser("compliance", help="confirm or dismiss the AML alert behind a block")
    sub = compliance.add_subparsers(dest="compliance_command", required=True)
    for name, text in (("confirm", "confirm the sanctions match"), ("dismiss", "dismiss the alert")):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("investor_id")
        parser.add_argument("--reason", required=True)
        cli_approvals.add_operator_option(parser)
        add_config_option(parser)
        parser.set_defaults(func=cmd_decide, decision=name)


def cmd_decide(args: argparse.Namespace) -> int:
    return asyncio.run(_decide(args))


async def _decide(args: argparse.Namespace) -> int:
    from drexfy.domain import processes as p
    from drexfy.domain.audit import AUDIT_ACTOR

    settings = load(args)
    refuse_process_local_ledger(settings, f"compliance {args.decision}")
    async with open_services(settings) as services:
        if args.decision == "dismiss":  # lifts the block: a second officer approves (as at the API)
            async with services.store.unit_of_work() as uow:
                blocked = (await uow.investors.get(args.investor_id)).is_blocked
            params = {"reason": args.reason}
            if blocked and (
                pending := await cli_approvals.request(
                    services, settings, args, "dismiss_alert", args.investor_id, params
                )
            ):
                cli_approvals.print_pending(pending, sys.stdout)
                return 0
        elif args.operator:
            await cli_approvals.sign_in(services, settings, args.operator, "compliance")
        decide = p.confirm_sanctions if args.decision == "confirm" else p.dismiss_alert
        investor = await decide(services, args.investor_id, args.reason, AUDIT_ACTOR.get().subject)
    state = investor.classification.name if investor.classification else "unclassified"
    print(f"{investor.id}: {investor.compliance.value}, {state}")
    return 0
