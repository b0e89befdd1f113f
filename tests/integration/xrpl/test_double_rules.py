"""The ledger double enforces each rule the adapter relies on (a double that accepts everything
proves nothing). Each test names the rippled behaviour it pins down."""

from __future__ import annotations

from decimal import Decimal

import pytest
from xrpl.constants import CryptoAlgorithm
from xrpl.models.amounts import IssuedCurrencyAmount, MPTAmount
from xrpl.models.transactions import (
    AccountSet,
    AccountSetAsfFlag,
    Clawback,
    MPTokenAuthorize,
    MPTokenAuthorizeFlag,
    MPTokenIssuanceCreate,
    MPTokenIssuanceCreateFlag,
    MPTokenIssuanceSet,
    MPTokenIssuanceSetFlag,
    NFTokenAcceptOffer,
    NFTokenBurn,
    NFTokenCreateOffer,
    NFTokenCreateOfferFlag,
    NFTokenMint,
    NFTokenMintFlag,
    OfferCreate,
    Payment,
    TrustSet,
    TrustSetFlag,
)
from xrpl.wallet import Wallet

from tests.integration.xrpl.chain import Chain
from tests.support.xrpl_double import Fees
from tests.support.xrpl_double.engine import InvalidTransaction, NotSupported

pytestmark = pytest.mark.xrpl

EUR = "EUR"


def iou(issuer: Wallet, value: str) -> IssuedCurrencyAmount:
    return IssuedCurrencyAmount(currency=EUR, issuer=issuer.address, value=value)


def trust(chain: Chain, holder: Wallet, issuer: Wallet, limit: str = "1000") -> str:
    return chain.submit(holder, TrustSet(account=holder.address, limit_amount=iou(issuer, limit)))


def authorise(chain: Chain, issuer: Wallet, holder: Wallet) -> str:
    return chain.submit(
        issuer,
        TrustSet(
            account=issuer.address,
            flags=TrustSetFlag.TF_SET_AUTH,
            limit_amount=IssuedCurrencyAmount(currency=EUR, issuer=holder.address, value="0"),
        ),
    )


def set_flag(chain: Chain, account: Wallet, flag: AccountSetAsfFlag) -> str:
    return chain.submit(account, AccountSet(account=account.address, set_flag=flag))


def pay(chain: Chain, sender: Wallet, to: Wallet, amount: object) -> str:
    return chain.submit(sender, Payment(account=sender.address, destination=to.address, amount=amount))


def holding(chain: Chain, holder: Wallet, issuer: Wallet) -> Decimal:
    line = chain.engine.open.line(holder.address, issuer.address, EUR)
    assert line is not None
    return line.holding(holder.address)


@pytest.fixture
def chain() -> Chain:
    return Chain()


@pytest.fixture
def stable(chain: Chain) -> tuple[Wallet, Wallet, Wallet]:
    """An issuer with RequireAuth + clawback + DefaultRipple and two authorised holders."""
    issuer, alice, bob = chain.new_account(), chain.new_account(), chain.new_account()
    for flag in (
        AccountSetAsfFlag.ASF_ALLOW_TRUSTLINE_CLAWBACK,
        AccountSetAsfFlag.ASF_REQUIRE_AUTH,
        AccountSetAsfFlag.ASF_DEFAULT_RIPPLE,
    ):
        assert set_flag(chain, issuer, flag) == "tesSUCCESS"
    for holder in (alice, bob):
        assert trust(chain, holder, issuer) == "tesSUCCESS"
        assert authorise(chain, issuer, holder) == "tesSUCCESS"
    return issuer, alice, bob


# --- signatures, sequence, fee, expiry ------------------------------------------------------------


