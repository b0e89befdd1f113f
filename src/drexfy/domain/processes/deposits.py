"""Bank deposits: a credit on the platform's bank account mints stablecoin 1:1 to the investor it
names, exactly once per bank entry; a returned payout is minted back to the investor who withdrew.

1. `receive_credits` (from `payouts.import_statement`): every booked credit becomes a `Deposit`
   whose id comes from the bank's entry reference, so a re-imported entry is recognised and never
   minted twice. A credit naming an investor (`inv_...` in the remittance text, as the investor is
   told to write it) who may receive stablecoin is MATCHED; any other credit is UNMATCHED with the
   reason, for an operator. A credit that returns one of our transfers (`BankEntry.returned`,
   end-to-end id = the withdrawal) marks the withdrawal RETURNED and is MATCHED to its investor.
2. `mint_deposit`: the mint, under the ledger operation `deposit:<id>` (at most once per id: a
   retry after a timeout or a crash is the same operation). A ledger refusal (the wallet is frozen)
   puts the deposit back on the operators' list; an unreachable ledger leaves it MATCHED for the
   next import or `retry_deposits`, which the worker runs every `worker.deposit_every` seconds.
3. `assign_deposit`: an operator gives an unmatched credit to an investor; it is minted at once.
   At the API it is a four-eyes action (`approval_actions.assign_deposit`): a second operator
   approves before it runs.

Nothing here reveals a compliance state to the investor: the reasons are for operators.
"""

from __future__ import annotations

import re
from datetime import datetime

from drexfy.domain.deposit import Deposit, DepositKind, DepositStatus, deposit_id
from drexfy.domain.errors import (
    DomainError,
    DuplicateEntity,
    IllegalTransition,
    LedgerRejected,
    LedgerUnavailable,
    NotFound,
    ValidationFailed,
)
from drexfy.domain.model import ComplianceState, Investor, KycStatus, WithdrawalStatus
from drexfy.domain.ports import BankEntry, UnitOfWork
from drexfy.domain.processes.base import Services, in_uow

#: An investor id in a remittance text: banks may upper-case it or replace the underscore.
_INVESTOR_REF = re.compile(r"\bINV[_\s-]?([0-9A-F]{32})\b", re.IGNORECASE)


def investor_named(reference: str | None) -> str | None:
    """The investor id a remittance text names (`inv_<32 hex>`, in any case), or None."""
    if not reference:
        return None
    found = _INVESTOR_REF.search(reference)
    return None if found is None else f"inv_{found.group(1).lower()}"


def _cannot_receive(investor: Investor) -> str | None:
    """Why stablecoin cannot be minted to the investor now (for operators), or None."""
    if investor.kyc_status is not KycStatus.ACTIVE or investor.wallet is None or not investor.wallet_activated:
        return f"investor {investor.id} is not active (no activated wallet)"
    if investor.compliance is not ComplianceState.CLEAR:
        return f"investor {investor.id} is blocked"
    return None


def _bounds(svc: Services, entry: BankEntry) -> str | None:
    if entry.amount.currency != svc.ledger.currency:
        return f"credit in {entry.amount.currency}; the stablecoin is {svc.ledger.currency}"
    if entry.amount.minor > svc.settings.max_deposit_minor:
        return f"credit of {entry.amount} is above the deposit limit (bank.max_deposit_minor)"
    return None


async def receive_credits(svc: Services, entries: list[BankEntry]) -> list[Deposit]:
    """Record each booked credit once and mint the matched ones; returns the deposits concerned
    (new or already known), in the statement's order."""
    out: list[Deposit] = []
    for entry in entries:

        async def record(uow: UnitOfWork, entry: BankEntry = entry) -> Deposit:
            return await _record(svc, uow, entry)

        deposit = await in_uow(svc, record)
        if deposit.status is DepositStatus.MATCHED:
            try:
                deposit = await mint_deposit(svc, deposit.id)
            except LedgerUnavailable:
                out.append(deposit)  # stays MATCHED: the next import or `retry_deposits` mints it
                continue
        out.append(deposit)
    return out


async def _record(svc: Services, uow: UnitOfWork, entry: BankEntry) -> Deposit:
    did = deposit_id(entry.ref)
    known = await uow.deposits.find(did)
    if known is not None:
        return known
    now = svc.clock.now()
    deposit = Deposit(did, entry.ref, entry.amount, now, reference=entry.reference)
    if entry.returned:
        await _match_return(uow, deposit, entry, now)
    else:
        _match_transfer(deposit, await _named(uow, entry.reference), _bounds(svc, entry))
    deposit.received(now)
    try:
        await uow.deposits.add(deposit)
    except DuplicateEntity:  # imported at this very moment by another process: that one acts
        return await uow.deposits.get(did)
    return deposit


async def _named(uow: UnitOfWork, reference: str | None) -> Investor | None:
    investor_id = investor_named(reference)
    return None if investor_id is None else await uow.investors.find(investor_id)


def _match_transfer(deposit: Deposit, investor: Investor | None, out_of_bounds: str | None) -> None:
    if out_of_bounds is not None:
        deposit.reason = out_of_bounds
    elif investor is None:
        deposit.reason = "the remittance text names no investor we know"
    else:
        deposit.investor_id = investor.id
        deposit.reason = _cannot_receive(investor)
        if deposit.reason is None:
            deposit.status = DepositStatus.MATCHED


