"""Buying an investment: orders and their reservation, the payment, the settlement on the ledger
(delivery versus payment), expiry, cancellation and refunds."""

from __future__ import annotations

import attrs

from drexfy.domain import events as ev
from drexfy.domain.bounds import check_units
from drexfy.domain.errors import (
    ComplianceRejected,
    DomainError,
    IllegalTransition,
    LedgerRejected,
    ProviderError,
    SettlementInProgress,
    ValidationFailed,
)
from drexfy.domain.model import Investor, Order, OrderStatus, SettlementStep
from drexfy.domain.ports import Purchase, UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.processes.refunds import handle_refund_event, request_refund
from drexfy.domain.provider_events import PaymentEvent, PaymentEventKind
from drexfy.domain.rules import check_purchase, holding_refusals


@attrs.frozen
class CreateOrder:
    investor_id: str
    instrument_id: str
    units: int


async def create_order(svc: Services, cmd: CreateOrder) -> Order:
    """Check eligibility, reserve the units (conditional update in the store), open a checkout."""
    check_units(cmd.units)  # before eligibility: 0 or -1 units is a malformed request, not a refusal

    async def reserve(uow: UnitOfWork) -> tuple[Order, Investor]:
        investor = await uow.investors.get(cmd.investor_id)
        instrument = await uow.instruments.get(cmd.instrument_id)
        committed = await uow.orders.committed_amount(investor.id, instrument.id)
        now = svc.clock.now()
        check_purchase(investor, instrument, cmd.units, committed, now)
        await uow.instruments.reserve_units(instrument.id, cmd.units)
        order = Order(
            id=svc.ids.new("ord"),
            investor_id=investor.id,
            instrument_id=instrument.id,
            units=cmd.units,
            amount=instrument.price_of(cmd.units),
            created_at=now,
            expires_at=now + svc.settings.reservation,
        )
        order.events.append(
            ev.OrderCreated(
                order.id, now, investor.id, instrument.id, order.units, order.amount.minor, order.amount.currency
            )
        )
        await uow.orders.add(order)
        return order, investor

    order, investor = await in_uow(svc, reserve)
    try:
        checkout = await svc.payments.create_checkout(order, investor)
    except ProviderError as failure:
        await _close_order(svc, order.id, OrderStatus.FAILED, f"checkout could not be created: {failure.message}")
        raise

    async def attach(uow: UnitOfWork) -> Order:
        fresh = await uow.orders.get(order.id)
        fresh.checkout_ref = checkout.reference
        fresh.checkout_url = checkout.url
        await uow.orders.save(fresh)
        return fresh

    return await in_uow(svc, attach)


async def _release_settlement_lease(svc: Services, order_id: str, holder: str) -> None:
    async def work(uow: UnitOfWork) -> None:
        fresh = await uow.orders.get(order_id)
        if fresh.settling_by == holder:
            fresh.settling_by = None
            fresh.settling_until = None
            await uow.orders.save(fresh)

    try:
        await in_uow(svc, work)
    except DomainError:
        return  # the store is down too: the lease runs out by itself


async def _close_order(svc: Services, order_id: str, status: OrderStatus, reason: str) -> Order:
    """Close an order without settlement and release its reserved units, in one unit of work."""

    async def work(uow: UnitOfWork) -> Order:
        order = await uow.orders.get(order_id)
        held = order.reserves_units
        order.close(status, reason, svc.clock.now())
        if held:
            await uow.instruments.release_units(order.instrument_id, order.units)
        await uow.orders.save(order)
        return order

    return await in_uow(svc, work)


async def _end_checkout(svc: Services, order: Order) -> None:
    """The order will not be paid: end its checkout at the gateway. Best effort: if the gateway is
    down, a payment that still arrives finds the order closed and is refunded."""
    if order.checkout_ref is None:
        return
    try:
        await svc.payments.expire_checkout(order)
    except ProviderError:
        return


async def cancel_order(svc: Services, order_id: str, reason: str) -> Order:
    order = await _close_order(svc, order_id, OrderStatus.CANCELLED, reason)
    await _end_checkout(svc, order)
    return order


async def expire_orders(svc: Services) -> int:
    """Expire unpaid orders whose reservation ran out; returns how many."""
    async with svc.store.unit_of_work() as uow:
        due = await uow.orders.expired(svc.clock.now())
    count = 0
    for order in due:
        try:
            closed = await _close_order(svc, order.id, OrderStatus.EXPIRED, "reservation expired before payment")
            count += 1
        except IllegalTransition:
            continue  # paid or closed meanwhile
        await _end_checkout(svc, closed)
    return count


async def handle_payment(svc: Services, event: PaymentEvent) -> Order:
    """A verified payment notification. Duplicates change nothing; a success pays the order, checks
    eligibility again and settles on the ledger (resuming where an earlier attempt stopped)."""
    if event.kind is PaymentEventKind.FAILED:
        return await _payment_failed(svc, event)
    if event.kind is PaymentEventKind.EXPIRED:
        return await _checkout_expired(svc, event)
    if event.kind in (PaymentEventKind.REFUNDED, PaymentEventKind.REFUND_FAILED):
        return await handle_refund_event(svc, event)

    async def pay(uow: UnitOfWork) -> Order:
        order = await uow.orders.get(event.order_id)
        now = svc.clock.now()
        if order.funded_from_balance and event.payment_ref != order.payment_ref:
            # A card payment already under way when the order was paid from the balance: nothing
            # here can owe it back (the order settled), so the job is dead-lettered for an operator.
            raise ValidationFailed(
                f"order {order.id} was paid from the stablecoin balance; the card payment"
                f" {event.payment_ref} is owed back: refund it at the gateway"
            )
        if order.status is OrderStatus.CREATED:
            if event.amount is None or event.amount != order.amount:
                reason = (
                    f"payment of {event.amount} does not match the order amount {order.amount}"
                    if event.amount is not None
                    else event.reason or "the payment reported no amount"
                )
                order.refund_due_for_late_payment(event.payment_ref, event.amount, reason, now)
                await uow.instruments.release_units(order.instrument_id, order.units)
            else:
                order.mark_paid(event.payment_ref, event.amount, now)
            await uow.orders.save(order)
        elif order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.FAILED):
            order.refund_due_for_late_payment(
                event.payment_ref,
                event.amount,
                f"payment arrived after the order was {order.status.value.lower()}",
                now,
            )
            await uow.orders.save(order)
        return order

    order = await in_uow(svc, pay)
    if order.status is OrderStatus.PAID:
        return await settle_order(svc, order.id)
    if order.status is OrderStatus.REFUND_DUE and order.payment_ref == event.payment_ref:
        return await request_refund(svc, order.id)
    return order