def test_a_tampered_blob_fails_signature_checks(chain: Chain) -> None:
    alice = chain.new_account()
    blob = chain.blob(chain.genesis, Payment(account=chain.genesis.address, destination=alice.address, amount="5"))
    tampered = blob.replace("4000000000000005", "4000000000000006")
    assert tampered != blob
    with pytest.raises(InvalidTransaction, match="Invalid signature"):
        chain.engine.submit(tampered)


def test_a_key_that_does_not_control_the_account_is_refused(chain: Chain) -> None:
    alice, mallory = chain.new_account(), chain.new_account()
    # Mallory signs a payment out of Alice's account with her own key.
    result = chain.submit(mallory, Payment(account=alice.address, destination=mallory.address, amount="1000"))
    assert result == "tefBAD_AUTH_MASTER"
    assert chain.balance(alice.address) == 50_000_000


def test_a_used_sequence_is_refused_and_a_future_one_is_held_until_its_turn(chain: Chain) -> None:
    alice, bob = chain.new_account(), chain.new_account()
    seq = chain.engine.open.accounts[alice.address].sequence
    assert pay(chain, alice, bob, "1000") == "tesSUCCESS"
    assert (
        chain.submit(alice, Payment(account=alice.address, destination=bob.address, amount="7"), Sequence=seq)
        == "tefPAST_SEQ"
    )
    later = chain.submit(alice, Payment(account=alice.address, destination=bob.address, amount="3"), Sequence=seq + 2)
    assert later == "terPRE_SEQ"
    held_hash = chain.last.hash if chain.last else ""
    assert held_hash not in chain.engine.txs
    assert pay(chain, alice, bob, "2") == "tesSUCCESS"  # fills seq + 1; the held one follows
    assert chain.engine.txs[held_hash].result == "tesSUCCESS"


def test_a_fee_below_the_open_ledger_cost_is_refused_locally() -> None:
    chain = Chain(Fees(open_ledger_fee=50))
    alice = Wallet.create(CryptoAlgorithm.SECP256K1)
    result = chain.submit(
        chain.genesis, Payment(account=chain.genesis.address, destination=alice.address, amount="20000000"), Fee="10"
    )
    assert result == "telINSUF_FEE_P"
    assert alice.address not in chain.engine.open.accounts


def test_an_expired_last_ledger_sequence_is_never_applied(chain: Chain) -> None:
    alice = chain.new_account()
    current = chain.engine.current_index
    result = chain.submit(
        chain.genesis,
        Payment(account=chain.genesis.address, destination=alice.address, amount="1000"),
        LastLedgerSequence=current - 1,
    )
    assert result == "tefMAX_LEDGER"
    assert chain.balance(alice.address) == 50_000_000


def test_results_are_final_only_once_a_ledger_closes_and_tec_claims_the_fee(chain: Chain) -> None:
    alice, bob = chain.new_account(), chain.new_account()
    before = chain.balance(alice.address)
    seq = chain.engine.open.accounts[alice.address].sequence
    result = chain.submit(
        alice, Payment(account=alice.address, destination=bob.address, amount="49999999"), close=False
    )
    assert result == "tecUNFUNDED_PAYMENT"
    assert chain.last is not None
    assert chain.engine.txs[chain.last.hash].ledger_index is None  # provisional
    chain.engine.close()
    assert chain.final() == "tecUNFUNDED_PAYMENT"
    assert chain.balance(alice.address) == before - 10  # only the fee
    assert chain.engine.open.accounts[alice.address].sequence == seq + 1


# --- reserves ---------------------------------------------------------------------------------------


def test_creating_an_account_needs_the_base_reserve() -> None:
    chain = Chain(Fees(reserve_base=2_000_000, reserve_inc=500_000))
    target = Wallet.create(CryptoAlgorithm.SECP256K1)
    assert pay(chain, chain.genesis, target, "1999999") == "tecNO_DST_INSUF_XRP"
    assert pay(chain, chain.genesis, target, "2000000") == "tesSUCCESS"


