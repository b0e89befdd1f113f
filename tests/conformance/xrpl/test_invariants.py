"""Invariants of the double over random sequences of the transactions the platform uses.

After every step, whatever its result:
- owner counts match the objects each account owns (rippled's reserve accounting: a trust line
  side with its lsf*Reserve flag, an MPToken, an issuance, an NFTokenPage, an offer);
- an issuance's OutstandingAmount is the sum of its holders' balances;
- a holder whose MPT authorisation is revoked, or whose trust line the issuer froze, never gains
  units or stablecoin from another holder, and an unauthorised holder gains no units at all;
- a trust line in the default state on both sides does not exist (it is deleted).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from xrpl.models.transactions import (
    AccountSetAsfFlag,
    MPTokenAuthorizeFlag,
    MPTokenIssuanceSet,
    MPTokenIssuanceSetFlag,
    TrustSetFlag,
)

from tests.conformance.xrpl.conftest import (
    EUR,
    allow,
    iou,
    issue_mpt,
    issuer_trust_set,
    mpt,
    opt_in,
    pay,
    set_flag,
    trust,
)
from tests.integration.xrpl.chain import Chain
from tests.support.xrpl_double.engine import LSF_HIGH_RESERVE, LSF_LOW_RESERVE, LSF_MPT_AUTHORIZED, TF_SET_DEEP_FREEZE
from tests.support.xrpl_double.trustlines import side_needs_reserve

pytestmark = pytest.mark.xrpl

HOLDERS = 3
amounts = st.integers(min_value=1, max_value=40)


class PlatformLedger(RuleBasedStateMachine):
    """A stablecoin issuer and an instrument issuer as the platform sets them up, three holders."""

    def __init__(self) -> None:
        super().__init__()
        self.chain = Chain()
        chain = self.chain
        self.coin = chain.new_account()
        assert set_flag(chain, self.coin, AccountSetAsfFlag.ASF_ALLOW_TRUSTLINE_CLAWBACK) == "tesSUCCESS"
        assert set_flag(chain, self.coin, AccountSetAsfFlag.ASF_REQUIRE_AUTH) == "tesSUCCESS"
        assert set_flag(chain, self.coin, AccountSetAsfFlag.ASF_DEFAULT_RIPPLE) == "tesSUCCESS"
        self.company = chain.new_account()
        self.ref = issue_mpt(chain, self.company)
        self.holders = [chain.new_account() for _ in range(HOLDERS)]
        for holder in self.holders:
            assert trust(chain, holder, self.coin, flags=TrustSetFlag.TF_SET_NO_RIPPLE) == "tesSUCCESS"
            assert issuer_trust_set(chain, self.coin, holder, TrustSetFlag.TF_SET_AUTH) == "tesSUCCESS"
            assert opt_in(chain, holder, self.ref) == "tesSUCCESS"
            assert allow(chain, self.company, holder, self.ref) == "tesSUCCESS"
        self.before: dict[str, tuple[int, Decimal]] = {}

    # --- helpers ---------------------------------------------------------------------------------
    def units(self, i: int) -> int:
        token = self.chain.engine.open.mptokens.get((self.ref, self.holders[i].address))
        return token.amount if token else 0

    def coins(self, i: int) -> Decimal:
        line = self.chain.engine.open.line(self.holders[i].address, self.coin.address, EUR)
        return line.holding(self.holders[i].address) if line else Decimal(0)

    def authorised(self, i: int) -> bool:
        token = self.chain.engine.open.mptokens.get((self.ref, self.holders[i].address))
        return bool(token and token.flags & LSF_MPT_AUTHORIZED)

    def frozen(self, i: int) -> bool:
        line = self.chain.engine.open.line(self.holders[i].address, self.coin.address, EUR)
        return bool(line and line.flag(self.coin.address, 0x00400000, 0x00800000))

    def snapshot(self) -> None:
        self.before = {h.address: (self.units(i), self.coins(i)) for i, h in enumerate(self.holders)}

    # --- rules: what the platform and its holders do ---------------------------------------------
    @rule(i=st.integers(0, HOLDERS - 1), n=amounts)
    def issue_units(self, i: int, n: int) -> None:
        self.snapshot()
        result = pay(self.chain, self.company, self.holders[i], mpt(self.ref, str(n)))
        assert result == "tesSUCCESS" or not self.authorised(i) or result == "tecPATH_PARTIAL"
        self.check_no_gain()

    @rule(i=st.integers(0, HOLDERS - 1), n=amounts)
    def return_units(self, i: int, n: int) -> None:
        self.snapshot()
        pay(self.chain, self.holders[i], self.company, mpt(self.ref, str(n)))
        self.check_no_gain()

    @rule(i=st.integers(0, HOLDERS - 1), j=st.integers(0, HOLDERS - 1), n=amounts)
    def transfer_units(self, i: int, j: int, n: int) -> None:
        if i == j:
            return
        self.snapshot()
        pay(self.chain, self.holders[i], self.holders[j], mpt(self.ref, str(n)))
        self.check_no_gain()

    @rule(i=st.integers(0, HOLDERS - 1), n=amounts)
    def issue_coins(self, i: int, n: int) -> None:
        pay(self.chain, self.coin, self.holders[i], iou(self.coin, str(n)))

    @rule(i=st.integers(0, HOLDERS - 1), j=st.integers(0, HOLDERS - 1), n=amounts)
    def transfer_coins(self, i: int, j: int, n: int) -> None:
        if i == j:
            return
        self.snapshot()
        pay(self.chain, self.holders[i], self.holders[j], iou(self.coin, str(n)))
        self.check_no_gain()

    @rule(i=st.integers(0, HOLDERS - 1), n=amounts)
    def redeem_coins(self, i: int, n: int) -> None:
        pay(self.chain, self.holders[i], self.coin, iou(self.coin, str(n)))

    @rule(i=st.integers(0, HOLDERS - 1), on=st.booleans())
    def freeze(self, i: int, on: bool) -> None:
        flags = TrustSetFlag.TF_SET_FREEZE | TF_SET_DEEP_FREEZE if on else TrustSetFlag.TF_CLEAR_FREEZE | 0x00800000
        result = issuer_trust_set(self.chain, self.coin, self.holders[i], int(flags))
        assert result in ("tesSUCCESS", "tecNO_LINE_REDUNDANT")  # redundant: the holder's line is gone

    @rule(i=st.integers(0, HOLDERS - 1), on=st.booleans())
    def authorise(self, i: int, on: bool) -> None:
        flags = 0 if on else MPTokenAuthorizeFlag.TF_MPT_UNAUTHORIZE
        assert allow(self.chain, self.company, self.holders[i], self.ref, int(flags)) == "tesSUCCESS"

    @rule(i=st.integers(0, HOLDERS - 1), on=st.booleans())
    def lock(self, i: int, on: bool) -> None:
        flag = MPTokenIssuanceSetFlag.TF_MPT_LOCK if on else MPTokenIssuanceSetFlag.TF_MPT_UNLOCK
        tx = MPTokenIssuanceSet(
            account=self.company.address, mptoken_issuance_id=self.ref, holder=self.holders[i].address, flags=flag
        )
        assert self.chain.submit(self.company, tx) == "tesSUCCESS"

    @rule(i=st.integers(0, HOLDERS - 1), limit=st.sampled_from(["0", "1000"]))
    def set_limit(self, i: int, limit: str) -> None:
        trust(self.chain, self.holders[i], self.coin, limit, flags=TrustSetFlag.TF_SET_NO_RIPPLE)

    # --- what must always hold -------------------------------------------------------------------
    def check_no_gain(self) -> None:
        for i, holder in enumerate(self.holders):
            units, coins = self.before[holder.address]
            if not self.authorised(i) and self.units(i) > units:
                raise AssertionError(f"holder {i} gained units without MPT authorisation")
            if self.frozen(i) and self.coins(i) > coins:
                raise AssertionError(f"frozen holder {i} gained stablecoin from another holder")

    @invariant()
    def owner_counts_match_owned_objects(self) -> None:
        state = self.chain.engine.open
        for account in state.accounts:
            owned = sum(
                1
                for line in state.lines.values()
                if account in (line.low, line.high) and line.flag(account, LSF_LOW_RESERVE, LSF_HIGH_RESERVE)
            )
            owned += sum(1 for token in state.mptokens.values() if token.account == account)
            owned += sum(1 for issuance in state.issuances.values() if issuance.issuer == account)
            owned += self.chain.engine.nft_pages(account)
            owned += sum(1 for offer in state.nft_offers.values() if offer.owner == account)
            assert state.accounts[account].owner_count == owned, account

    @invariant()
    def outstanding_is_the_sum_of_balances(self) -> None:
        state = self.chain.engine.open
        held = sum(t.amount for t in state.mptokens.values() if t.issuance_id == self.ref)
        assert state.issuances[self.ref].outstanding == held

    @invariant()
    def reserve_flags_follow_the_default_state_and_default_lines_are_gone(self) -> None:
        engine = self.chain.engine
        for line in engine.open.lines.values():
            needs = [side_needs_reserve(engine, line, side) for side in (line.low, line.high)]
            assert any(needs), "a line in the default state on both sides still exists"


PlatformLedger.TestCase.settings = settings(
    max_examples=15, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_platform_ledger_invariants = PlatformLedger.TestCase
