"""Invariants of the contract suite over random sequences of operations by random actors, on anvil.

A hypothesis state machine drives settlements, repayments (with and without principal
retirement), cash-out burns, transfers, transferFrom by random spenders, registry and per-token
freezes, reclassifications, forced transfers and wallet recoveries. Each call either goes
through or reverts; after every step the machine checks:

- dEUR supply = attested receipts settled + attested repayments paid - burns;
- the instrument's supply changes only by burns (retirements and the agent's burns);
- no wallet that was frozen (in the registry or the token), sanctioned or ineligible when the
  step began has a larger balance after it (the rules leave the agent no exception either:
  forced transfers and recoveries screen their receiver);
- partially frozen units never move: a wallet keeps at least the units it had frozen when the step
  began, unless the step retired principal or recovered the wallet (which carries them to the new
  wallet, still frozen), and never has more units frozen than it holds.

Bounded for `make test` (4 examples of up to 15 steps, ~1 min); DREXFY_INVARIANT_EXAMPLES and
DREXFY_INVARIANT_STEPS raise it.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from eth_account import Account
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from tests.integration.evm.suite import CENT, EU_ACC, EU_NON, SANCTIONED, US_ACC, US_NON, Suite
from tests.support.anvil import AnvilNode

pytestmark = pytest.mark.anvil

EXAMPLES = int(os.environ.get("DREXFY_INVARIANT_EXAMPLES", "4"))
STEPS = int(os.environ.get("DREXFY_INVARIANT_STEPS", "15"))
CLASSES = (EU_ACC, US_ACC, EU_NON, US_NON, SANCTIONED)
FROZEN_BIT = 1 << 8

wallets = st.integers(min_value=0, max_value=4)
amounts = st.integers(min_value=1, max_value=50).map(lambda n: n * CENT)
units = st.integers(min_value=1, max_value=20)


def attempt(fn: Any, sender: Any) -> bool:
    """Send `fn` from `sender` if it simulates; False if the contracts refuse it."""
    address = sender if isinstance(sender, str) else sender.address
    try:
        fn.estimate_gas({"from": address})
    except (ContractCustomError, ContractLogicError):
        return False
    w3 = fn.w3
    if isinstance(sender, str):
        tx_hash = fn.transact({"from": sender, "gas": 2_000_000})
    else:
        tx = fn.build_transaction({"from": address, "nonce": w3.eth.get_transaction_count(address), "gas": 2_000_000})
        tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt.status == 1, receipt
    return True


class Ledger(RuleBasedStateMachine):
    suite: Suite
    #: Operations that went through, over all examples (the run must not be vacuous).
    done: Counter[str] = Counter()

    def went(self, name: str, ok: bool) -> bool:
        if ok:
            self.done[name] += 1
        return ok

    @initialize()
    def start(self) -> None:
        s = self.suite
        self.snapshot = s.node.rpc("evm_snapshot")
        self.people = [Account.create() for _ in range(5)]
        for person, cls in zip(self.people, (EU_ACC, US_ACC, EU_NON, US_NON, None), strict=True):
            s.node.fund(person.address)
            if cls is not None:
                attempt(s.registry.functions.mint(person.address, cls), s.registrar)
        self.receipts = self.repayments = self.burns = 0
        self.units_supply = s.instrument.functions.totalSupply().call()
        self.units_burned = 0
        self.orders = 0
        #: The step that just ran may take frozen units (a retirement, a recovery).
        self.exempt = False
        # A starting book (three holders, one of them with coins), so that short sequences, which
        # hypothesis tries first, already move something.
        for i in range(3):
            self.settle(i, 10 + i, (10 + i) * CENT)
        self.repay_to([0], [20 * CENT], [])
        self.prev = self.observe()

    def teardown(self) -> None:
        if hasattr(self, "snapshot"):
            self.suite.node.rpc("evm_revert", self.snapshot)

    # ------------------------------------------------------------------ reads

    def observe(self) -> dict[str, tuple[int, int, bool, bool, int]]:
        """Per wallet: (dEUR, units, may receive dEUR, may receive units, frozen units)."""
        s = self.suite
        mask = s.instrument.functions.eligibleMask().call()
        seen = {}
        for person in self.people:
            a = person.address
            status = s.registry.functions.statusOf(a).call()
            cls, frozen = status & 0xFF, bool(status & FROZEN_BIT)
            clean = cls not in (0, SANCTIONED) and not frozen
            coin_ok = clean and not s.stablecoin.functions.isFrozen(a).call()
            unit_ok = clean and bool(mask >> cls & 1) and not s.instrument.functions.isFrozen(a).call()
            seen[a] = (
                s.stablecoin.functions.balanceOf(a).call(),
                s.instrument.functions.balanceOf(a).call(),
                coin_ok,
                unit_ok,
                s.instrument.functions.getFrozenTokens(a).call(),
            )
        return seen

    @invariant()
    def supplies_match_the_evidence_and_no_blocked_wallet_grows(self) -> None:
        if not hasattr(self, "prev"):
            return
        s = self.suite
        assert s.stablecoin.functions.totalSupply().call() == self.receipts + self.repayments - self.burns
        assert s.instrument.functions.totalSupply().call() == self.units_supply - self.units_burned
        now = self.observe()
        for address, (coins, held, coin_ok, unit_ok, frozen) in self.prev.items():
            if not coin_ok:
                assert now[address][0] <= coins, f"{address} received dEUR while blocked"
            if not unit_ok:
                assert now[address][1] <= held, f"{address} received units while blocked"
            if not self.exempt:
                assert now[address][1] >= frozen, f"{address}'s frozen units moved"
            assert now[address][4] <= now[address][1], f"{address} has more units frozen than held"
        self.exempt = False
        self.prev = now

    # ------------------------------------------------------------------ money in and out

    @rule(buyer=wallets, n=units, amount=amounts)
    def settle(self, buyer: int, n: int, amount: int) -> None:
        self.orders += 1
        order = Web3.keccak(text=f"inv-{self.orders}")
        if self.went(
            "settle", attempt(self.suite.settle_call(order, self.people[buyer], n, amount), self.suite.relayer)
        ):
            self.receipts += amount

    @rule(data=st.data())
    def repay(self, data: st.DataObject) -> None:
        chosen = data.draw(st.lists(wallets, min_size=1, max_size=3, unique=True))
        pay = [data.draw(amounts) for _ in chosen]
        retire = data.draw(st.sampled_from([[], [data.draw(st.integers(0, 2)) for _ in chosen]]))
        self.repay_to(chosen, pay, retire)

    def repay_to(self, chosen: list[int], pay: list[int], retire: list[int]) -> None:
        s = self.suite
        self.orders += 1
        call = s.pay_call(Web3.keccak(text=f"pay-{self.orders}"), [self.people[i].address for i in chosen], pay, retire)
        if self.went("repay", attempt(call, s.relayer)):
            self.repayments += sum(pay)
            self.units_burned += sum(retire)
            self.exempt = sum(retire) > 0

    @rule(owner=wallets, amount=amounts)
    def cash_out(self, owner: int, amount: int) -> None:
        s = self.suite
        deadline, v, r, sig = s.permit(self.people[owner], s.relayer, amount)
        fn = s.stablecoin.functions.burnWithPermit(self.people[owner].address, amount, deadline, v, r, sig)
        if self.went("cash out", attempt(fn, s.relayer)):
            self.burns += amount

    # ------------------------------------------------------------------ investors

    @rule(sender=wallets, receiver=wallets, amount=amounts, coin=st.booleans())
    def transfer(self, sender: int, receiver: int, amount: int, coin: bool) -> None:
        token = self.suite.stablecoin if coin else self.suite.instrument
        value = amount if coin else amount // CENT
        self.went(
            "transfer", attempt(token.functions.transfer(self.people[receiver].address, value), self.people[sender])
        )

    @rule(owner=wallets, spender=wallets, receiver=wallets, amount=amounts, coin=st.booleans())
    def transfer_from(self, owner: int, spender: int, receiver: int, amount: int, coin: bool) -> None:
        token = self.suite.stablecoin if coin else self.suite.instrument
        value = amount if coin else amount // CENT
        attempt(token.functions.approve(self.people[spender].address, value), self.people[owner])
        fn = token.functions.transferFrom(self.people[owner].address, self.people[receiver].address, value)
        attempt(fn, self.people[spender])

    # ------------------------------------------------------------------ compliance and the agent

    @rule(who=wallets, frozen=st.booleans(), where=st.sampled_from(["registry", "coin", "instrument"]))
    def freeze(self, who: int, frozen: bool, where: str) -> None:
        s = self.suite
        address = self.people[who].address
        if where == "registry":
            attempt(s.registry.functions.setFrozen(address, frozen), s.registrar)
        elif where == "coin":
            attempt(s.stablecoin.functions.setFrozen(address, frozen), s.registrar)
        else:
            attempt(s.instrument.functions.setFrozen(address, frozen), s.agent)

    @rule(who=wallets, cls=st.sampled_from(CLASSES))
    def reclassify(self, who: int, cls: int) -> None:
        s = self.suite
        address = self.people[who].address
        if s.registry.functions.classOf(address).call() == 0:
            attempt(s.registry.functions.mint(address, cls), s.registrar)
        else:
            attempt(s.registry.functions.reclassify(address, cls), s.registrar)

    @rule(source=wallets, receiver=wallets, n=units, from_inventory=st.booleans())
    def forced_transfer(self, source: int, receiver: int, n: int, from_inventory: bool) -> None:
        s = self.suite
        sender = s.issuer if from_inventory else self.people[source].address
        fn = s.instrument.functions.forcedTransfer(sender, self.people[receiver].address, n)
        self.went("forced transfer", attempt(fn, s.agent))

    @rule(holder=wallets, n=units)
    def agent_burn(self, holder: int, n: int) -> None:
        s = self.suite
        if attempt(s.instrument.functions.burn(self.people[holder].address, n), s.agent):
            self.units_burned += n

    @rule(lost=wallets, new=wallets)
    def recover(self, lost: int, new: int) -> None:
        s = self.suite
        fn = s.instrument.functions.recoverWallet(self.people[lost].address, self.people[new].address)
        self.exempt = self.went("recover", attempt(fn, s.agent))

    @rule(who=wallets, n=units, freeze=st.booleans())
    def partial_freeze(self, who: int, n: int, freeze: bool) -> None:
        s = self.suite
        address = self.people[who].address
        fn = (s.instrument.functions.freezePartialTokens if freeze else s.instrument.functions.unfreezePartialTokens)(
            address, n
        )
        self.went("partial freeze" if freeze else "partial unfreeze", attempt(fn, s.agent))


@pytest.fixture(scope="module")
def strict(w3: Web3, anvil_node: AnvilNode) -> Suite:
    return Suite.deploy(w3, anvil_node, with_minter=False)


@pytest.mark.timeout(900)
def test_supply_and_screening_invariants_hold_over_random_sequences(strict: Suite) -> None:
    Ledger.suite = strict
    Ledger.done = Counter()
    run_state_machine_as_test(
        Ledger,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=os.environ.get("CI") is not None,
            suppress_health_check=list(HealthCheck),
            database=None,
            # Shrinking replays whole sequences on anvil (minutes); a failure prints its steps anyway.
            phases=[Phase.explicit, Phase.generate],
        ),
    )
    # Not vacuous: besides the starting book, random steps moved money and units.
    assert Ledger.done["settle"] >= 3 * EXAMPLES and sum(Ledger.done.values()) > 4 * EXAMPLES, Ledger.done