def test_an_account_cannot_spend_its_reserve(chain: Chain) -> None:
    alice, bob = chain.new_account(2_000_000), chain.new_account()
    # rippled: the prior balance must cover amount + max(reserve, fee): 1 XRP may go, not a drop more.
    assert pay(chain, alice, bob, "1000001") == "tecUNFUNDED_PAYMENT"
    assert pay(chain, alice, bob, "999990") == "tesSUCCESS"  # the failed try cost a 10-drop fee


def test_new_objects_need_the_owner_reserve(chain: Chain) -> None:
    issuer = chain.new_account()
    holder = chain.new_account(1_300_000)  # base 1 XRP + 0.3 XRP
    # Trust lines: the first two objects are free (rippled SetTrust), the third needs 1 + 3 * 0.2 XRP.
    others = [chain.new_account() for _ in range(3)]
    assert trust(chain, holder, others[0]) == "tesSUCCESS"
    assert trust(chain, holder, others[1]) == "tesSUCCESS"
    assert trust(chain, holder, others[2]) == "tecNO_LINE_INSUF_RESERVE"
    assert chain.owner_count(holder.address) == 2
    # An NFT page needs the reserve for one more object too.
    poor = chain.new_account(1_100_000)
    assert chain.submit(poor, NFTokenMint(account=poor.address, nftoken_taxon=0)) == "tecINSUFFICIENT_RESERVE"
    assert issuer.address != poor.address


# --- trust lines: auth, limits, balances, freezes, rippling, clawback ----------------------------------


def test_require_auth_only_before_trust_lines_exist(chain: Chain) -> None:
    issuer, holder = chain.new_account(), chain.new_account()
    assert trust(chain, holder, issuer) == "tesSUCCESS"
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_REQUIRE_AUTH) == "tecOWNERS"
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_ALLOW_TRUSTLINE_CLAWBACK) == "tecOWNERS"


def test_issuing_to_an_unauthorised_line_finds_no_path(chain: Chain) -> None:
    issuer, holder = chain.new_account(), chain.new_account()
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_REQUIRE_AUTH) == "tesSUCCESS"
    assert trust(chain, holder, issuer) == "tesSUCCESS"
    assert pay(chain, issuer, holder, iou(issuer, "10")) == "tecPATH_DRY"
    assert authorise(chain, issuer, holder) == "tesSUCCESS"
    assert pay(chain, issuer, holder, iou(issuer, "10")) == "tesSUCCESS"
    assert holding(chain, holder, issuer) == 10


def test_authorising_without_require_auth_is_refused(chain: Chain) -> None:
    issuer, holder = chain.new_account(), chain.new_account()
    assert trust(chain, holder, issuer) == "tesSUCCESS"
    assert authorise(chain, issuer, holder) == "tefNO_AUTH_REQUIRED"


def test_no_trust_line_means_no_payment_and_no_clawback(chain: Chain, stable: tuple[Wallet, Wallet, Wallet]) -> None:
    issuer, _, _ = stable
    stranger = chain.new_account()
    assert pay(chain, issuer, stranger, iou(issuer, "1")) == "tecPATH_DRY"
    claw = Clawback(
        account=issuer.address, amount=IssuedCurrencyAmount(currency=EUR, issuer=stranger.address, value="1")
    )
    assert chain.submit(issuer, claw) == "tecNO_LINE"


def test_limits_and_balances_bound_payments(chain: Chain, stable: tuple[Wallet, Wallet, Wallet]) -> None:
    issuer, alice, bob = stable
    assert pay(chain, issuer, alice, iou(issuer, "1000.01")) == "tecPATH_PARTIAL"  # limit 1000
    assert pay(chain, issuer, alice, iou(issuer, "100")) == "tesSUCCESS"
    assert pay(chain, alice, bob, iou(issuer, "100.5")) == "tecPATH_PARTIAL"
    assert pay(chain, bob, alice, iou(issuer, "1")) == "tecPATH_DRY"  # bob holds nothing
    assert pay(chain, alice, bob, iou(issuer, "40")) == "tesSUCCESS"  # ripples through the issuer
    assert (holding(chain, alice, issuer), holding(chain, bob, issuer)) == (60, 40)
    assert pay(chain, alice, issuer, iou(issuer, "60")) == "tesSUCCESS"  # redeemed: burned
    assert holding(chain, alice, issuer) == 0


