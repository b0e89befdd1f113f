"""The platform API under /api/v1: bodies, handlers and their endpoint declarations.

Handlers receive a `Call` (request, principal, validated body) and return (status, JSON body).
Authentication, role checks, body validation and Idempotency-Key replay happen in the wrapper in
`app.py`; handlers only add the investor scoping (an investor token sees only its own investor, and
anything else looks exactly like a missing record).
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import attrs
from aiohttp import web

from drexfy.domain import processes as p
from drexfy.domain.classification import Classification
from drexfy.domain.errors import (
    DomainError,
    IllegalTransition,
    InstrumentNotFound,
    InvestorNotFound,
    NotFound,
    OrderNotFound,
    RepaymentNotFound,
)
from drexfy.domain.model import ComplianceState, InvestorKind, KycStatus, Order, OrderStatus, RepaymentStatus
from drexfy.domain.money import Money
from drexfy.domain.ports import MessageQueue, MessageStatus
from drexfy.entrypoints.http import views
from drexfy.entrypoints.http.auth import ALL_ROLES, Principal, Role
from drexfy.entrypoints.http.openapi import PAGING, Endpoint, Query
from drexfy.entrypoints.http.problems import Problem
from drexfy.entrypoints.http.state import STATE, AppState
from drexfy.entrypoints.http.validation import field_error

Reply = tuple[int, Any]


@attrs.frozen
class Call:
    request: web.Request
    principal: Principal
    body: Any = None

    @property
    def state(self) -> AppState:
        return self.request.app[STATE]

    @property
    def svc(self) -> p.Services:
        return self.state.services

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    def require_investor(self, investor_id: str) -> None:
        """An investor token asking about someone else gets the same answer as an unknown id."""
        if not self.principal.may_act_for(investor_id):
            raise InvestorNotFound("No such investor.")


# ------------------------------------------------------------------------------------------------
# Bodies
# ------------------------------------------------------------------------------------------------


@attrs.frozen
class MoneyBody:
    """An amount in minor units (cents) and its ISO 4217 currency."""

    minor: int
    currency: str


def _money(body: MoneyBody, field: str) -> Money:
    try:
        return Money(body.minor, body.currency.upper())
    except DomainError as exc:
        raise field_error(field, exc.message) from None


@attrs.frozen
class RegisterInvestorBody:
    """A new investor; `country` is the declared residence (ISO 3166-1 alpha-2)."""

    legal_name: str
    email: str
    country: str
    kind: InvestorKind
    declared_accredited: bool = False
    auto_cashout: bool = False


@attrs.frozen
class CreateInstrumentBody:
    """A new instrument (DRAFT) issued on the ledger; `class_caps` limits what one investor of a class may hold."""

    symbol: str
    name: str
    unit_price: MoneyBody
    total_units: int
    eligible: list[Classification]
    min_ticket: MoneyBody
    max_ticket: MoneyBody
    class_caps: dict[Classification, MoneyBody] = attrs.field(factory=dict)


@attrs.frozen
class CreateOrderBody:
    investor_id: str
    instrument_id: str
    units: int


@attrs.frozen
class TriggerRepaymentBody:
    """Interest and principal for a period; `final` redeems every unit (maturity)."""

    period: str
    interest: MoneyBody
    principal: MoneyBody
    final: bool = False


@attrs.frozen
class ReasonBody:
    reason: str


@attrs.frozen
class WithdrawBody:
    investor_id: str
    amount: MoneyBody


# ------------------------------------------------------------------------------------------------
# Investors
# ------------------------------------------------------------------------------------------------


async def register_investor(call: Call) -> Reply:
    b: RegisterInvestorBody = call.body
    investor = await p.register_investor(
        call.svc,
        p.RegisterInvestor(b.legal_name, b.email, b.country, b.kind, b.declared_accredited, b.auto_cashout),
    )
    return 201, views.investor(p.InvestorView(investor, (), ()))


E = TypeVar("E", bound=enum.Enum)

#: Investors examined per list request at most, whatever the filters (a page may come back short:
#: follow `next` until it is null).
_SCAN_PAGES = 10


async def list_investors(call: Call) -> Reply:
    """Investors in id order, optionally filtered by KYC status and compliance state."""
    wanted_status = _enum_query(call.request, "status", KycStatus)
    wanted_compliance = _enum_query(call.request, "compliance", ComplianceState)
    limit = _limit(call.request)
    cursor = call.request.query.get("after")
    items: list[dict[str, Any]] = []
    async with call.svc.store.unit_of_work() as uow:
        for _ in range(_SCAN_PAGES):
            # Ask only for what is still missing, so every investor fetched is examined.
            wanted = limit - len(items)
            page = await uow.investors.list(limit=wanted, after=cursor)
            items += [
                views.investor_summary(i)
                for i in page
                if wanted_status in (None, i.kyc_status) and wanted_compliance in (None, i.compliance)
            ]
            if len(page) < wanted:
                cursor = None  # the end: nothing after the last investor examined
                break
            cursor = page[-1].id
            if len(items) == limit:
                break
    return 200, {"items": items, "next": cursor}


def _enum_query(request: web.Request, name: str, kind: type[E]) -> E | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return kind[raw.upper()]
    except KeyError:
        raise field_error(name, f"must be one of {', '.join(m.name for m in kind)}") from None


async def get_investor(call: Call) -> Reply:
    investor_id = call.param("investor_id")
    call.require_investor(investor_id)
    return 200, views.investor(await p.investor_view(call.svc, investor_id))


async def start_kyc(call: Call) -> Reply:
    investor_id = call.param("investor_id")
    call.require_investor(investor_id)
    session = await p.start_kyc(call.svc, investor_id)
    return 200, {"applicant_id": session.applicant_id, "url": session.url}


async def list_investor_orders(call: Call) -> Reply:
    investor_id = call.param("investor_id")
    call.require_investor(investor_id)
    async with call.svc.store.unit_of_work() as uow:
        await uow.investors.get(investor_id)
        orders = await uow.orders.by_investor(investor_id)
    return 200, {"items": [views.order(o) for o in orders]}


# ------------------------------------------------------------------------------------------------
# Instruments
# ------------------------------------------------------------------------------------------------


async def create_instrument(call: Call) -> Reply:
    b: CreateInstrumentBody = call.body
    instrument = await p.create_instrument(
        call.svc,
        p.CreateInstrument(
            symbol=b.symbol,
            name=b.name,
            unit_price=_money(b.unit_price, "$.unit_price"),
            total_units=b.total_units,
            eligible=frozenset(b.eligible),
            min_ticket=_money(b.min_ticket, "$.min_ticket"),
            max_ticket=_money(b.max_ticket, "$.max_ticket"),
            class_caps={c: _money(m, f"$.class_caps.{c.name}") for c, m in b.class_caps.items()},
        ),
    )
    return 201, views.instrument(instrument)


async def list_instruments(call: Call) -> Reply:
    after = call.request.query.get("after")
    limit = _limit(call.request)
    async with call.svc.store.unit_of_work() as uow:
        items = await uow.instruments.list(limit=limit, after=after)
    return 200, {"items": [views.instrument(i) for i in items], "next": items[-1].id if len(items) == limit else None}


async def get_instrument(call: Call) -> Reply:
    async with call.svc.store.unit_of_work() as uow:
        instrument = await uow.instruments.get(call.param("instrument_id"))
    return 200, views.instrument(instrument)


async def reconcile_instrument(call: Call) -> Reply:
    return 200, views.reconciliation(await p.reconcile(call.svc, call.param("instrument_id")))


async def open_instrument(call: Call) -> Reply:
    return 200, views.instrument(await p.open_instrument(call.svc, call.param("instrument_id")))


async def close_instrument(call: Call) -> Reply:
    return 200, views.instrument(await p.close_instrument(call.svc, call.param("instrument_id")))


# ------------------------------------------------------------------------------------------------
# Orders
# ------------------------------------------------------------------------------------------------


async def create_order(call: Call) -> Reply:
    b: CreateOrderBody = call.body
    call.require_investor(b.investor_id)
    order = await p.create_order(call.svc, p.CreateOrder(b.investor_id, b.instrument_id, b.units))
    return 201, views.order(order)


async def _visible_order(call: Call) -> Order:
    """The order of the path, if the caller may see it (another investor's order looks unknown)."""
    try:
        async with call.svc.store.unit_of_work() as uow:
            order = await uow.orders.get(call.param("order_id"))
    except NotFound:
        raise OrderNotFound("No such order.") from None
    if not call.principal.may_act_for(order.investor_id):
        raise OrderNotFound("No such order.")
    return order


async def get_order(call: Call) -> Reply:
    return 200, views.order(await _visible_order(call))


async def cancel_order(call: Call) -> Reply:
    """Cancel an unpaid order and release its units. Cancelling it again answers the same; a paid
    order cannot be cancelled (409). A payment that still arrives is refunded automatically."""
    order = await _visible_order(call)
    if order.status is OrderStatus.CANCELLED:
        return 200, views.order(order)
    if order.status is not OrderStatus.CREATED:
        raise IllegalTransition(f"Only an unpaid order can be cancelled; this one is {order.status.value}.")
    cancelled = await p.cancel_order(call.svc, order.id, f"cancelled by the {call.principal.role.value}")
    return 200, views.order(cancelled)


# ------------------------------------------------------------------------------------------------
# Repayments
# ------------------------------------------------------------------------------------------------


async def trigger_repayment(call: Call) -> Reply:
    """Start the period's repayment, or resume it if it exists and is still distributing (a retry
    after a ledger outage finishes the same round instead of starting another)."""
    b: TriggerRepaymentBody = call.body
    instrument_id = call.param("instrument_id")
    async with call.svc.store.unit_of_work() as uow:
        await uow.instruments.get(instrument_id)
        existing = [r for r in await uow.repayments.by_instrument(instrument_id) if r.period == b.period.strip()]
    if existing and existing[0].status is RepaymentStatus.DISTRIBUTING:
        return 200, views.repayment(await p.continue_repayment(call.svc, existing[0].id))
    repayment = await p.trigger_repayment(
        call.svc,
        p.TriggerRepayment(
            instrument_id, b.period, _money(b.interest, "$.interest"), _money(b.principal, "$.principal"), b.final
        ),
    )
    return 201, views.repayment(repayment)


async def list_repayments(call: Call) -> Reply:
    instrument_id = call.param("instrument_id")
    async with call.svc.store.unit_of_work() as uow:
        await uow.instruments.get(instrument_id)
        items = await uow.repayments.by_instrument(instrument_id)
    return 200, {"items": [views.repayment(r) for r in items]}


async def get_repayment(call: Call) -> Reply:
    try:
        async with call.svc.store.unit_of_work() as uow:
            repayment = await uow.repayments.get(call.param("repayment_id"))
    except NotFound:
        raise RepaymentNotFound("No such repayment.") from None
    return 200, views.repayment(repayment)


# ------------------------------------------------------------------------------------------------
# Compliance and withdrawals
# ------------------------------------------------------------------------------------------------


async def block_investor(call: Call) -> Reply:
    b: ReasonBody = call.body
    if not b.reason.strip():
        raise field_error("$.reason", "must not be empty")
    investor = await p.block_investor(
        call.svc, call.param("investor_id"), b.reason.strip(), f"officer:{call.principal.subject}"
    )
    return 200, views.investor(await p.investor_view(call.svc, investor.id))


async def unblock_investor(call: Call) -> Reply:
    b: ReasonBody = call.body
    if not b.reason.strip():
        raise field_error("$.reason", "must not be empty")
    investor = await p.unblock_investor(call.svc, call.param("investor_id"), b.reason.strip(), call.principal.subject)
    return 200, views.investor(await p.investor_view(call.svc, investor.id))


async def investor_audit(call: Call) -> Reply:
    investor_id = call.param("investor_id")
    async with call.svc.store.unit_of_work() as uow:
        await uow.investors.get(investor_id)
        events = await uow.events.list(
            aggregate_id=investor_id, after=call.request.query.get("after"), limit=_limit(call.request)
        )
    return 200, {
        "items": [
            {"id": e.id, "name": e.name, "occurred_at": e.occurred_at.isoformat(), "payload": e.payload} for e in events
        ]
    }


async def request_withdrawal(call: Call) -> Reply:
    b: WithdrawBody = call.body
    call.require_investor(b.investor_id)
    withdrawal = await p.withdraw(call.svc, p.Withdraw(b.investor_id, _money(b.amount, "$.amount")))
    return 201, views.withdrawal(withdrawal)


# ------------------------------------------------------------------------------------------------
# Jobs (the worker's queues)
# ------------------------------------------------------------------------------------------------


def _queue(state: AppState, name: str) -> MessageQueue:
    if name == "inbox":
        return state.services.store.inbox
    if name == "outbox":
        return state.services.store.outbox
    raise field_error("queue", "must be inbox or outbox")


async def list_jobs(call: Call) -> Reply:
    queue_name = call.request.query.get("queue", "inbox")
    status_name = call.request.query.get("status")
    status = None
    if status_name:
        try:
            status = MessageStatus(status_name.upper())
        except ValueError:
            raise field_error("status", "must be PENDING, RUNNING, DONE or DEAD") from None
    queue = _queue(call.state, queue_name)
    items = await queue.list(status, limit=_limit(call.request))
    counts = await queue.counts()
    return 200, {
        "counts": {s.value: counts.get(s, 0) for s in MessageStatus},
        "items": [views.job(m, queue_name) for m in items],
    }


async def retry_job(call: Call) -> Reply:
    queue_name = call.request.query.get("queue", "inbox")
    queue = _queue(call.state, queue_name)
    job_id = call.param("job_id")
    try:
        message = await queue.get(job_id)
    except (NotFound, KeyError):
        raise Problem(404, "job-not-found", "No such job.") from None
    if message.status is not MessageStatus.DEAD:
        raise Problem(409, "job-not-dead", f"only dead jobs are retried; this one is {message.status.value}")
    await queue.requeue(job_id, call.svc.clock.now())
    return 200, views.job(await queue.get(job_id), queue_name)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise field_error("limit", "must be a whole number from 1 to 500")
    return int(raw)


# ------------------------------------------------------------------------------------------------
# Declarations
# ------------------------------------------------------------------------------------------------

F, A, C, INV = Role.FRONTEND, Role.ADMIN, Role.COMPLIANCE, Role.INVESTOR
_QUEUE = Query("queue", "Which queue (default inbox).", ("inbox", "outbox"))
V1 = "/api/v1"

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        f"{V1}/investors",
        register_investor,
        "Register an investor (PENDING_KYC)",
        "investors",
        frozenset({F, A}),
        RegisterInvestorBody,
        201,
        creates=True,
        errors=(409, 422),
    ),
    Endpoint(
        "GET",
        f"{V1}/investors",
        list_investors,
        "Investors in id order, filtered; a filtered page may be short: follow `next` until null",
        "investors",
        frozenset({A, C}),
        errors=(400,),
        query=(
            Query("status", "KYC status.", tuple(m.value for m in KycStatus)),
            Query("compliance", "Compliance state.", tuple(m.value for m in ComplianceState)),
            *PAGING,
        ),
    ),
    Endpoint(
        "GET",
        f"{V1}/investors/{{investor_id}}",
        get_investor,
        "Investor status, wallet, classification, holdings and held-back repayments",
        "investors",
        frozenset({F, A, C, INV}),
        errors=(404,),
    ),
    Endpoint(
        "POST",
        f"{V1}/investors/{{investor_id}}/kyc",
        start_kyc,
        "Start (or resume) KYC; returns the link",
        "investors",
        frozenset({F, INV}),
        errors=(404, 409, 502),
    ),
    Endpoint(
        "GET",
        f"{V1}/investors/{{investor_id}}/orders",
        list_investor_orders,
        "The investor's orders",
        "orders",
        frozenset({F, A, INV}),
        errors=(404,),
    ),
    Endpoint("GET", f"{V1}/instruments", list_instruments, "List instruments", "instruments", ALL_ROLES, query=PAGING),
    Endpoint(
        "POST",
        f"{V1}/instruments",
        create_instrument,
        "Create an instrument and issue its token",
        "instruments",
        frozenset({A}),
        CreateInstrumentBody,
        201,
        creates=True,
        errors=(409, 422, 502, 503),
    ),
    Endpoint(
        "GET",
        f"{V1}/instruments/{{instrument_id}}",
        get_instrument,
        "One instrument",
        "instruments",
        ALL_ROLES,
        errors=(404,),
    ),
    Endpoint(
        "GET",
        f"{V1}/instruments/{{instrument_id}}/reconciliation",
        reconcile_instrument,
        "Holders on the ledger against the store's positions (drift per address)",
        "instruments",
        frozenset({A, C}),
        errors=(404, 503),
    ),
    Endpoint(
        "POST",
        f"{V1}/instruments/{{instrument_id}}/open",
        open_instrument,
        "Open the sale",
        "instruments",
        frozenset({A}),
        errors=(404, 409),
    ),
    Endpoint(
        "POST",
        f"{V1}/instruments/{{instrument_id}}/close",
        close_instrument,
        "Close the sale",
        "instruments",
        frozenset({A}),
        errors=(404, 409),
    ),
    Endpoint(
        "POST",
        f"{V1}/orders",
        create_order,
        "Create an order: eligibility checked, units reserved, checkout reference returned",
        "orders",
        frozenset({F, INV}),
        CreateOrderBody,
        201,
        creates=True,
        errors=(403, 404, 409, 422, 502),
    ),
    Endpoint(
        "POST",
        f"{V1}/orders/{{order_id}}/cancel",
        cancel_order,
        "Cancel an unpaid order and release its units (a late payment is refunded)",
        "orders",
        frozenset({F, A, INV}),
        errors=(404, 409),
    ),
    Endpoint(
        "GET", f"{V1}/orders/{{order_id}}", get_order, "One order", "orders", frozenset({F, A, INV}), errors=(404,)
    ),
    Endpoint(
        "POST",
        f"{V1}/instruments/{{instrument_id}}/repayments",
        trigger_repayment,
        "Trigger (or resume) the period's repayment",
        "repayments",
        frozenset({A}),
        TriggerRepaymentBody,
        201,
        creates=True,
        errors=(404, 409, 422, 502, 503),
    ),
    Endpoint(
        "GET",
        f"{V1}/instruments/{{instrument_id}}/repayments",
        list_repayments,
        "Repayments of an instrument",
        "repayments",
        frozenset({F, A}),
        errors=(404,),
    ),
    Endpoint(
        "GET",
        f"{V1}/repayments/{{repayment_id}}",
        get_repayment,
        "Repayment progress",
        "repayments",
        frozenset({F, A}),
        errors=(404,),
    ),
    Endpoint(
        "POST",
        f"{V1}/compliance/investors/{{investor_id}}/block",
        block_investor,
        "Block an investor (freeze on chain, cancel open orders)",
        "compliance",
        frozenset({C}),
        ReasonBody,
        errors=(404, 502, 503),
    ),
    Endpoint(
        "POST",
        f"{V1}/compliance/investors/{{investor_id}}/unblock",
        unblock_investor,
        "Unblock: restore classification, unfreeze, release held-back repayments",
        "compliance",
        frozenset({C}),
        ReasonBody,
        errors=(404, 409, 502, 503),
    ),
    Endpoint(
        "GET",
        f"{V1}/compliance/investors/{{investor_id}}/events",
        investor_audit,
        "Audit trail of an investor",
        "compliance",
        frozenset({C, A}),
        errors=(404,),
        query=PAGING,
    ),
    Endpoint(
        "POST",
        f"{V1}/withdrawals",
        request_withdrawal,
        "Cash out: burn stablecoin, record the payout",
        "withdrawals",
        frozenset({F, INV}),
        WithdrawBody,
        201,
        creates=True,
        errors=(403, 404, 422, 502),
    ),
    Endpoint(
        "GET",
        f"{V1}/jobs",
        list_jobs,
        "Worker jobs, with the counts per state (no payloads)",
        "operations",
        frozenset({A}),
        errors=(400,),
        query=(_QUEUE, Query("status", "Only jobs in this state.", tuple(m.value for m in MessageStatus)), PAGING[0]),
    ),
    Endpoint(
        "POST",
        f"{V1}/jobs/{{job_id}}/retry",
        retry_job,
        "Put a dead job back in the queue",
        "operations",
        frozenset({A}),
        errors=(404, 409),
        query=(_QUEUE,),
    ),
]

__all__ = ["ENDPOINTS", "Call", "InstrumentNotFound"]
