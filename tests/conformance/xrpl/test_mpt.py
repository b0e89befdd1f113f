"""MPT payments, authorisation, locks and clawback as rippled does them."""

from __future__ import annotations

import pytest
from xrpl.models.transactions import (
    Clawback,
    MPTokenAuthorize,
    MPTokenAuthorizeFlag,
    MPTokenIssuanceCreate,
    MPTokenIssuanceCreateFlag,
    MPTokenIssuanceSet,
    MPTokenIssuanceSetFlag,
)
from xrpl.wallet import Wallet

from tests.conformance.xrpl.conftest import ALL_MPT, Applied, allow, holder_of, issue_mpt, mpt, opt_in, pay
from tests.integration.xrpl.chain import Chain

pytestmark = pytest.mark.xrpl


def lock(chain: Chain, issuer: Wallet, ref: str, holder: Wallet | None = None, unlock: bool = False) -> str:
    flag = MPTokenIssuanceSetFlag.TF_MPT_UNLOCK if unlock else MPTokenIssuanceSetFlag.TF_MPT_LOCK
    tx = MPTokenIssuanceSet(
        account=issuer.address, mptoken_issuance_id=ref, holder=holder.address if holder else None, flags=flag
    )
    return chain.submit(issuer, tx)


@pytest.mark.parametrize("per_holder", [True, False], ids=["per-holder lock", "global lock"])
def test_a_lock_binds_between_holders_only(chain: Chain, per_holder: bool) -> None:
    """Payment.cpp (MPT branch): `isAnyFrozen` -> tecLOCKED only when neither party is the issuer;
    "holder can send back to issuer, issuer can send to holder". MPToken_test.cpp (testPayment)
    asserts both directions under a global and an individual lock."""
    issuer = chain.new_account()
    ref = issue_mpt(chain, issuer)
    alice, bob = holder_of(chain, issuer, ref), holder_of(chain, issuer, ref)
    assert lock(chain, issuer, ref, alice if per_holder else None) == "tesSUCCESS"
    assert pay(chain, alice, bob, mpt(ref, "1")) == "tecLOCKED"
    assert pay(chain, bob, alice, mpt(ref, "1")) == "tecLOCKED"
    assert pay(chain, issuer, alice, mpt(ref, "1")) == "tesSUCCESS"
    assert pay(chain, alice, issuer, mpt(ref, "2")) == "tesSUCCESS"
    assert chain.engine.open.mptokens[(ref, alice.address)].amount == 9
    assert lock(chain, issuer, ref, alice if per_holder else None, unlock=True) == "tesSUCCESS"
    assert pay(chain, alice, bob, mpt(ref, "1")) == "tesSUCCESS"


def test_an_unauthorised_holder_can_neither_receive_nor_pay_back(chain: Chain) -> None:
    """Payment.cpp calls View.cpp `requireAuth` for the sender and for the receiver (the issuer is
    exempt): under lsfMPTRequireAuth an MPToken without lsfMPTAuthorized is tecNO_AUTH either way,
    even with the issuer as the other party. MPTokenAuthorize.cpp: the issuer's tfMPTUnauthorize
    clears the flag."""
    issuer = chain.new_account()
    ref = issue_mpt(chain, issuer)
    alice = holder_of(chain, issuer, ref)
    assert allow(chain, issuer, alice, ref, MPTokenAuthorizeFlag.TF_MPT_UNAUTHORIZE) == "tesSUCCESS"
    assert pay(chain, issuer, alice, mpt(ref, "1")) == "tecNO_AUTH"
    assert pay(chain, alice, issuer, mpt(ref, "1")) == "tecNO_AUTH"
    assert chain.engine.open.mptokens[(ref, alice.address)].amount == 10
    assert allow(chain, issuer, alice, ref) == "tesSUCCESS"
    assert pay(chain, alice, issuer, mpt(ref, "1")) == "tesSUCCESS"


