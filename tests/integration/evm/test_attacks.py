"""The attack list of the trust model (docs/evm.md, "Keys"), tried on anvil as an attacker would.

One test per operational key: the attacker holds only that key (it sends from the key's address
and, for the attestors, signs with the key) plus wallets of its own, and tries every way the
issue lists to create money or units or to move someone else's. Each attempt must revert, and
afterwards neither supply has grown and the attacker holds nothing. The suite here has no test
minter: MINTER_ROLE is held by Settlement and Distribution only, as `deploy_suite` sets it up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from tests.integration.evm.suite import CENT, EU_ACC, EU_NON, SANCTIONED, US_ACC, Suite, revert_reason, role_id, send
from tests.support.anvil import AnvilNode

pytestmark = pytest.mark.anvil

#: Creation code of a contract whose runtime is a single STOP: every call to it "succeeds" and
#: does nothing, which is what a contract posing as an instrument looks like from outside.
DO_NOTHING = "0x6001600c60003960016000f300"
BIG = 10**9 * CENT


@pytest.fixture(scope="module")
def strict(w3: Web3, anvil_node: AnvilNode) -> Suite:
    return Suite.deploy(w3, anvil_node, with_minter=False)


@pytest.fixture
def attack_suite(strict: Suite, anvil_node: AnvilNode) -> Iterator[Suite]:
    snapshot = anvil_node.rpc("evm_snapshot")
    try:
        yield strict
    finally:
        anvil_node.rpc("evm_revert", snapshot)


def do_nothing(suite: Suite) -> str:
    tx = suite.w3.eth.send_transaction({"from": suite.admin, "data": DO_NOTHING})
    address = suite.w3.eth.wait_for_transaction_receipt(tx).contractAddress
    assert suite.w3.eth.get_code(address) == b"\x00"
    return str(address)


def victim(suite: Suite, spender: str) -> Any:
    """An honest investor with units and coins (bought through Settlement), who once approved
    `spender` on both tokens (an allowance left standing, or a spender frozen since)."""
    account = suite.investor(EU_ACC)
    suite.buy(account, units=50, amount=500 * CENT)
    # A purchase leaves the buyer no coins: a repayment gives the victim some.
    send(suite.pay_call(Web3.keccak(text=f"vpay-{account.address}"), [account.address], [300 * CENT]), suite.relayer)
    send(suite.instrument.functions.approve(spender, 50), account)
    send(suite.stablecoin.functions.approve(spender, 300 * CENT), account)
    return account


def attempts(suite: Suite, sender: Any, signer: Any, wallet: Any, victim: Any) -> Iterator[tuple[str, Any]]:
    """Everything the issue's attack list tries, as (name, call) from `sender`. `signer` is the
    key the attacker signs attestations with (the real attestor's or treasury's when it holds
    that key, else one of its own); `wallet` is an eligible investor wallet holding units that
    the attacker controls (a colluding investor: the worst case, every screen passes for it)."""
    coin, inst, reg = suite.stablecoin.functions, suite.instrument.functions, suite.registry.functions
    me = sender if isinstance(sender, str) else sender.address
    fake = do_nothing(suite)
    receiver = suite.investor(EU_NON)  # an eligible wallet the attacker would route funds through
    yield "mint dEUR directly", coin.mint(wallet.address, BIG)
    yield "mint dEUR in a batch", coin.mintBatch([wallet.address], [BIG])
    yield "grant itself MINTER_ROLE", coin.grantRole(role_id("MINTER_ROLE"), me)
    yield "grant itself the instrument's AGENT_ROLE", inst.grantRole(role_id("AGENT_ROLE"), me)
    yield "register a contract posing as an instrument", suite.instruments.functions.register(fake)
    order = Web3.keccak(text=f"attack-{me}")
    for name, instrument in (("the instrument", suite.instrument.address), ("a do-nothing contract", fake)):
        attested = suite.attest_payment(order, wallet.address, BIG, instrument, 1, signer=signer)
        yield (
            f"settle an unpaid order against {name}",
            suite.settle_call(order, wallet, 1, BIG, instrument=instrument, attested=attested),
        )
        repayment = suite.attest_repayment(instrument, order, BIG, signer=signer)
        yield (
            f"pay a repayment to its own wallet through {name}",
            suite.pay_call(order, [wallet.address], [BIG], instrument=instrument, attested=repayment),
        )
    yield "classify a fresh wallet", reg.mint(Account.create().address, EU_ACC)
    yield (
        "mint units by a forced transfer from address(0)",
        inst.forcedTransfer("0x" + "00" * 20, wallet.address, 10**6),
    )
    yield "burn units of nobody", inst.burn("0x" + "00" * 20, 1)
    yield "take units from the inventory", inst.forcedTransfer(suite.issuer, wallet.address, 1)
    yield "deliver units without a settlement", inst.deliver(wallet.address, 1)
    yield "spend a victim's unit allowance", inst.transferFrom(victim.address, receiver.address, 10)
    yield "spend a victim's coin allowance", coin.transferFrom(victim.address, receiver.address, 100 * CENT)
    yield "retire a victim's units", inst.retireBatch([victim.address], [10])
    yield "recover a victim's units into its own wallet", inst.recoverWallet(victim.address, wallet.address)
    yield "freeze a victim's units", inst.freezePartialTokens(victim.address, 1)


KEYS = ("relayer", "registrar", "payments attestor", "treasury", "agent", "issuer")


@pytest.mark.parametrize("key", KEYS)
def test_no_single_operational_key_creates_money_or_units(attack_suite: Suite, key: str) -> None:
    suite = attack_suite
    signer = {"payments attestor": suite.attestor, "treasury": suite.treasury}.get(key, Account.create())
    sender: Any = {
        "relayer": suite.relayer,
        "registrar": suite.registrar,
        "agent": suite.agent,
        "issuer": suite.issuer,
    }.get(key, signer)
    me = sender if isinstance(sender, str) else sender.address
    suite.node.fund(me)
    wallet = suite.investor(EU_ACC)  # the attacker's own (colluding) investor, holding a unit
    suite.buy(wallet, units=1, amount=CENT)
    prey = victim(suite, me)
    coin, inst = suite.stablecoin.functions, suite.instrument.functions

    def state() -> tuple[int, ...]:
        return (
            coin.totalSupply().call(),
            inst.totalSupply().call(),
            inst.balanceOf(prey.address).call(),
            coin.balanceOf(wallet.address).call(),
            inst.balanceOf(wallet.address).call(),
        )

    before = state()
    succeeded = []
    for name, call in attempts(suite, sender, signer, wallet, prey):
        if key == "registrar" and name == "classify a fresh wallet":
            continue  # its duty; it creates nothing
        if key == "agent" and name in (
            "take units from the inventory",
            "recover a victim's units into its own wallet",
            "freeze a victim's units",
        ):
            # Forced transfer and recovery between eligible wallets are the agent's duty, and its
            # documented worst case (docs/evm.md, "Keys"): units move, none are created.
            continue
        if key == "issuer" and name.startswith("spend a victim's"):
            # The issuer is a platform wallet, exempt from the class check on purpose: spending
            # an allowance an investor gave it is what the allowance is for. Spenders that are
            # not clean are refused in test_a_spender_that_is_not_clean_moves_nothing.
            continue
        try:
            reason = revert_reason(call, sender)
        except AssertionError:
            succeeded.append(name)
            continue
        assert reason, name
    assert succeeded == [], f"the {key} key alone could: {succeeded}"
    assert state() == before


# ---------------------------------------------------------------- the rest of the list, rule by rule


def test_frozen_units_move_by_no_path(attack_suite: Suite) -> None:
    """A victim's units frozen by the agent (partial freeze): neither the holder, nor a spender it
    approved, nor the agent's forced transfer or burn moves them."""
    suite = attack_suite
    spender = suite.investor(EU_ACC)
    prey = victim(suite, spender.address)
    receiver = suite.investor(EU_NON)
    inst = suite.instrument.functions
    send(inst.freezePartialTokens(prey.address, 50), suite.agent)
    for call, sender in (
        (inst.transfer(receiver.address, 1), prey),
        (inst.transferFrom(prey.address, receiver.address, 1), spender),
        (inst.forcedTransfer(prey.address, receiver.address, 1), suite.agent),
        (inst.burn(prey.address, 1), suite.agent),
    ):
        assert revert_reason(call, sender) == "UnitsFrozen"
    assert inst.balanceOf(prey.address).call() == 50


