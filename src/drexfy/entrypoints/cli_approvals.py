"""`drexfy approvals`: four-eyes from an operator's shell, by people who sign in.

    drexfy approvals list [--status PENDING]
    drexfy approvals approve ID --reason TEXT --operator NAME
    drexfy approvals reject ID --reason TEXT --operator NAME

A sensitive command (`drexfy agent force-transfer|recover-wallet`, `drexfy compliance dismiss`,
`drexfy bank assign`, `drexfy repayments trigger` above the threshold) records a pending request, as
the API does (docs/http.md, "Four-eyes approvals"), and a second operator approves it here. Both
sign in as local operators (`drexfy operators add`): the password and the TOTP code are read from
the terminal, or from stdin's first two lines when it is not one. The requester and the approver
are then two operator ids the record tells apart, whatever host login runs the command (a
`--actor` text or a login name proves nobody's identity).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import timedelta
from typing import Any, TextIO

from drexfy.domain import audit
from drexfy.domain.errors import DomainError
from drexfy.domain.processes import approvals as ap
from drexfy.entrypoints.cli_common import add_config_option, load, open_services


def register(subparsers: Any) -> None:
    """Add `approvals list|approve|reject`."""
    approvals = subparsers.add_parser("approvals", help="four-eyes: list, approve or reject pending requests")
    sub = approvals.add_subparsers(dest="approvals_command", required=True)
    listing = sub.add_parser("list", help="approval requests (pending ones by default)")
    listing.add_argument("--status", default="PENDING", choices=[s.value for s in ap.ApprovalStatus] + ["ALL"])
    add_config_option(listing)
    listing.set_defaults(func=cmd_list)
    for verb, text in (("approve", "approve a request: its action runs once"), ("reject", "reject a request")):
        parser = sub.add_parser(verb, help=text)
        parser.add_argument("approval_id")
        parser.add_argument("--reason", required=True, help="why (recorded)")
        add_operator_option(parser)
        add_config_option(parser)
        parser.set_defaults(func=cmd_decide, verb=verb)


def add_operator_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--operator",
        help="your operator name: you sign in with your password and TOTP code (terminal, or stdin's first two lines)",
    )


def _credentials(stdin: TextIO) -> tuple[str, str]:
    if not stdin.isatty():
        return stdin.readline().rstrip("\n"), stdin.readline().strip()
    return getpass.getpass("password: "), input("TOTP code: ").strip()


async def sign_in(services: Any, settings: Any, name: str, role: str) -> ap.Actor:
    """The operator `name` signed in with `role` (password and TOTP code), as an approval actor; the
    changes the command makes are recorded as theirs. SignInFailed / SignInLocked otherwise."""
    from drexfy.entrypoints.identity.operators import operator_directory
    from drexfy.entrypoints.runtime.access import build_access_settings

    directory = operator_directory(services, build_access_settings(settings))
    password, code = _credentials(sys.stdin)
    operator, acting = await directory.sign_in(name, password, code, role)
    audit.AUDIT_ACTOR.set(audit.Actor(operator.id, acting))
    return ap.Actor(operator.id, acting)


async def request(
    services: Any,
    settings: Any,
    args: argparse.Namespace,
    kind: str,
    subject: str,
    params: dict[str, Any],
    reason: str | None = None,
) -> ap.Approval | None:
    """If `kind` needs a second person (`approvals.required`), sign `--operator` in (in the role that
    may ask for it) and record the pending request; None when the kind acts at once (as
    `--operator`, signed in, if given). `reason` defaults to `params["reason"]`."""
    from drexfy.entrypoints.approval_actions import ACTIONS
    from drexfy.entrypoints.runtime.access import build_access_settings

    a = build_access_settings(settings)
    role = sorted(ACTIONS[kind].request_roles)[0]
    if kind not in a.approvals_required:
        if args.operator:
            await sign_in(services, settings, args.operator, role)
        return None
    if not args.operator:
        raise ap.ApprovalRefused(f"{kind} needs a second person's approval ({role} role): ask with --operator NAME")
    actor = await sign_in(services, settings, args.operator, role)
    return await ap.request_approval(
        services,
        ACTIONS,
        kind,
        subject,
        {**params, "requested_by": actor.subject},
        str(params["reason"]) if reason is None else reason,
        actor,
        timedelta(seconds=a.approval_ttl_s),
    )


def print_pending(approval: ap.Approval, out: TextIO) -> None:
    print(
        f"approval {approval.id} {approval.status.value} ({approval.kind}, asked by {approval.requested_by})", file=out
    )
    print(
        f"another {approval.requested_role} approves it: drexfy approvals approve {approval.id} --operator NAME",
        file=out,
    )


def cmd_list(args: argparse.Namespace) -> int:
    return asyncio.run(_list(args, sys.stdout))


async def _list(args: argparse.Namespace, out: TextIO) -> int:
    status = None if args.status == "ALL" else ap.ApprovalStatus(args.status)
    async with open_services(load(args)) as services:
        after: str | None = None
        shown = 0
        while True:
            items, after = await ap.list_approvals(services, status, after=after, limit=200)
            now = services.clock.now()
            for a in items:
                print(
                    f"{a.id}  {a.effective_status(now).value:<9}  {a.kind:<16}  {a.subject}  by {a.requested_by}"
                    f"  expires {a.expires_at.isoformat()}  reason: {a.reason}",
                    file=out,
                )
                shown += 1
            if after is None:
                break
    if not shown:
        print("no approval requests", file=out)
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    return asyncio.run(_decide(args, sys.stdout))


async def _decide(args: argparse.Namespace, out: TextIO) -> int:
    from drexfy.entrypoints.approval_actions import ACTIONS

    settings = load(args)
    async with open_services(settings) as services:
        try:
            if not args.operator:
                raise ap.ApprovalRefused("sign in with --operator NAME to decide a request")
            found = await ap.get_approval(services, args.approval_id)
            action = ACTIONS.get(found.kind)
            role = sorted(action.approve_roles)[0] if action else "admin"
            actor = await sign_in(services, settings, args.operator, role)
            decide = ap.approve if args.verb == "approve" else ap.reject
            done = await decide(services, ACTIONS, args.approval_id, actor, args.reason)
        except DomainError as error:
            print(f"approvals {args.verb}: {error.message}", file=sys.stderr)
            return 2
    print(f"approval {done.id} {done.status.value} ({done.kind}, decided by {done.decided_by})", file=out)
    if done.result is not None:
        print(", ".join(f"{k}: {v}" for k, v in done.result.items()), file=out)
    return 0
