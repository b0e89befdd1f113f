"""`drexfy refunds`: money owed back to customers, for operators.

    drexfy refunds list      # every REFUND_DUE order: why, the refund in flight, the last failure
    drexfy refunds retry     # ask the gateway now for every refund that is due (the worker's sweep)

A refund the gateway refused or failed stays here with its reason until a later attempt succeeds;
the worker retries it on its own after a back-off (docs/providers.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from drexfy.domain import processes as p
from drexfy.domain.errors import DomainError
from drexfy.entrypoints.cli_common import add_config_option, load, open_services


def register(subparsers: Any) -> None:
    refunds = subparsers.add_parser("refunds", help="money owed back: list REFUND_DUE orders, retry refunds")
    sub = refunds.add_subparsers(dest="refunds_command", required=True)
    listing = sub.add_parser("list", help="REFUND_DUE orders with their refund state")
    listing.add_argument("--limit", type=int, default=100, choices=range(1, 1001), metavar="1..1000")
    add_config_option(listing)
    listing.set_defaults(func=lambda args: asyncio.run(_list(args, sys.stdout)))
    retry = sub.add_parser("retry", help="ask the gateway now for every refund that is due")
    add_config_option(retry)
    retry.set_defaults(func=lambda args: asyncio.run(_retry(args, sys.stdout)))


async def _list(args: argparse.Namespace, out: TextIO) -> int:
    async with open_services(load(args)) as services, services.store.unit_of_work() as uow:
        owed = await uow.orders.refund_due(args.limit)
    if not owed:
        print("no money owed back", file=out)
    for order in owed:
        state = f"refund {order.refund_ref} in flight" if order.refund_ref else "no refund in flight"
        line = f"{order.id} {order.paid_amount or 'amount unknown'} attempts={order.refund_attempts} {state}"
        if order.refund_error:
            retry_at = order.refund_retry_at.isoformat() if order.refund_retry_at else "now"
            line += f"; last failure: {order.refund_error} (next attempt {retry_at})"
        print(f"{line}; owed because: {order.reason}", file=out)
    return 0


async def _retry(args: argparse.Namespace, out: TextIO) -> int:
    async with open_services(load(args)) as services:
        try:
            accepted = await p.retry_refunds(services)
        except DomainError as error:
            print(f"refunds retry: {error.message}", file=sys.stderr)
            return 2
    print(f"{accepted} refund(s) accepted by the gateway", file=out)
    return 0
