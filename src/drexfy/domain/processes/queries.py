"""The query side: what the API and the operator commands read, so that no handler scans or
filters the store itself. Reads only; every function takes the `Services` bundle like a process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

import attrs

from drexfy.domain.errors import NotFound, RepaymentNotFound
from drexfy.domain.model import (
    Allocation,
    ComplianceState,
    Instrument,
    Investor,
    KycStatus,
    Order,
    OrderStatus,
    Repayment,
)
from drexfy.domain.ports import StoredEvent
from drexfy.domain.processes.base import Services

T = TypeVar("T")

#: Store pages examined by one filtered listing before it answers with what it found (the caller
#: follows `next` until it is None).
SCAN_PAGES = 10


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing in id order; `next` is the cursor of the following page, or None."""

    items: list[T]
    next: str | None


async def find_investors(
    svc: Services,
    *,
    status: KycStatus | None = None,
    compliance: ComplianceState | None = None,
    limit: int = 100,
    after: str | None = None,
) -> Page[Investor]:
    """Investors in id order, filtered by KYC status and compliance state. A filtered page may be
    short (once it holds a match, at most SCAN_PAGES store pages are examined per call): follow
    `next` until None. A page is never empty unless it is the last one (which may be empty when
    the scan stopped at its budget with no way to know that nothing matches after it)."""
    items: list[Investor] = []
    cursor = after
    scanned = 0
    async with svc.store.unit_of_work() as uow:
        while True:
            # One more than is still missing: the extra one tells whether anything follows.
            wanted = limit - len(items) + 1
            page = await uow.investors.list(limit=wanted, after=cursor)
            scanned += 1
            for investor in page:
                if status in (None, investor.kyc_status) and compliance in (None, investor.compliance):
                    if len(items) == limit:
                        return Page(items, items[-1].id)  # another match follows
                    items.append(investor)
                cursor = investor.id
            if len(page) < wanted:
                return Page(items, None)  # the end: nothing after the last investor examined
            if items and scanned >= SCAN_PAGES:
                return Page(items, cursor)


def page_of(items: list[T], key: Callable[[T], str], *, limit: int, after: str | None) -> Page[T]:
    """One page, in `key` order, of a short listing read whole (an investor's orders, an
    instrument's repayments): the same cursor scheme as the store-paged listings."""
    rest = sorted((i for i in items if after is None or key(i) > after), key=key)
    return Page(rest[:limit], key(rest[limit - 1]) if len(rest) > limit else None)


async def orders_of(svc: Services, investor_id: str) -> list[Order]:
    """The investor's orders, oldest first (InvestorNotFound for an unknown investor)."""
    async with svc.store.unit_of_work() as uow:
        await uow.investors.get(investor_id)
        return await uow.orders.by_investor(investor_id)


async def get_order(svc: Services, order_id: str) -> Order:
    async with svc.store.unit_of_work() as uow:
        return await uow.orders.get(order_id)


async def list_instruments(svc: Services, *, limit: int = 100, after: str | None = None) -> Page[Instrument]:
    async with svc.store.unit_of_work() as uow:
        items = await uow.instruments.list(limit=limit + 1, after=after)  # the extra one: does any follow?
    return Page(items[:limit], items[limit - 1].id if len(items) > limit else None)


async def get_instrument(svc: Services, instrument_id: str) -> Instrument:
    async with svc.store.unit_of_work() as uow:
        return await uow.instruments.get(instrument_id)


async def repayments_of(svc: Services, instrument_id: str) -> list[Repayment]:
    """The instrument's repayments, oldest first (InstrumentNotFound for an unknown instrument)."""
    async with svc.store.unit_of_work() as uow:
        await uow.instruments.get(instrument_id)
        return await uow.repayments.by_instrument(instrument_id)


async def repayment_for_period(svc: Services, instrument_id: str, period: str) -> Repayment | None:
    """The instrument's latest repayment of `period`, if one was triggered (after a failed one, the
    period may be requested again)."""
    found = [r for r in await repayments_of(svc, instrument_id) if r.period == period.strip()]
    return found[-1] if found else None


async def get_repayment(svc: Services, repayment_id: str) -> Repayment:
    try:
        async with svc.store.unit_of_work() as uow:
            return await uow.repayments.get(repayment_id)
    except NotFound:
        raise RepaymentNotFound("No such repayment.") from None


async def repayment_allocations(
    svc: Services, repayment_id: str, *, after: str | None = None, limit: int = 100
) -> Page[Allocation]:
    """A page of the repayment's shares in investor-id order (`next` only when more follow)."""
    async with svc.store.unit_of_work() as uow:
        try:
            await uow.repayments.get(repayment_id)
        except NotFound:
            raise RepaymentNotFound("No such repayment.") from None
        items = await uow.repayments.allocations(repayment_id, after=after or "", limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return Page(items, items[-1].investor_id if more else None)


@attrs.frozen
class SettlementBacklog:
    """Paid orders not settled yet, across instruments, and when the oldest of them was paid."""

    paid_unsettled: int
    oldest_paid_at: datetime | None


async def settlement_backlog(svc: Services, page: int = 100) -> SettlementBacklog:
    """How many customers paid and hold nothing yet (metrics and readiness read it)."""
    count, oldest = 0, None
    after: str | None = None
    while True:
        async with svc.store.unit_of_work() as uow:
            instruments = await uow.instruments.list(limit=page, after=after)
            for instrument in instruments:
                for order in await uow.orders.reserving(instrument.id):
                    if order.status is OrderStatus.PAID:
                        count += 1
                        paid_at = order.paid_at or order.created_at
                        oldest = paid_at if oldest is None else min(oldest, paid_at)
        if len(instruments) < page:
            return SettlementBacklog(count, oldest)
        after = instruments[-1].id


async def audit_trail(
    svc: Services, investor_id: str, *, after: str | None = None, limit: int = 100
) -> Page[StoredEvent]:
    """The investor's recorded events in order (InvestorNotFound for an unknown investor)."""
    async with svc.store.unit_of_work() as uow:
        await uow.investors.get(investor_id)
        events = await uow.events.list(aggregate_id=investor_id, after=after, limit=limit + 1)
    return Page(events[:limit], events[limit - 1].id if len(events) > limit else None)
