"""Compliance: AML alerts, block and unblock (wallet frozen on chain), the release of held-back
repayments, and the on-chain wallet and classification helpers registration shares."""

from __future__ import annotations

from drexfy.domain import events as ev
from drexfy.domain.classification import Classification
from drexfy.domain.errors import IllegalTransition, ValidationFailed
from drexfy.domain.model import (
    AllocationStatus,
    Investor,
    OrderStatus,
    Repayment,
    Wallet,
)
from drexfy.domain.ports import Payout, RepaymentFunding, UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.provider_events import AmlAlert


async def ensure_wallet(svc: Services, investor: Investor) -> Wallet:
    if investor.wallet is not None:
        return investor.wallet
    wallet_id = f"wallet-{investor.id}"
    public_key = await svc.vault.create_key(wallet_id)  # idempotent per wallet id
    wallet = Wallet(wallet_id, svc.ledger.address_for(public_key), public_key.hex())

    async def work(uow: UnitOfWork) -> Wallet:
        fresh = await uow.investors.get(investor.id)
        fresh.attach_wallet(wallet, svc.clock.now())
        await uow.investors.save(fresh)
        return wallet

    return await in_uow(svc, work)


async def record_classification_on_chain(svc: Services, investor: Investor, classification: Classification) -> Investor:
    """Record the class on chain, then in the store. The op id comes from the persisted sequence, so
    a retry after a crash between the two hits the same ledger operation."""
    assert investor.wallet is not None
    op_id = f"classify:{investor.id}:{investor.classification_seq + 1}"
    result = await svc.ledger.record_classification(op_id, investor.wallet, classification)

    async def work(uow: UnitOfWork) -> Investor:
        fresh = await uow.investors.get(investor.id)
        if fresh.classification_seq == investor.classification_seq:
            fresh.classify_as(classification, result.tx_ids[-1] if result.tx_ids else None, svc.clock.now())
            await uow.investors.save(fresh)
        return fresh

    return await in_uow(svc, work)


async def _held_instrument_refs(svc: Services, investor_id: str) -> list[str]:
    async with svc.store.unit_of_work() as uow:
        refs: list[str] = []
        for position in await uow.positions.by_investor(investor_id):
            instrument = await uow.instruments.get(position.instrument_id)
            if instrument.ledger_ref:
                refs.append(instrument.ledger_ref)
        return sorted(set(refs))


async def set_wallet_frozen(svc: Services, investor: Investor, *, frozen: bool) -> None:
    assert investor.wallet is not None
    refs = await _held_instrument_refs(svc, investor.id)
    verb = "freeze" if frozen else "unfreeze"
    result = await svc.ledger.set_frozen(
        f"{verb}:{investor.id}:{investor.compliance_seq}", investor.wallet, frozen, refs
    )
    event = (ev.WalletFrozen if frozen else ev.WalletUnfrozen)(investor.id, svc.clock.now(), result.tx_ids)

    async def work(uow: UnitOfWork) -> None:
        uow.record(event)

    await in_uow(svc, work)


# -- AML alerts, block and unblock -----------------------------------------------------------------


async def handle_aml_alert(svc: Services, alert: AmlAlert) -> Investor:
    """Ongoing monitoring: a flag blocks at once; a clearance is recorded for a compliance officer,
    who alone decides to unblock."""
    async with svc.store.unit_of_work() as uow:
        if alert.investor_id:
            investor = await uow.investors.get(alert.investor_id)
        elif alert.applicant_id:
            investor = await uow.investors.get_by_applicant(alert.applicant_id)
        else:
            raise ValidationFailed("an AML alert must name an investor or an applicant")
    if alert.flagged:
        return await block_investor(svc, investor.id, alert.reason or "AML monitoring alert", f"aml:{alert.alert_id}")

    async def record(uow: UnitOfWork) -> None:
        uow.record(ev.AmlAlertCleared(investor.id, svc.clock.now(), alert.alert_id, alert.reason))

    await in_uow(svc, record)
    return investor


async def block_investor(svc: Services, investor_id: str, reason: str, source: str) -> Investor:
    """Block in the store first (so the API refuses at once), cancel open orders, then freeze the
    wallet on chain: a neutral state, nothing published says why. Only a confirmed sanctions match
    (`confirm_sanctions`) reclassifies SANCTIONED on chain. Running it again finishes whatever a
    crash left undone."""

    async def work(uow: UnitOfWork) -> Investor:
        investor = await uow.investors.get(investor_id)
        now = svc.clock.now()
        if investor.block(reason, source, now):
            await uow.investors.save(investor)
        for order in await uow.orders.by_investor(investor_id):
            if order.status is OrderStatus.CREATED:
                order.close(OrderStatus.CANCELLED, "investor account restricted", now)
                await uow.instruments.release_units(order.instrument_id, order.units)
                await uow.orders.save(order)
        return investor

    investor = await in_uow(svc, work)
    if investor.wallet is None:
        return investor  # nothing on chain yet; onboarding freezes a blocked investor's wallet
    await set_wallet_frozen(svc, investor, frozen=True)
    return investor


