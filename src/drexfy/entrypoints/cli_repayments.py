"""`drexfy repayments`: start a repayment for the worker to pay, and follow its progress.

    drexfy repayments trigger --instrument ID --period 2026-11 --interest 1234.56 --principal 0 [--final] [--wait]
    drexfy repayments status REPAYMENT_ID [--follow]

`trigger` records the repayment and queues its job; a running `drexfy serve` or `drexfy worker` on
the same store picks it up, snapshots the holders, allocates the shares and pays the batches.
`--wait` and `--follow` draw a progress bar until the repayment completes (or fails: a snapshot that
finds it impossible, e.g. no holders, ends it FAILED with the reason, and the command exits 1). A
repayment whose job went to the dead letter (a fault no retry fixed) stands still: the line says so
with the job's error and how to resume it (`drexfy jobs retry JOB_ID`), and the command exits 1
rather than follow a repayment that will not move. A repayment above
`approvals.repayment_threshold_minor` waits for a second admin, as at the API: `trigger --operator
NAME` signs in and records the request; `drexfy approvals approve ID` records and queues it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from drexfy.domain import processes as p
from drexfy.domain.errors import DomainError
from drexfy.domain.model import AllocationStatus, Repayment, RepaymentStatus
from drexfy.domain.money import Money
from drexfy.domain.ports import MessageStatus, QueuedMessage
from drexfy.domain.processes import queries as q
from drexfy.entrypoints import cli_approvals
from drexfy.entrypoints.cli_common import add_config_option, load, open_services
from drexfy.entrypoints.runtime.jobs import queue_repayment, repayment_job

BAR_WIDTH = 30


def register(subparsers: Any) -> None:
    """Add `repayments trigger|status` to the main parser's sub-commands."""
    repayments = subparsers.add_parser("repayments", help="start repayments and follow their progress")
    sub = repayments.add_subparsers(dest="repayments_command", required=True)
    trigger = sub.add_parser("trigger", help="start a repayment; the worker pays it")
    trigger.add_argument("--instrument", required=True, help="instrument id")
    trigger.add_argument("--period", required=True, help="the period repaid, e.g. 2026-11")
    trigger.add_argument("--interest", required=True, help="interest for all holders, a decimal amount")
    trigger.add_argument("--principal", default="0", help="principal (whole units at the unit price)")
    trigger.add_argument("--final", action="store_true", help="redeem every unit (maturity)")
    trigger.add_argument("--wait", action="store_true", help="draw the progress until it completes")
    cli_approvals.add_operator_option(trigger)  # above approvals.repayment_threshold_minor: four-eyes
    add_config_option(trigger)
    trigger.set_defaults(func=cmd_trigger)
    status = sub.add_parser("status", help="a repayment's progress")
    status.add_argument("repayment_id")
    status.add_argument("--follow", action="store_true", help="draw the progress until it completes")
    add_config_option(status)
    status.set_defaults(func=cmd_status)


def stalled(repayment: Repayment, job: QueuedMessage | None) -> bool:
    """In progress, but its job is in the dead letter: nothing moves until an operator retries it."""
    return repayment.in_progress and job is not None and job.status is MessageStatus.DEAD


def progress_line(repayment: Repayment, job: QueuedMessage | None = None) -> str:
    """One line: a bar of the holders settled (paid or held back), and the counts."""
    if job is not None and stalled(repayment, job):
        return (
            f"{repayment.id} STALLED ({repayment.status.value}): its job {job.id} is in the dead letter after"
            f" {job.attempts} attempt(s): {job.last_error}; `drexfy jobs retry {job.id}` resumes it"
        )
    if repayment.status is RepaymentStatus.REQUESTED:
        return f"{repayment.id} [{'-' * BAR_WIDTH}]   0%  waiting for the worker's snapshot of the holders  (REQUESTED)"
    if repayment.status is RepaymentStatus.FAILED:
        return f"{repayment.id} FAILED: {repayment.failure}"
    counts = repayment.counts()
    total = repayment.holders
    settled = total - counts[AllocationStatus.PENDING]
    filled = BAR_WIDTH * settled // total if total else BAR_WIDTH
    percent = 100 * settled // total if total else 100
    return (
        f"{repayment.id} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent:3d}%"
        f"  {counts[AllocationStatus.PAID] + counts[AllocationStatus.RELEASED]}/{total} holders paid,"
        f" {counts[AllocationStatus.HELD_BACK]} held back, {counts[AllocationStatus.PENDING]} pending"
        f"  ({repayment.status.value}, {repayment.paid} paid, {repayment.batches_paid} batch(es), as of {repayment.as_of})"
    )


