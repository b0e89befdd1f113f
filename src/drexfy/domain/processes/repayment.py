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
from drexfy.domain.ports import Payout, UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.processes.withdrawal import Withdraw, withdraw


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
        )
        for position in holders:
            investor = await uow.investors.get(position.investor_id)
            assert investor.wallet is not None
            repayment.allocations.append(
                Allocation(
                    investor_id=investor.id,
                    wallet_address=investor.wallet.address,
                    units_held=position.units,
                    interest=Money(interest[investor.id], instrument.currency),
                    principal=Money(principal[investor.id], instrument.currency),
                    units_retired=retired[investor.id],
                )
            )
        repayment.events.append(
            ev.RepaymentStarted(
                repayment.id, now, instrument.id, cmd.interest.minor, cmd.principal.minor, cmd.final, len(holders)
            )
        )
        for allocation in repayment.allocations:
            investor = await uow.investors.get(allocation.investor_id)
            if investor.is_blocked:
                repayment.hold_back(investor.id, now)
        if instrument.status is not InstrumentStatus.REPAYING:
            instrument.start_repaying(now)
            await uow.instruments.save(instrument)
        await uow.repayments.add(repayment)
        return repayment

    return await in_uow(svc, snapshot)


async def continue_repayment(svc: Services, repayment_id: str) -> Repayment:
    """Pay the pending shares batch by batch. A batch's members and operation id are fixed in the
    store before the ledger sees it, so a retry resends the same batch and never pays twice; after a
    refusal the batch only loses its blocked members (see `_hold_back_refused`)."""
    batch_size = max(1, svc.settings.distribution_batch_size)
    while True:

        async def next_batch(uow: UnitOfWork) -> tuple[int, list[Allocation]] | None:
            repayment = await uow.repayments.get(repayment_id)
            assigned = [
                a for a in repayment.allocations if a.status is AllocationStatus.PENDING and a.batch is not None
            ]
            if assigned:
                batch = min(a.batch for a in assigned if a.batch is not None)
                return batch, [a for a in assigned if a.batch == batch]
            unassigned = sorted(
                (a for a in repayment.allocations if a.status is AllocationStatus.PENDING), key=lambda a: a.investor_id
            )
            if not unassigned:
                return None
            now = svc.clock.now()
            chosen: list[Allocation] = []
            for allocation in unassigned:
                investor = await uow.investors.get(allocation.investor_id)
                if investor.is_blocked:
                    repayment.hold_back(investor.id, now)  # never pay into a frozen wallet
                elif len(chosen) < batch_size:
                    chosen.append(allocation)
            batch = repayment.next_batch
            repayment.next_batch += 1
            for allocation in chosen:
                allocation.batch = batch
            await uow.repayments.save(repayment)
            return batch, chosen

        found = await in_uow(svc, next_batch)
        if found is None:
            break
        batch, members = found
        if members:
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


async def _pay_batch(svc: Services, repayment_id: str, batch: int, members: list[Allocation]) -> None:
    async with svc.store.unit_of_work() as uow:
        repayment = await uow.repayments.get(repayment_id)
        instrument = await uow.instruments.get(repayment.instrument_id)
        payouts = []
        for allocation in members:
            investor = await uow.investors.get(allocation.investor_id)
            assert investor.wallet is not None
            if allocation.amount.is_positive() or allocation.units_retired:
                payouts.append(Payout(investor.wallet, allocation.amount, allocation.units_retired))
    assert instrument.ledger_ref is not None
    tx_ids: tuple[str, ...] = ()
    if payouts:
        result = await svc.ledger.distribute(f"repay:{repayment_id}:{batch}", instrument.ledger_ref, payouts)
        tx_ids = result.tx_ids

    async def record(uow: UnitOfWork) -> None:
        fresh = await uow.repayments.get(repayment_id)
        retired = 0
        for allocation in fresh.allocations:
            if allocation.batch == batch and allocation.status is AllocationStatus.PENDING:
                fresh.mark_paid(allocation.investor_id, tx_ids, svc.clock.now())
                if allocation.units_retired:
                    await uow.positions.add_units(
                        allocation.investor_id, fresh.instrument_id, -allocation.units_retired
                    )
                    retired += allocation.units_retired
        if retired:
            await uow.instruments.retire_units(fresh.instrument_id, retired)
        await uow.repayments.save(fresh)

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
        held_any = False
        for allocation in repayment.allocations:
            if allocation.batch == batch and allocation.status is AllocationStatus.PENDING:
                investor = await uow.investors.get(allocation.investor_id)
                refused = party is None or (
                    investor.wallet is not None and investor.wallet.address.lower() == party.lower()
                )
                if refused and investor.is_blocked:
                    repayment.hold_back(investor.id, svc.clock.now())
                    held_any = True
        if held_any:
            await uow.repayments.save(repayment)
        return held_any

    return await in_uow(svc, work)


async def _auto_cashout(svc: Services, repayment: Repayment) -> None:
    """Investors who chose automatic cash-out have what they were paid burned right away."""
    for allocation in repayment.allocations:
        if allocation.status is not AllocationStatus.PAID or not allocation.amount.is_positive():
            continue
        async with svc.store.unit_of_work() as uow:
            investor = await uow.investors.get(allocation.investor_id)
        if investor.auto_cashout and not investor.is_blocked:
            await withdraw(
                svc,
                Withdraw(investor.id, allocation.amount, automatic=True),
                withdrawal_id=f"wd-auto-{repayment.id}-{investor.id}",
            )
