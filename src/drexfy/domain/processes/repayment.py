"""Repayment: monthly interest and principal, and redemption at maturity, allocated pro rata to the
holders and paid in ledger batches; a blocked holder's share is held back.

Over 300 lines since the request, the snapshot and the payment became three steps of one job (the
API records, the worker snapshots, then pays): they share the allocation rules and the states, and
splitting them would put one state machine in two modules. To split by step when it grows again."""

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
    Instrument,
    InstrumentStatus,
    Position,
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
    """The job of a requested repayment: its snapshot, then its batches (the worker runs it:
    `continue_repayment`)."""

    repayment_id: str


async def trigger_repayment(svc: Services, cmd: TriggerRepayment) -> Repayment:
    """Request the repayment and run its job in this call (`request_repayment`, then
    `continue_repayment`). The API and the CLI only request it and leave the job to the worker.
    A snapshot that finds it impossible is raised here (the repayment stays FAILED)."""
    repayment = await continue_repayment(svc, (await request_repayment(svc, cmd)).id)
    if repayment.status is RepaymentStatus.FAILED:
        raise IllegalTransition(repayment.failure or "the repayment failed")
    return repayment


async def check_repayment(svc: Services, cmd: TriggerRepayment) -> None:
    """Refuse (with a named domain error) what can be refused without the holders; writes nothing.
    Run before a large repayment's approval is requested, and again when it is recorded (only then
    does a repayment still in progress refuse it: it may be done by the time of the approval)."""
    async with svc.store.unit_of_work() as uow:
        await _checked(uow, cmd, allow_in_progress=True)


async def request_repayment(svc: Services, cmd: TriggerRepayment) -> Repayment:
    """Check what can be checked without the holders and record the repayment REQUESTED: no ledger
    call, so an HTTP request answers at once. The worker's job (`continue_repayment`) takes the
    snapshot and pays; what only the snapshot can find (no holders, more principal than is
    outstanding) ends the repayment FAILED with the reason."""

    async def record(uow: UnitOfWork) -> Repayment:
        instrument = await _checked(uow, cmd)
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
        repayment.events.append(
            ev.RepaymentRequested(
                repayment.id, now, instrument.id, repayment.period, cmd.interest.minor, cmd.principal.minor, cmd.final
            )
        )
        await uow.repayments.add(repayment)
        return repayment

    return await in_uow(svc, record)


async def _checked(uow: UnitOfWork, cmd: TriggerRepayment, *, allow_in_progress: bool = False) -> Instrument:
    if cmd.interest.currency != cmd.principal.currency:
        raise InvalidAmount("interest and principal must be in the same currency")
    if cmd.interest.minor < 0 or cmd.principal.minor < 0:
        raise InvalidAmount("repayment amounts must not be negative")
    check_text(cmd.period, "period", max_length=64, required=False)
    if not cmd.period.strip():
        raise ValidationFailed("period must name the repayment period, e.g. 2026-11")
    if not cmd.final and cmd.interest.is_zero() and cmd.principal.is_zero():
        raise InvalidAmount("a repayment needs interest or principal")
    instrument = await uow.instruments.get(cmd.instrument_id)
    if cmd.interest.currency != instrument.currency:
        raise InvalidAmount(f"{instrument.symbol} repays in {instrument.currency}")
    if instrument.status is InstrumentStatus.MATURED:
        raise IllegalTransition(f"{instrument.symbol} has matured; nothing left to repay")
    if instrument.status is InstrumentStatus.DRAFT:
        raise IllegalTransition(f"{instrument.symbol} was never offered; nothing to repay")
    if not cmd.final and cmd.principal.minor % instrument.unit_price.minor:
        raise InvalidAmount(
            f"principal must be a whole number of units at {instrument.unit_price} each "
            "(each unit retired returns its price)"
        )
    for earlier in await uow.repayments.by_instrument(instrument.id):
        if earlier.in_progress and not allow_in_progress:
            raise IllegalTransition(f"repayment {earlier.id} of {instrument.symbol} is still being distributed")
        # A failed round paid nothing: its period may be asked again.
        if earlier.period == cmd.period.strip() and earlier.status is not RepaymentStatus.FAILED:
            raise DuplicateEntity(f"{instrument.symbol} already has a repayment for period {cmd.period}")
    return instrument


class _Impossible(Exception):
    """What only the snapshot finds: the repayment cannot be allocated (it ends FAILED)."""


