"""Trust lines, freezes and issued-currency payments as rippled does them."""

from __future__ import annotations

import pytest
from xrpl.models.amounts import IssuedCurrencyAmount
from xrpl.models.transactions import AccountSetAsfFlag, Clawback, TrustSet, TrustSetFlag
from xrpl.wallet import Wallet

from tests.conformance.xrpl.conftest import (
    EUR,
    Applied,
    iou,
    issuer_trust_set,
    pay,
    set_flag,
    stable_issuer,
    trust,
)
from tests.integration.xrpl.chain import Chain
from tests.support.xrpl_double.engine import (
    LSF_HIGH_NO_RIPPLE,
    LSF_HIGH_RESERVE,
    LSF_LOW_NO_RIPPLE,
    LSF_LOW_RESERVE,
    TF_CLEAR_DEEP_FREEZE,
    TF_SET_DEEP_FREEZE,
)

pytestmark = pytest.mark.xrpl

FREEZE = int(TrustSetFlag.TF_SET_FREEZE)
UNFREEZE = int(TrustSetFlag.TF_CLEAR_FREEZE)


def no_ripple(chain: Chain, holder: Wallet, issuer: Wallet, of: Wallet) -> bool:
    line = chain.engine.open.line(holder.address, issuer.address, EUR)
    assert line is not None
    return line.flag(of.address, LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE)


def reserved(chain: Chain, holder: Wallet, issuer: Wallet, of: Wallet) -> bool:
    line = chain.engine.open.line(holder.address, issuer.address, EUR)
    assert line is not None
    return line.flag(of.address, LSF_LOW_RESERVE, LSF_HIGH_RESERVE)


def test_a_new_line_has_no_ripple_on_the_creator_only_on_request(chain: Chain) -> None:
    """View.cpp `trustCreate`: the creator's side gets lsfNoRipple only with tfSetNoRipple; the
    peer's side gets it unless the peer has lsfDefaultRipple."""
    plain, rippling = chain.new_account(), chain.new_account()
    assert set_flag(chain, rippling, AccountSetAsfFlag.ASF_DEFAULT_RIPPLE) == "tesSUCCESS"
    alice, bob = chain.new_account(), chain.new_account()
    assert trust(chain, alice, plain) == "tesSUCCESS"
    assert not no_ripple(chain, alice, plain, alice) and no_ripple(chain, alice, plain, plain)
    assert trust(chain, bob, rippling, flags=TrustSetFlag.TF_SET_NO_RIPPLE) == "tesSUCCESS"
    assert no_ripple(chain, bob, rippling, bob) and not no_ripple(chain, bob, rippling, rippling)


def test_a_line_back_in_its_default_state_is_deleted_and_its_reserve_released(chain: Chain) -> None:
    """SetTrust.cpp doApply: when neither side needs a reserve (no limit, no positive balance, no
    freeze, NoRipple as its account's default) the line is deleted (`trustDelete`); the reserve is
    released with the side's lsf*Reserve flag."""
    issuer, alice = chain.new_account(), chain.new_account()
    owners = chain.owner_count(alice.address)
    assert trust(chain, alice, issuer, flags=TrustSetFlag.TF_SET_NO_RIPPLE) == "tesSUCCESS"
    assert chain.owner_count(alice.address) == owners + 1
    assert trust(chain, alice, issuer, "0") == "tesSUCCESS"
    assert chain.engine.open.line(alice.address, issuer.address, EUR) is None
    assert chain.owner_count(alice.address) == owners