@pytest.mark.parametrize("state", ["frozen", "sanctioned", "unclassified", "frozen here"])
def test_a_spender_that_is_not_clean_moves_nothing(attack_suite: Suite, state: str) -> None:
    suite = attack_suite
    spender = suite.investor(None if state == "unclassified" else US_ACC)
    prey = victim(suite, spender.address)
    if state == "frozen":
        send(suite.registry.functions.setFrozen(spender.address, True), suite.registrar)
    elif state == "sanctioned":
        send(suite.registry.functions.reclassify(spender.address, SANCTIONED), suite.registrar)
    elif state == "frozen here":
        send(suite.instrument.functions.setFrozen(spender.address, True), suite.agent)
        send(suite.stablecoin.functions.setFrozen(spender.address, True), suite.registrar)
    receiver = suite.investor(EU_ACC)
    expected = {"frozen": "WalletFrozen", "frozen here": "WalletFrozen", "sanctioned": "SanctionedWallet"}
    error = expected.get(state, "UnclassifiedWallet")
    fn = suite.instrument.functions.transferFrom(prey.address, receiver.address, 10)
    assert revert_reason(fn, spender) == error
    fn = suite.stablecoin.functions.transferFrom(prey.address, receiver.address, CENT)
    assert revert_reason(fn, spender) == error


