"""The bank routes of the platform API: an investor's payout account, paying an order from the
stablecoin balance, and the operators' bank files (statement upload, deposits, payout export).

- `PUT /api/v1/investors/{id}/payout-account` (frontend, investor): the payout IBAN, checked by
  schwifty; 400 naming the problem when it is not valid. The answer shows only its last four
  characters, and the IBAN never reaches a log or an error.
- `POST /api/v1/orders/{id}/pay-from-balance` (frontend, investor): pay a CREATED order from the
  investor's stablecoin balance (no card); 422 `insufficient-funds` when the balance is short.
- `POST /api/v1/bank/statements` (admin): a camt.053/054 file as the raw body (`application/xml`
  or `text/xml`), at most `MAX_STATEMENT_BYTES`; 400 naming the line or element, nothing written.
- `GET /api/v1/bank/deposits`, `POST /api/v1/bank/deposits/{id}/assign` (admin): the credits an
  operator must look at, and giving one to an investor: a four-eyes request (202, kind
  `assign_deposit`) that a second admin approves before it is assigned and minted, once.
- `GET /api/v1/bank/payouts`, `POST /api/v1/bank/payouts` (admin): the withdrawals owed, and the
  pain.001 file of them (marked SENT); 204 when nothing is owed.
"""

from __future__ import annotations

from typing import Annotated

import attrs
from aiohttp import web

from drexfy.domain import processes as p
from drexfy.domain.deposit import DepositStatus
from drexfy.domain.errors import NotFound, OrderNotFound
from drexfy.domain.processes import queries as q
from drexfy.domain.processes.deposits import check_assignment
from drexfy.domain.processes.payouts import MAX_BATCH
from drexfy.entrypoints.http import views
from drexfy.entrypoints.http.api import Call, Reply
from drexfy.entrypoints.http.auth import Role
from drexfy.entrypoints.http.bodies import Id
from drexfy.entrypoints.http.four_eyes import needs_approval
from drexfy.entrypoints.http.openapi import PAGING, Endpoint, Query
from drexfy.entrypoints.http.problems import Problem
from drexfy.entrypoints.http.validation import Bounds, field_error

#: The largest statement the upload takes (a day's camt.053 of a busy account is far smaller).
MAX_STATEMENT_BYTES = 5 * 1024 * 1024
_XML_TYPES = ("application/xml", "text/xml")


@attrs.frozen
class PayoutAccountBody:
    """The investor's payout IBAN (spaces allowed, as printed)."""

    iban: Annotated[str, Bounds(min_length=15, max_length=42, pattern=r"^[A-Za-z0-9 ]+$", means="must be an IBAN")]


@attrs.frozen
class AssignDepositBody:
    investor_id: Id
    #: Why this credit goes to this investor (shown to the approver); a default text when empty.
    reason: Annotated[str, Bounds(max_length=1000)] = ""


def _bank_configured(call: Call) -> None:
    if call.svc.bank is None:
        raise Problem(503, "bank-not-configured", "the platform's bank account is not configured (bank.iban)")


async def register_payout_account(call: Call) -> Reply:
    investor_id = call.param("investor_id")
    call.require_investor(investor_id)
    _bank_configured(call)
    b: PayoutAccountBody = call.body
    investor = await p.register_payout_iban(call.svc, investor_id, b.iban)
    assert investor.payout_iban is not None
    return 200, {"investor_id": investor.id, "iban_ending": investor.payout_iban[-4:]}


async def pay_order_from_balance(call: Call) -> Reply:
    try:
        order = await q.get_order(call.svc, call.param("order_id"))
    except NotFound:
        raise OrderNotFound("No such order.") from None
    if not call.principal.may_act_for(order.investor_id):
        raise OrderNotFound("No such order.")
    return 200, views.order(await p.pay_from_balance(call.svc, order.id))


async def _statement_body(request: web.Request) -> bytes:
    """The raw XML body, read up to the bound (the app's JSON body limit does not apply here)."""
    if request.content_type not in _XML_TYPES:
        raise Problem(415, "unsupported-media-type", "send the camt file as application/xml or text/xml")
    too_large = Problem(413, "payload-too-large", f"the statement exceeds {MAX_STATEMENT_BYTES} bytes")
    if (request.content_length or 0) > MAX_STATEMENT_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > MAX_STATEMENT_BYTES:
            raise too_large
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        raise Problem(400, "validation-failed", "the body must be a camt.053 or camt.054 file")
    return data


async def upload_statement(call: Call) -> Reply:
    _bank_configured(call)
    report = await p.import_statement(call.svc, await _statement_body(call.request))
    return 200, {
        "paid_out": list(report.paid_out),
        "already_paid_out": list(report.already_paid_out),
        "unmatched_debits": [
            {"ref": e.ref, "amount": views.money(e.amount), "end_to_end_id": e.end_to_end_id}
            for e in report.unmatched_debits
        ],
        "deposits": [views.deposit(d) for d in report.deposits],
        "not_booked": report.not_booked,
    }