def test_a_no_ripple_flag_off_its_default_keeps_the_line(chain: Chain) -> None:
    """SetTrust.cpp: `((uFlagsOut & lsfNoRipple) == 0) != bDefRipple` keeps a side reserved: an
    account without DefaultRipple whose side has NoRipple cleared is not in the default state."""
    issuer, alice = chain.new_account(), chain.new_account()
    assert trust(chain, alice, issuer) == "tesSUCCESS"  # NoRipple clear on alice's side
    owners = chain.owner_count(alice.address)
    assert trust(chain, alice, issuer, "0") == "tesSUCCESS"
    assert chain.engine.open.line(alice.address, issuer.address, EUR) is not None
    assert chain.owner_count(alice.address) == owners
    assert trust(chain, alice, issuer, "0", flags=TrustSetFlag.TF_SET_NO_RIPPLE) == "tesSUCCESS"
    assert chain.engine.open.line(alice.address, issuer.address, EUR) is None


def test_paying_the_last_balance_back_deletes_a_zero_limit_line(chain: Chain) -> None:
    """View.cpp `rippleCreditIOU`: a sender whose balance falls from positive to zero with its side
    otherwise default loses its reserve; with the other side unreserved the line is deleted."""
    issuer, (alice,) = stable_issuer(chain, 1)
    assert pay(chain, issuer, alice, iou(issuer, "5")) == "tesSUCCESS"
    assert trust(chain, alice, issuer, "0", flags=TrustSetFlag.TF_SET_NO_RIPPLE) == "tesSUCCESS"
    assert reserved(chain, alice, issuer, alice)  # still holds 5
    owners = chain.owner_count(alice.address)
    assert pay(chain, alice, issuer, iou(issuer, "5")) == "tesSUCCESS"
    assert chain.engine.open.line(alice.address, issuer.address, EUR) is None
    assert chain.owner_count(alice.address) == owners - 1


def test_an_issuer_freeze_costs_the_issuer_a_reserve(chain: Chain) -> None:
    """SetTrust.cpp: the freezing side's own lsf*Freeze makes that side non-default (reserved);
    clearing it releases the reserve."""
    issuer, (alice,) = stable_issuer(chain, 1)
    owners = chain.owner_count(issuer.address)
    assert issuer_trust_set(chain, issuer, alice, FREEZE) == "tesSUCCESS"
    assert chain.owner_count(issuer.address) == owners + 1
    assert issuer_trust_set(chain, issuer, alice, UNFREEZE) == "tesSUCCESS"
    assert chain.owner_count(issuer.address) == owners


def test_a_zero_limit_on_a_missing_line_is_redundant_even_with_a_freeze(chain: Chain) -> None:
    """SetTrust.cpp: a missing line with a zero limit and no tfSetfAuth is tecNO_LINE_REDUNDANT
    (freeze flags do not count)."""
    issuer, stranger = chain.new_account(), chain.new_account()
    assert issuer_trust_set(chain, issuer, stranger, FREEZE) == "tecNO_LINE_REDUNDANT"


def test_a_third_object_needs_its_reserve(chain: Chain) -> None:
    """SetTrust.cpp: the reserve for a new line is enforced only beyond two owned objects
    (tecNO_LINE_INSUF_RESERVE)."""
    issuers = [chain.new_account() for _ in range(3)]
    poor = chain.new_account(1_300_000)
    assert trust(chain, poor, issuers[0]) == "tesSUCCESS"
    assert trust(chain, poor, issuers[1]) == "tesSUCCESS"
    assert trust(chain, poor, issuers[2]) == "tecNO_LINE_INSUF_RESERVE"


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        (UNFREEZE, "clearing the freeze alone under a deep freeze"),
        (FREEZE | UNFREEZE, "freezing and unfreezing together"),
        (TF_SET_DEEP_FREEZE | UNFREEZE, "deep-freezing while unfreezing"),
    ],
)
def test_freeze_invariants_are_tec_no_permission(chain: Chain, flags: int, why: str) -> None:
    """SetTrust.cpp preclaim (DeepFreeze): set and clear together, and any result with a deep
    freeze but no freeze, are tecNO_PERMISSION: the fee is claimed and the sequence used, the line
    unchanged."""
    issuer, (alice,) = stable_issuer(chain, 1)
    assert issuer_trust_set(chain, issuer, alice, FREEZE | TF_SET_DEEP_FREEZE) == "tesSUCCESS"
    before = Applied(chain, issuer)
    assert (
        chain.submit_raw(
            issuer,
            {
                "TransactionType": "TrustSet",
                "Account": issuer.address,
                "LimitAmount": {"currency": EUR, "issuer": alice.address, "value": "0"},
                "Flags": flags,
            },
        )
        == "tecNO_PERMISSION"
    ), why
    assert before.fee_and_sequence_taken()
    line = chain.engine.open.line(alice.address, issuer.address, EUR)
    assert line is not None and line.flags & (0x00400000 | 0x00800000) and line.flags & (0x02000000 | 0x04000000)
    assert issuer_trust_set(chain, issuer, alice, UNFREEZE | TF_CLEAR_DEEP_FREEZE) == "tesSUCCESS"