def test_without_an_mptoken_nothing_is_received(chain: Chain) -> None:
    """View.cpp `requireAuth`: no MPToken is tecNO_AUTH (also without RequireAuth)."""
    issuer = chain.new_account()
    ref = issue_mpt(chain, issuer, 0)
    stranger = chain.new_account()
    assert pay(chain, issuer, stranger, mpt(ref, "1")) == "tecNO_AUTH"
    assert opt_in(chain, stranger, ref) == "tesSUCCESS"
    assert pay(chain, issuer, stranger, mpt(ref, "1")) == "tesSUCCESS"  # no RequireAuth: opt-in is enough


def test_without_can_transfer_only_the_issuer_is_a_counterparty(chain: Chain) -> None:
    """View.cpp `canTransfer`: without lsfMPTCanTransfer a payment where neither party is the
    issuer is tecNO_AUTH."""
    issuer = chain.new_account()
    ref = issue_mpt(chain, issuer, int(MPTokenIssuanceCreateFlag.TF_MPT_REQUIRE_AUTH))
    alice, bob = holder_of(chain, issuer, ref), holder_of(chain, issuer, ref)
    assert pay(chain, alice, bob, mpt(ref, "1")) == "tecNO_AUTH"
    assert pay(chain, alice, issuer, mpt(ref, "1")) == "tesSUCCESS"


def test_shortfalls_are_path_partial(chain: Chain) -> None:
    """Payment.cpp: accountSend's tecINSUFFICIENT_FUNDS (sender short) and tecPATH_DRY (issuing
    above MaximumAmount, View.cpp rippleSendMPT) are reported as tecPATH_PARTIAL."""
    issuer = chain.new_account()
    ref = issue_mpt(chain, issuer, ALL_MPT, maximum="100")
    alice, bob = holder_of(chain, issuer, ref, "95"), holder_of(chain, issuer, ref, "0")
    assert pay(chain, issuer, alice, mpt(ref, "6")) == "tecPATH_PARTIAL"
    assert pay(chain, bob, alice, mpt(ref, "1")) == "tecPATH_PARTIAL"  # bob holds nothing
    assert pay(chain, alice, bob, mpt(ref, "96")) == "tecPATH_PARTIAL"
    assert pay(chain, alice, issuer, mpt(ref, "95")) == "tesSUCCESS"
    assert chain.engine.open.issuances[ref].outstanding == 0  # paid back to the issuer: burned


def test_authorize_refusals_and_their_order(chain: Chain) -> None:
    """MPTokenAuthorize.cpp preclaim, issuer side: holder account first (tecNO_DST), then the
    issuance (tecOBJECT_NOT_FOUND), the issuer (tecNO_PERMISSION), RequireAuth (tecNO_AUTH), the
    holder's MPToken (tecOBJECT_NOT_FOUND). All tec: fee claimed, sequence used."""
    issuer, other = chain.new_account(), chain.new_account()
    ref = issue_mpt(chain, issuer)
    plain = issue_mpt(chain, issuer, 0)
    ghost = Wallet.create().address
    before = Applied(chain, issuer)
    assert allow(chain, issuer, ghost, "00" * 24) == "tecNO_DST"  # holder checked before issuance
    assert before.fee_and_sequence_taken()
    assert allow(chain, issuer, other, "00" * 24) == "tecOBJECT_NOT_FOUND"
    assert allow(chain, other, issuer, ref) == "tecNO_PERMISSION"
    assert allow(chain, issuer, other, plain) == "tecNO_AUTH"
    assert allow(chain, issuer, other, ref) == "tecOBJECT_NOT_FOUND"  # not opted in


