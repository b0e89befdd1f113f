"""Units and stablecoin never reach or leave a frozen or ineligible holder, on rippled's rules.

rippled's MPT lock binds only between holders (Payment.cpp), and a one-step issue of a trust-line
token ignores freezes (DirectStep.cpp). So the adapter revokes MPT authorisation on freeze and on an
ineligible reclassification, and refuses payouts to frozen trust lines before sending. Each test
also tries the move straight on the ledger, bypassing the adapter, where the ledger must refuse it.
"""

from __future__ import annotations

import pytest
from xrpl.models.amounts import MPTAmount
from xrpl.models.transactions import Payment

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.xrpl import XrplLedger
from drexfy.domain.classification import Classification as C
from drexfy.domain.errors import ComplianceRejected
from drexfy.domain.model import Wallet
from drexfy.domain.ports import Payout, Purchase
from tests.integration.xrpl.conftest import eur, onboard, spec
from tests.support.xrpl_double import LedgerDouble

pytestmark = pytest.mark.xrpl


async def deliver_bypassing_the_adapter(ledger: XrplLedger, ref: str, wallet: Wallet, op: str) -> None:
    """The instrument issuer's own MPT payment, straight to the submitter: no adapter check."""
    company = await ledger.platform("instrument_issuer")
    units = Payment(
        account=company.address, destination=wallet.address, amount=MPTAmount(mpt_issuance_id=ref, value="1")
    )
    await ledger.submitter.run(op, company, units, "units bypassing the adapter")


def authorised(double: LedgerDouble, ref: str, wallet: Wallet) -> bool:
    token = double.engine.validated.mptokens[(ref, wallet.address)]
    return bool(token.flags & 0x02)


async def test_a_frozen_holder_receives_no_units_even_from_the_issuer(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble
) -> None:
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 2, eur(20_000)))
    await ledger.set_frozen("freeze:alice:1", alice, True, [ref])
    assert not authorised(double, ref, alice)
    with pytest.raises(ComplianceRejected) as refused:
        await deliver_bypassing_the_adapter(ledger, ref, alice, "bypass:1")
    assert refused.value.reason == "tecNO_AUTH"
    assert await ledger.units_of(ref, alice.address) == 2
    # Unfrozen and still eligible: authorised again, units move again.
    await ledger.set_frozen("unfreeze:alice:2", alice, False, [ref])
    assert authorised(double, ref, alice)
    await deliver_bypassing_the_adapter(ledger, ref, alice, "bypass:2")
    assert await ledger.units_of(ref, alice.address) == 3


async def test_freezing_revokes_an_opted_in_holder_without_units_too(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble
) -> None:
    """The domain names the instruments a holder has positions in; the adapter also finds the
    MPTokens the wallet holds without units (all units retired, or a purchase that stopped)."""
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 1, eur(10_000)))
    await ledger.distribute("repay:1", ref, [Payout(alice, eur(0), units_to_retire=1)])
    assert await ledger.units_of(ref, alice.address) == 0
    await ledger.set_frozen("freeze:alice:1", alice, True, [])  # no position left in the books
    assert not authorised(double, ref, alice)
    with pytest.raises(ComplianceRejected):
        await deliver_bypassing_the_adapter(ledger, ref, alice, "bypass:1")


async def test_an_ineligible_reclassification_revokes_and_an_eligible_one_restores(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble
) -> None:
    alice = await onboard(ledger, vault, "alice", C.EU_ACCREDITED)
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref  # admits EU classes only
    await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 2, eur(20_000)))
    await ledger.record_classification("classify:alice:2", alice, C.US_NON_ACCREDITED)
    assert not authorised(double, ref, alice)
    with pytest.raises(ComplianceRejected):
        await deliver_bypassing_the_adapter(ledger, ref, alice, "bypass:1")
    with pytest.raises(ComplianceRejected, match="US_NON_ACCREDITED"):
        await ledger.settle_purchase("settle:o2", Purchase("o2", alice, ref, 1, eur(10_000)))
    await ledger.record_classification("classify:alice:3", alice, C.EU_NON_ACCREDITED)
    assert authorised(double, ref, alice)
    await ledger.settle_purchase("settle:o3", Purchase("o3", alice, ref, 1, eur(10_000)))
    assert await ledger.units_of(ref, alice.address) == 3


async def test_a_reclassification_of_a_frozen_holder_does_not_authorise_it(
    ledger: XrplLedger, vault: LocalVault, double: LedgerDouble
) -> None:
    """The block order: SANCTIONED, then frozen; the unblock: the old class back (still frozen: no
    authorisation yet), then unfrozen (authorised again)."""
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 1, eur(10_000)))
    await ledger.record_classification("classify:alice:2", alice, C.SANCTIONED)
    assert not authorised(double, ref, alice)
    await ledger.set_frozen("freeze:alice:1", alice, True, [ref])
    await ledger.record_classification("classify:alice:3", alice, C.EU_ACCREDITED)
    assert not authorised(double, ref, alice)
    await ledger.set_frozen("unfreeze:alice:2", alice, False, [ref])
    assert authorised(double, ref, alice)


async def test_a_payout_to_a_frozen_holder_is_refused_before_anyone_is_paid(
    ledger: XrplLedger, vault: LocalVault
) -> None:
    """On the ledger the stablecoin issuer can pay even a deep-frozen trust line (a direct issue
    skips the freeze checks in rippled's DirectStep.cpp): the adapter refuses it, naming the holder,
    and the resent distribution without that holder pays the others once."""
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    alice, bob = await onboard(ledger, vault, "alice"), await onboard(ledger, vault, "bob")
    await ledger.set_frozen("freeze:bob:1", bob, True, [ref])
    payouts = [Payout(alice, eur(100)), Payout(bob, eur(200))]
    with pytest.raises(ComplianceRejected) as refused:
        await ledger.distribute("repay:1", ref, payouts)
    assert refused.value.party == bob.address
    assert await ledger.stablecoin_balance(alice.address) == eur(0)  # nobody paid before the refusal
    assert await ledger.stablecoin_balance(bob.address) == eur(0)
    await ledger.distribute("repay:1", ref, payouts[:1])
    assert await ledger.stablecoin_balance(alice.address) == eur(100)
    # The ledger itself would have paid the deep-frozen line: the refusal is the adapter's.
    issuer = await ledger.platform("issuer")
    direct = Payment(account=issuer.address, destination=bob.address, amount=ledger._iou(issuer.address, eur(1)))
    await ledger.submitter.run("bypass:pay-bob", issuer, direct, "payout bypassing the adapter")
    assert await ledger.stablecoin_balance(bob.address) == eur(1)
