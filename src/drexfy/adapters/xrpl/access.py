"""Who may hold and move the platform's tokens on the XRP Ledger, kept in step with the domain.

Checked against rippled's sources (XRPLF/rippled):
- Payment.cpp, MPT branch: `requireAuth` is checked for the sender and the receiver (the issuer is
  exempt), then `canTransfer`; the MPT **lock** (tecLOCKED) binds only between two holders: a locked
  holder still receives from and pays back the issuer, under a global or a per-holder lock
  (MPToken_test.cpp asserts both). A lock alone therefore never keeps units from a frozen holder.
- View.cpp `requireAuth` (MPT): under lsfMPTRequireAuth an MPToken without lsfMPTAuthorized is
  refused with tecNO_AUTH, as sender and as receiver, whoever the other party is.
- MPTokenAuthorize.cpp: the issuer clears lsfMPTAuthorized with tfMPTUnauthorize and Holder.
- DirectStep.cpp: a one-step issue or redeem of a trust-line token skips `checkFreeze`, so the
  stablecoin issuer can pay even a deep-frozen holder; only rippling between holders is stopped.

So the adapter keeps compliance by two means of its own:
1. **On the ledger**: a holder that is frozen or whose classification the instrument does not admit
   loses its MPT authorisation (`revoke`); it gets it back (`grant`) only when it is neither frozen
   nor ineligible. The ledger then refuses units to and from it, even from the issuer.
2. **Before sending**: payouts to a frozen trust line and unit returns from a locked or unauthorised
   holder are refused by the adapter (`ComplianceRejected` naming the holder), because the ledger
   would let the stablecoin issuer pay a frozen holder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xrpl.core.addresscodec import decode_classic_address
from xrpl.models.requests import AccountObjects
from xrpl.models.requests.account_objects import AccountObjectType
from xrpl.models.transactions import MPTokenAuthorize, MPTokenAuthorizeFlag

from drexfy.adapters.xrpl.rpc import RpcFailure
from drexfy.domain.classification import Classification
from drexfy.domain.errors import ComplianceRejected, LedgerUnavailable
from drexfy.domain.model import Wallet
from drexfy.domain.ports import Payout

if TYPE_CHECKING:
    from drexfy.adapters.xrpl.ledger import XrplLedger

LSF_MPT_LOCKED = 0x01
LSF_MPT_AUTHORIZED = 0x02
#: Reads in flight at once when checking the payees of a distribution.
CHECKS_AT_ONCE = 16


class TokenAccess:
    """MPT authorisation and the pre-send checks of one `XrplLedger`."""

    def __init__(self, ledger: XrplLedger) -> None:
        self.ledger = ledger

    # --- reads ---------------------------------------------------------------------------------
    async def tokens_of(self, address: str) -> dict[str, dict[str, Any]]:
        """The wallet's MPTokens for issuances of the instrument issuer, by issuance id (validated
        ledger). An MPTokenIssuanceID is the issuer's sequence (4 bytes) then its account id."""
        company = await self.ledger.platform("instrument_issuer")
        issuer_id = decode_classic_address(company.address)
        out: dict[str, dict[str, Any]] = {}
        marker: Any = None
        while True:
            request = AccountObjects(
                account=address, type=AccountObjectType.MPTOKEN, ledger_index="validated", marker=marker
            )
            try:
                result = await self.ledger.rpc.call(request)
            except RpcFailure as failure:
                if failure.error == "actNotFound":
                    return {}
                raise LedgerUnavailable(f"account_objects failed: {failure}") from failure
            for node in result.get("account_objects", []):
                ref = str(node.get("MPTokenIssuanceID", "")).upper()
                if node.get("LedgerEntryType") == "MPToken" and bytes.fromhex(ref)[4:] == issuer_id:
                    out[ref] = dict(node)
            marker = result.get("marker")
            if not marker:
                return out

    @staticmethod
    def authorised(token: dict[str, Any] | None) -> bool:
        return bool(token and int(token.get("Flags", 0)) & LSF_MPT_AUTHORIZED)

    @staticmethod
    def locked(token: dict[str, Any] | None) -> bool:
        return bool(token and int(token.get("Flags", 0)) & LSF_MPT_LOCKED)

    async def may_hold(self, wallet: Wallet, ref: str, classification: Classification | None) -> bool:
        """Eligible for the instrument and not frozen: the only state in which a holder is authorised."""
        if classification is None or classification not in await self.ledger.eligible_classes(ref):
            return False
        return not await self.ledger.is_frozen(wallet.address)

    # --- authorisation -------------------------------------------------------------------------
    async def _authorise(self, op_id: str, ref: str, wallet: Wallet, allow: bool, what: str) -> list[str]:
        company = await self.ledger.platform("instrument_issuer")
        tx = MPTokenAuthorize(
            account=company.address,
            mptoken_issuance_id=ref,
            holder=wallet.address,
            flags=0 if allow else MPTokenAuthorizeFlag.TF_MPT_UNAUTHORIZE,
        )
        return [(await self.ledger.submitter.run(op_id, company, tx, what)).tx_id]

    async def revoke(self, op_id: str, ref: str, wallet: Wallet, token: dict[str, Any] | None) -> list[str]:
        """Clear the holder's lsfMPTAuthorized (once per `op_id`; nothing to do if already clear)."""
        if await self.ledger.journal.get(op_id) is None and not self.authorised(token):
            return []
        return await self._authorise(op_id, ref, wallet, False, "MPT authorisation revoked")

    async def grant(self, op_id: str, ref: str, wallet: Wallet, token: dict[str, Any] | None) -> list[str]:
        """Set the holder's lsfMPTAuthorized (the caller has checked `may_hold`)."""
        if await self.ledger.journal.get(op_id) is None and (token is None or self.authorised(token)):
            return []
        return await self._authorise(op_id, ref, wallet, True, "MPT authorisation")

    async def follow_classification(self, op_id: str, wallet: Wallet, classification: Classification) -> list[str]:
        """After a (re)classification: every instrument the wallet holds an MPToken of either admits
        the new class (authorised again unless frozen) or not (authorisation revoked)."""
        tx_ids: list[str] = []
        for ref, token in sorted((await self.tokens_of(wallet.address)).items()):
            if await self.may_hold(wallet, ref, classification):
                tx_ids += await self.grant(f"{op_id}/auth/{ref}", ref, wallet, token)
            elif classification not in await self.ledger.eligible_classes(ref) or await self.ledger.journal.get(
                f"{op_id}/deauth/{ref}"
            ):
                tx_ids += await self.revoke(f"{op_id}/deauth/{ref}", ref, wallet, token)
        return tx_ids

    # --- checks before sending -----------------------------------------------------------------
    async def refuse_frozen_payees(self, op_id: str, payouts: Sequence[Payout]) -> None:
        """The ledger lets the stablecoin issuer pay a frozen, even deep-frozen, trust line
        (DirectStep.cpp): refuse the first frozen payee, in payout order, before paying anyone.
        Payouts already journalled under `op_id` are resumed, not checked again."""
        limit = asyncio.Semaphore(CHECKS_AT_ONCE)

        async def frozen(payout: Payout) -> bool:
            if not payout.amount.is_positive() or await self.ledger.journal.get(f"{op_id}/{payout.wallet.address}/pay"):
                return False
            async with limit:
                return await self.ledger.is_frozen(payout.wallet.address)

        flags = await asyncio.gather(*(frozen(payout) for payout in payouts))
        for payout, is_frozen in zip(payouts, flags, strict=True):
            if is_frozen:
                address = payout.wallet.address
                raise ComplianceRejected(
                    f"{address}'s stablecoin trust line is frozen: no payout", reason="tecFROZEN", party=address
                )

    async def refuse_unit_return(self, wallet: Wallet, ref: str) -> None:
        """A holder returns units only from an authorised, unlocked MPToken. The ledger refuses an
        unauthorised one itself (tecNO_AUTH) but lets a locked holder pay the issuer back."""
        token = await self.ledger._mptoken(ref, wallet.address)
        if self.locked(token):
            raise ComplianceRejected(f"{wallet.address}'s units are locked", reason="tecLOCKED", party=wallet.address)
        if not self.authorised(token):
            raise ComplianceRejected(
                f"{wallet.address} is not authorised to hold {ref}", reason="tecNO_AUTH", party=wallet.address
            )