def test_a_deep_freeze_needs_a_freeze_and_no_freeze_forbids_both(chain: Chain) -> None:
    """SetTrust.cpp preclaim: a deep freeze on a line that is not frozen is tecNO_PERMISSION;
    lsfNoFreeze forbids setting either (tecNO_PERMISSION)."""
    issuer, (alice,) = stable_issuer(chain, 1)
    assert issuer_trust_set(chain, issuer, alice, TF_SET_DEEP_FREEZE) == "tecNO_PERMISSION"
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_NO_FREEZE) == "tesSUCCESS"
    assert issuer_trust_set(chain, issuer, alice, FREEZE) == "tecNO_PERMISSION"


def test_issue_and_redeem_ignore_freezes_rippling_does_not(chain: Chain) -> None:
    """DirectStep.cpp `check`: "pure issue/redeem can't be frozen" (a one-step payment skips
    checkFreeze), so the issuer pays a deep-frozen holder and the holder pays it back; between
    holders StepChecks.h `checkFreeze` stops a frozen sender and a deep-frozen receiver."""
    issuer, (alice, bob) = stable_issuer(chain, 1, 2)
    for holder in (alice, bob):
        assert pay(chain, issuer, holder, iou(issuer, "50")) == "tesSUCCESS"
    assert issuer_trust_set(chain, issuer, alice, FREEZE) == "tesSUCCESS"
    assert pay(chain, alice, bob, iou(issuer, "1")) == "tecPATH_DRY"
    assert pay(chain, bob, alice, iou(issuer, "1")) == "tesSUCCESS"  # a plain freeze still receives
    assert issuer_trust_set(chain, issuer, alice, FREEZE | TF_SET_DEEP_FREEZE) == "tesSUCCESS"
    assert pay(chain, bob, alice, iou(issuer, "1")) == "tecPATH_DRY"
    assert pay(chain, issuer, alice, iou(issuer, "1")) == "tesSUCCESS"
    assert pay(chain, alice, issuer, iou(issuer, "1")) == "tesSUCCESS"


def test_a_global_freeze_stops_rippling_not_issuing(chain: Chain) -> None:
    """StepChecks.h `checkFreeze`: the issuer's lsfGlobalFreeze stops steps through it; a direct
    issue is not checked."""
    issuer, (alice, bob) = stable_issuer(chain, 1, 2)
    assert pay(chain, issuer, alice, iou(issuer, "10")) == "tesSUCCESS"
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_GLOBAL_FREEZE) == "tesSUCCESS"
    assert pay(chain, alice, bob, iou(issuer, "1")) == "tecPATH_DRY"
    assert pay(chain, issuer, bob, iou(issuer, "1")) == "tesSUCCESS"


