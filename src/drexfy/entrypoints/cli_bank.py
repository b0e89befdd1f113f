"""`drexfy bank`: the platform's bank account as ISO 20022 files.

    drexfy bank payouts --out FILE [--execution 2026-12-03]   # pain.001 of the withdrawals owed
    drexfy bank import FILE                                    # a camt.053/054 statement
    drexfy bank deposits [--status UNMATCHED|MATCHED|MINTED] [--retry]
    drexfy bank assign DEPOSIT INVESTOR --operator NAME       # an unmatched credit to an investor (four-eyes)

`payouts` writes the credit-transfer file for the bank and marks its withdrawals SENT; `import`
marks each withdrawal the statement shows as debited PAID_OUT, mints each credit naming an investor
to that investor (and each returned payout back to its investor), once per bank entry (importing
it again changes nothing), and lists what it could not match. A malformed statement is refused
naming the line or element. `deposits` lists the credits an operator must look at (`--retry`
mints those a ledger outage left waiting first); `assign` asks to give one to an investor: the
signed-in `--operator` records an `assign_deposit` request, and it is assigned and minted when a
second admin approves it (`drexfy approvals approve ID --operator NAME`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from drexfy.domain import audit
from drexfy.domain import processes as p
from drexfy.domain.deposit import Deposit, DepositStatus
from drexfy.domain.errors import DomainError
from drexfy.domain.processes.deposits import check_assignment
from drexfy.entrypoints import cli_approvals
from drexfy.entrypoints.cli_common import add_config_option, load, open_services


def register(subparsers: Any) -> None:
    bank = subparsers.add_parser("bank", help="bank payouts (pain.001) and statements (camt.053/054)")
    sub = bank.add_subparsers(dest="bank_command", required=True)
    payouts = sub.add_parser("payouts", help="write the pain.001 file of the withdrawals owed")
    payouts.add_argument("--out", required=True, type=Path, help="where to write the file")
    payouts.add_argument("--execution", type=date.fromisoformat, help="requested execution date (YYYY-MM-DD)")
    add_config_option(payouts)
    payouts.set_defaults(func=lambda args: asyncio.run(_payouts(args, sys.stdout)))
    statement = sub.add_parser("import", help="import a camt.053/054 statement")
    statement.add_argument("file", type=Path)
    add_config_option(statement)
    statement.set_defaults(func=lambda args: asyncio.run(_import(args, sys.stdout)))
    deposits = sub.add_parser("deposits", help="list bank credits (unmatched ones by default)")
    deposits.add_argument("--status", choices=[s.value for s in DepositStatus], default="UNMATCHED")
    deposits.add_argument("--retry", action="store_true", help="mint the matched deposits still waiting first")
    add_config_option(deposits)
    deposits.set_defaults(func=lambda args: asyncio.run(_deposits(args, sys.stdout)))
    assign = sub.add_parser("assign", help="ask to assign an unmatched bank credit to an investor (four-eyes)")
    assign.add_argument("deposit")
    assign.add_argument("investor")
    assign.add_argument("--reason", help="why the credit is theirs (default: names the credit and the investor)")
    cli_approvals.add_operator_option(assign)
    add_config_option(assign)
    assign.set_defaults(func=lambda args: asyncio.run(_assign(args, sys.stdout)))


async def _payouts(args: argparse.Namespace, out: TextIO) -> int:
    async with open_services(load(args)) as services:
        try:
            made = await p.export_payouts(services, args.execution)
        except DomainError as error:
            print(f"bank payouts: {error.message}", file=sys.stderr)
            return 2
    if made is None:
        print("nothing to pay out", file=out)
        return 0
    args.out.write_bytes(made.data)
    print(f"{args.out}: batch {made.batch_id}, {len(made.withdrawal_ids)} transfer(s)", file=out)
    for withdrawal_id, why in made.skipped:
        print(f"  left out {withdrawal_id}: {why}", file=out)
    return 0


async def _import(args: argparse.Namespace, out: TextIO) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as error:
        print(f"bank import: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    async with open_services(load(args)) as services:
        try:
            report = await p.import_statement(services, data)
        except DomainError as error:
            print(f"bank import: {error.message}", file=sys.stderr)
            return 2
    print(
        f"paid out {len(report.paid_out)}, already paid out {len(report.already_paid_out)},"
        f" unmatched debits {len(report.unmatched_debits)}, credits {len(report.deposits)},"
        f" not booked {report.not_booked}",
        file=out,
    )
    for entry in report.unmatched_debits:
        print(f"  unmatched debit {entry.ref}: {entry.amount} ({entry.end_to_end_id or 'no end-to-end id'})", file=out)
    for deposit in report.deposits:
        print(f"  credit {_line(deposit)}", file=out)
    return 0


def _line(deposit: Deposit) -> str:
    who = f" to {deposit.investor_id}" if deposit.investor_id else ""
    why = f" ({deposit.reason})" if deposit.reason else ""
    kind = " returned payout" if deposit.withdrawal_id else ""
    return f"{deposit.bank_ref}: {deposit.amount}{kind} {deposit.status.value}{who}{why} [{deposit.id}]"


async def _deposits(args: argparse.Namespace, out: TextIO) -> int:
    async with open_services(load(args)) as services:
        if args.retry:
            minted = [d for d in await p.retry_deposits(services) if d.status is DepositStatus.MINTED]
            print(f"minted {len(minted)} waiting deposit(s)", file=out)
        found = await p.list_deposits(services, DepositStatus(args.status))
    if not found:
        print(f"no {args.status.lower()} deposits", file=out)
    for deposit in found:
        print(_line(deposit), file=out)
    return 0


async def _assign(args: argparse.Namespace, out: TextIO) -> int:
    """Minting money to someone waits for a second admin (`assign_deposit`), as at the API."""
    settings = load(args)
    async with open_services(settings) as services:
        try:
            deposit = await check_assignment(services, args.deposit, args.investor)
            reason = args.reason or f"bank credit {deposit.bank_ref} ({deposit.amount}) belongs to {args.investor}"
            params = {"investor_id": args.investor}
            pending = await cli_approvals.request(
                services, settings, args, "assign_deposit", deposit.id, params, reason
            )
            if pending is not None:
                cli_approvals.print_pending(pending, out)
                return 0
            who = args.operator and audit.AUDIT_ACTOR.get().subject  # the signed-in operator's id
            deposit = await p.assign_deposit(services, deposit.id, args.investor, who or "cli")
        except DomainError as error:
            print(f"bank assign: {error.message}", file=sys.stderr)
            return 2
    print(_line(deposit), file=out)
    return 0 if deposit.status is DepositStatus.MINTED else 1
