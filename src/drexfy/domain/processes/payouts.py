"""Payouts: withdrawals reach the investor's bank account by SEPA credit transfer.

1. The investor registers a payout IBAN (validated by the bank adapter; an invalid one is refused
   and nothing is written).
2. `export_payouts`: BURNED withdrawals of investors with a payout IBAN go into one pain.001 file
   (validated against the ISO schema); the file is built first, then every withdrawal in it is
   marked SENT in one unit of work, so a failure leaves nothing marked and no file out.
3. `import_statement`: a camt.053/054 statement is read whole (a malformed file is refused naming
   the line or element, and nothing is written); each booked debit whose end-to-end id names a
   SENT withdrawal of that amount marks it PAID_OUT, recording the bank's entry. Re-importing the
   same statement changes nothing. Credits are deposits (`processes.deposits`): stablecoin minted
   to the investor they name, or to the investor of a payout the bank returned, once per entry.
"""

from __future__ import annotations

from datetime import date

import attrs

from drexfy.domain.deposit import Deposit
from drexfy.domain.errors import ConfigurationError, IllegalTransition, NotFound
from drexfy.domain.model import Investor, Withdrawal, WithdrawalStatus
from drexfy.domain.ports import BankEntry, BankFiles, CreditTransfer, UnitOfWork
from drexfy.domain.processes.base import Services, in_uow
from drexfy.domain.processes.deposits import receive_credits

#: Withdrawals per payout file: one unit of work marks them (DynamoDB: at most 100 items).
MAX_BATCH = 90


@attrs.frozen
class PayoutFile:
    batch_id: str
    data: bytes
    withdrawal_ids: tuple[str, ...]
    #: Withdrawals left out, with why (no payout IBAN yet).
    skipped: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class StatementImport:
    paid_out: tuple[str, ...] = ()
    already_paid_out: tuple[str, ...] = ()
    #: Booked debits naming no withdrawal we sent (or with another amount), for an operator.
    unmatched_debits: tuple[BankEntry, ...] = ()
    #: Booked credits as deposits (minted, matched and waiting for the ledger, or unmatched).
    deposits: tuple[Deposit, ...] = ()
    not_booked: int = 0


def _bank(svc: Services) -> BankFiles:
    if svc.bank is None:
        raise ConfigurationError("bank.iban and bank.name: required for bank payouts and statements")
    return svc.bank


async def register_payout_iban(svc: Services, investor_id: str, iban: str) -> Investor:
    normalized = _bank(svc).normalize_iban(iban)

    async def work(uow: UnitOfWork) -> Investor:
        investor = await uow.investors.get(investor_id)
        investor.set_payout_iban(normalized, svc.clock.now())
        await uow.investors.save(investor)
        return investor

    return await in_uow(svc, work)


async def export_payouts(svc: Services, execution: date | None = None, limit: int = MAX_BATCH) -> PayoutFile | None:
    """The next pain.001 file, or None when nothing is payable."""
    bank = _bank(svc)
    async with svc.store.unit_of_work() as uow:
        owed = await uow.withdrawals.payable(max(1, min(limit, MAX_BATCH)))
        investors = {w.investor_id: await uow.investors.get(w.investor_id) for w in owed}
    transfers: list[CreditTransfer] = []
    skipped: list[tuple[str, str]] = []
    for withdrawal in owed:
        investor = investors[withdrawal.investor_id]
        if investor.payout_iban is None:
            skipped.append((withdrawal.id, "the investor has no payout IBAN"))
            continue
        transfers.append(CreditTransfer(withdrawal.id, investor.legal_name, investor.payout_iban, withdrawal.amount))
    if not transfers:
        return None
    batch_id = svc.ids.new("payout")
    data = bank.credit_transfers(batch_id, transfers, execution or svc.clock.now().date())

    async def mark(uow: UnitOfWork) -> None:
        now = svc.clock.now()
        for transfer in transfers:
            fresh = await uow.withdrawals.get(transfer.end_to_end_id)
            if fresh.status is not WithdrawalStatus.BURNED:
                raise IllegalTransition(f"withdrawal {fresh.id} was exported meanwhile; export again")
            fresh.batched(batch_id, transfer.iban, now)
            await uow.withdrawals.save(fresh)

    await in_uow(svc, mark)
    return PayoutFile(batch_id, data, tuple(t.end_to_end_id for t in transfers), tuple(skipped))


async def import_statement(svc: Services, data: bytes) -> StatementImport:
    entries = _bank(svc).read_statement(data)  # all or nothing: a bad file writes nothing
    paid: list[str] = []
    already: list[str] = []
    unmatched: list[BankEntry] = []
    credits: list[BankEntry] = []
    debits: list[BankEntry] = []
    not_booked = 0
    for entry in entries:
        if not entry.booked:
            not_booked += 1
        elif entry.credit:
            credits.append(entry)
        else:
            debits.append(entry)
    # Debits first: a statement may show a payout and, later the same day, its return.
    for entry in debits:
        outcome = await _confirm(svc, entry)
        {"paid": paid, "already": already}.get(outcome, []).append(str(entry.end_to_end_id))
        if outcome == "unmatched":
            unmatched.append(entry)
    deposits = await receive_credits(svc, credits)
    return StatementImport(tuple(paid), tuple(already), tuple(unmatched), tuple(deposits), not_booked)


async def _confirm(svc: Services, entry: BankEntry) -> str:
    if not entry.end_to_end_id:
        return "unmatched"

    async def work(uow: UnitOfWork) -> str:
        try:
            withdrawal: Withdrawal = await uow.withdrawals.get(str(entry.end_to_end_id))
        except NotFound:
            return "unmatched"
        if withdrawal.amount != entry.amount:
            return "unmatched"
        if withdrawal.status in (WithdrawalStatus.PAID_OUT, WithdrawalStatus.RETURNED):
            return "already"
        if withdrawal.status is not WithdrawalStatus.SENT:
            return "unmatched"
        withdrawal.paid_out(entry.ref, svc.clock.now())
        await uow.withdrawals.save(withdrawal)
        return "paid"

    return await in_uow(svc, work)
