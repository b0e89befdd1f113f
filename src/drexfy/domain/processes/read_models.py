"""Read models: the investor's view, and reconciliation of the ledger with the store."""

from __future__ import annotations

from datetime import datetime

import attrs

from drexfy.domain.model import Investor, OrderStatus
from drexfy.domain.money import Money
from drexfy.domain.processes.base import Services


@attrs.frozen
class Holding:
    instrument_id: str
    symbol: str
    units: int


@attrs.frozen
class HeldBackShare:
    repayment_id: str
    instrument_id: str
    amount: Money


@attrs.frozen
class InvestorView:
    investor: Investor
    holdings: tuple[Holding, ...]
    held_back: tuple[HeldBackShare, ...]


async def investor_view(svc: Services, investor_id: str) -> InvestorView:
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
        holdings = []
        for position in await uow.positions.by_investor(investor_id):
            instrument = await uow.instruments.get(position.instrument_id)
            holdings.append(Holding(instrument.id, instrument.symbol, position.units))
        held = []
        for repayment in await uow.repayments.held_back_for(investor_id):
            share = await uow.repayments.allocation(repayment.id, investor_id)
            held.append(HeldBackShare(repayment.id, repayment.instrument_id, share.amount))
    return InvestorView(investor, tuple(holdings), tuple(held))


@attrs.frozen
class Drift:
    """One address whose units differ between the ledger and the store."""

    address: str
    investor_id: str | None
    ledger_units: int
    store_units: int


@attrs.frozen
class Reconciliation:
    """The ledger's holders of an instrument against the store's positions, at `checked_at`.

    Settlements in flight show as drift for a moment (the ledger moves before the store records
    it); drift that persists across two checks means the books and the chain disagree."""

    instrument_id: str
    symbol: str
    checked_at: datetime
    ledger_units: int
    store_units: int
    drift: tuple[Drift, ...]
    #: The instrument's reservation counter, and what its unpaid and unsettled orders hold. They
    #: differ when a process died between reserving and recording an order (DynamoDB reserves at
    #: once): units held by no order are not sold, never oversold.
    units_reserved: int = 0
    reserved_by_orders: int = 0
    #: Paid orders not settled yet, the oldest payment among them, and how many have waited longer
    #: than `ProcessSettings.settlement_stall` (customers who paid and hold nothing: drift too).
    paid_unsettled: int = 0
    oldest_paid_at: datetime | None = None
    stalled_settlements: int = 0

    @property
    def reserved_without_order(self) -> int:
        return self.units_reserved - self.reserved_by_orders

    @property
    def in_sync(self) -> bool:
        return not self.drift and self.reserved_without_order == 0 and self.stalled_settlements == 0


async def reconcile(svc: Services, instrument_id: str) -> Reconciliation:
    """Compare who holds the instrument on the ledger with the store's positions, and its reserved
    units with its open orders (read-only)."""
    async with svc.store.unit_of_work() as uow:
        instrument = await uow.instruments.get(instrument_id)
        reserving = await uow.orders.reserving(instrument_id)
        positions = await uow.positions.holders(instrument_id)
        by_address: dict[str, tuple[str, int]] = {}
        known: list[str] = []
        for position in positions:
            investor = await uow.investors.get(position.investor_id)
            if investor.wallet is not None:
                by_address[investor.wallet.address.lower()] = (investor.id, position.units)
                known.append(investor.wallet.address)
    on_ledger: dict[str, int] = {}
    if instrument.ledger_ref is not None:
        holders = await svc.ledger.holders(instrument.ledger_ref, since=instrument.ledger_position, known=known)
        on_ledger = {address.lower(): units for address, units in holders.items() if units}
    now = svc.clock.now()
    paid = [order for order in reserving if order.status is OrderStatus.PAID]
    paid_times = [order.paid_at or order.created_at for order in paid]
    stalled = sum(1 for at in paid_times if now - at > svc.settings.settlement_stall)
    drift = []
    for address in sorted(set(on_ledger) | set(by_address)):
        investor_id, store_units = by_address.get(address, (None, 0))
        ledger_units = on_ledger.get(address, 0)
        if ledger_units != store_units:
            drift.append(Drift(address, investor_id, ledger_units, store_units))
    return Reconciliation(
        instrument.id,
        instrument.symbol,
        now,
        sum(on_ledger.values()),
        sum(units for _, units in by_address.values()),
        tuple(drift),
        instrument.units_reserved,
        sum(order.units for order in reserving),
        len(paid),
        min(paid_times, default=None),
        stalled,
    )


async def reconcile_all(svc: Services, page: int = 100) -> list[Reconciliation]:
    """`reconcile` for every instrument issued on the ledger, in id order."""
    reports = []
    after: str | None = None
    while True:
        async with svc.store.unit_of_work() as uow:
            instruments = await uow.instruments.list(limit=page, after=after)
        for instrument in instruments:
            if instrument.ledger_ref is not None:
                reports.append(await reconcile(svc, instrument.id))
        if len(instruments) < page:
            return reports
        after = instruments[-1].id
