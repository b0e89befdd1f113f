"""Refunds: money owed back for an order that will not settle (REFUND_DUE) goes back through the
payment gateway, and the gateway's answer closes the order as REFUNDED.

- One refund per attempt: the gateway's idempotency key carries `order.refund_attempts`, so a
  request retried after a timeout (or a crash before the store recorded the answer) is the same
  refund, never a second one.
- A refund the gateway refuses at once (`PaymentRefused`) or reports as failed later (a
  `refund.updated` with status failed; each failed refund id counts once, even when its failure
  arrives before the request's answer was recorded) counts as a failed attempt: the reason is kept on the order
  for operators (`refund_error`, a `RefundFailed` event in the audit trail) and a new attempt is
  due after a back-off that doubles up to a day.
- A gateway that cannot be reached postpones the same attempt by `refund_retry` (no new refund).
- The worker's sweep (`retry_refunds`) asks every REFUND_DUE order whose attempt is due; nothing in
  a webhook job waits on it or fails because of it, so a refund never leaves a dead job.
"""

from __future__ import annotations

from datetime import timedelta

from drexfy.domain.errors import PaymentRefused, ProviderError
from drexfy.domain.model import Order, OrderStatus
from drexfy.domain.ports import UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.provider_events import PaymentEvent, PaymentEventKind

#: The longest wait between two attempts of a failing refund.
MAX_REFUND_BACKOFF = timedelta(days=1)


def _backoff(svc: Services, failures: int) -> timedelta:
    base = svc.settings.refund_retry
    return min(base * (1 << min(max(failures - 1, 0), 20)), MAX_REFUND_BACKOFF)


async def request_refund(svc: Services, order_id: str) -> Order:
    """Ask the gateway to refund a REFUND_DUE order's payment if an attempt is due now; record the
    refund reference, or the failure and when to try again. Never raises for the gateway's sake."""
    async with svc.store.unit_of_work() as uow:
        order = await uow.orders.get(order_id)
    if not order.refund_due_now(svc.clock.now()):
        return order
    attempt = order.refund_attempts
    try:
        refund_ref = await svc.payments.refund(order)
    except PaymentRefused as refused:
        return await _record(svc, order_id, attempt, failure=f"refund refused: {refused.message}")
    except ProviderError as down:
        return await _record(svc, order_id, attempt, postponed=f"gateway unavailable: {down.message}")
    return await _record(svc, order_id, attempt, refund_ref=refund_ref)


async def _record(
    svc: Services,
    order_id: str,
    attempt: int,
    *,
    refund_ref: str | None = None,
    failure: str | None = None,
    postponed: str | None = None,
) -> Order:
    async def work(uow: UnitOfWork) -> Order:
        fresh = await uow.orders.get(order_id)
        # Another attempt (a concurrent sweep, the gateway's own answer) may have moved on.
        if fresh.status is not OrderStatus.REFUND_DUE or fresh.refund_attempts != attempt or fresh.refund_ref:
            return fresh
        now = svc.clock.now()
        if refund_ref is not None:
            fresh.refund_requested(refund_ref, now)
        elif failure is not None:
            fresh.refund_failed(failure, now, now + _backoff(svc, attempt + 1))
        else:
            fresh.refund_postponed(postponed or "gateway unavailable", now + svc.settings.refund_retry)
        await uow.orders.save(fresh)
        return fresh

    return await in_uow(svc, work)


async def handle_refund_event(svc: Services, event: PaymentEvent) -> Order:
    """The gateway's word on a refund: succeeded -> REFUNDED; failed -> the attempt is recorded as
    failed (only for the refund in flight, so a redelivered failure counts once)."""

    async def work(uow: UnitOfWork) -> Order:
        order = await uow.orders.get(event.order_id)
        if order.status is not OrderStatus.REFUND_DUE:
            return order  # refunded already, or never owed (a redelivery, an operator's own refund)
        now = svc.clock.now()
        if event.kind is PaymentEventKind.REFUNDED:
            if event.refund_ref:
                order.refund_ref = event.refund_ref
            order.close(OrderStatus.REFUNDED, event.reason or "payment refunded", now)
        elif (
            event.refund_ref is not None
            and event.refund_ref not in order.refund_failures
            and (
                # the refund in flight, or one whose failure overtook the recording of its request
                order.refund_ref in (event.refund_ref, None)
            )
        ):
            order.refund_failed(
                f"refund failed: {event.reason or 'unknown reason'}",
                now,
                now + _backoff(svc, order.refund_attempts + 1),
                event.refund_ref,
            )
        else:
            return order  # a redelivered failure, or one of an attempt already given up
        await uow.orders.save(order)
        return order

    return await in_uow(svc, work)


async def retry_refunds(svc: Services, limit: int = 100) -> int:
    """Ask a refund for every REFUND_DUE order whose attempt is due (the worker's sweep); returns
    how many refunds the gateway accepted."""
    async with svc.store.unit_of_work() as uow:
        owed = await uow.orders.refund_due(limit)
    now = svc.clock.now()
    accepted = 0
    for order in owed:
        if order.refund_due_now(now):
            after = await request_refund(svc, order.id)
            accepted += after.refund_ref is not None
    return accepted
