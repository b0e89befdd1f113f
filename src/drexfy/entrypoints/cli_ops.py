"""Operator commands: bearer tokens, the worker's jobs, and reconciliation.

drexfy token issue --role admin|frontend|compliance|investor|auditor [--investor ID] [--ttl S]
drexfy token list [--all] | drexfy token revoke TOKEN_ID        (cli_people.py)
drexfy jobs list [--queue inbox|outbox] [--status DEAD]
drexfy jobs retry ID [--queue inbox|outbox]
drexfy jobs purge [--done-days 30] [--idempotency-hours 72]
drexfy reconcile [--instrument ID ...] [--json]      ledger holders vs the store's positions (exit 1 on drift)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from drexfy.domain.errors import DomainError
from drexfy.domain.ports import MessageStatus
from drexfy.entrypoints.cli_common import add_config_option, load, open_services, refuse_process_local_ledger
from drexfy.entrypoints.runtime.settings import build_http_settings, build_worker_settings


def register(subparsers: Any) -> None:
    """Add token, jobs and reconcile to the main parser's sub-commands."""
    token = subparsers.add_parser("token", help="API bearer tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    issue = token_sub.add_parser("issue", help="print a signed bearer token")
    issue.add_argument("--role", required=True, choices=["frontend", "admin", "compliance", "investor", "auditor"])
    issue.add_argument("--investor", default=None, help="investor id (required for --role investor)")
    issue.add_argument("--subject", default=None, help="who the token is for (audit trail)")
    issue.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    add_config_option(issue)
    issue.set_defaults(func=cmd_token_issue)
    from drexfy.entrypoints.cli_people import register_token_commands

    register_token_commands(token_sub)  # token list, token revoke

    jobs = subparsers.add_parser("jobs", help="inspect and retry the worker's jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = jobs_sub.add_parser("list", help="list jobs")
    listing.add_argument("--queue", choices=["inbox", "outbox"], default="inbox")
    listing.add_argument("--status", choices=[s.value for s in MessageStatus], default=None)
    listing.add_argument("--limit", type=int, default=50)
    add_config_option(listing)
    listing.set_defaults(func=cmd_jobs_list)
    retry = jobs_sub.add_parser("retry", help="put a dead or parked job back in its queue")
    retry.add_argument("job_id")
    retry.add_argument("--queue", choices=["inbox", "outbox"], default="inbox")
    add_config_option(retry)
    retry.set_defaults(func=cmd_jobs_retry)
    purge = jobs_sub.add_parser("purge", help="delete old DONE jobs and Idempotency-Key answers (DEAD jobs stay)")
    purge.add_argument("--done-days", type=float, default=None, help="keep DONE jobs this many days (default 30)")
    purge.add_argument(
        "--idempotency-hours", type=float, default=None, help="keep Idempotency-Key answers this long (default 72)"
    )
    add_config_option(purge)
    purge.set_defaults(func=cmd_jobs_purge)

    recon = subparsers.add_parser(
        "reconcile", help="compare each instrument's holders on the ledger with the store (exit 1 on drift)"
    )
    recon.add_argument(
        "--instrument", action="append", default=None, help="instrument id (repeatable; default: every issued one)"
    )
    recon.add_argument("--json", action="store_true", help="print one JSON report per instrument")
    add_config_option(recon)
    recon.set_defaults(func=cmd_reconcile)


def cmd_token_issue(args: argparse.Namespace) -> int:
    from drexfy.entrypoints.http import issue_token

    if args.role == "investor" and not args.investor:
        print("--investor ID is required for an investor token", file=sys.stderr)
        return 2
    settings = load(args)
    try:
        http = build_http_settings(settings, create=False)  # never invent secrets for a deployment
    except DomainError as exc:
        print(f"cannot issue the token: {exc.message}", file=sys.stderr)
        return 2
    from drexfy.entrypoints.http.auth import new_token_id

    token_id = new_token_id()
    try:
        token = issue_token(
            http.jwt_secret,
            args.role,
            subject=args.subject,
            investor_id=args.investor,
            ttl_seconds=args.ttl,
            issuer=http.jwt_issuer,
            audience=http.jwt_audience,
            token_id=token_id,
        )
    except ValueError as exc:
        print(f"cannot issue the token: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_record_token(args, token_id))
    print(token)
    return 0


async def _record_token(args: argparse.Namespace, token_id: str) -> None:
    """Put the token's id in the record, so `token list` shows it and `token revoke` can stop it."""
    from datetime import UTC, datetime, timedelta

    from drexfy.entrypoints.cli_people import audited, open_store
    from drexfy.entrypoints.identity import tokens

    now = datetime.now(UTC)
    subject = args.subject or (args.investor if args.role == "investor" else args.role)
    record = tokens.TokenRecord(
        token_id, args.role, subject, now, now + timedelta(seconds=args.ttl), investor_id=args.investor
    )
    async with open_store(args) as store:
        await tokens.record(store.access, record)
        await audited(store, "TokenIssued", token_id, {"role": args.role, "subject": subject})


def cmd_jobs_list(args: argparse.Namespace) -> int:
    return asyncio.run(_jobs_list(args))


async def _jobs_list(args: argparse.Namespace) -> int:
    from drexfy.domain.ports import MessageStatus
    from drexfy.entrypoints.http import views

    settings = load(args)
    async with open_services(settings) as services:
        queue = services.store.inbox if args.queue == "inbox" else services.store.outbox
        status = MessageStatus(args.status) if args.status else None
        counts = await queue.counts()
        print(" ".join(f"{s.value}={counts.get(s, 0)}" for s in MessageStatus))
        for message in await queue.list(status, limit=args.limit):
            job = views.job(message, args.queue)
            print(
                f"{job['id']}  {job['status']:<7} attempts={job['attempts']}  {job['kind']:<14} {job['key']}"
                + (f"  last_error={job['last_error']}" if job["last_error"] else "")
            )
    return 0


def cmd_jobs_retry(args: argparse.Namespace) -> int:
    return asyncio.run(_jobs_retry(args))


async def _jobs_retry(args: argparse.Namespace) -> int:
    from drexfy.domain.errors import DomainError
    from drexfy.domain.processes.audit import record_action

    settings = load(args)
    async with open_services(settings) as services:
        queue = services.store.inbox if args.queue == "inbox" else services.store.outbox
        try:
            message = await queue.get(args.job_id)
            await queue.requeue(args.job_id, services.clock.now())
        except DomainError as exc:
            print(f"cannot retry {args.job_id}: {exc.message}", file=sys.stderr)
            return 1
        detail = {"queue": args.queue, "kind": message.kind}
        await record_action(services, "JobRetried", args.job_id, "", detail)
    print(f"{args.job_id} is pending again; the worker will pick it up")
    return 0


def cmd_jobs_purge(args: argparse.Namespace) -> int:
    return asyncio.run(_jobs_purge(args))


async def _jobs_purge(args: argparse.Namespace) -> int:
    import attrs

    from drexfy.entrypoints.worker import purge_old

    settings = load(args)
    retention = build_worker_settings(settings)
    if args.done_days is not None:
        retention = attrs.evolve(retention, done_retention_days=args.done_days)
    if args.idempotency_hours is not None:
        retention = attrs.evolve(retention, idempotency_retention_hours=args.idempotency_hours)
    if retention.done_retention_days < 0 or retention.idempotency_retention_hours < 0:
        print("retention periods cannot be negative", file=sys.stderr)
        return 2
    async with open_services(settings) as services:
        purged = await purge_old(services, retention)
    print(
        f"purged {purged['inbox']} inbox and {purged['outbox']} outbox DONE jobs older than"
        f" {retention.done_retention_days:g} days, {purged['idempotency']} Idempotency-Key records older than"
        f" {retention.idempotency_retention_hours:g} hours"
    )
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    return asyncio.run(_reconcile(args))


async def _reconcile(args: argparse.Namespace) -> int:
    from drexfy.domain import processes as p
    from drexfy.entrypoints.http import views

    settings = load(args)
    refuse_process_local_ledger(settings, "reconcile")
    async with open_services(settings) as services:
        try:
            if args.instrument:
                reports = [await p.reconcile(services, instrument_id) for instrument_id in args.instrument]
            else:
                reports = await p.reconcile_all(services)
        except DomainError as error:  # an unknown instrument, the ledger unreachable
            print(f"reconcile: {error.message}", file=sys.stderr)
            return 2
    for report in reports:
        if args.json:
            print(json.dumps(views.reconciliation(report)))
            continue
        state = (
            "in sync"
            if report.in_sync
            else f"DRIFT at {len(report.drift)} address(es)"
            if report.drift
            else "OUT OF SYNC"
        )
        if report.reserved_without_order:
            state = "DRIFT in reservations" if not report.drift else state + " and in reservations"
        if report.stalled_settlements:
            state = f"{state}; {report.stalled_settlements} paid order(s) STALLED unsettled"
        print(
            f"{report.symbol} ({report.instrument_id}): ledger {report.ledger_units} units,"
            f" store {report.store_units}: {state}"
        )
        for drift in report.drift:
            who = drift.investor_id or "no investor"
            print(f"  {drift.address} ({who}): ledger {drift.ledger_units}, store {drift.store_units}")
        if report.reserved_without_order:
            print(
                f"  reservations: {report.units_reserved} units reserved, open orders hold {report.reserved_by_orders}"
            )
        if report.paid_unsettled:
            since = report.oldest_paid_at.isoformat() if report.oldest_paid_at else "unknown"
            print(f"  paid, not settled yet: {report.paid_unsettled} order(s), the oldest paid at {since}")
    if not reports and not args.json:
        print("no instrument is issued on the ledger yet")
    return 0 if all(report.in_sync for report in reports) else 1