def test_no_ripple_blocks_only_when_both_lines_have_it(chain: Chain) -> None:
    """StepChecks.h `checkNoRipple`: rippling through an account is refused only when its side of
    both the incoming and the outgoing line has lsfNoRipple (terNO_RIPPLE -> tecPATH_DRY)."""
    issuer = chain.new_account()  # no DefaultRipple: its side of new lines gets NoRipple
    alice, bob = chain.new_account(), chain.new_account()
    assert trust(chain, alice, issuer) == "tesSUCCESS"
    assert trust(chain, bob, issuer) == "tesSUCCESS"
    assert pay(chain, issuer, alice, iou(issuer, "5")) == "tesSUCCESS"
    assert pay(chain, alice, bob, iou(issuer, "1")) == "tecPATH_DRY"
    clear = TrustSet(
        account=issuer.address,
        limit_amount=IssuedCurrencyAmount(currency=EUR, issuer=bob.address, value="0"),
        flags=TrustSetFlag.TF_CLEAR_NO_RIPPLE,
    )
    assert chain.submit(issuer, clear) == "tesSUCCESS"
    assert pay(chain, alice, bob, iou(issuer, "1")) == "tesSUCCESS"


def test_require_auth_refuses_an_unauthorised_empty_line(chain: Chain) -> None:
    """DirectStep.cpp `DirectIPaymentStep::check`: under the issuer's lsfRequireAuth a line without
    its auth flag and with a zero balance is terNO_AUTH (Payment.cpp: tecPATH_DRY); tfSetfAuth
    without lsfRequireAuth is tefNO_AUTH_REQUIRED (not applied)."""
    issuer, alice = chain.new_account(), chain.new_account()
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_REQUIRE_AUTH) == "tesSUCCESS"
    assert trust(chain, alice, issuer) == "tesSUCCESS"
    assert pay(chain, issuer, alice, iou(issuer, "1")) == "tecPATH_DRY"
    plain, bob = chain.new_account(), chain.new_account()
    assert trust(chain, bob, plain) == "tesSUCCESS"
    before = Applied(chain, plain)
    assert issuer_trust_set(chain, plain, bob, TrustSetFlag.TF_SET_AUTH) == "tefNO_AUTH_REQUIRED"
    assert before.untouched()


def test_clawback_of_trust_line_tokens(chain: Chain) -> None:
    """Clawback.cpp: a holder account that does not exist is terNO_ACCOUNT (not applied); no line
    is tecNO_LINE; a zero balance tecINSUFFICIENT_FUNDS; freezes are ignored (fhIGNORE_FREEZE) and
    at most the balance is taken."""
    issuer = chain.new_account()
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_ALLOW_TRUSTLINE_CLAWBACK) == "tesSUCCESS"
    assert set_flag(chain, issuer, AccountSetAsfFlag.ASF_REQUIRE_AUTH) == "tesSUCCESS"
    alice, stranger = chain.new_account(), chain.new_account()
    assert trust(chain, alice, issuer) == "tesSUCCESS"
    assert issuer_trust_set(chain, issuer, alice, TrustSetFlag.TF_SET_AUTH) == "tesSUCCESS"

    def claw(holder: str, value: str) -> str:
        amount = IssuedCurrencyAmount(currency=EUR, issuer=holder, value=value)
        return chain.submit(issuer, Clawback(account=issuer.address, amount=amount))

    before = Applied(chain, issuer)
    assert claw(Wallet.create().address, "1") == "terNO_ACCOUNT"
    assert before.untouched()
    assert claw(stranger.address, "1") == "tecNO_LINE"
    assert claw(alice.address, "1") == "tecINSUFFICIENT_FUNDS"
    assert pay(chain, issuer, alice, iou(issuer, "30")) == "tesSUCCESS"
    assert issuer_trust_set(chain, issuer, alice, FREEZE | TF_SET_DEEP_FREEZE) == "tesSUCCESS"
    assert claw(alice.address, "50") == "tesSUCCESS"
    line = chain.engine.open.line(alice.address, issuer.address, EUR)
    assert line is not None and line.holding(alice.address) == 0
