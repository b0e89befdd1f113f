"""A holder sending units to another holder on the ledger itself, outside the platform (what the
token lets eligible holders do): the register must notice. Test-only: each ledger's own way of
signing as the holder (memory: directly; anvil: an impersonated account; XRPL double: a Payment
signed with the holder's custodial key)."""

from __future__ import annotations

import uuid
from typing import Any

from drexfy.adapters.memory import MemoryLedger
from drexfy.domain.model import Wallet


async def transfer_on_ledger(ledger: Any, ref: str, sender: Wallet, receiver: Wallet, units: int) -> None:
    ledger = getattr(ledger, "_inner", ledger)  # the BDD world's crash-injecting wrapper
    if isinstance(ledger, MemoryLedger):
        ledger.transfer_units(ref, sender.address, receiver.address, units)
        return
    if ledger.kind == "evm":
        await _evm(ledger, ref, sender.address, receiver.address, units)
        return
    if ledger.kind == "xrpl":
        await _xrpl(ledger, ref, sender, receiver, units)
        return
    raise NotImplementedError(f"no holder transfer on {ledger.kind}")


async def _evm(ledger: Any, ref: str, sender: str, receiver: str, units: int) -> None:
    w3 = ledger.w3
    await w3.provider.make_request("anvil_impersonateAccount", [sender])
    await w3.provider.make_request("anvil_setBalance", [sender, hex(10**18)])
    try:
        digest = await ledger.instrument(ref).functions.transfer(receiver, units).transact({"from": sender})
        receipt = await w3.eth.wait_for_transaction_receipt(digest, timeout=30)
        assert receipt["status"] == 1, "the holder's transfer reverted"
    finally:
        await w3.provider.make_request("anvil_stopImpersonatingAccount", [sender])


async def _xrpl(ledger: Any, ref: str, sender: Wallet, receiver: Wallet, units: int) -> None:
    from xrpl.models.amounts import MPTAmount
    from xrpl.models.transactions import Payment

    payment = Payment(
        account=sender.address, destination=receiver.address, amount=MPTAmount(mpt_issuance_id=ref, value=str(units))
    )
    await ledger._run(f"holder-transfer:{uuid.uuid4().hex}", ledger._investor(sender), payment, "holder transfer")