def test_without_default_ripple_holders_cannot_pay_each_other(chain: Chain) -> None:
    issuer, alice, bob = chain.new_account(), chain.new_account(), chain.new_account()
    for holder in (alice, bob):
        assert trust(chain, holder, issuer) == "tesSUCCESS"
    assert pay(chain, issuer, alice, iou(issuer, "5")) == "tesSUCCESS"
    assert pay(chain, alice, bob, iou(issuer, "5")) == "tecPATH_DRY"


def test_a_frozen_holder_can_only_deal_with_the_issuer_and_a_deep_freeze_stops_rippling_in(
    chain: Chain, stable: tuple[Wallet, Wallet, Wallet]
) -> None:
    """DirectStep.cpp: a one-step issue or redeem skips checkFreeze ("pure issue/redeem can't be
    frozen"); a freeze stops the holder sending to others, a deep freeze also stops receiving from
    others (StepChecks.h checkFreeze), but the issuer can still pay even a deep-frozen holder."""
    issuer, alice, bob = stable
    assert pay(chain, issuer, alice, iou(issuer, "50")) == "tesSUCCESS"
    assert pay(chain, issuer, bob, iou(issuer, "50")) == "tesSUCCESS"
    freeze = TrustSet(
        account=issuer.address,
        flags=TrustSetFlag.TF_SET_FREEZE,
        limit_amount=IssuedCurrencyAmount(currency=EUR, issuer=alice.address, value="0"),
    )
    assert chain.submit(issuer, freeze) == "tesSUCCESS"
    assert pay(chain, alice, bob, iou(issuer, "5")) == "tecPATH_DRY"
    assert pay(chain, alice, issuer, iou(issuer, "5")) == "tesSUCCESS"
    assert pay(chain, issuer, alice, iou(issuer, "5")) == "tesSUCCESS"  # a plain freeze still receives
    assert pay(chain, bob, alice, iou(issuer, "5")) == "tesSUCCESS"  # ... from others too
    deep = TrustSet(
        account=issuer.address,
        flags=0x00400000,
        limit_amount=IssuedCurrencyAmount(currency=EUR, issuer=alice.address, value="0"),
    )
    assert chain.submit(issuer, deep) == "tesSUCCESS"
    assert pay(chain, bob, alice, iou(issuer, "5")) == "tecPATH_DRY"  # nothing rippled in
    assert pay(chain, issuer, alice, iou(issuer, "5")) == "tesSUCCESS"  # the issuer's own payment is not stopped
    assert pay(chain, alice, issuer, iou(issuer, "5")) == "tesSUCCESS"
    thaw = TrustSet(
        account=issuer.address,
        flags=TrustSetFlag.TF_CLEAR_FREEZE | 0x00800000,
        limit_amount=IssuedCurrencyAmount(currency=EUR, issuer=alice.address, value="0"),
    )
    assert chain.submit(issuer, thaw) == "tesSUCCESS"
    assert pay(chain, alice, bob, iou(issuer, "5")) == "tesSUCCESS"


