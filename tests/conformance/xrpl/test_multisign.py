"""Multi-signing, as the platform's cold issuer uses it (docs/xrpl.md, "Issuer cold, operations hot;
multisign for the issuer"): a signer list on the issuer, its master key disabled, and issuer
transactions that only a quorum of officers can sign. Sources (XRPLF/rippled): SetSignerList.cpp,
SetAccount.cpp (asfDisableMaster), Transactor.cpp (checkSingleSign, checkMultiSign,
calculateBaseFee), STTx.cpp (checkMultiSign: the local checks)."""

from __future__ import annotations

from typing import Any

import pytest
from xrpl.constants import CryptoAlgorithm
from xrpl.core.binarycodec import encode
from xrpl.models.transactions import (
    AccountSet,
    AccountSetAsfFlag,
    MPTokenIssuanceCreate,
    Payment,
    SignerEntry,
    SignerListSet,
    TrustSet,
    TrustSetFlag,
)
from xrpl.models.transactions.transaction import Transaction
from xrpl.transaction import multisign, sign
from xrpl.wallet import Wallet

from tests.conformance.xrpl.conftest import ALL_MPT, iou, line_to, trust
from tests.integration.xrpl.chain import Chain
from tests.support.xrpl_double.engine import LSF_DISABLE_MASTER, InvalidTransaction

pytestmark = pytest.mark.xrpl


def officers(n: int = 3) -> list[Wallet]:
    return [Wallet.create(CryptoAlgorithm.SECP256K1) for _ in range(n)]


def signer_list(chain: Chain, account: Wallet, signers: list[Wallet], quorum: int) -> str:
    entries = [SignerEntry(account=s.address, signer_weight=1) for s in signers]
    return chain.submit(account, SignerListSet(account=account.address, signer_quorum=quorum, signer_entries=entries))


def cold_issuer(chain: Chain) -> tuple[Wallet, list[Wallet]]:
    """An issuer with three officers (weight 1 each, quorum 2) and its master key disabled."""
    issuer, keys = chain.new_account(), officers()
    assert chain.submit(issuer, AccountSet(account=issuer.address, set_flag=AccountSetAsfFlag.ASF_REQUIRE_AUTH)) == (
        "tesSUCCESS"
    )
    assert signer_list(chain, issuer, keys, 2) == "tesSUCCESS"
    assert chain.submit(issuer, AccountSet(account=issuer.address, set_flag=AccountSetAsfFlag.ASF_DISABLE_MASTER)) == (
        "tesSUCCESS"
    )
    return issuer, keys


def multisigned(chain: Chain, tx: Transaction, signers: list[Wallet], fee: int | None = None) -> str:
    """Each officer signs the same transaction (xrpl-py's `sign(..., multisign=True)`); the
    signatures are combined (`multisign`, which sorts them as rippled requires) and submitted."""
    data: dict[str, Any] = tx.to_xrpl()
    data["Sequence"] = chain.engine.open.accounts[data["Account"]].sequence
    data["Fee"] = str(fee if fee is not None else 10 * (1 + len(signers)))
    data["SigningPubKey"] = ""
    unsigned = Transaction.from_xrpl(data)
    combined = multisign(unsigned, [sign(unsigned, s, multisign=True) for s in signers])
    chain.last = chain.engine.submit(encode(combined.to_xrpl()))
    chain.engine.close()
    return chain.last.engine_result


def create_issuance(issuer: Wallet) -> MPTokenIssuanceCreate:
    return MPTokenIssuanceCreate(account=issuer.address, maximum_amount="1000", flags=ALL_MPT)


def test_a_signer_list_is_checked_and_costs_one_owner_reserve() -> None:
    """SetSignerList.cpp: an unreachable quorum (temBAD_QUORUM), the account on its own list
    (temBAD_SIGNER) and a zero weight (temBAD_WEIGHT) are malformed; a list is one owner count
    (MultiSignReserve), replacing it does not add another, quorum 0 without entries deletes it."""
    chain = Chain()
    issuer, keys = chain.new_account(), officers()
    three = [{"SignerEntry": {"Account": k.address, "SignerWeight": 1}} for k in keys]
    unreachable = {"TransactionType": "SignerListSet", "Account": issuer.address, "SignerQuorum": 4}
    assert chain.submit_raw(issuer, {**unreachable, "SignerEntries": three}) == "temBAD_QUORUM"
    entries = [{"SignerEntry": {"Account": issuer.address, "SignerWeight": 1}}]
    assert (
        chain.submit_raw(
            issuer,
            {
                "TransactionType": "SignerListSet",
                "Account": issuer.address,
                "SignerQuorum": 1,
                "SignerEntries": entries,
            },
        )
        == "temBAD_SIGNER"
    )
    zero = [{"SignerEntry": {"Account": keys[0].address, "SignerWeight": 0}}]
    assert (
        chain.submit_raw(
            issuer,
            {"TransactionType": "SignerListSet", "Account": issuer.address, "SignerQuorum": 1, "SignerEntries": zero},
        )
        == "temBAD_WEIGHT"
    )
    assert chain.owner_count(issuer.address) == 0
    assert signer_list(chain, issuer, keys, 2) == "tesSUCCESS"
    assert chain.owner_count(issuer.address) == 1
    assert signer_list(chain, issuer, keys[:2], 2) == "tesSUCCESS"  # replaced
    assert chain.owner_count(issuer.address) == 1
    assert chain.submit(issuer, SignerListSet(account=issuer.address, signer_quorum=0)) == "tesSUCCESS"
    assert chain.owner_count(issuer.address) == 0


