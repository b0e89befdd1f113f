"""Withdrawal: an investor cashes stablecoin out (burned on chain, a payout recorded)."""

from __future__ import annotations

import attrs

from drexfy.domain.errors import InsufficientFunds, InvalidAmount, NotFound
from drexfy.domain.model import Investor, Withdrawal, WithdrawalStatus
from drexfy.domain.money import Money
from drexfy.domain.ports import UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.rules import check_may_withdraw


@attrs.frozen
class Withdraw:
    investor_id: str
    amount: Money
    automatic: bool = False


async def withdraw(svc: Services, cmd: Withdraw, withdrawal_id: str | None = None) -> Withdrawal:
    """Cash out: the stablecoin is burned on the ledger and a payout record is kept (the fiat
    transfer itself is the treasury's). Recorded before the burn, so nothing is lost in a crash;
    with the same `withdrawal_id` a retry finishes it instead of burning twice."""
    if not cmd.amount.is_positive():
        raise InvalidAmount("a withdrawal must be a positive amount")
    wid = withdrawal_id or svc.ids.new("wd")

    async def request(uow: UnitOfWork) -> tuple[Withdrawal, Investor]:
        investor = await uow.investors.get(cmd.investor_id)
        try:
            existing: Withdrawal | None = await uow.withdrawals.get(wid)
        except NotFound:
            existing = None
        if existing is not None:
            return existing, investor
        check_may_withdraw(investor)
        withdrawal = Withdrawal(wid, investor.id, cmd.amount, svc.clock.now(), automatic=cmd.automatic)
        await uow.withdrawals.add(withdrawal)
        return withdrawal, investor

    withdrawal, investor = await in_uow(svc, request)
    if withdrawal.status is not WithdrawalStatus.REQUESTED:
        return withdrawal
    assert investor.wallet is not None
    balance = await svc.ledger.stablecoin_balance(investor.wallet.address)
    journal_has_it = await svc.store.journal.get(f"withdraw:{wid}") is not None
    if balance < cmd.amount and not journal_has_it:
        raise InsufficientFunds(f"balance {balance} does not cover {cmd.amount}")
    result = await svc.ledger.burn_stablecoin(f"withdraw:{wid}", investor.wallet, cmd.amount)

    async def burned(uow: UnitOfWork) -> Withdrawal:
        fresh = await uow.withdrawals.get(wid)
        if fresh.status is WithdrawalStatus.REQUESTED:
            fresh.burned(result.tx_ids, svc.clock.now())
            await uow.withdrawals.save(fresh)
        return fresh

    return await in_uow(svc, burned)