def test_clawback_needs_the_issuer_flag(chain: Chain, stable: tuple[Wallet, Wallet, Wallet]) -> None:
    issuer, alice, _ = stable
    assert pay(chain, issuer, alice, iou(issuer, "30")) == "tesSUCCESS"
    claw = Clawback(account=issuer.address, amount=IssuedCurrencyAmount(currency=EUR, issuer=alice.address, value="50"))
    assert chain.submit(issuer, claw) == "tesSUCCESS"  # more than held: takes what there is
    assert holding(chain, alice, issuer) == 0
    # Another issuer without asfAllowTrustLineClawback cannot.
    plain, holder = chain.new_account(), chain.new_account()
    assert trust(chain, holder, plain) == "tesSUCCESS"
    assert pay(chain, plain, holder, iou(plain, "3")) == "tesSUCCESS"
    claw2 = Clawback(account=plain.address, amount=IssuedCurrencyAmount(currency=EUR, issuer=holder.address, value="3"))
    assert chain.submit(plain, claw2) == "tecNO_PERMISSION"
    assert holding(chain, holder, plain) == 3


# --- MPT ------------------------------------------------------------------------------------------


def issue_mpt(chain: Chain, issuer: Wallet, flags: int, maximum: str = "100") -> str:
    assert (
        chain.submit(issuer, MPTokenIssuanceCreate(account=issuer.address, maximum_amount=maximum, flags=flags))
        == "tesSUCCESS"
    )
    assert chain.last is not None
    return str(chain.engine.txs[chain.last.hash].meta["mpt_issuance_id"])


ALL = int(
    MPTokenIssuanceCreateFlag.TF_MPT_REQUIRE_AUTH
    | MPTokenIssuanceCreateFlag.TF_MPT_CAN_TRANSFER
    | MPTokenIssuanceCreateFlag.TF_MPT_CAN_CLAWBACK
    | MPTokenIssuanceCreateFlag.TF_MPT_CAN_LOCK
)


def mpt(ref: str, value: str) -> MPTAmount:
    return MPTAmount(mpt_issuance_id=ref, value=value)


def opt_in(chain: Chain, holder: Wallet, ref: str) -> str:
    return chain.submit(holder, MPTokenAuthorize(account=holder.address, mptoken_issuance_id=ref))


def allow(chain: Chain, issuer: Wallet, holder: Wallet, ref: str, flags: int = 0) -> str:
    return chain.submit(
        issuer, MPTokenAuthorize(account=issuer.address, mptoken_issuance_id=ref, holder=holder.address, flags=flags)
    )


def test_mpt_needs_opt_in_and_issuer_authorisation(chain: Chain) -> None:
    issuer, alice = chain.new_account(), chain.new_account()
    ref = issue_mpt(chain, issuer, ALL)
    assert pay(chain, issuer, alice, mpt(ref, "1")) == "tecNO_AUTH"
    assert allow(chain, issuer, alice, ref) == "tecOBJECT_NOT_FOUND"  # nothing to authorise yet
    assert opt_in(chain, alice, ref) == "tesSUCCESS"
    assert pay(chain, issuer, alice, mpt(ref, "1")) == "tecNO_AUTH"
    assert allow(chain, issuer, alice, ref) == "tesSUCCESS"
    assert pay(chain, issuer, alice, mpt(ref, "5")) == "tesSUCCESS"
    assert pay(chain, issuer, alice, mpt(ref, "96")) == "tecPATH_PARTIAL"  # MaximumAmount 100
    assert allow(chain, issuer, alice, ref, flags=MPTokenAuthorizeFlag.TF_MPT_UNAUTHORIZE) == "tesSUCCESS"
    assert pay(chain, issuer, alice, mpt(ref, "1")) == "tecNO_AUTH"


def test_mpt_transfers_between_holders_need_can_transfer(chain: Chain) -> None:
    issuer, alice, bob = chain.new_account(), chain.new_account(), chain.new_account()
    closed = issue_mpt(chain, issuer, int(MPTokenIssuanceCreateFlag.TF_MPT_REQUIRE_AUTH))
    open_ = issue_mpt(chain, issuer, ALL)
    for ref in (closed, open_):
        for holder in (alice, bob):
            assert opt_in(chain, holder, ref) == "tesSUCCESS"
            assert allow(chain, issuer, holder, ref) == "tesSUCCESS"
        assert pay(chain, issuer, alice, mpt(ref, "10")) == "tesSUCCESS"
    assert pay(chain, alice, bob, mpt(closed, "1")) == "tecNO_AUTH"
    assert pay(chain, alice, bob, mpt(open_, "1")) == "tesSUCCESS"
    # Returning units to the issuer burns them.
    assert pay(chain, alice, issuer, mpt(open_, "4")) == "tesSUCCESS"
    assert chain.engine.open.issuances[open_].outstanding == 6


