"""Repayment: monthly interest and principal, and redemption at maturity, allocated pro rata to the
holders and paid in ledger batches; a blocked holder's share is held back."""

from __future__ import annotations

import attrs

from drexfy.domain import events as ev
from drexfy.domain.bounds import check_text
from drexfy.domain.errors import (
    ComplianceRejected,
    DuplicateEntity,
    IllegalTransition,
    InvalidAmount,
    ValidationFailed,
)
from drexfy.domain.model import (
    Allocation,
    AllocationStatus,
    InstrumentStatus,
    Repayment,
    RepaymentStatus,
)
from drexfy.domain.money import Money, allocate
from drexfy.domain.ports import Payout, RepaymentFunding, UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.processes.register import sync_register
from drexfy.domain.processes.withdrawal import Withdraw, withdraw

#: Shares read per query when walking a repayment's holders.
PAGE = 1000


@attrs.frozen
class TriggerRepayment:
    instrument_id: str
    period: str
    interest: Money
    principal: Money
    final: bool = False


@attrs.frozen
class PayRepayment:
    """The job of paying a started repayment's batches (the worker runs it: `continue_repayment`)."""

    repayment_id: str


async def trigger_repayment(svc: Services, cmd: TriggerRepayment) -> Repayment:
    """Start the repayment and pay it out in this call (`start_repayment`, then
    `continue_repayment`). The API and the CLI start it and leave the batches to the worker."""
    repayment = await start_repayment(svc, cmd)
    return await continue_repayment(svc, repayment.id)


async def start_repayment(svc: Services, cmd: TriggerRepayment) -> Repayment:
    """Snapshot the holders, allocate interest and principal pro rata by units (exact, largest
    remainder) and hold back blocked holders' shares; the repayment is DISTRIBUTING and nothing is
    paid yet (`continue_repayment` pays it, batch by batch, resumable)."""
    if cmd.interest.currency != cmd.principal.currency:
        raise InvalidAmount("interest and principal must be in the same currency")
    if cmd.interest.minor < 0 or cmd.principal.minor < 0:
        raise InvalidAmount("repayment amounts must not be negative")
    check_text(cmd.period, "period", max_length=64, required=False)
    if not cmd.period.strip():
        raise ValidationFailed("period must name the repayment period, e.g. 2026-11")
    # Holders as the ledger says: transfers between holders on chain are in the positions first.
    as_of = await sync_register(svc, cmd.instrument_id)

    async def snapshot(uow: UnitOfWork) -> Repayment:
        instrument = await uow.instruments.get(cmd.instrument_id)
        if cmd.interest.currency != instrument.currency:
            raise InvalidAmount(f"{instrument.symbol} repays in {instrument.currency}")
        if instrument.status is InstrumentStatus.MATURED:
            raise IllegalTransition(f"{instrument.symbol} has matured; nothing left to repay")
        for earlier in await uow.repayments.by_instrument(instrument.id):
            if earlier.status is RepaymentStatus.DISTRIBUTING:
                raise IllegalTransition(f"repayment {earlier.id} of {instrument.symbol} is still being distributed")
            if earlier.period == cmd.period.strip():
                raise DuplicateEntity(f"{instrument.symbol} already has a repayment for period {cmd.period}")
        holders = await uow.positions.holders(instrument.id)
        if not holders:
            raise IllegalTransition(f"{instrument.symbol} has no holders to repay")
        if not cmd.final and cmd.interest.is_zero() and cmd.principal.is_zero():
            raise InvalidAmount("a repayment needs interest or principal")
        weights = [(p.investor_id, p.units) for p in holders]
        outstanding = sum(p.units for p in holders)
        interest = allocate(cmd.interest.minor, weights)
        if cmd.final:
            retired = {p.investor_id: p.units for p in holders}
            principal = allocate(cmd.principal.minor, weights)
        else:
            units_to_retire, rest = divmod(cmd.principal.minor, instrument.unit_price.minor)
            if rest:
                raise InvalidAmount(
                    f"principal must be a whole number of units at {instrument.unit_price} each "
                    "(each unit retired returns its price)"
                )
            if units_to_retire > outstanding:
                raise InvalidAmount(f"principal retires {units_to_retire} units but only {outstanding} are outstanding")
            retired = allocate(units_to_retire, weights)
            principal = {k: v * instrument.unit_price.minor for k, v in retired.items()}
        now = svc.clock.now()
        repayment = Repayment(
            id=svc.ids.new("rep"),
            instrument_id=instrument.id,
            period=cmd.period.strip(),
            interest=cmd.interest,
            principal=cmd.principal,
            final=cmd.final,
            created_at=now,
            as_of=as_of,
        )
        # Shares only: wallets are read and blocked holders held back batch by batch
        # (`continue_repayment`), so the snapshot of 100,000 holders is one write, not 100,000 reads.
        allocations = [
            Allocation(
                investor_id=p.investor_id,
                units_held=p.units,
                interest=Money(interest[p.investor_id], instrument.currency),
                principal=Money(principal[p.investor_id], instrument.currency),
                units_retired=retired[p.investor_id],
            )
            for p in holders
        ]
        repayment.snapshot(len(allocations))
        repayment.events.append(
            ev.RepaymentStarted(
                repayment.id, now, instrument.id, cmd.interest.minor, cmd.principal.minor, cmd.final, len(holders)
            )
        )
        if instrument.status is not InstrumentStatus.REPAYING:
            instrument.start_repaying(now)
            await uow.instruments.save(instrument)
        await uow.repayments.add(repayment, allocations)
        return repayment

    return await in_uow(svc, snapshot)


