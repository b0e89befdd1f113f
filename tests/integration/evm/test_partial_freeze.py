"""Partial freeze of a holder's units (ERC-3643 `freezePartialTokens`) on FinancialInstrument, on
anvil: frozen units move by no path (transfer, transferFrom, the agent's forced transfer and burn);
a wallet recovery carries them to the new wallet still frozen; retiring principal may take them."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.logs import DISCARD

from tests.integration.evm.suite import CENT, EU_ACC, US_ACC, Suite, revert_reason, send
from tests.integration.evm.test_contracts import holder

pytestmark = pytest.mark.anvil


def frozen_units(suite: Suite, account: str) -> int:
    return int(suite.instrument.functions.getFrozenTokens(account).call())


def test_frozen_units_cannot_be_transferred_the_rest_can(suite: Suite) -> None:
    a, b, spender = holder(suite, EU_ACC), suite.investor(US_ACC), suite.investor(EU_ACC)
    receipt = send(suite.instrument.functions.freezePartialTokens(a.address, 60), suite.agent)
    [event] = suite.instrument.events.TokensFrozen().process_receipt(receipt, errors=DISCARD)
    assert (event["args"]["account"], event["args"]["value"]) == (a.address, 60)
    assert frozen_units(suite, a.address) == 60
    assert revert_reason(suite.instrument.functions.transfer(b.address, 41), a) == "UnitsFrozen"
    send(suite.instrument.functions.approve(spender.address, 100), a)
    assert revert_reason(suite.instrument.functions.transferFrom(a.address, b.address, 41), spender) == "UnitsFrozen"
    send(suite.instrument.functions.transfer(b.address, 40), a)
    assert revert_reason(suite.instrument.functions.transfer(b.address, 1), a) == "UnitsFrozen"
    send(suite.instrument.functions.unfreezePartialTokens(a.address, 10), suite.agent)
    send(suite.instrument.functions.transferFrom(a.address, b.address, 10), spender)
    assert suite.instrument.functions.balanceOf(a.address).call() == 50
    assert frozen_units(suite, a.address) == 50
    send(suite.instrument.functions.unfreezePartialTokens(a.address, 50), suite.agent)
    send(suite.instrument.functions.transfer(b.address, 50), a)  # the flag is clear again
    assert suite.instrument.functions.balanceOf(b.address).call() == 100


def test_only_the_agent_freezes_and_never_more_than_is_held(suite: Suite) -> None:
    a = holder(suite, EU_ACC)
    freeze, unfreeze = suite.instrument.functions.freezePartialTokens, suite.instrument.functions.unfreezePartialTokens
    assert revert_reason(freeze(a.address, 1), a) == "AccessControlUnauthorizedAccount"
    assert revert_reason(freeze(a.address, 1), suite.relayer) == "AccessControlUnauthorizedAccount"
    assert revert_reason(freeze(a.address, 101), suite.agent) == "InvalidFreezeAmount"
    assert revert_reason(freeze(a.address, 0), suite.agent) == "InvalidFreezeAmount"
    assert revert_reason(unfreeze(a.address, 1), suite.agent) == "InvalidFreezeAmount"
    send(freeze(a.address, 70), suite.agent)
    assert revert_reason(freeze(a.address, 31), suite.agent) == "InvalidFreezeAmount"
    assert revert_reason(unfreeze(a.address, 71), suite.agent) == "InvalidFreezeAmount"
    assert revert_reason(unfreeze(a.address, 1), a) == "AccessControlUnauthorizedAccount"


def test_the_agents_forced_transfer_and_burn_respect_frozen_units(suite: Suite) -> None:
    a, b = holder(suite, EU_ACC), suite.investor(EU_ACC)
    send(suite.instrument.functions.freezePartialTokens(a.address, 80), suite.agent)
    assert revert_reason(suite.instrument.functions.forcedTransfer(a.address, b.address, 21), suite.agent) == (
        "UnitsFrozen"
    )
    assert revert_reason(suite.instrument.functions.burn(a.address, 21), suite.agent) == "UnitsFrozen"
    send(suite.instrument.functions.forcedTransfer(a.address, b.address, 20), suite.agent)
    assert revert_reason(suite.instrument.functions.burn(a.address, 1), suite.agent) == "UnitsFrozen"
    assert suite.instrument.functions.balanceOf(a.address).call() == 80
    assert frozen_units(suite, a.address) == 80


def test_a_recovery_carries_frozen_units_to_the_new_wallet_still_frozen(suite: Suite) -> None:
    lost, new, other = holder(suite, EU_ACC), suite.investor(EU_ACC), suite.investor(EU_ACC)
    send(suite.instrument.functions.freezePartialTokens(lost.address, 30), suite.agent)
    receipt = send(suite.instrument.functions.recoverWallet(lost.address, new.address), suite.agent)
    unfrozen = suite.instrument.events.TokensUnfrozen().process_receipt(receipt, errors=DISCARD)
    frozen = suite.instrument.events.TokensFrozen().process_receipt(receipt, errors=DISCARD)
    assert [(e["args"]["account"], e["args"]["value"]) for e in unfrozen] == [(lost.address, 30)]
    assert [(e["args"]["account"], e["args"]["value"]) for e in frozen] == [(new.address, 30)]
    assert (frozen_units(suite, lost.address), frozen_units(suite, new.address)) == (0, 30)
    assert suite.instrument.functions.balanceOf(new.address).call() == 100
    assert revert_reason(suite.instrument.functions.transfer(other.address, 71), new) == "UnitsFrozen"
    send(suite.instrument.functions.transfer(other.address, 70), new)


def test_retiring_principal_may_take_frozen_units_and_caps_the_frozen_amount(suite: Suite) -> None:
    a = holder(suite, EU_ACC, 100)
    send(suite.instrument.functions.freezePartialTokens(a.address, 90), suite.agent)
    fn = suite.pay_call(Web3.keccak(text="partial#0"), [a.address], [10 * CENT], [40])
    receipt = send(fn, suite.relayer)
    [event] = suite.instrument.events.TokensUnfrozen().process_receipt(receipt, errors=DISCARD)
    assert (event["args"]["account"], event["args"]["value"]) == (a.address, 30)
    assert suite.instrument.functions.balanceOf(a.address).call() == 60
    assert frozen_units(suite, a.address) == 60
