"""The platform API under /api/v1: bodies, handlers and their endpoint declarations.
(About 500 lines: one short handler per operation; the bank, people and audit areas have their own
modules, and the rest stays together so every handler's investor scoping reads in one place.)

Handlers receive a `Call` (request, principal, validated body) and return (status, JSON body).
Authentication, role checks, body validation and Idempotency-Key replay happen in the wrapper in
`app.py`; handlers only add the investor scoping (an investor token sees only its own investor, and
anything else looks exactly like a missing record).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
from aiohttp import web

from drexfy.domain import processes as p
from drexfy.domain.errors import (
    DuplicateEntity,
    IllegalTransition,
    InvestorNotFound,
    NotFound,
    OrderNotFound,
)
from drexfy.domain.model import ComplianceState, InstrumentStatus, Investor, KycStatus, Order, OrderStatus
from drexfy.domain.ports import RETRYABLE, MessageQueue, MessageStatus
from drexfy.domain.processes import queries as q
from drexfy.domain.processes.audit import record_action
from drexfy.entrypoints.http import views
from drexfy.entrypoints.http.auth import Principal, Role
from drexfy.entrypoints.http.bodies import (
    CreateInstrumentBody,
    CreateOrderBody,
    ForcedTransferBody,
    ReasonBody,
    RegisterInvestorBody,
    TriggerRepaymentBody,
    WithdrawBody,
    money_of,
)
from drexfy.entrypoints.http.four_eyes import needs_approval
from drexfy.entrypoints.http.problems import Problem
from drexfy.entrypoints.http.state import STATE, AppState
from drexfy.entrypoints.http.validation import field_error
from drexfy.entrypoints.runtime.jobs import queue_repayment, repayment_job

Reply = tuple[int, Any]
#: Roles that see why an investor is blocked: compliance, admins and auditors (internal audit, regulators).
SEES_AML_REASONS = frozenset({Role.ADMIN, Role.COMPLIANCE, Role.AUDITOR})


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

    @property
    def investor_side(self) -> bool:
        """The caller is the investor or the frontend acting for them: no AML reasons."""
        return self.principal.role not in SEES_AML_REASONS

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    def require_investor(self, investor_id: str) -> None:
        """An investor token asking about someone else gets the same answer as an unknown id."""
        if not self.principal.may_act_for(investor_id):
            raise InvestorNotFound("No such investor.")


# ------------------------------------------------------------------------------------------------
# Investors
# ------------------------------------------------------------------------------------------------


async def register_investor(call: Call) -> Reply:
    b: RegisterInvestorBody = call.body
    try:
        investor = await p.register_investor(
            call.svc,
            p.RegisterInvestor(b.legal_name, b.email, b.country, b.kind, b.declared_accredited, b.auto_cashout),
        )
    except DuplicateEntity as exc:
        # The frontend (and admin: the only roles of this endpoint) may learn the existing id, so a
        # retry without an Idempotency-Key can recover it; it never gets a token for it.
        extra = {"investor_id": exc.existing_id} if exc.existing_id else {}
        raise Problem(409, exc.code, exc.message, **extra) from None
    return 201, views.investor(p.InvestorView(investor, (), ()), neutral=call.investor_side)


E = TypeVar("E", bound=enum.Enum)


async def list_investors(call: Call) -> Reply:
    """Investors in id order, optionally filtered by KYC status and compliance state."""
    page = await q.find_investors(
        call.svc,
        status=_enum_query(call.request, "status", KycStatus),
        compliance=_enum_query(call.request, "compliance", ComplianceState),
        limit=_limit(call.request),
        after=call.request.query.get("after"),
    )
    return 200, {"items": [views.investor_summary(i) for i in page.items], "next": page.next}


def _enum_query(request: web.Request, name: str, kind: type[E]) -> E | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return kind[raw]  # exactly as the document's enum: no case folding
    except KeyError:
        raise field_error(name, f"must be one of {', '.join(m.name for m in kind)}") from None


async def get_investor(call: Call) -> Reply:
    investor_id = call.param("investor_id")
    call.require_investor(investor_id)
    return 200, views.investor(await p.investor_view(call.svc, investor_id), neutral=call.investor_side)


async def start_kyc(call: Call) -> Reply:
    investor_id = call.param("investor_id")
    call.require_investor(investor_id)
    session = await p.start_kyc(call.svc, investor_id)
    body = {"applicant_id": session.applicant_id, "url": session.url}
    if session.access_token:  # for the provider's web SDK (Sumsub WebSDK)
        body["access_token"] = session.access_token
    return 200, body


async def list_investor_orders(call: Call) -> Reply:
    investor_id = call.param("investor_id")
    call.require_investor(investor_id)
    page = q.page_of(
        await q.orders_of(call.svc, investor_id),
        lambda o: o.id,
        limit=_limit(call.request),
        after=call.request.query.get("after"),
    )
    return 200, {"items": [views.order(o) for o in page.items], "next": page.next}


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
            unit_price=money_of(b.unit_price, "$.unit_price"),
            total_units=b.total_units,
            eligible=frozenset(b.eligible),
            min_ticket=money_of(b.min_ticket, "$.min_ticket"),
            max_ticket=money_of(b.max_ticket, "$.max_ticket"),
            class_caps={c: money_of(m, f"$.class_caps.{c.name}") for c, m in b.class_caps.items()},
        ),
    )
    return 201, views.instrument(instrument)


async def list_instruments(call: Call) -> Reply:
    page = await q.list_instruments(call.svc, limit=_limit(call.request), after=call.request.query.get("after"))
    return 200, {"items": [views.instrument(i) for i in page.items], "next": page.next}


async def get_instrument(call: Call) -> Reply:
    return 200, views.instrument(await q.get_instrument(call.svc, call.param("instrument_id")))


async def reconcile_instrument(call: Call) -> Reply:
    return 200, views.reconciliation(await p.reconcile(call.svc, call.param("instrument_id")))


async def open_instrument(call: Call) -> Reply:
    return 200, views.instrument(await p.open_instrument(call.svc, call.param("instrument_id")))


async def close_instrument(call: Call) -> Reply:
    """Closing a sale waits for a second admin (four-eyes) unless configured otherwise."""
    instrument_id = call.param("instrument_id")
    instrument = await q.get_instrument(call.svc, instrument_id)  # 404 before a request is recorded
    # Only an open sale closes: anything else is refused at once (409), with nothing to approve.
    pending = instrument.status is InstrumentStatus.OPEN and await needs_approval(
        call, "close_instrument", instrument.id, {}, "close the sale"
    )
    if pending:
        return pending
    return 200, views.instrument(await p.close_instrument(call.svc, instrument_id))


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
        order = await q.get_order(call.svc, call.param("order_id"))
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
    """Record the period's repayment and answer 202 at once (Location: the repayment), with no
    ledger call: the worker's job snapshots the holders, allocates and pays the batches, and
    `GET /api/v1/repayments/{id}` shows the progress (FAILED with the reason if the snapshot finds
    it impossible). What needs no snapshot is refused here (4xx, nothing written). Posting the same
    period again while it is in progress answers the same repayment and queues its job (once)."""
    b: TriggerRepaymentBody = call.body
    instrument_id = call.param("instrument_id")
    existing = await q.repayment_for_period(call.svc, instrument_id, b.period)
    if existing is not None and existing.in_progress:
        repayment = existing
    else:
        cmd = p.TriggerRepayment(
            instrument_id, b.period, money_of(b.interest, "$.interest"), money_of(b.principal, "$.principal"), b.final
        )
        await p.check_repayment(call.svc, cmd)  # refused before an approval is requested
        if b.interest.minor + b.principal.minor > call.state.settings.access.repayment_threshold_minor and (
            pending := await needs_approval(
                call,
                "large_repayment",
                instrument_id,
                {
                    "period": b.period,
                    "interest": {"minor": b.interest.minor, "currency": b.interest.currency},
                    "principal": {"minor": b.principal.minor, "currency": b.principal.currency},
                    "final": b.final,
                },
                f"repayment {b.period}",
            )
        ):
            return pending
        repayment = await p.request_repayment(call.svc, cmd)
    await queue_repayment(call.svc, repayment.id)
    if call.state.worker is not None:
        call.state.worker.poke()
    return 202, views.repayment(repayment, await repayment_job(call.svc, repayment.id))


async def list_repayments(call: Call) -> Reply:
    page = q.page_of(
        await q.repayments_of(call.svc, call.param("instrument_id")),
        lambda r: r.id,
        limit=_limit(call.request),
        after=call.request.query.get("after"),
    )
    items = [views.repayment(r, await repayment_job(call.svc, r.id)) for r in page.items]
    return 200, {"items": items, "next": page.next}


async def get_repayment(call: Call) -> Reply:
    repayment = await q.get_repayment(call.svc, call.param("repayment_id"))
    return 200, views.repayment(repayment, await repayment_job(call.svc, repayment.id))


async def list_allocations(call: Call) -> Reply:
    page = await q.repayment_allocations(
        call.svc, call.param("repayment_id"), after=call.request.query.get("after"), limit=_limit(call.request)
    )
    return 200, {"items": [views.allocation(a) for a in page.items], "next": page.next}


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
    return await _lift_block(call, "unblock", p.unblock_investor)


async def _lift_block(call: Call, kind: str, lift: Callable[[p.Services, str, str, str], Awaitable[Investor]]) -> Reply:
    """Unblock and dismiss-alert both lift a block: a reason is required, an unknown investor is a
    404 before anything is recorded, and lifting a block waits for a second officer (four-eyes,
    approval `kind`). An investor not blocked has nothing to approve: `lift` answers (409, or it
    finishes an interrupted unblock's releases)."""
    b: ReasonBody = call.body
    reason = b.reason.strip()
    if not reason:
        raise field_error("$.reason", "must not be empty")
    investor_id = call.param("investor_id")
    async with call.svc.store.unit_of_work() as uow:
        blocked = (await uow.investors.get(investor_id)).is_blocked
    pending = blocked and await needs_approval(call, kind, investor_id, {"reason": reason}, reason)
    if pending:
        return pending
    investor = await lift(call.svc, investor_id, reason, call.principal.subject)
    return 200, views.investor(await p.investor_view(call.svc, investor.id))


# The agent's actions (processes.agent). Each request is one operation: a client that may retry
# sends an Idempotency-Key, which replays the first answer.


async def force_transfer(call: Call) -> Reply:
    """A forced transfer waits for a second admin (four-eyes) unless configured otherwise."""
    b: ForcedTransferBody = call.body
    operation_id = call.svc.ids.new("agt")
    instrument = await q.get_instrument(call.svc, call.param("instrument_id"))  # 404 before a request
    params = {
        "operation_id": operation_id,
        "from_investor_id": b.from_investor_id,
        "to_investor_id": b.to_investor_id,
        "units": b.units,
        "reason": b.reason.strip(),
    }
    if b.reason.strip() and (
        pending := await needs_approval(call, "forced_transfer", instrument.id, params, b.reason.strip())
    ):
        return pending
    cmd = p.ForceTransfer(
        operation_id,
        instrument.id,
        b.from_investor_id,
        b.to_investor_id,
        b.units,
        b.reason.strip(),
        call.principal.subject,
    )
    return 201, views.forced_transfer(await p.force_transfer(call.svc, cmd))


async def recover_wallet(call: Call) -> Reply:
    """A wallet recovery waits for a second admin (four-eyes) unless configured otherwise."""
    b: ReasonBody = call.body
    operation_id = call.svc.ids.new("agt")
    investor_id = call.param("investor_id")
    async with call.svc.store.unit_of_work() as uow:
        await uow.investors.get(investor_id)  # 404 before a request is recorded
    if b.reason.strip() and (
        pending := await needs_approval(
            call,
            "wallet_recovery",
            investor_id,
            {"operation_id": operation_id, "reason": b.reason.strip()},
            b.reason.strip(),
        )
    ):
        return pending
    cmd = p.RecoverWallet(operation_id, investor_id, b.reason.strip(), call.principal.subject)
    investor = await p.recover_wallet(call.svc, cmd)
    return 200, views.investor(await p.investor_view(call.svc, investor.id))


async def confirm_sanctions(call: Call) -> Reply:
    b: ReasonBody = call.body
    if not b.reason.strip():
        raise field_error("$.reason", "must not be empty")
    investor = await p.confirm_sanctions(call.svc, call.param("investor_id"), b.reason.strip(), call.principal.subject)
    return 200, views.investor(await p.investor_view(call.svc, investor.id))


async def dismiss_alert(call: Call) -> Reply:
    # Dismissing lifts the block, like an unblock.
    return await _lift_block(call, "dismiss_alert", p.dismiss_alert)


async def investor_audit(call: Call) -> Reply:
    page = await q.audit_trail(
        call.svc, call.param("investor_id"), after=call.request.query.get("after"), limit=_limit(call.request)
    )
    return 200, {
        "items": [
            {"id": e.id, "name": e.name, "occurred_at": e.occurred_at.isoformat(), "payload": e.payload}
            for e in page.items
        ],
        "next": page.next,
    }


async def request_withdrawal(call: Call) -> Reply:
    b: WithdrawBody = call.body
    call.require_investor(b.investor_id)
    withdrawal = await p.withdraw(call.svc, p.Withdraw(b.investor_id, money_of(b.amount, "$.amount")))
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
            status = MessageStatus(status_name)  # exactly as the document's enum: no case folding
        except ValueError:
            raise field_error("status", f"must be one of {', '.join(s.value for s in MessageStatus)}") from None
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
    if message.status not in RETRYABLE:
        raise Problem(409, "job-not-dead", f"only dead or parked jobs are retried; this one is {message.status.value}")
    await queue.requeue(job_id, call.svc.clock.now())
    await record_action(call.svc, "JobRetried", job_id, "", {"queue": queue_name, "kind": message.kind})
    return 200, views.job(await queue.get(job_id), queue_name)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 500:
        raise field_error("limit", "must be a whole number from 1 to 500")
    return int(raw)


__all__ = ["Call"]