def test_holder_opt_in_and_opt_out(chain: Chain) -> None:
    """MPTokenAuthorize.cpp, holder side: opting out needs the MPToken (tecOBJECT_NOT_FOUND, before
    any issuance check) and a zero balance (tecHAS_OBLIGATIONS); the issuer cannot hold its own
    MPT (tecNO_PERMISSION); a second opt-in is tecDUPLICATE. The MPToken is one owned object."""
    issuer = chain.new_account()
    ref = issue_mpt(chain, issuer)
    alice = chain.new_account()
    out = MPTokenAuthorize(
        account=alice.address, mptoken_issuance_id="00" * 24, flags=MPTokenAuthorizeFlag.TF_MPT_UNAUTHORIZE
    )
    assert chain.submit(alice, out) == "tecOBJECT_NOT_FOUND"
    assert opt_in(chain, issuer, ref) == "tecNO_PERMISSION"
    owners = chain.owner_count(alice.address)
    assert opt_in(chain, alice, ref) == "tesSUCCESS"
    assert chain.owner_count(alice.address) == owners + 1
    assert opt_in(chain, alice, ref) == "tecDUPLICATE"
    assert allow(chain, issuer, alice, ref) == "tesSUCCESS"
    assert pay(chain, issuer, alice, mpt(ref, "1")) == "tesSUCCESS"
    leave = MPTokenAuthorize(
        account=alice.address, mptoken_issuance_id=ref, flags=MPTokenAuthorizeFlag.TF_MPT_UNAUTHORIZE
    )
    assert chain.submit(alice, leave) == "tecHAS_OBLIGATIONS"
    assert pay(chain, alice, issuer, mpt(ref, "1")) == "tesSUCCESS"
    assert chain.submit(alice, leave) == "tesSUCCESS"
    assert chain.owner_count(alice.address) == owners


def test_issuance_set_refusals(chain: Chain) -> None:
    """MPTokenIssuanceSet.cpp: lock and unlock together is temINVALID_FLAG and Holder = Account
    temMALFORMED (not applied, no fee); a Holder account that does not exist is tecNO_DST, one
    without an MPToken tecOBJECT_NOT_FOUND, an issuance without lsfMPTCanLock tecNO_PERMISSION."""
    issuer = chain.new_account()
    ref = issue_mpt(chain, issuer)
    plain = issue_mpt(chain, issuer, 0)
    stranger = chain.new_account()
    before = Applied(chain, issuer)
    both = {"TransactionType": "MPTokenIssuanceSet", "Account": issuer.address, "MPTokenIssuanceID": ref, "Flags": 3}
    assert chain.submit_raw(issuer, both) == "temINVALID_FLAG"
    assert before.untouched()
    ghost = Wallet.create()
    assert lock(chain, issuer, ref, ghost) == "tecNO_DST"
    assert before.fee_and_sequence_taken()
    assert lock(chain, issuer, ref, stranger) == "tecOBJECT_NOT_FOUND"
    assert lock(chain, issuer, plain) == "tecNO_PERMISSION"


def test_clawback_ignores_locks_and_authorisation_and_needs_the_holder(chain: Chain) -> None:
    """Clawback.cpp: the holder account must exist (terNO_ACCOUNT, not applied); the balance is
    read with fhIGNORE_FREEZE and ahIGNORE_AUTH, so a locked, unauthorised holder is clawed back;
    at most the balance is taken."""
    issuer = chain.new_account()
    ref = issue_mpt(chain, issuer)
    alice = holder_of(chain, issuer, ref)
    assert lock(chain, issuer, ref, alice) == "tesSUCCESS"
    assert allow(chain, issuer, alice, ref, MPTokenAuthorizeFlag.TF_MPT_UNAUTHORIZE) == "tesSUCCESS"
    claw = Clawback(account=issuer.address, amount=mpt(ref, "25"), holder=alice.address)
    assert chain.submit(issuer, claw) == "tesSUCCESS"
    assert chain.engine.open.mptokens[(ref, alice.address)].amount == 0
    assert chain.submit(issuer, claw) == "tecINSUFFICIENT_FUNDS"
    ghost = Clawback(account=issuer.address, amount=mpt(ref, "1"), holder=Wallet.create().address)
    before = Applied(chain, issuer)
    assert chain.submit(issuer, ghost) == "terNO_ACCOUNT"
    assert before.untouched()


def test_issuance_create_preflight(chain: Chain) -> None:
    """MPTokenIssuanceCreate.cpp preflight: TransferFee above 50000 is temBAD_TRANSFER_FEE; a fee
    without tfMPTCanTransfer temMALFORMED; MaximumAmount 0 temMALFORMED. The issuance is one owned
    object of the issuer."""
    issuer = chain.new_account()
    can_transfer = int(MPTokenIssuanceCreateFlag.TF_MPT_CAN_TRANSFER)
    too_high = {"TransactionType": "MPTokenIssuanceCreate", "Account": issuer.address, "TransferFee": 50_001}
    assert chain.submit_raw(issuer, {**too_high, "Flags": can_transfer}) == "temBAD_TRANSFER_FEE"
    assert chain.submit_raw(issuer, {**too_high, "TransferFee": 10}) == "temMALFORMED"
    assert chain.submit(issuer, MPTokenIssuanceCreate(account=issuer.address, maximum_amount="0")) == "temMALFORMED"
    owners = chain.owner_count(issuer.address)
    issue_mpt(chain, issuer)
    assert chain.owner_count(issuer.address) == owners + 1


