"""Purchases on the XRP Ledger: the resumable saga and its all-or-nothing XLS-56 Batch form.

The saga's sub-operations, each journaled under its own id: `{op}/1/optin` and `{op}/1/authorise`
(holder opt-in and issuer authorisation, only for an eligible class), `{op}/3` stablecoin issued to
the buyer (fiat received 1:1), `{op}/4` the buyer pays the instrument issuer, `{op}/5` the
instrument issuer delivers the units. A retry resumes at the first unfinished step; if the buyer's
payment fails for good the issued stablecoin is clawed back (`{op}/undo-3`). With `batch = true`
the same legs go into one Batch (`{op}/batch`) paid by the stablecoin issuer.

An order paid from the buyer's balance (`mint=False`) is the same saga or Batch without the issue
to the buyer (`{op}/3`): the buyer's own coins pay the company. A bank deposit (`deposit`) is one
stablecoin issue to the investor's trust line (`{op}/mint`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xrpl.models.amounts import IssuedCurrencyAmount, MPTAmount
from xrpl.models.transactions import Clawback, MPTokenAuthorize, Payment
from xrpl.models.transactions.transaction import Transaction

from drexfy.adapters.xrpl.signing import Signer
from drexfy.domain.errors import ComplianceRejected, LedgerRejected
from drexfy.domain.model import Wallet
from drexfy.domain.money import Money
from drexfy.domain.ports import LedgerResult, Purchase

if TYPE_CHECKING:
    from drexfy.adapters.xrpl.ledger import XrplLedger

LSF_MPT_LOCKED = 0x01


class Purchases:
    """`XrplLedger.settle_purchase` and the holder authorisation it needs."""

    def __init__(self, ledger: XrplLedger) -> None:
        self.ledger = ledger

    async def authorise_holder(self, op_id: str, ref: str, wallet: Wallet) -> list[str]:
        """Holder opt-in, then issuer authorisation — only for an eligible class (the on-chain
        eligibility rule)."""
        tx_ids: list[str] = []
        token = await self.ledger._mptoken(ref, wallet.address)
        if token is None or await self.ledger.journal.get(f"{op_id}/optin"):
            tx_ids += await self.ledger._ensure_xrp(f"{op_id}/reserve", wallet.address, 1)
            optin = MPTokenAuthorize(account=wallet.address, mptoken_issuance_id=ref)
            try:
                tx_ids.append(
                    (await self.ledger._run(f"{op_id}/optin", self.ledger._investor(wallet), optin, "MPT opt-in")).tx_id
                )
            except LedgerRejected as refused:
                # Another operation of this wallet (its second order, settled at the same time)
                # opted in first: the MPToken exists, which is all this step is for. Replayed from
                # the journal on every retry, so it must never be taken for a refusal.
                if refused.reason != "tecDUPLICATE" or await self.ledger._mptoken(ref, wallet.address) is None:
                    raise
            token = await self.ledger._mptoken(ref, wallet.address)
        authorised = bool(token and int(token.get("Flags", 0)) & 0x02)
        if not authorised or await self.ledger.journal.get(f"{op_id}/authorise"):
            if await self.ledger.journal.get(f"{op_id}/authorise") is None:
                await self.check_eligible(wallet, ref)
            issuer = await self.ledger.platform("instrument_issuer")
            auth = MPTokenAuthorize(account=issuer.address, mptoken_issuance_id=ref, holder=wallet.address)
            tx_ids.append((await self.ledger._run(f"{op_id}/authorise", issuer, auth, "MPT authorisation")).tx_id)
        return tx_ids

    async def deposit(self, op_id: str, wallet: Wallet, amount: Money) -> LedgerResult:
        """The issuer pays `amount` to the investor's trust line (fiat received 1:1)."""
        issuer = await self.ledger.platform("issuer")
        if amount.minor <= 0:
            raise LedgerRejected("a deposit must be positive", reason="InvalidAmount")
        if await self.ledger.journal.get(f"{op_id}/mint") is None and await self.ledger.is_frozen(wallet.address):
            raise ComplianceRejected(f"{wallet.address}'s stablecoin trust line is frozen", reason="tecFROZEN")
        mint = Payment(
            account=issuer.address, destination=wallet.address, amount=self.ledger._iou(issuer.address, amount)
        )
        outcome = await self.ledger._pay_coin(f"{op_id}/mint", issuer, mint, "stablecoin issue for a deposit")
        return LedgerResult((outcome.tx_id,))

    async def settle(self, op_id: str, purchase: Purchase, mint: bool = True) -> LedgerResult:
        """The resumable saga (see the module docstring)."""
        if self.ledger.config.batch:
            return await self.settle_with_batch(op_id, purchase, mint)
        buyer = purchase.buyer
        issuer = await self.ledger.platform("issuer")
        company = await self.ledger.platform("instrument_issuer")
        if await self.ledger.journal.get(f"{op_id}/3" if mint else f"{op_id}/4") is None:
            await self.precheck_buyer(purchase)
            if not mint:
                await self.precheck_balance(purchase)
        tx_ids = await self.authorise_holder(f"{op_id}/1", purchase.instrument_ref, buyer)
        if mint:
            issue = Payment(
                account=issuer.address,
                destination=buyer.address,
                amount=self.ledger._iou(issuer.address, purchase.amount),
            )
            tx_ids.append((await self.ledger._pay_coin(f"{op_id}/3", issuer, issue, "stablecoin issue to buyer")).tx_id)
        tx_ids += await self.ledger._ensure_xrp(f"{op_id}/fees", buyer.address, 0)
        pay = Payment(
            account=buyer.address, destination=company.address, amount=self.ledger._iou(issuer.address, purchase.amount)
        )
        try:
            tx_ids.append(
                (await self.ledger._pay_coin(f"{op_id}/4", self.ledger._investor(buyer), pay, "buyer payment")).tx_id
            )
        except LedgerRejected:
            # The payment leg failed for good (e.g. frozen meanwhile): take back the stablecoin issued
            # for it, so the refund of the fiat leaves no unbacked stablecoin behind.
            if mint:
                await self.undo_issue(op_id, buyer, purchase.amount)
            raise
        deliver = Payment(
            account=company.address,
            destination=buyer.address,
            amount=MPTAmount(mpt_issuance_id=purchase.instrument_ref, value=str(purchase.units)),
        )
        tx_ids.append((await self.ledger._run(f"{op_id}/5", company, deliver, "unit delivery")).tx_id)
        return LedgerResult(tuple(tx_ids))

    async def settle_with_batch(self, op_id: str, purchase: Purchase, mint: bool = True) -> LedgerResult:
        """Delivery versus payment in one all-or-nothing XLS-56 Batch, submitted and paid for by the
        stablecoin issuer, co-signed by the buyer and the instrument issuer: holder opt-in and
        authorisation (when needed), stablecoin issued to the buyer, buyer pays the company, company
        delivers the units. Either all of it happens or none."""
        batch_id = f"{op_id}/batch"
        if await self.ledger.journal.get(batch_id) is not None:
            outcome = await self.ledger.submitter.batches.resume(batch_id, "purchase batch")
            return LedgerResult((outcome.tx_id, *outcome.extras.get("inner", [])))
        buyer, ref = purchase.buyer, purchase.instrument_ref
        issuer = await self.ledger.platform("issuer")
        company = await self.ledger.platform("instrument_issuer")
        investor = self.ledger._investor(buyer)
        await self.precheck_buyer(purchase)
        if not mint:
            await self.precheck_balance(purchase)
        token = await self.ledger._mptoken(ref, buyer.address)
        inners: list[tuple[Signer, Transaction]] = []
        tx_ids: list[str] = []
        if token is None:
            tx_ids += await self.ledger._ensure_xrp(f"{op_id}/reserve", buyer.address, 1)
            inners.append((investor, MPTokenAuthorize(account=buyer.address, mptoken_issuance_id=ref)))
        if token is None or not int(token.get("Flags", 0)) & 0x02:
            await self.check_eligible(buyer, ref)
            inners.append(
                (company, MPTokenAuthorize(account=company.address, mptoken_issuance_id=ref, holder=buyer.address))
            )
        amount = self.ledger._iou(issuer.address, purchase.amount)
        if mint:
            inners.append((issuer, Payment(account=issuer.address, destination=buyer.address, amount=amount)))
        inners += [
            (investor, Payment(account=buyer.address, destination=company.address, amount=amount)),
            (
                company,
                Payment(
                    account=company.address,
                    destination=buyer.address,
                    amount=MPTAmount(mpt_issuance_id=ref, value=str(purchase.units)),
                ),
            ),
        ]
        outcome = await self.ledger.submitter.batches.run(batch_id, issuer, inners, "purchase batch")
        return LedgerResult((*tx_ids, outcome.tx_id, *outcome.extras.get("inner", [])))

    async def check_eligible(self, wallet: Wallet, ref: str) -> None:
        classification = await self.ledger.classification_of(wallet.address)
        eligible = await self.ledger.eligible_classes(ref)
        if classification is None or classification not in eligible:
            raise ComplianceRejected(
                f"{wallet.address} is classified {classification.name if classification else 'nowhere'};"
                f" the instrument admits {sorted(c.name for c in eligible)}",
                reason="not-eligible",
            )

    async def precheck_buyer(self, purchase: Purchase) -> None:
        """Refuse before issuing anything if the chain already says no (frozen or locked)."""
        if await self.ledger.is_frozen(purchase.buyer.address):
            raise ComplianceRejected(f"{purchase.buyer.address}'s stablecoin trust line is frozen", reason="tecFROZEN")
        token = await self.ledger._mptoken(purchase.instrument_ref, purchase.buyer.address)
        if token and int(token.get("Flags", 0)) & LSF_MPT_LOCKED:
            raise ComplianceRejected(f"{purchase.buyer.address}'s units are locked", reason="tecLOCKED")

    async def precheck_balance(self, purchase: Purchase) -> None:
        """An order paid from the balance: refuse before any leg if the balance is short."""
        balance = await self.ledger.stablecoin_balance(purchase.buyer.address)
        if balance < purchase.amount:
            raise LedgerRejected(
                f"the buyer's balance {balance} does not cover the order {purchase.amount}", reason="InsufficientFunds"
            )

    async def undo_issue(self, op_id: str, wallet: Wallet, amount: Money) -> None:
        issuer = await self.ledger.platform("issuer")
        claw = Clawback(
            account=issuer.address,
            amount=IssuedCurrencyAmount(
                currency=self.ledger.config.currency_code, issuer=wallet.address, value=str(amount.as_decimal())
            ),
        )
        await self.ledger._run(f"{op_id}/undo-3", issuer, claw, "clawback of an unsettled issue")
