"""The conformance suite of the XRPL ledger double: each test pins one behaviour of rippled and
names the rippled source file (XRPLF/rippled) or test that says so. The double must pass all of
them; a change to the double that disagrees with rippled fails here first."""

from __future__ import annotations

import pytest
from xrpl.models.amounts import IssuedCurrencyAmount, MPTAmount
from xrpl.models.transactions import (
    AccountSet,
    AccountSetAsfFlag,
    MPTokenAuthorize,
    MPTokenIssuanceCreate,
    MPTokenIssuanceCreateFlag,
    Payment,
    TrustSet,
    TrustSetFlag,
)
from xrpl.wallet import Wallet

from tests.integration.xrpl.chain import Chain

pytestmark = pytest.mark.xrpl

EUR = "EUR"
ALL_MPT = int(
    MPTokenIssuanceCreateFlag.TF_MPT_REQUIRE_AUTH
    | MPTokenIssuanceCreateFlag.TF_MPT_CAN_TRANSFER
    | MPTokenIssuanceCreateFlag.TF_MPT_CAN_CLAWBACK
    | MPTokenIssuanceCreateFlag.TF_MPT_CAN_LOCK
)


@pytest.fixture
def chain() -> Chain:
    return Chain()


def iou(issuer: Wallet, value: str) -> IssuedCurrencyAmount:
    return IssuedCurrencyAmount(currency=EUR, issuer=issuer.address, value=value)


def line_to(holder: Wallet, value: str = "0") -> IssuedCurrencyAmount:
    """A LimitAmount naming `holder` as the peer (what an issuer sends to act on a holder's line)."""
    return IssuedCurrencyAmount(currency=EUR, issuer=holder.address, value=value)


def pay(chain: Chain, sender: Wallet, to: Wallet | str, amount: object) -> str:
    dest = to if isinstance(to, str) else to.address
    return chain.submit(sender, Payment(account=sender.address, destination=dest, amount=amount))


def set_flag(chain: Chain, account: Wallet, flag: AccountSetAsfFlag) -> str:
    return chain.submit(account, AccountSet(account=account.address, set_flag=flag))


def trust(chain: Chain, holder: Wallet, issuer: Wallet, limit: str = "1000", flags: int = 0) -> str:
    return chain.submit(holder, TrustSet(account=holder.address, limit_amount=iou(issuer, limit), flags=flags))


def issuer_trust_set(chain: Chain, issuer: Wallet, holder: Wallet, flags: int) -> str:
    return chain.submit(issuer, TrustSet(account=issuer.address, limit_amount=line_to(holder), flags=flags))


def mpt(ref: str, value: str) -> MPTAmount:
    return MPTAmount(mpt_issuance_id=ref, value=value)


def issue_mpt(chain: Chain, issuer: Wallet, flags: int = ALL_MPT, maximum: str = "1000") -> str:
    assert (
        chain.submit(issuer, MPTokenIssuanceCreate(account=issuer.address, maximum_amount=maximum, flags=flags))
        == "tesSUCCESS"
    )
    assert chain.last is not None
    return str(chain.engine.txs[chain.last.hash].meta["mpt_issuance_id"])


def opt_in(chain: Chain, holder: Wallet, ref: str) -> str:
    return chain.submit(holder, MPTokenAuthorize(account=holder.address, mptoken_issuance_id=ref))


def allow(chain: Chain, issuer: Wallet, holder: Wallet | str, ref: str, flags: int = 0) -> str:
    who = holder if isinstance(holder, str) else holder.address
    return chain.submit(
        issuer, MPTokenAuthorize(account=issuer.address, mptoken_issuance_id=ref, holder=who, flags=flags)
    )


def holder_of(chain: Chain, issuer: Wallet, ref: str, units: str = "10") -> Wallet:
    """A new account, opted in, authorised and holding `units`."""
    holder = chain.new_account()
    assert opt_in(chain, holder, ref) == "tesSUCCESS"
    assert allow(chain, issuer, holder, ref) == "tesSUCCESS"
    if int(units):
        assert pay(chain, issuer, holder, mpt(ref, units)) == "tesSUCCESS"
    return holder


def stable_issuer(chain: Chain, *holders: int) -> tuple[Wallet, list[Wallet]]:
    """An issuer with RequireAuth and DefaultRipple and authorised holders with a 1000 limit."""
    issuer = chain.new_account()
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_REQUIRE_AUTH) == "tesSUCCESS"
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_DEFAULT_RIPPLE) == "tesSUCCESS"
    out = []
    for _ in holders:
        holder = chain.new_account()
        assert trust(chain, holder, issuer) == "tesSUCCESS"
        assert issuer_trust_set(chain, issuer, holder, TrustSetFlag.TF_SET_AUTH) == "tesSUCCESS"
        out.append(holder)
    return issuer, out


class Applied:
    """What a submission did to its sender: fee claimed and sequence used (tes/tec), or nothing."""

    def __init__(self, chain: Chain, wallet: Wallet) -> None:
        self.chain, self.address = chain, wallet.address
        root = chain.engine.open.accounts[wallet.address]
        self.balance, self.sequence = root.balance, root.sequence

    def fee_and_sequence_taken(self) -> bool:
        root = self.chain.engine.open.accounts[self.address]
        return root.sequence == self.sequence + 1 and root.balance == self.balance - 10

    def untouched(self) -> bool:
        root = self.chain.engine.open.accounts[self.address]
        return root.sequence == self.sequence and root.balance == self.balance