def test_clawback_then_reissue_moves_units_without_creating_any(chain: Chain) -> None:
    """The platform's forced transfer and wallet recovery on the XRP Ledger. Clawback.cpp
    `applyHelper<MPTIssue>`: `rippleCredit(holder -> issuer)` of min(balance, amount), which lowers
    the issuance's OutstandingAmount; Payment.cpp (MPT branch, `rippleSendMPT`): the issuer's
    payment raises it again and is refused past MaximumAmount (tecPATH_PARTIAL), so a reissue can
    only put back what the clawback took."""
    issuer = chain.new_account()
    ref = issue_mpt(chain, issuer, maximum="20")
    lost, new = holder_of(chain, issuer, ref), holder_of(chain, issuer, ref, "0")
    other = holder_of(chain, issuer, ref)
    issuance = chain.engine.open.issuances[ref]
    assert issuance.outstanding == 20
    assert lock(chain, issuer, ref, lost) == "tesSUCCESS"  # a locked holder is clawed back all the same
    claw = Clawback(account=issuer.address, amount=mpt(ref, "10"), holder=lost.address)
    assert chain.submit(issuer, claw) == "tesSUCCESS"
    assert issuance.outstanding == 10
    assert pay(chain, issuer, new, mpt(ref, "10")) == "tesSUCCESS"
    assert issuance.outstanding == 20
    assert pay(chain, issuer, new, mpt(ref, "1")) == "tecPATH_PARTIAL"
    assert chain.engine.open.mptokens[(ref, lost.address)].amount == 0
    assert chain.engine.open.mptokens[(ref, new.address)].amount == 10
    assert chain.engine.open.mptokens[(ref, other.address)].amount == 10


def test_clawback_needs_the_flag_the_issuer_and_a_holder(chain: Chain) -> None:
    """Clawback.cpp: preflightHelper<MPTIssue> - no Holder, or the issuer as Holder, is temMALFORMED
    (nothing applied); preclaimHelper<MPTIssue> - an issuance without lsfMPTCanClawback, or an
    account that is not its issuer, is tecNO_PERMISSION; a holder without an MPToken is
    tecOBJECT_NOT_FOUND (fee and sequence taken)."""
    issuer = chain.new_account()
    plain = issue_mpt(chain, issuer, ALL_MPT & ~int(MPTokenIssuanceCreateFlag.TF_MPT_CAN_CLAWBACK))
    alice = holder_of(chain, issuer, plain)
    assert chain.submit(issuer, Clawback(account=issuer.address, amount=mpt(plain, "1"), holder=alice.address)) == (
        "tecNO_PERMISSION"
    )
    ref = issue_mpt(chain, issuer)
    bob = holder_of(chain, issuer, ref)
    impostor = chain.new_account()
    claw = Clawback(account=impostor.address, amount=mpt(ref, "1"), holder=bob.address)
    assert chain.submit(impostor, claw) == "tecNO_PERMISSION"
    before = Applied(chain, issuer)
    no_holder = {"TransactionType": "Clawback", "Account": issuer.address, "Amount": mpt(ref, "1").to_dict()}
    assert chain.submit_raw(issuer, no_holder) == "temMALFORMED"
    assert chain.submit_raw(issuer, {**no_holder, "Holder": issuer.address}) == "temMALFORMED"
    assert before.untouched()
    stranger = chain.new_account()
    claw = Clawback(account=issuer.address, amount=mpt(ref, "1"), holder=stranger.address)
    assert chain.submit(issuer, claw) == "tecOBJECT_NOT_FOUND"
    assert chain.engine.open.mptokens[(ref, bob.address)].amount == 10
