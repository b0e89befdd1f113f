"""The agent's moves on the XRP Ledger: forced transfer and wallet recovery of MPT units.

An MPT cannot be moved without its holder's signature, so the agent's move is a clawback and a
reissue by the instrument issuer (the issuance is created with lsfMPTCanClawback):

1. `{op}/1/optin`, `{op}/1/authorise`: the receiver holds an authorised MPToken (its opt-in and the
   issuer's authorisation, only for an eligible class: the purchase saga's own step);
2. `{op}/claw`: Clawback with `Holder` = the sender (rippled Clawback.cpp, MPT branch: the issuer
   takes at most the holder's balance, ignoring its lock and authorisation);
3. `{op}/reissue`: the instrument issuer pays the same units to the receiver (Payment.cpp: the
   issuer pays an authorised holder; a locked holder is only refused between holders).

Each step is journalled under its own id, so a retry resumes at the first unfinished one. The
receiver is checked before anything moves (classified, eligible, trust line not frozen, MPToken
not locked); the clawback comes after the receiver's authorisation, so a refused receiver leaves
the sender's units where they were. Between steps 2 and 3 the units are back with the issuer:
never created, never lost (outstanding falls, then rises by the same amount).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xrpl.core.binarycodec import decode
from xrpl.models.amounts import MPTAmount
from xrpl.models.transactions import Clawback, Payment

from drexfy.domain.errors import ComplianceRejected, LedgerRejected
from drexfy.domain.model import Wallet
from drexfy.domain.ports import LedgerResult

if TYPE_CHECKING:
    from drexfy.adapters.xrpl.ledger import XrplLedger

LSF_MPT_LOCKED = 0x01


class Agent:
    """`XrplLedger.force_transfer` and `XrplLedger.recover_wallet`."""

    def __init__(self, ledger: XrplLedger) -> None:
        self.ledger = ledger

    async def force_transfer(self, op_id: str, ref: str, sender: Wallet, receiver: Wallet, units: int) -> LedgerResult:
        if units <= 0:
            raise LedgerRejected("a forced transfer moves a positive number of units", reason="temBAD_AMOUNT")
        if await self.ledger.journal.get(f"{op_id}/claw") is None:
            held = await self.ledger.units_of(ref, sender.address)
            if held < units:
                raise LedgerRejected(
                    f"{sender.address} holds {held} units, not {units}", reason="tecINSUFFICIENT_FUNDS"
                )
        return await self._move(op_id, ref, sender, receiver, units)

    async def recover_wallet(self, op_id: str, ref: str, lost: Wallet, new: Wallet) -> LedgerResult:
        entry = await self.ledger.journal.get(f"{op_id}/claw")
        if entry is not None and entry.payload is not None:
            units = int(decode(entry.payload)["Amount"]["value"])  # resuming: the journalled amount stands
        else:
            units = await self.ledger.units_of(ref, lost.address)
            if units == 0:
                return LedgerResult(())
        return await self._move(op_id, ref, lost, new, units)

    async def _move(self, op_id: str, ref: str, sender: Wallet, receiver: Wallet, units: int) -> LedgerResult:
        ledger = self.ledger
        company = await ledger.platform("instrument_issuer")
        if receiver.address in (sender.address, company.address):
            raise LedgerRejected(f"{receiver.address} cannot receive this move", reason="temMALFORMED")
        if await ledger.journal.get(f"{op_id}/claw") is None:
            await self._check_receiver(ref, receiver)
        tx_ids = await ledger.purchases.authorise_holder(f"{op_id}/1", ref, receiver)
        amount = MPTAmount(mpt_issuance_id=ref, value=str(units))
        claw = Clawback(account=company.address, amount=amount, holder=sender.address)
        tx_ids.append((await ledger._run(f"{op_id}/claw", company, claw, "MPT clawback")).tx_id)
        reissue = Payment(account=company.address, destination=receiver.address, amount=amount)
        tx_ids.append((await ledger._run(f"{op_id}/reissue", company, reissue, "MPT reissue")).tx_id)
        return LedgerResult(tuple(tx_ids))

    async def _check_receiver(self, ref: str, receiver: Wallet) -> None:
        """Classified and eligible, trust line not frozen, MPToken not locked: the ledger would let
        the issuer pay a locked holder, the platform does not."""
        await self.ledger.purchases.check_eligible(receiver, ref)
        if await self.ledger.is_frozen(receiver.address):
            raise ComplianceRejected(
                f"{receiver.address}'s stablecoin trust line is frozen", reason="tecFROZEN", party=receiver.address
            )
        token = await self.ledger._mptoken(ref, receiver.address)
        if token and int(token.get("Flags", 0)) & LSF_MPT_LOCKED:
            raise ComplianceRejected(
                f"{receiver.address}'s units are locked", reason="tecLOCKED", party=receiver.address
            )
