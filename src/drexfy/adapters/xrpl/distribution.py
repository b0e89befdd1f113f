"""Repayments on the XRP Ledger: the stablecoin issuer pays each holder (pipelined), and each
holder returns its retired units to the instrument issuer, which burns them. Each holder's
transactions are keyed by its address under the operation id, so a distribution resent without a
refused holder recognises every payout already made."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from xrpl.models.amounts import MPTAmount
from xrpl.models.transactions import Payment

from drexfy.adapters.xrpl.signing import Signer
from drexfy.domain.errors import ComplianceRejected
from drexfy.domain.ports import LedgerResult, Payout

if TYPE_CHECKING:
    from drexfy.adapters.xrpl.ledger import XrplLedger

#: Holders' retirement transactions in flight at once (each is its own account's transaction).
RETIREMENTS_AT_ONCE = 16


class Distribution:
    """`XrplLedger.distribute`."""

    def __init__(self, ledger: XrplLedger) -> None:
        self.ledger = ledger

    async def distribute(self, op_id: str, instrument_ref: str, payouts: Sequence[Payout]) -> LedgerResult:
        """One Payment per holder (and one unit return per retirement): not atomic. Each holder's
        transactions are keyed by the holder's address under `op_id`, so the same distribution
        resent without a refused holder recognises every payout already made."""
        issuer = await self.ledger.platform("issuer")
        company = await self.ledger.platform("instrument_issuer")
        # The ledger would let the issuer pay a frozen holder: refuse it here, before paying anyone.
        await self.ledger.access.refuse_frozen_payees(op_id, payouts)
        # The issuer's payments go out pipelined (one ledger close for all, not one each).
        payments = [
            (
                f"{op_id}/{payout.wallet.address}/pay",
                Payment(
                    account=issuer.address,
                    destination=payout.wallet.address,
                    amount=self.ledger._iou(issuer.address, payout.amount),
                ),
            )
            for payout in payouts
            if payout.amount.is_positive()
        ]
        tx_ids = [outcome.tx_id for outcome in await self.ledger._pay_coins(issuer, payments, "repayment")]
        # Principal goes back in the holders' own transactions: different accounts, so they run side
        # by side (a bounded number at once); every one is finished before the first failure, in
        # payout order, is raised.
        limit = asyncio.Semaphore(RETIREMENTS_AT_ONCE)

        async def retire(payout: Payout) -> list[str]:
            async with limit:
                return await self.retire_units(f"{op_id}/{payout.wallet.address}", payout, company, instrument_ref)

        retiring = [payout for payout in payouts if payout.units_to_retire]
        outcomes = await asyncio.gather(*(retire(payout) for payout in retiring), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            tx_ids += outcome
        return LedgerResult(tuple(tx_ids))

    async def retire_units(self, key: str, payout: Payout, company: Signer, instrument_ref: str) -> list[str]:
        """Return a holder's retired units to the instrument issuer (which burns them)."""
        wallet = payout.wallet
        if await self.ledger.journal.get(f"{key}/retire") is None:
            # A locked holder could still pay the issuer back on the ledger: refuse it here.
            await self.ledger.access.refuse_unit_return(wallet, instrument_ref)
        tx_ids = await self.ledger._ensure_xrp(f"{key}/fees", wallet.address, 0)
        back = Payment(
            account=wallet.address,
            destination=company.address,
            amount=MPTAmount(mpt_issuance_id=instrument_ref, value=str(payout.units_to_retire)),
        )
        try:
            retired = await self.ledger._run(
                f"{key}/retire", self.ledger._investor(wallet), back, "principal retirement"
            )
        except ComplianceRejected as refused:
            if refused.party:
                raise
            # The holder's own transaction was refused (a locked MPT): name whose it was.
            raise ComplianceRejected(
                refused.message, reason=refused.reason, tx_id=refused.tx_id, party=wallet.address
            ) from refused
        return [*tx_ids, retired.tx_id]