async def _follow(services: p.Services, repayment_id: str, out: TextIO, interval: float = 1.0) -> Repayment:
    """Redraw the progress line until the repayment is no longer requested or distributing."""
    while True:
        repayment = await q.get_repayment(services, repayment_id)
        job = await repayment_job(services, repayment_id)
        line = progress_line(repayment, job)
        if out.isatty():
            print("\r" + line, end="", file=out, flush=True)
        else:
            print(line, file=out, flush=True)
        if not repayment.in_progress or stalled(repayment, job):
            if out.isatty():
                print(file=out)
            return repayment
        await asyncio.sleep(interval)


def cmd_trigger(args: argparse.Namespace) -> int:
    return asyncio.run(_trigger(args, sys.stdout))


async def _trigger(args: argparse.Namespace, out: TextIO) -> int:
    settings = load(args)
    async with open_services(settings) as services:
        try:
            instrument = await q.get_instrument(services, args.instrument)
            command = p.TriggerRepayment(
                instrument.id,
                args.period,
                Money.parse(args.interest, instrument.currency),
                Money.parse(args.principal, instrument.currency),
                args.final,
            )
            if pending := await _needs_approval(services, settings, args, command):
                cli_approvals.print_pending(pending, out)
                return 0
            repayment = await p.request_repayment(services, command)
        except DomainError as error:
            print(f"repayments trigger: {error.message}", file=sys.stderr)
            return 2
        await queue_repayment(services, repayment.id)
        print(f"repayment {repayment.id} requested; the worker snapshots the holders and pays it", file=out)
        if args.wait:
            repayment = await _follow(services, repayment.id, out)
        else:
            print(progress_line(repayment), file=out)
        job = await repayment_job(services, repayment.id)
    return 1 if repayment.status is RepaymentStatus.FAILED or stalled(repayment, job) else 0


async def _needs_approval(services: Any, settings: Any, args: argparse.Namespace, cmd: p.TriggerRepayment) -> Any:
    """A repayment above `approvals.repayment_threshold_minor` waits for a second admin, as at the
    API (checked first, so a refusal needs no approval); the approval records and queues it."""
    from drexfy.entrypoints.runtime.access import build_access_settings

    if cmd.interest.minor + cmd.principal.minor <= build_access_settings(settings).repayment_threshold_minor:
        return None
    await p.check_repayment(services, cmd)
    money = {
        n: {"minor": m.minor, "currency": m.currency}
        for n, m in (("interest", cmd.interest), ("principal", cmd.principal))
    }
    params = {"period": cmd.period, **money, "final": cmd.final}
    return await cli_approvals.request(
        services, settings, args, "large_repayment", cmd.instrument_id, params, f"repayment {cmd.period}"
    )


def cmd_status(args: argparse.Namespace) -> int:
    return asyncio.run(_status(args, sys.stdout))


async def _status(args: argparse.Namespace, out: TextIO) -> int:
    settings = load(args)
    async with open_services(settings) as services:
        try:
            if args.follow:
                repayment = await _follow(services, args.repayment_id, out)
            else:
                repayment = await q.get_repayment(services, args.repayment_id)
                print(progress_line(repayment, await repayment_job(services, repayment.id)), file=out)
        except DomainError as error:
            print(f"repayments status: {error.message}", file=sys.stderr)
            return 2
        job = await repayment_job(services, repayment.id)
    return 1 if repayment.status is RepaymentStatus.FAILED or stalled(repayment, job) else 0
