"""`drexfy audit`: check the audit trail's hash chain.

drexfy audit verify    exit 0 when intact; 1 naming the first edited, removed, inserted or
                       reordered entry
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from drexfy.entrypoints.cli_common import add_config_option, load, open_services


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="check the tamper-evident audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="walk the hash chain and report the first tampered entry")
    add_config_option(verify)
    verify.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    return asyncio.run(_verify(args))


async def _verify(args: argparse.Namespace) -> int:
    from drexfy.domain.processes.audit import verify_audit

    async with open_services(load(args)) as services:
        checked, problem = await verify_audit(services.store)
    if problem is not None:
        print(f"audit trail TAMPERED: {problem.kind} at entry {problem.seq}: {problem.detail}", file=sys.stderr)
        return 1
    print(f"audit trail intact: {checked} entries")
    return 0