def test_mpt_locks_and_clawback_follow_the_issuance_flags(chain: Chain) -> None:
    issuer, alice = chain.new_account(), chain.new_account()
    ref = issue_mpt(chain, issuer, ALL)
    plain = issue_mpt(chain, issuer, 0)
    assert opt_in(chain, alice, ref) == "tesSUCCESS"
    assert allow(chain, issuer, alice, ref) == "tesSUCCESS"
    assert pay(chain, issuer, alice, mpt(ref, "10")) == "tesSUCCESS"
    lock = MPTokenIssuanceSet(
        account=issuer.address, mptoken_issuance_id=ref, holder=alice.address, flags=MPTokenIssuanceSetFlag.TF_MPT_LOCK
    )
    assert chain.submit(issuer, lock) == "tesSUCCESS"
    # Payment.cpp: the lock binds only between holders; the issuer still pays and is paid back.
    assert pay(chain, alice, issuer, mpt(ref, "1")) == "tesSUCCESS"
    assert pay(chain, issuer, alice, mpt(ref, "1")) == "tesSUCCESS"
    unlock = MPTokenIssuanceSet(
        account=issuer.address,
        mptoken_issuance_id=ref,
        holder=alice.address,
        flags=MPTokenIssuanceSetFlag.TF_MPT_UNLOCK,
    )
    assert chain.submit(issuer, unlock) == "tesSUCCESS"
    assert pay(chain, alice, issuer, mpt(ref, "1")) == "tesSUCCESS"
    claw = Clawback(account=issuer.address, amount=mpt(ref, "4"), holder=alice.address)
    assert chain.submit(issuer, claw) == "tesSUCCESS"
    assert chain.engine.open.mptokens[(ref, alice.address)].amount == 5
    # Without CanLock / CanClawback the issuer can do neither.
    assert opt_in(chain, alice, plain) == "tesSUCCESS"
    assert pay(chain, issuer, alice, mpt(plain, "3")) == "tesSUCCESS"
    lock_plain = MPTokenIssuanceSet(
        account=issuer.address,
        mptoken_issuance_id=plain,
        holder=alice.address,
        flags=MPTokenIssuanceSetFlag.TF_MPT_LOCK,
    )
    assert chain.submit(issuer, lock_plain) == "tecNO_PERMISSION"
    assert (
        chain.submit(issuer, Clawback(account=issuer.address, amount=mpt(plain, "1"), holder=alice.address))
        == "tecNO_PERMISSION"
    )


def test_an_mpt_opt_in_needs_reserve_beyond_two_objects(chain: Chain) -> None:
    issuer = chain.new_account()
    refs = [issue_mpt(chain, issuer, ALL) for _ in range(3)]
    holder = chain.new_account(1_300_000)
    assert opt_in(chain, holder, refs[0]) == "tesSUCCESS"
    assert opt_in(chain, holder, refs[1]) == "tesSUCCESS"
    assert opt_in(chain, holder, refs[2]) == "tecINSUFFICIENT_RESERVE"


# --- NFTs -----------------------------------------------------------------------------------------


def mint_soulbound(chain: Chain, registrar: Wallet) -> str:
    assert (
        chain.submit(
            registrar,
            NFTokenMint(account=registrar.address, nftoken_taxon=1, flags=NFTokenMintFlag.TF_BURNABLE, uri="AB"),
        )
        == "tesSUCCESS"
    )
    assert chain.last is not None
    return str(chain.engine.txs[chain.last.hash].meta["nftoken_id"])


