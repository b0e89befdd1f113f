"""Operators and API tokens in the record.

drexfy operators add NAME --role admin|compliance|auditor [--role ...]   (password from the terminal or stdin)
drexfy operators list
drexfy operators disable NAME|ID        (their live tokens are revoked too)
drexfy token list [--all]
drexfy token revoke TOKEN_ID

`operators add` prints the TOTP secret and its otpauth:// URI once, for the operator's authenticator
app; it is never shown again. Only the store and the vault (which seals the TOTP secrets) are opened,
not the ledger. `operators list` also seals any secret still stored in clear by an older version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator
from typing import Any

from drexfy.domain.errors import DomainError
from drexfy.entrypoints.cli_common import add_config_option, load


def register(subparsers: Any) -> None:
    ops = subparsers.add_parser("operators", help="operators (people): add, list, disable")
    ops_sub = ops.add_subparsers(dest="operators_command", required=True)
    add = ops_sub.add_parser("add", help="enrol an operator: password, then the TOTP secret is printed once")
    add.add_argument("name")
    add.add_argument("--role", action="append", required=True, choices=["admin", "compliance", "auditor"])
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    add_config_option(add)
    add.set_defaults(func=lambda a: asyncio.run(_add(a)))
    listing = ops_sub.add_parser("list", help="list operators")
    add_config_option(listing)
    listing.set_defaults(func=lambda a: asyncio.run(_list(a)))
    disable = ops_sub.add_parser("disable", help="disable an operator and revoke their tokens")
    disable.add_argument("operator", help="name or id")
    add_config_option(disable)
    disable.set_defaults(func=lambda a: asyncio.run(_disable(a)))


def register_token_commands(token_sub: Any) -> None:
    """`token list` and `token revoke` (the `token` parser is cli_ops's)."""
    listing = token_sub.add_parser("list", help="API tokens in the record (ids, never the tokens)")
    listing.add_argument("--all", action="store_true", help="include expired and revoked tokens")
    add_config_option(listing)
    listing.set_defaults(func=lambda a: asyncio.run(_token_list(a)))
    revoke = token_sub.add_parser("revoke", help="revoke a token: refused from its next request on")
    revoke.add_argument("token_id")
    add_config_option(revoke)
    revoke.set_defaults(func=lambda a: asyncio.run(_token_revoke(a)))


@contextlib.asynccontextmanager
async def open_store(args: argparse.Namespace) -> AsyncIterator[Any]:
    async with _opened(args, with_vault=False) as (store, _):
        yield store


@contextlib.asynccontextmanager
async def open_directory(args: argparse.Namespace) -> AsyncIterator[tuple[Any, Any]]:
    """The store and the operator directory (with the vault, which seals TOTP secrets)."""
    from drexfy.adapters.system import SystemClock, UuidIds
    from drexfy.entrypoints.identity.operators import OperatorDirectory

    async with _opened(args, with_vault=True) as (store, vault):
        yield store, OperatorDirectory(store.access, SystemClock(), UuidIds(), vault)


async def audited(store: Any, action: str, subject: str, detail: dict[str, Any]) -> None:
    """The command's change in the audit trail (operators and tokens live outside the aggregates)."""
    from datetime import UTC, datetime

    from drexfy.domain.processes.audit import append_action

    await append_action(store, datetime.now(UTC), action, subject, "", detail)


@contextlib.asynccontextmanager
async def _opened(args: argparse.Namespace, *, with_vault: bool) -> AsyncIterator[tuple[Any, Any]]:
    from drexfy.entrypoints.cli_common import cli_actor
    from drexfy.entrypoints.container import build_container

    container = build_container(load(args))
    cli_actor()  # the audit entries below are the host login's (`cli:<login>`)
    try:
        store = await container.store()
        yield store, (await container.vault()) if with_vault else None
    finally:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ")
    return first


async def _add(args: argparse.Namespace) -> int:
    import pyotp

    password = _password(args)
    async with open_directory(args) as (store, directory):
        try:
            operator = await directory.add(args.name, args.role, password)
        except DomainError as exc:
            print(f"cannot add the operator: {exc.message}", file=sys.stderr)
            return 2
        await audited(store, "OperatorEnrolled", operator.id, {"roles": list(operator.roles)})
    uri = pyotp.TOTP(operator.totp_secret).provisioning_uri(name=operator.name, issuer_name="Drexfy")
    print(f"operator {operator.name}: id {operator.id}, roles {', '.join(operator.roles)}")
    print("TOTP secret (add it to the operator's authenticator app now; it is not shown again):")
    print(f"  {operator.totp_secret}")
    print(f"  {uri}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with open_directory(args) as (_, directory):
        operators = await directory.list()
    for o in operators:
        state = "DISABLED" if o.disabled else "active"
        print(f"{o.id}  {o.name:<24} {','.join(o.roles):<28} {state}")
    if not operators:
        print("no operators")
    return 0


async def _disable(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from drexfy.entrypoints.identity import tokens

    async with open_directory(args) as (store, directory):
        try:
            operator = await directory.disable((await directory.find(args.operator)).id)
        except DomainError as exc:
            print(f"cannot disable {args.operator}: {exc.message}", file=sys.stderr)
            return 1
        now = datetime.now(UTC)
        revoked = 0
        after = None
        while True:
            page = await tokens.list_tokens(store.access, after=after, limit=500)
            for token in page:
                if token.subject == operator.id and token.revoked_at is None and token.expires_at > now:
                    await tokens.revoke(store.access, token.id, "cli:operators disable", now)
                    revoked += 1
            if len(page) < 500:
                break
            after = page[-1].id
        await audited(store, "OperatorDisabled", operator.id, {"tokens_revoked": revoked})
    print(f"operator {operator.name} ({operator.id}) disabled; {revoked} live token(s) revoked")
    return 0


async def _token_list(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from drexfy.entrypoints.identity import tokens

    now = datetime.now(UTC)
    shown = 0
    async with open_store(args) as store:
        after = None
        while True:
            page = await tokens.list_tokens(store.access, after=after, limit=500)
            for t in page:
                live = t.revoked_at is None and t.expires_at > now
                if not (live or args.all):
                    continue
                state = "revoked" if t.revoked_at else "expired" if t.expires_at <= now else "live"
                who = f"{t.subject}" + (f" (investor {t.investor_id})" if t.investor_id else "")
                print(f"{t.id}  {t.role:<10} {who:<40} until {t.expires_at.isoformat()}  {state}  by {t.issued_by}")
                shown += 1
            if len(page) < 500:
                break
            after = page[-1].id
    if not shown:
        print("no tokens" if args.all else "no live tokens (--all shows expired and revoked ones)")
    return 0


async def _token_revoke(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from drexfy.entrypoints.identity import tokens

    async with open_store(args) as store:
        revoked = await tokens.revoke(store.access, args.token_id, "cli", datetime.now(UTC))
        if revoked is not None:
            await audited(store, "TokenRevoked", revoked.id, {"role": revoked.role, "subject": revoked.subject})
    if revoked is None:
        print(f"no token {args.token_id} in the record", file=sys.stderr)
        return 1
    print(f"{revoked.id} revoked ({revoked.role}, {revoked.subject})")
    return 0