async def continue_repayment(svc: Services, repayment_id: str) -> Repayment:
    """Pay the pending shares batch by batch, in investor-id order. A batch's members and operation
    id are fixed in the store before the ledger sees it, so a retry resends the same batch and never
    pays twice; after a refusal the batch only loses its blocked members (see `_hold_back_refused`)."""
    batch_size = max(1, svc.settings.distribution_batch_size)
    while True:
        found = await in_uow(svc, lambda uow: _next_batch(svc, uow, repayment_id, batch_size))
        if found is None:
            break
        batch, members = found
        if batch is None:
            continue  # only held back shares this round
        try:
            await _pay_batch(svc, repayment_id, batch, members)
        except ComplianceRejected as refused:
            if not await _hold_back_refused(svc, repayment_id, batch, refused.party):
                raise

    async def finish(uow: UnitOfWork) -> Repayment:
        repayment = await uow.repayments.get(repayment_id)
        if repayment.complete_if_done(svc.clock.now()):
            instrument = await uow.instruments.get(repayment.instrument_id)
            if repayment.final and instrument.status is InstrumentStatus.REPAYING:
                instrument.mature(svc.clock.now())
                await uow.instruments.save(instrument)
            await uow.repayments.save(repayment)
        return repayment

    repayment = await in_uow(svc, finish)
    await _auto_cashout(svc, repayment)
    return repayment


async def _open_members(uow: UnitOfWork, repayment: Repayment) -> list[Allocation]:
    """The pending members of the repayment's open batch."""
    found: list[Allocation] = []
    after = repayment.batch_from
    while True:
        page = await uow.repayments.allocations(repayment.id, after=after, upto=repayment.batch_to, limit=PAGE)
        found += [a for a in page if a.batch == repayment.open_batch and a.status is AllocationStatus.PENDING]
        if len(page) < PAGE:
            return found
        after = page[-1].investor_id


async def _next_batch(
    svc: Services, uow: UnitOfWork, repayment_id: str, batch_size: int
) -> tuple[int | None, list[Allocation]] | None:
    """The open batch if there is one; else the next `batch_size` payable shares after the cursor,
    fixed as a new batch, blocked holders' shares held back on the way (never pay into a frozen
    wallet). None when nothing is left; (None, []) when this round only held shares back."""
    repayment = await uow.repayments.get(repayment_id)
    if repayment.open_batch is not None:
        return repayment.open_batch, await _open_members(uow, repayment)
    now = svc.clock.now()
    chosen: list[Allocation] = []
    held: list[Allocation] = []
    scanned = repayment.cursor
    # A share held back writes two records (share and pointer): keep the unit of work within the
    # batch's size, which the store can write at once.
    while len(chosen) + 2 * len(held) < batch_size:
        page = await uow.repayments.allocations(repayment_id, after=scanned, limit=batch_size)
        if not page:
            break
        investors = await uow.investors.get_many(
            [a.investor_id for a in page if a.status is AllocationStatus.PENDING and a.batch is None]
        )
        for allocation in page:
            scanned = allocation.investor_id
            if allocation.status is not AllocationStatus.PENDING or allocation.batch is not None:
                continue
            investor = investors[allocation.investor_id]
            if investor.is_blocked:
                repayment.hold_back(allocation, now)
                held.append(allocation)
            else:
                assert investor.wallet is not None, "a holder has a wallet"
                allocation.wallet_address = investor.wallet.address
                chosen.append(allocation)
            if len(chosen) + 2 * len(held) >= batch_size:
                break
    if not chosen:
        if not held:
            return None
        repayment.skip_to(scanned)
        await uow.repayments.save(repayment, held)
        return None, []
    batch = repayment.open(scanned)
    for allocation in chosen:
        allocation.batch = batch
    await uow.repayments.save(repayment, chosen + held)
    return batch, chosen