def give(chain: Chain, owner: Wallet, nft: str, to: Wallet) -> str:
    result = chain.submit(
        owner,
        NFTokenCreateOffer(
            account=owner.address,
            nftoken_id=nft,
            amount="0",
            destination=to.address,
            flags=NFTokenCreateOfferFlag.TF_SELL_NFTOKEN,
        ),
    )
    if result != "tesSUCCESS":
        return result
    assert chain.last is not None
    offer = str(chain.engine.txs[chain.last.hash].meta["offer_id"])
    return chain.submit(to, NFTokenAcceptOffer(account=to.address, nftoken_sell_offer=offer))


def test_a_non_transferable_nft_moves_only_to_or_from_its_issuer(chain: Chain) -> None:
    registrar, alice, bob = chain.new_account(), chain.new_account(), chain.new_account()
    nft = mint_soulbound(chain, registrar)
    assert give(chain, registrar, nft, alice) == "tesSUCCESS"
    assert chain.engine.open.nfts[nft].owner == alice.address
    assert give(chain, alice, nft, bob) == "tefNFTOKEN_IS_NOT_TRANSFERABLE"
    assert chain.engine.open.nfts[nft].owner == alice.address


def test_an_offer_with_a_destination_is_for_that_account_only(chain: Chain) -> None:
    registrar, alice, bob = chain.new_account(), chain.new_account(), chain.new_account()
    nft = mint_soulbound(chain, registrar)
    chain.submit(
        registrar,
        NFTokenCreateOffer(
            account=registrar.address,
            nftoken_id=nft,
            amount="0",
            destination=alice.address,
            flags=NFTokenCreateOfferFlag.TF_SELL_NFTOKEN,
        ),
    )
    assert chain.last is not None
    offer = str(chain.engine.txs[chain.last.hash].meta["offer_id"])
    assert chain.submit(bob, NFTokenAcceptOffer(account=bob.address, nftoken_sell_offer=offer)) == "tecNO_PERMISSION"


def test_only_a_burnable_nft_can_be_burned_by_its_issuer(chain: Chain) -> None:
    registrar, alice = chain.new_account(), chain.new_account()
    burnable = mint_soulbound(chain, registrar)
    assert (
        chain.submit(
            registrar, NFTokenMint(account=registrar.address, nftoken_taxon=1, flags=NFTokenMintFlag.TF_TRANSFERABLE)
        )
        == "tesSUCCESS"
    )
    assert chain.last is not None
    fixed = str(chain.engine.txs[chain.last.hash].meta["nftoken_id"])
    assert give(chain, registrar, burnable, alice) == "tesSUCCESS"
    assert give(chain, registrar, fixed, alice) == "tesSUCCESS"
    assert (
        chain.submit(registrar, NFTokenBurn(account=registrar.address, nftoken_id=fixed, owner=alice.address))
        == "tecNO_PERMISSION"
    )
    assert (
        chain.submit(registrar, NFTokenBurn(account=registrar.address, nftoken_id=burnable, owner=alice.address))
        == "tesSUCCESS"
    )
    assert burnable not in chain.engine.open.nfts and fixed in chain.engine.open.nfts


# --- what the double does not model is refused -----------------------------------------------------


def test_unsupported_transactions_are_refused_not_accepted(chain: Chain) -> None:
    alice = chain.new_account()
    before = (chain.balance(alice.address), chain.engine.open.accounts[alice.address].sequence)
    offer = OfferCreate(account=alice.address, taker_gets="1000", taker_pays=iou(chain.genesis, "1"))
    with pytest.raises(NotSupported, match="OfferCreate"):
        chain.submit(alice, offer)
    assert (chain.balance(alice.address), chain.engine.open.accounts[alice.address].sequence) == before