def _allocate(repayment: Repayment, instrument: Instrument, holders: list[Position]) -> list[Allocation]:
    """Interest and principal pro rata by units (exact, largest remainder), shares only: wallets are
    read and blocked holders held back batch by batch (`continue_repayment`), so the snapshot of
    100,000 holders is one write, not 100,000 reads."""
    if instrument.status is InstrumentStatus.MATURED:
        raise _Impossible(f"{instrument.symbol} has matured; nothing left to repay")
    if not holders:
        raise _Impossible(f"{instrument.symbol} has no holders to repay")
    weights = [(p.investor_id, p.units) for p in holders]
    outstanding = sum(p.units for p in holders)
    interest = allocate(repayment.interest.minor, weights)
    if repayment.final:
        retired = {p.investor_id: p.units for p in holders}
        principal = allocate(repayment.principal.minor, weights)
    else:
        units_to_retire, rest = divmod(repayment.principal.minor, instrument.unit_price.minor)
        if rest:  # checked at the request; the unit price does not change
            raise _Impossible(f"principal must be a whole number of units at {instrument.unit_price} each")
        if units_to_retire > outstanding:
            raise _Impossible(f"principal retires {units_to_retire} units but only {outstanding} are outstanding")
        retired = allocate(units_to_retire, weights)
        principal = {k: v * instrument.unit_price.minor for k, v in retired.items()}
    return [
        Allocation(
            investor_id=p.investor_id,
            units_held=p.units,
            interest=Money(interest[p.investor_id], instrument.currency),
            principal=Money(principal[p.investor_id], instrument.currency),
            units_retired=retired[p.investor_id],
        )
        for p in holders
    ]


async def take_snapshot(svc: Services, repayment_id: str) -> Repayment:
    """The job's first step: bring the holders' positions up to the ledger (`sync_register`), then
    allocate and store every share with the repayment, now DISTRIBUTING, in one unit of work. A
    retry after it committed finds the repayment DISTRIBUTING and goes on to pay; a retry before
    takes the snapshot again. If the snapshot finds the repayment impossible, it ends FAILED with
    the reason (visible to the operator; a ledger that does not answer is retried instead)."""
    async with svc.store.unit_of_work() as uow:
        repayment = await uow.repayments.get(repayment_id)
    if repayment.status is not RepaymentStatus.REQUESTED:
        return repayment
    # Holders as the ledger says: transfers between holders on chain are in the positions first.
    as_of = await sync_register(svc, repayment.instrument_id)

    async def snapshot(uow: UnitOfWork) -> Repayment | str:
        repayment = await uow.repayments.get(repayment_id)
        if repayment.status is not RepaymentStatus.REQUESTED:
            return repayment  # another attempt took it
        instrument = await uow.instruments.get(repayment.instrument_id)
        try:
            allocations = _allocate(repayment, instrument, await uow.positions.holders(instrument.id))
        except _Impossible as impossible:
            return str(impossible)
        now = svc.clock.now()
        repayment.snapshot(len(allocations), as_of, now)
        if instrument.status is not InstrumentStatus.REPAYING:
            instrument.start_repaying(now)
            await uow.instruments.save(instrument)
        await uow.repayments.snapshot(repayment, allocations)
        return repayment

    outcome = await in_uow(svc, snapshot)
    if not isinstance(outcome, str):
        return outcome
    reason = outcome

    async def fail(uow: UnitOfWork) -> Repayment:
        repayment = await uow.repayments.get(repayment_id)
        if repayment.status is RepaymentStatus.REQUESTED:
            repayment.fail(reason, svc.clock.now())
            await uow.repayments.save(repayment)
        return repayment

    return await in_uow(svc, fail)


async def continue_repayment(svc: Services, repayment_id: str) -> Repayment:
    """The worker's job (`PayRepayment`): take the snapshot if it is not taken yet
    (`take_snapshot`), then pay the pending shares batch by batch, in investor-id order. A batch's
    members and operation id are fixed in the store before the ledger sees it, so a retry resends
    the same batch and never pays twice; after a refusal the batch only loses its blocked members
    (see `_hold_back_refused`)."""
    snapshotted = await take_snapshot(svc, repayment_id)
    if snapshotted.status is RepaymentStatus.FAILED:
        return snapshotted  # nothing to pay (a completed one still finishes: its cash-outs resume)
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
