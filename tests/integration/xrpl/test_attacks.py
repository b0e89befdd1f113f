"""The trust model's attack list on the XRP Ledger, per platform account, on the ledger double.

As on EVM (tests/integration/evm/test_attacks.py), an attacker holds one platform account's key
(the registrar or the funding account: the operational "hot" accounts) plus an eligible investor
wallet of its own, and tries to create stablecoin or units, to authorise, unlock or claw back,
straight on the ledger (its own signed transactions, no adapter check in the way). rippled's rules
(Payment.cpp, MPTokenAuthorize.cpp, MPTokenIssuanceSet.cpp, Clawback.cpp) refuse each, and no
balance moves. The issuers' own keys are the limit of what the ledger can enforce: the instrument
issuer cannot exceed an issuance's MaximumAmount; the stablecoin issuer can issue to any authorised
line, which is why it stays cold behind a multisign list (docs/xrpl.md, "Issuer cold, operations hot").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from xrpl.models.amounts import IssuedCurrencyAmount, MPTAmount
from xrpl.models.transactions import (
    Clawback,
    MPTokenAuthorize,
    MPTokenIssuanceSet,
    MPTokenIssuanceSetFlag,
    Payment,
)

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.xrpl import XrplLedger
from drexfy.domain.classification import Classification as C
from drexfy.domain.errors import LedgerRejected
from drexfy.domain.model import Wallet
from drexfy.domain.ports import Purchase
from tests.integration.xrpl.conftest import eur, onboard, spec

pytestmark = pytest.mark.xrpl


def attempts(
    ledger: XrplLedger, me: str, ref: str, issuer: str, mine: Wallet, victim: Wallet
) -> Iterator[tuple[str, Any]]:
    code = ledger.config.currency_code
    yield (
        "issue stablecoin to its own wallet",
        Payment(
            account=me,
            destination=mine.address,
            amount=IssuedCurrencyAmount(currency=code, issuer=issuer, value="1000000"),
        ),
    )
    yield (
        "issue units to its own wallet",
        Payment(account=me, destination=mine.address, amount=MPTAmount(mpt_issuance_id=ref, value="100")),
    )
    yield (
        "authorise a wallet for the instrument",
        MPTokenAuthorize(account=me, mptoken_issuance_id=ref, holder=mine.address),
    )
    yield (
        "unlock a locked holder",
        MPTokenIssuanceSet(
            account=me, mptoken_issuance_id=ref, holder=victim.address, flags=MPTokenIssuanceSetFlag.TF_MPT_UNLOCK
        ),
    )
    yield (
        "claw back a victim's units",
        Clawback(account=me, amount=MPTAmount(mpt_issuance_id=ref, value="1"), holder=victim.address),
    )
    yield (
        "claw back a victim's stablecoin",
        Clawback(account=me, amount=IssuedCurrencyAmount(currency=code, issuer=victim.address, value="1")),
    )


@pytest.mark.parametrize("role", ["registrar", "funding"])
async def test_an_operational_account_alone_creates_and_moves_nothing(
    ledger: XrplLedger, vault: LocalVault, role: str
) -> None:
    attacker = await ledger.platform(role)
    issuer = (await ledger.platform("issuer")).address
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    victim = await onboard(ledger, vault, "victim", C.EU_ACCREDITED)
    await ledger.settle_purchase("settle:v", Purchase("v", victim, ref, 3, eur(30_000)))
    await ledger.set_frozen("freeze:victim:1", victim, True, [ref])
    mine = await onboard(ledger, vault, "mine", C.EU_NON_ACCREDITED)  # eligible, never authorised for units

    async def state() -> tuple[Any, ...]:
        return (
            await ledger.units_of(ref, victim.address),
            await ledger.units_of(ref, mine.address),
            await ledger.stablecoin_balance(mine.address),
            (await ledger._issuance(ref)).get("OutstandingAmount"),
        )

    before = await state()
    succeeded, refusals = [], {}
    for n, (name, tx) in enumerate(attempts(ledger, attacker.address, ref, issuer, mine, victim)):
        try:
            await ledger.submitter.run(f"attack:{role}:{n}", attacker, tx, name)
        except LedgerRejected as refused:
            refusals[name] = refused.reason
            continue
        succeeded.append(name)
    assert succeeded == [], f"the {role} account alone could: {succeeded}"
    # Refused by the ledger's rules (a result code), not by something on the way.
    assert all(str(r).startswith(("tec", "tem")) for r in refusals.values()), refusals
    assert await state() == before


async def test_the_instrument_issuer_cannot_issue_past_the_issuances_maximum(
    ledger: XrplLedger, vault: LocalVault
) -> None:
    """Its worst case: it hands unsold units to holders it authorised itself, never more than the
    instrument's total (MaximumAmount; Payment.cpp refuses with tecPATH_PARTIAL)."""
    company = await ledger.platform("instrument_issuer")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    holder = await onboard(ledger, vault, "holder")
    await ledger.settle_purchase("settle:h", Purchase("h", holder, ref, 1, eur(10_000)))
    too_many = Payment(
        account=company.address, destination=holder.address, amount=MPTAmount(mpt_issuance_id=ref, value="1000")
    )
    with pytest.raises(LedgerRejected) as refused:
        await ledger.submitter.run("attack:company:1", company, too_many, "past the maximum")
    assert refused.value.reason == "tecPATH_PARTIAL"
    assert await ledger.units_of(ref, holder.address) == 1