def test_batch_is_disabled_as_on_mainnet(chain: Chain) -> None:
    from xrpl.models.transactions import Batch, BatchFlag

    alice, bob = chain.new_account(), chain.new_account()
    seq = chain.engine.open.accounts[alice.address].sequence
    inner = [
        Payment(
            account=alice.address,
            destination=bob.address,
            amount="1",
            sequence=seq + n,
            fee="0",
            signing_pub_key="",
            flags=0x40000000,
        )
        for n in (1, 2)
    ]
    batch = Batch(account=alice.address, raw_transactions=inner, flags=BatchFlag.TF_ALL_OR_NOTHING)
    assert chain.submit(alice, batch) == "temDISABLED"


def _batch_blob(chain: Chain, outer: Wallet, inners: list[tuple[Wallet, Payment]], cosigners: list[Wallet]) -> str:
    from xrpl.core.binarycodec import encode
    from xrpl.models.transactions import Batch, BatchFlag
    from xrpl.transaction import sign, sign_multiaccount_batch

    sequences = {w.address: chain.engine.open.accounts[w.address].sequence for w, _ in inners}
    sequences[outer.address] = chain.engine.open.accounts[outer.address].sequence
    outer_seq = sequences[outer.address]
    sequences[outer.address] += 1
    raws = []
    for wallet, tx in inners:
        data = tx.to_xrpl()
        data.update(Sequence=sequences[wallet.address], Fee="0", SigningPubKey="", Flags=0x40000000)
        sequences[wallet.address] += 1
        raws.append(Payment.from_xrpl(data))
    batch = Batch(
        account=outer.address,
        sequence=outer_seq,
        fee=str(10 * (2 + len(raws) + len(cosigners))),
        raw_transactions=raws,
        flags=BatchFlag.TF_ALL_OR_NOTHING,
    )
    signers = []
    for cosigner in cosigners:
        signers += sign_multiaccount_batch(cosigner, batch).batch_signers or []
    batch = Batch.from_dict({**batch.to_dict(), "batch_signers": [s.to_dict() for s in signers]})
    return encode(sign(batch, outer).to_xrpl())


def test_batch_all_or_nothing_when_the_amendment_is_enabled() -> None:
    chain = Chain()
    chain.engine.amendments = frozenset({"Batch"})
    alice, bob, carol = chain.new_account(), chain.new_account(), chain.new_account()
    both = [
        (alice, Payment(account=alice.address, destination=carol.address, amount="1000")),
        (bob, Payment(account=bob.address, destination=carol.address, amount="2000")),
    ]
    outcome = chain.engine.submit(_batch_blob(chain, alice, both, [bob]))
    chain.engine.close()
    assert outcome.engine_result == "tesSUCCESS"
    assert chain.balance(carol.address) == 50_003_000
    inner = [r for r in chain.engine.txs.values() if r.meta.get("ParentBatchID") == outcome.hash]
    assert [r.result for r in inner] == ["tesSUCCESS", "tesSUCCESS"]
    # One inner cannot succeed: none stays applied, the outer fee is still claimed.
    bob_seq = chain.engine.open.accounts[bob.address].sequence
    doomed = [
        (alice, Payment(account=alice.address, destination=carol.address, amount="1000")),
        (bob, Payment(account=bob.address, destination=carol.address, amount="60000000")),
    ]
    before = chain.balance(alice.address)
    outcome = chain.engine.submit(_batch_blob(chain, alice, doomed, [bob]))
    chain.engine.close()
    assert outcome.engine_result == "tesSUCCESS"
    assert chain.balance(carol.address) == 50_003_000
    assert chain.balance(alice.address) == before - 50
    assert chain.engine.open.accounts[bob.address].sequence == bob_seq
    # Every other account must co-sign.
    unsigned = chain.engine.submit(_batch_blob(chain, alice, both, []))
    assert unsigned.engine_result == "temBAD_SIGNER"