async def _match_return(uow: UnitOfWork, deposit: Deposit, entry: BankEntry, now: datetime) -> None:
    deposit.kind = DepositKind.RETURN
    try:
        withdrawal = await uow.withdrawals.get(entry.end_to_end_id or "")
    except NotFound:
        deposit.reason = "a returned transfer that names none of our payouts"
        return
    deposit.withdrawal_id = withdrawal.id
    deposit.investor_id = withdrawal.investor_id
    if withdrawal.amount != entry.amount:
        deposit.reason = f"returned {entry.amount}, the payout was {withdrawal.amount}"
        return
    if withdrawal.status not in (WithdrawalStatus.SENT, WithdrawalStatus.PAID_OUT):
        deposit.reason = f"the payout is {withdrawal.status.value}, not sent"
        return
    withdrawal.returned(entry.return_reason, deposit.received_at)
    await uow.withdrawals.save(withdrawal)
    deposit.status = DepositStatus.MATCHED


async def mint_deposit(svc: Services, deposit_id_: str) -> Deposit:
    """Mint a MATCHED deposit to its investor (once: the ledger operation is the deposit's)."""
    async with svc.store.unit_of_work() as uow:
        deposit = await uow.deposits.get(deposit_id_)
        if deposit.status is not DepositStatus.MATCHED or deposit.investor_id is None:
            return deposit
        investor = await uow.investors.get(deposit.investor_id)
    # A mint already journalled is finished whatever the investor's state is now (same operation).
    journalled = await svc.store.journal.get(deposit.op_id) is not None
    reason = None if journalled else _cannot_receive(investor)
    tx_ids: tuple[str, ...] = ()
    if reason is None:
        assert investor.wallet is not None
        try:
            result = await svc.ledger.mint_deposit(deposit.op_id, investor.wallet, deposit.amount, deposit.id)
            tx_ids = result.tx_ids
        except LedgerRejected as refused:
            reason = f"refused on chain: {refused.message}"
    now = svc.clock.now()

    async def record(uow: UnitOfWork) -> Deposit:
        fresh = await uow.deposits.get(deposit.id)
        if fresh.status is DepositStatus.MATCHED:
            if reason is None:
                fresh.minted(tx_ids, now)
            else:
                fresh.hold(reason)
            await uow.deposits.save(fresh)
        return fresh

    return await in_uow(svc, record)


async def _assignable(svc: Services, uow: UnitOfWork, deposit_id_: str, investor_id: str) -> Deposit:
    """The UNMATCHED deposit, if it may go to the investor now; else the named refusal."""
    deposit = await uow.deposits.get(deposit_id_)
    if deposit.status is not DepositStatus.UNMATCHED:
        raise IllegalTransition(f"deposit {deposit.id} is {deposit.status.value}, not UNMATCHED")
    if deposit.kind is DepositKind.RETURN:
        await _check_return_assignable(uow, deposit, investor_id)
    out_of_bounds = _bounds(svc, BankEntry(deposit.bank_ref, True, deposit.amount, True))
    if out_of_bounds is not None:
        raise ValidationFailed(f"deposit {deposit.id}: {out_of_bounds}")
    refusal = _cannot_receive(await uow.investors.get(investor_id))
    if refusal is not None:
        raise IllegalTransition(refusal)
    return deposit


async def check_assignment(svc: Services, deposit_id_: str, investor_id: str) -> Deposit:
    """Refuse now what `assign_deposit` would refuse (before a four-eyes request is recorded for
    it); changes nothing. The approval checks again when it runs."""
    async with svc.store.unit_of_work() as uow:
        return await _assignable(svc, uow, deposit_id_, investor_id)


async def assign_deposit(svc: Services, deposit_id_: str, investor_id: str, operator: str) -> Deposit:
    """An operator gives an UNMATCHED credit to an investor, who must be able to receive it now;
    it is minted at once. A returned payout keeps its investor. At the API and in the approvals
    this is the `assign_deposit` four-eyes action: `operator` names both people."""

    async def assign(uow: UnitOfWork) -> Deposit:
        deposit = await _assignable(svc, uow, deposit_id_, investor_id)
        deposit.assign(investor_id, operator, svc.clock.now())
        await uow.deposits.save(deposit)
        return deposit

    await in_uow(svc, assign)
    return await mint_deposit(svc, deposit_id_)


async def _check_return_assignable(uow: UnitOfWork, deposit: Deposit, investor_id: str) -> None:
    """A returned payout goes back only to the investor who withdrew it, and only once its
    withdrawal is marked RETURNED (its investor could not receive it then, e.g. blocked)."""
    if deposit.withdrawal_id is None or investor_id != deposit.investor_id:
        raise IllegalTransition(f"deposit {deposit.id} is a returned payout: it goes back to its own investor only")
    withdrawal = await uow.withdrawals.get(deposit.withdrawal_id)
    if withdrawal.status is not WithdrawalStatus.RETURNED:
        raise IllegalTransition(
            f"deposit {deposit.id} is a returned payout that does not match withdrawal {withdrawal.id}"
            f" ({withdrawal.status.value}): look at the bank entry"
        )


async def retry_deposits(svc: Services, limit: int = 100) -> list[Deposit]:
    """Mint the MATCHED deposits a ledger outage left behind (the worker's sweep, `drexfy bank
    deposits --retry`), page by page; each is minted once (its ledger operation is the deposit's)."""
    out: list[Deposit] = []
    after: str | None = None
    while True:
        async with svc.store.unit_of_work() as uow:
            due = await uow.deposits.with_status(DepositStatus.MATCHED.value, limit, after)
        for deposit in due:
            try:
                out.append(await mint_deposit(svc, deposit.id))
            except DomainError:
                continue  # still unreachable: the next sweep tries again
        if len(due) < limit:
            return out
        after = due[-1].id


async def list_deposits(
    svc: Services, status: DepositStatus = DepositStatus.UNMATCHED, limit: int = 100, after: str | None = None
) -> list[Deposit]:
    async with svc.store.unit_of_work() as uow:
        return await uow.deposits.with_status(status.value, limit, after)