def test_a_clean_spender_still_moves_within_its_allowance(attack_suite: Suite) -> None:
    suite = attack_suite
    spender = suite.investor(US_ACC)
    prey, receiver = victim(suite, spender.address), suite.investor(EU_ACC)
    send(suite.instrument.functions.transferFrom(prey.address, receiver.address, 10), spender)
    assert suite.instrument.functions.balanceOf(receiver.address).call() == 10


def test_a_frozen_wallet_cannot_approve_or_permit(attack_suite: Suite) -> None:
    suite = attack_suite
    owner, spender = suite.investor(EU_ACC), suite.investor(EU_ACC)
    send(suite.registry.functions.setFrozen(owner.address, True), suite.registrar)
    for token in (suite.stablecoin, suite.instrument):
        assert revert_reason(token.functions.approve(spender.address, 1), owner) == "WalletFrozen"
    send(suite.stablecoin.functions.approve(spender.address, 0), owner)  # taking an allowance away is fine
    deadline, v, r, s = suite.permit(owner, spender.address, CENT)
    fn = suite.stablecoin.functions.permit(owner.address, spender.address, CENT, deadline, v, r, s)
    assert revert_reason(fn, spender) == "WalletFrozen"


def test_the_registry_freeze_stops_the_issuer_too(attack_suite: Suite) -> None:
    """The issuer is exempt from the class checks only (documented): a registry freeze stops it."""
    suite = attack_suite
    buyer = suite.investor(EU_ACC)
    send(suite.registry.functions.setFrozen(suite.issuer, True), suite.registrar)
    fn = suite.settle_call(Web3.keccak(text="frozen-issuer"), buyer, 1, CENT)
    assert revert_reason(fn, suite.relayer) == "WalletFrozen"
    fn = suite.instrument.functions.transfer(buyer.address, 1)
    assert revert_reason(fn, suite.issuer) == "WalletFrozen"
    fn = suite.instrument.functions.forcedTransfer(buyer.address, suite.issuer, 0)
    assert revert_reason(fn, suite.agent) == "WalletFrozen"


def test_burn_with_permit_cannot_be_griefed_by_submitting_the_permit_first(attack_suite: Suite) -> None:
    suite = attack_suite
    owner = victim(suite, suite.relayer)
    send(suite.stablecoin.functions.approve(suite.relayer, 0), owner)  # no standing allowance
    deadline, v, r, s = suite.permit(owner, suite.relayer, 100 * CENT)
    griefer = suite.investor(EU_ACC)
    coin = suite.stablecoin.functions
    send(coin.permit(owner.address, suite.relayer, 100 * CENT, deadline, v, r, s), griefer)
    supply = coin.totalSupply().call()
    send(coin.burnWithPermit(owner.address, 100 * CENT, deadline, v, r, s), suite.relayer)
    assert coin.totalSupply().call() == supply - 100 * CENT
    assert coin.allowance(owner.address, suite.relayer).call() == 0
    # The same permit once more: used, and what it granted is spent.
    fn = coin.burnWithPermit(owner.address, 100 * CENT, deadline, v, r, s)
    assert revert_reason(fn, suite.relayer) == "ERC2612InvalidSigner"


def test_a_do_nothing_contract_cannot_be_registered_or_settled_against(attack_suite: Suite) -> None:
    suite = attack_suite
    fake = do_nothing(suite)
    assert revert_reason(suite.instruments.functions.register(fake), suite.admin) != ""
    buyer = suite.investor(EU_ACC)
    fn = suite.settle_call(Web3.keccak(text=f"fake-{time.time_ns()}"), buyer, 1, CENT, instrument=fake)
    assert revert_reason(fn, suite.relayer) == "UnregisteredInstrument"
