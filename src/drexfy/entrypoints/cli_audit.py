"""`drexfy audit`: check the audit trail's hash chain and anchor its head on the ledger.

drexfy audit verify [--anchors]   exit 0 when intact; 1 naming the first edited, removed, inserted
                                  or reordered entry (--anchors: also every anchor the ledger
                                  lists against the log, and every anchor entry against the ledger)
drexfy audit anchor               publish the current head on the ledger now
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from drexfy.entrypoints.cli_common import add_config_option, load, open_services, refuse_process_local_ledger


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="check the tamper-evident audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="walk the hash chain and report the first tampered entry")
    verify.add_argument(
        "--anchors", action="store_true", help="also check the anchors the ledger lists against the log"
    )
    add_config_option(verify)
    verify.set_defaults(func=cmd_verify)
    anchor = audit_sub.add_parser("anchor", help="anchor the audit trail's head on the ledger now")
    add_config_option(anchor)
    anchor.set_defaults(func=cmd_anchor)


def cmd_verify(args: argparse.Namespace) -> int:
    return asyncio.run(_verify(args))


async def _verify(args: argparse.Namespace) -> int:
    from drexfy.domain.processes.audit import verify_audit, verify_audit_with_anchors

    settings = load(args)
    if args.anchors:
        refuse_process_local_ledger(settings, "audit verify --anchors")
    async with open_services(settings) as services:
        if args.anchors:
            checked, anchors, problem = await verify_audit_with_anchors(services)
        else:
            (checked, problem), anchors = await verify_audit(services.store), None
    if problem is not None:
        print(f"audit trail TAMPERED: {problem.kind} at entry {problem.seq}: {problem.detail}", file=sys.stderr)
        return 1
    print(
        f"audit trail intact: {checked} entries" + ("" if anchors is None else f", {anchors} anchors match the ledger")
    )
    return 0


def cmd_anchor(args: argparse.Namespace) -> int:
    return asyncio.run(_anchor(args))


async def _anchor(args: argparse.Namespace) -> int:
    from drexfy.domain.processes.audit import anchor_audit

    settings = load(args)
    refuse_process_local_ledger(settings, "audit anchor")
    async with open_services(settings) as services:
        anchor = await anchor_audit(services)
    if anchor is None:
        print("nothing to anchor: no entry since the last anchor")
    else:
        print(f"anchored entry {anchor.seq} ({anchor.head_hash}) in {anchor.tx_id}")
    return 0