async def _pay_batch(svc: Services, repayment_id: str, batch: int, members: list[Allocation]) -> None:
    async with svc.store.unit_of_work() as uow:
        repayment = await uow.repayments.get(repayment_id)
        instrument = await uow.instruments.get(repayment.instrument_id)
        payouts = []
        investors = await uow.investors.get_many([a.investor_id for a in members])
        for allocation in members:
            investor = investors[allocation.investor_id]
            assert investor.wallet is not None
            if allocation.amount.is_positive() or allocation.units_retired:
                payouts.append(Payout(investor.wallet, allocation.amount, allocation.units_retired))
    assert instrument.ledger_ref is not None
    tx_ids: tuple[str, ...] = ()
    if payouts:
        funding = RepaymentFunding(repayment.id, repayment.total)
        result = await svc.ledger.distribute(f"repay:{repayment_id}:{batch}", instrument.ledger_ref, payouts, funding)
        tx_ids = result.tx_ids

    async def record(uow: UnitOfWork) -> None:
        fresh = await uow.repayments.get(repayment_id)
        if fresh.open_batch != batch:
            return  # recorded already (a retry after the commit)
        retired = 0
        paid = await _open_members(uow, fresh)
        for allocation in paid:
            fresh.mark_paid(allocation, tx_ids, svc.clock.now())
            if allocation.units_retired:
                await uow.positions.add_units(allocation.investor_id, fresh.instrument_id, -allocation.units_retired)
                retired += allocation.units_retired
        if retired:
            await uow.instruments.retire_units(fresh.instrument_id, retired)
        fresh.close_batch()
        await uow.repayments.save(fresh, paid)

    await in_uow(svc, record)


async def _hold_back_refused(svc: Services, repayment_id: str, batch: int, party: str | None) -> bool:
    """The ledger refused a batch (a holder was frozen after the snapshot). Hold back the refused
    holder (`party`, the address the ledger named; every blocked member when it named none); the
    others stay in the same batch, so the next attempt resends it under the same operation id
    without them. A ledger that is not atomic may have paid some members already: under the same
    operation id it recognises those payouts and never makes them twice (a new batch would have
    paid them again). A blocked member the ledger did not refuse stays: it may have been paid
    before its block, and if not, the next attempt's refusal names it. False if the refused
    holder is not blocked in the store (then it is not ours to fix)."""

    async def work(uow: UnitOfWork) -> bool:
        repayment = await uow.repayments.get(repayment_id)
        if repayment.open_batch != batch:
            return False
        held = []
        members = await _open_members(uow, repayment)
        investors = await uow.investors.get_many([a.investor_id for a in members])
        for allocation in members:
            investor = investors[allocation.investor_id]
            refused = party is None or (
                investor.wallet is not None and investor.wallet.address.lower() == party.lower()
            )
            if refused and investor.is_blocked:
                repayment.hold_back(allocation, svc.clock.now())
                held.append(allocation)
        if held:
            # A batch left empty is closed by its next attempt, which sends nothing.
            await uow.repayments.save(repayment, held)
        return bool(held)

    return await in_uow(svc, work)


async def _auto_cashout(svc: Services, repayment: Repayment) -> None:
    """Investors who chose automatic cash-out have what they were paid burned right away."""
    after = ""
    while True:
        page = await _page(svc, repayment.id, after)
        if not page:
            return
        after = page[-1].investor_id
        paid = [a for a in page if a.status is AllocationStatus.PAID and a.amount.is_positive()]
        async with svc.store.unit_of_work() as uow:
            investors = await uow.investors.get_many([a.investor_id for a in paid])
        for allocation in paid:
            investor = investors[allocation.investor_id]
            if investor.auto_cashout and not investor.is_blocked:
                await withdraw(
                    svc,
                    Withdraw(investor.id, allocation.amount, automatic=True),
                    withdrawal_id=f"wd-auto-{repayment.id}-{investor.id}",
                )


async def _page(svc: Services, repayment_id: str, after: str) -> list[Allocation]:
    async with svc.store.unit_of_work() as uow:
        return await uow.repayments.allocations(repayment_id, after=after, limit=PAGE)
