"""Paying an order from the investor's stablecoin balance (a bank deposit, a repayment), no card.

The order must be CREATED (units reserved). Eligibility is checked again, the balance read from the
ledger must cover the amount (else InsufficientFunds, nothing written), the order's card checkout
is ended first (so the order cannot also be paid by card), then the order is PAID "from balance"
and settled like any paid order: one atomic settlement on the ledger that moves the buyer's coins
to the issuer and the units to the buyer, without a mint (`Ledger.settle_from_balance`). If the
ledger refuses, the order FAILS and its units are released; nothing was paid, nothing is refunded.

Asking again for an order already paid from the balance resumes its settlement (same operation id).
"""

from __future__ import annotations

from drexfy.domain.errors import IllegalTransition, InsufficientFunds, InvestorBlocked, NotEligible
from drexfy.domain.model import Order, OrderStatus
from drexfy.domain.ports import UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.processes.buying import settle_order
from drexfy.domain.rules import holding_refusals


async def pay_from_balance(svc: Services, order_id: str) -> Order:
    async with svc.store.unit_of_work() as uow:
        order = await uow.orders.get(order_id)
        investor = await uow.investors.get(order.investor_id)
        instrument = await uow.instruments.get(order.instrument_id)
    if order.funded_from_balance:
        return await settle_order(svc, order.id) if order.status is OrderStatus.PAID else order
    if order.status is not OrderStatus.CREATED:
        raise IllegalTransition(f"order {order.id} is {order.status.value}; only a CREATED order can be paid")
    if order.is_expired(svc.clock.now()):
        raise IllegalTransition(f"order {order.id}'s reservation has expired")
    refusals = holding_refusals(investor, instrument)
    if refusals:
        raise InvestorBlocked(refusals) if investor.is_blocked else NotEligible(refusals)
    assert investor.wallet is not None
    balance = await svc.ledger.stablecoin_balance(investor.wallet.address)
    if balance < order.amount:
        raise InsufficientFunds(f"the stablecoin balance ({balance}) does not cover the order ({order.amount})")
    if order.checkout_ref is not None:
        # A ProviderError here writes nothing: the order stays payable either way. CheckoutCompleted:
        # the card (or a SEPA debit) paid it already, and that payment's event settles it.
        await svc.payments.expire_checkout(order)

    async def pay(uow: UnitOfWork) -> Order:
        fresh = await uow.orders.get(order_id)
        if fresh.status is not OrderStatus.CREATED:
            raise IllegalTransition(f"order {fresh.id} is {fresh.status.value}; only a CREATED order can be paid")
        fresh.mark_paid_from_balance(svc.clock.now())
        await uow.orders.save(fresh)
        return fresh

    await in_uow(svc, pay)
    return await settle_order(svc, order_id)