async def _payment_failed(svc: Services, event: PaymentEvent) -> Order:
    async with svc.store.unit_of_work() as uow:
        order = await uow.orders.get(event.order_id)
    if order.status is not OrderStatus.CREATED:
        return order  # a late or duplicate failure changes nothing
    return await _close_order(svc, order.id, OrderStatus.FAILED, event.reason or "payment failed")


async def _checkout_expired(svc: Services, event: PaymentEvent) -> Order:
    """The gateway's checkout ended unpaid: release the reservation (the order's own checkout only;
    a late or duplicate expiry changes nothing)."""
    async with svc.store.unit_of_work() as uow:
        order = await uow.orders.get(event.order_id)
    if order.status is not OrderStatus.CREATED or order.checkout_ref != event.payment_ref:
        return order
    try:
        return await _close_order(svc, order.id, OrderStatus.EXPIRED, event.reason or "checkout expired unpaid")
    except IllegalTransition:  # paid meanwhile: the payment decides
        async with svc.store.unit_of_work() as uow:
            return await uow.orders.get(event.order_id)


async def _request_refund(svc: Services, order: Order) -> None:
    """Ask the gateway to refund; a failure stays on the order and the worker's sweep asks again."""
    await request_refund(svc, order.id)


async def _not_settled(svc: Services, order: Order, reason: str) -> Order:
    """A paid order that cannot settle: a card payment is owed back (REFUND_DUE, refunded); an
    order paid from the balance simply FAILS (the settlement moved nothing, nothing to refund)."""
    if order.funded_from_balance:
        return await _close_order(svc, order.id, OrderStatus.FAILED, reason)
    closed = await _close_order(svc, order.id, OrderStatus.REFUND_DUE, reason)
    await _request_refund(svc, closed)
    return closed


async def settle_order(svc: Services, order_id: str) -> Order:
    """Settle a PAID order: eligibility checked again, then delivery versus payment on the ledger."""
    async with svc.store.unit_of_work() as uow:
        order = await uow.orders.get(order_id)
        investor = await uow.investors.get(order.investor_id)
        instrument = await uow.instruments.get(order.instrument_id)
    if order.status is not OrderStatus.PAID:
        return order

    if not order.has_step(SettlementStep.ELIGIBILITY_RECHECKED):
        refusals = holding_refusals(investor, instrument)
        if refusals:
            return await _not_settled(svc, order, "; ".join(refusals))

        async def recheck(uow: UnitOfWork) -> Order:
            fresh = await uow.orders.get(order_id)
            fresh.record_step(SettlementStep.ELIGIBILITY_RECHECKED)
            await uow.orders.save(fresh)
            return fresh

        order = await in_uow(svc, recheck)

    # One attempt at a time drives the ledger: a checkout completion and its payment-intent event
    # may be handled by two workers at once.
    holder = svc.ids.new("lease")

    async def lease(uow: UnitOfWork) -> Order:
        fresh = await uow.orders.get(order_id)
        if fresh.status is not OrderStatus.PAID:
            return fresh
        if not fresh.take_settlement_lease(holder, svc.clock.now(), svc.settings.settlement_lease):
            raise SettlementInProgress(
                f"order {order_id} is being settled by another attempt", until=fresh.settling_until
            )
        await uow.orders.save(fresh)  # version-checked: of two racing attempts one sees a Conflict
        return fresh

    order = await in_uow(svc, lease)
    if order.status is not OrderStatus.PAID:
        return order
    assert investor.wallet is not None and instrument.ledger_ref is not None
    # Paid from the stablecoin balance: the same settlement without the mint.
    settle = svc.ledger.settle_from_balance if order.funded_from_balance else svc.ledger.settle_purchase
    try:
        result = await settle(
            f"settle:{order.id}",
            Purchase(order.id, investor.wallet, instrument.ledger_ref, order.units, order.paid_amount or order.amount),
        )
    except ComplianceRejected as refused:
        return await _not_settled(svc, order, f"refused on chain: {refused.message}")
    except LedgerRejected as rejected:
        return await _not_settled(svc, order, f"settlement failed: {rejected.message}")
    except Exception:
        # A failure we live to see (node down, timeout) frees the order for the retry at once; only
        # an attempt that dies outright leaves its lease to run out.
        await _release_settlement_lease(svc, order_id, holder)
        raise

    async def settled(uow: UnitOfWork) -> Order:
        fresh = await uow.orders.get(order_id)
        if fresh.status is OrderStatus.PAID:
            fresh.settle(result.tx_ids, svc.clock.now())
            await uow.instruments.commit_units(fresh.instrument_id, fresh.units)
            await uow.positions.add_units(fresh.investor_id, fresh.instrument_id, fresh.units)
            await uow.orders.save(fresh)
        return fresh

    return await in_uow(svc, settled)