def test_disabling_the_master_key_needs_a_signer_list_and_the_master_key() -> None:
    """SetAccount.cpp: asfDisableMaster without another way to sign is tecNO_ALTERNATIVE_KEY; signed
    by anything but the master key it is tecNEED_MASTER_KEY; the list cannot then be deleted."""
    chain = Chain()
    issuer, keys = chain.new_account(), officers()
    disable = AccountSet(account=issuer.address, set_flag=AccountSetAsfFlag.ASF_DISABLE_MASTER)
    assert chain.submit(issuer, disable) == "tecNO_ALTERNATIVE_KEY"
    assert signer_list(chain, issuer, keys, 2) == "tesSUCCESS"
    assert multisigned(chain, disable, keys[:2]) == "tecNEED_MASTER_KEY"
    assert not chain.engine.open.accounts[issuer.address].flags & LSF_DISABLE_MASTER
    assert chain.submit(issuer, disable) == "tesSUCCESS"
    assert chain.engine.open.accounts[issuer.address].flags & LSF_DISABLE_MASTER
    assert multisigned(chain, SignerListSet(account=issuer.address, signer_quorum=0), keys[:2]) == (
        "tecNO_ALTERNATIVE_KEY"
    )


def test_a_cold_issuer_refuses_single_signed_issuer_transactions_and_takes_a_quorum() -> None:
    """Transactor.cpp checkSingleSign: the disabled master key gets tefMASTER_DISABLED, for the
    platform's issuer-only transactions (MPTokenIssuanceCreate, issuing the stablecoin, authorising
    a holder's line). checkMultiSign: below the quorum tefBAD_QUORUM, a key not on the list
    tefBAD_SIGNATURE; two of three officers sign it. calculateBaseFee: one base fee per signer more."""
    chain = Chain()
    issuer, keys = cold_issuer(chain)
    holder = chain.new_account()
    assert trust(chain, holder, issuer) == "tesSUCCESS"
    authorise = TrustSet(account=issuer.address, flags=TrustSetFlag.TF_SET_AUTH, limit_amount=line_to(holder))
    issue = Payment(account=issuer.address, destination=holder.address, amount=iou(issuer, "100"))

    for tx in (create_issuance(issuer), authorise, issue):
        assert chain.submit(issuer, tx) == "tefMASTER_DISABLED"
    assert chain.engine.open.issuances == {}
    assert multisigned(chain, create_issuance(issuer), keys[:1]) == "tefBAD_QUORUM"
    assert multisigned(chain, create_issuance(issuer), [keys[0], Wallet.create(CryptoAlgorithm.SECP256K1)]) == (
        "tefBAD_SIGNATURE"
    )
    assert multisigned(chain, create_issuance(issuer), keys[:2], fee=20) == "telINSUF_FEE_P"
    assert chain.engine.open.issuances == {}

    assert multisigned(chain, create_issuance(issuer), keys[1:]) == "tesSUCCESS"
    assert len(chain.engine.open.issuances) == 1
    assert multisigned(chain, authorise, [keys[0], keys[2]]) == "tesSUCCESS"
    assert multisigned(chain, issue, keys) == "tesSUCCESS"
    line = chain.engine.open.line(holder.address, issuer.address, "EUR")
    assert line is not None and str(line.holding(holder.address)) == "100"


def test_multisigning_an_account_without_a_signer_list_and_bad_signatures_are_refused() -> None:
    """tefNOT_MULTI_SIGNING without a list; STTx::checkMultiSign refuses, before any ledger, a
    signature over other content and a transaction both single- and multi-signed."""
    chain = Chain()
    plain, keys = chain.new_account(), officers()
    other = chain.new_account()
    pay = Payment(account=plain.address, destination=other.address, amount="1000")
    assert multisigned(chain, pay, keys[:2]) == "tefNOT_MULTI_SIGNING"

    issuer, keys = cold_issuer(chain)
    data: dict[str, Any] = Payment(account=issuer.address, destination=other.address, amount="1000").to_xrpl()
    data.update(Sequence=chain.engine.open.accounts[issuer.address].sequence, Fee="30", SigningPubKey="")
    unsigned = Transaction.from_xrpl(data)
    combined = multisign(unsigned, [sign(unsigned, k, multisign=True) for k in keys[:2]]).to_xrpl()
    tampered = dict(combined, Amount="2000")
    with pytest.raises(InvalidTransaction, match="Invalid signature"):
        chain.engine.submit(encode(tampered))
    with pytest.raises(InvalidTransaction, match="both single- and multi-sign"):
        chain.engine.submit(encode(dict(combined, SigningPubKey=keys[0].public_key)))