async def list_deposits(call: Call) -> Reply:
    raw = call.request.query.get("status", DepositStatus.UNMATCHED.value)
    try:
        status = DepositStatus[raw]
    except KeyError:
        raise field_error("status", f"must be one of {', '.join(s.name for s in DepositStatus)}") from None
    raw_limit = call.request.query.get("limit", "100")
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= 500:
        raise field_error("limit", "must be a whole number from 1 to 500")
    limit = int(raw_limit)
    found = await p.list_deposits(call.svc, status, limit + 1, call.request.query.get("after"))
    page = found[:limit]
    return 200, {
        "items": [views.deposit(d) for d in page],
        "next": page[-1].id if len(found) > limit else None,
    }


async def assign_deposit(call: Call) -> Reply:
    """Giving a credit to an investor mints money to them: it waits for a second admin (four-eyes)
    unless configured otherwise. What the assignment would refuse is refused before a request."""
    b: AssignDepositBody = call.body
    deposit = await check_assignment(call.svc, call.param("deposit_id"), b.investor_id)
    reason = b.reason.strip() or f"bank credit {deposit.bank_ref} ({deposit.amount}) belongs to {b.investor_id}"
    pending = await needs_approval(call, "assign_deposit", deposit.id, {"investor_id": b.investor_id}, reason)
    if pending:
        return pending
    deposit = await p.assign_deposit(call.svc, deposit.id, b.investor_id, call.principal.subject)
    return 200, views.deposit(deposit)


async def list_payouts(call: Call) -> Reply:
    async with call.svc.store.unit_of_work() as uow:
        owed = await uow.withdrawals.payable(MAX_BATCH)
    return 200, {"items": [views.withdrawal(w) for w in owed], "next": None}


async def export_payouts(call: Call) -> Reply:
    _bank_configured(call)
    made = await p.export_payouts(call.svc)
    if made is None:
        return 204, web.Response(status=204)
    headers = {
        "Content-Disposition": f'attachment; filename="{made.batch_id}.xml"',
        "X-Payout-Batch": made.batch_id,
        "X-Payout-Count": str(len(made.withdrawal_ids)),
    }
    return 200, web.Response(body=made.data, content_type="application/xml", headers=headers)


A = Role.ADMIN
BANK_ENDPOINTS: list[Endpoint] = [
    Endpoint(
        method="PUT",
        path="/api/v1/investors/{investor_id}/payout-account",
        handler=register_payout_account,
        response="PayoutAccount",
        summary="Register the investor's payout IBAN (validated; only its last four characters come back)",
        tag="investors",
        roles=frozenset({Role.FRONTEND, Role.INVESTOR}),
        body=PayoutAccountBody,
        errors=(404, 503),
    ),
    Endpoint(
        method="POST",
        path="/api/v1/orders/{order_id}/pay-from-balance",
        handler=pay_order_from_balance,
        response="Order",
        summary="Pay an unpaid order from the investor's stablecoin balance (no card) and settle it",
        description="422 `insufficient-funds` when the balance does not cover the order (nothing changes);"
        " asking again for an order paid this way answers it as it stands.",
        tag="orders",
        roles=frozenset({Role.FRONTEND, Role.INVESTOR}),
        errors=(403, 404, 409, 422, 502, 503),
    ),
    Endpoint(
        method="POST",
        path="/api/v1/bank/statements",
        handler=upload_statement,
        response="StatementImport",
        summary="Import a camt.053/054 statement: payouts confirmed, credits minted (once per bank entry)",
        tag="bank",
        roles=frozenset({A}),
        raw_body="application/xml",
        errors=(400, 413, 415, 502, 503),
    ),
    Endpoint(
        method="GET",
        path="/api/v1/bank/deposits",
        handler=list_deposits,
        response="DepositPage",
        summary="Bank credits by status (UNMATCHED by default: the ones an operator must look at)",
        tag="bank",
        roles=frozenset({A, Role.AUDITOR}),
        errors=(400,),
        query=(Query("status", "Deposit status.", tuple(s.value for s in DepositStatus)), *PAGING),
    ),
    Endpoint(
        method="POST",
        path="/api/v1/bank/deposits/{deposit_id}/assign",
        handler=assign_deposit,
        response="DepositOrApproval",
        summary="Assign an unmatched bank credit to an investor (202 with the request: a second admin's"
        " approval assigns and mints it)",
        tag="bank",
        roles=frozenset({A}),
        body=AssignDepositBody,
        errors=(202, 404, 409, 502, 503),
    ),
    Endpoint(
        method="GET",
        path="/api/v1/bank/payouts",
        handler=list_payouts,
        response="WithdrawalPage",
        summary="Withdrawals owed (burned, not in a payout file yet), oldest first",
        tag="bank",
        roles=frozenset({A, Role.AUDITOR}),
    ),
    Endpoint(
        method="POST",
        path="/api/v1/bank/payouts",
        handler=export_payouts,
        summary="The pain.001 file of the withdrawals owed (marked SENT); 204 when nothing is owed",
        tag="bank",
        roles=frozenset({A}),
        response_type="application/xml",
        errors=(204, 502, 503),
    ),
]