async def confirm_sanctions(svc: Services, investor_id: str, reason: str, officer: str) -> Investor:
    """A compliance officer confirms the sanctions match behind a block: SANCTIONED on chain (NFT
    and registry), as the seeds ask; the wallet stays frozen. Running it again finishes it."""
    if not reason.strip():
        raise ValidationFailed("a confirmation needs a reason")
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
    if not investor.is_blocked:
        raise IllegalTransition("only a blocked investor's alert can be confirmed")

    async def record(uow: UnitOfWork) -> None:
        uow.record(ev.SanctionsConfirmed(investor_id, svc.clock.now(), reason, officer))

    await in_uow(svc, record)
    if investor.wallet is not None and investor.classification is not Classification.SANCTIONED:
        investor = await record_classification_on_chain(svc, investor, Classification.SANCTIONED)
    elif investor.wallet is None:

        async def classify(uow: UnitOfWork) -> Investor:
            fresh = await uow.investors.get(investor_id)
            if fresh.classification is not Classification.SANCTIONED:
                fresh.classify_as(Classification.SANCTIONED, None, svc.clock.now())
                await uow.investors.save(fresh)
            return fresh

        investor = await in_uow(svc, classify)
    return investor


async def dismiss_alert(svc: Services, investor_id: str, reason: str, officer: str) -> Investor:
    """A compliance officer dismisses the alert behind a block that was not confirmed: the block is
    lifted (wallet unfrozen, held-back repayments released). A confirmed match is lifted only by
    an unblock."""
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
    if not investor.is_blocked:
        raise IllegalTransition("the investor is not blocked")
    if investor.classification is Classification.SANCTIONED:
        raise IllegalTransition("the sanctions match was confirmed; only an unblock lifts it")
    return await unblock_investor(svc, investor_id, reason, officer)


async def unblock_investor(svc: Services, investor_id: str, reason: str, officer: str) -> Investor:
    """A compliance officer lifts a block: previous class restored and wallet unfrozen on chain, then
    the store, then held-back repayments released. Running it again finishes an interrupted unblock."""
    if not reason.strip():
        raise ValidationFailed("an unblock needs a reason")
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
        pending_release = await uow.repayments.held_back_for(investor_id)
    if not investor.is_blocked:
        if not pending_release:
            raise IllegalTransition("investor is not blocked")
        await release_held_back(svc, investor_id)
        return investor
    restore = investor.classification_before_block
    if investor.wallet is not None:
        if restore is not None and investor.classification is not restore:
            investor = await record_classification_on_chain(svc, investor, restore)
        assert investor.wallet is not None
        refs = await _held_instrument_refs(svc, investor.id)
        # The unfreeze belongs to the episode the unblock ends: compliance_seq + 1.
        await svc.ledger.set_frozen(
            f"unfreeze:{investor.id}:{investor.compliance_seq + 1}", investor.wallet, False, refs
        )

    async def work(uow: UnitOfWork) -> Investor:
        fresh = await uow.investors.get(investor_id)
        if fresh.is_blocked:
            fresh.unblock(reason, officer, svc.clock.now())
            fresh.events.append(ev.WalletUnfrozen(fresh.id, svc.clock.now()))
            await uow.investors.save(fresh)
        return fresh

    investor = await in_uow(svc, work)
    await release_held_back(svc, investor_id)
    return investor


async def release_held_back(svc: Services, investor_id: str) -> list[Repayment]:
    """Pay every repayment share held back while the investor was blocked."""
    async with svc.store.unit_of_work() as uow:
        investor = await uow.investors.get(investor_id)
        repayments = await uow.repayments.held_back_for(investor_id)
    if investor.is_blocked or investor.wallet is None:
        return []
    released: list[Repayment] = []
    for repayment in repayments:
        async with svc.store.unit_of_work() as uow:
            instrument = await uow.instruments.get(repayment.instrument_id)
            allocation = await uow.repayments.allocation(repayment.id, investor_id)
        assert instrument.ledger_ref is not None
        tx_ids: tuple[str, ...] = ()
        if allocation.amount.is_positive() or allocation.units_retired:
            result = await svc.ledger.distribute(
                f"release:{repayment.id}:{investor_id}",
                instrument.ledger_ref,
                [Payout(investor.wallet, allocation.amount, allocation.units_retired)],
                RepaymentFunding(repayment.id, repayment.total),
            )
            tx_ids = result.tx_ids

        async def work(
            uow: UnitOfWork, repayment_id: str = repayment.id, tx_ids: tuple[str, ...] = tx_ids
        ) -> Repayment:
            fresh = await uow.repayments.get(repayment_id)
            share = await uow.repayments.allocation(repayment_id, investor_id)
            if share.status is AllocationStatus.HELD_BACK:
                fresh.mark_paid(share, tx_ids, svc.clock.now())
                if share.units_retired:
                    await uow.positions.add_units(investor_id, fresh.instrument_id, -share.units_retired)
                    await uow.instruments.retire_units(fresh.instrument_id, share.units_retired)
                await uow.repayments.save(fresh, [share])
            return fresh

        released.append(await in_uow(svc, work))
    return released
