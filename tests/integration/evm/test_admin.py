"""The admin of every contract behind a transfer delay (OpenZeppelin AccessControlDefaultAdminRules,
contracts/DelayedAdmin.sol), on anvil: DEFAULT_ADMIN_ROLE is never granted directly; a handover
takes two steps and waits the delay; the admin can cancel a pending handover."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from eth_account import Account

from tests.integration.evm.suite import Suite, revert_reason, send
from tests.support.anvil import AnvilNode

pytestmark = pytest.mark.anvil

ZERO_ROLE = b"\x00" * 32
DELAY = 2 * 24 * 3600


@pytest.fixture
def suite(deployed: Suite, anvil_node: AnvilNode) -> Iterator[Suite]:
    """The suite in a snapshot, and the chain's clock put back after the test's time travel (a
    reverted snapshot keeps anvil's time offset; later tests sign deadlines from the wall clock)."""
    snapshot = anvil_node.rpc("evm_snapshot")
    try:
        yield deployed
    finally:
        anvil_node.rpc("evm_revert", snapshot)
        anvil_node.rpc("evm_setTime", int(time.time()))


def contracts(suite: Suite) -> list:
    return [
        suite.registry,
        suite.stablecoin,
        suite.instrument,
        suite.settlement,
        suite.distribution,
        suite.instruments,
    ]


def wait(suite: Suite, seconds: int) -> None:
    suite.node.rpc("evm_increaseTime", seconds)
    suite.node.rpc("evm_mine")


@pytest.mark.parametrize(
    "index", range(6), ids=["registry", "stablecoin", "instrument", "settlement", "distribution", "instruments"]
)
def test_the_admin_role_moves_only_in_two_steps_after_the_delay(suite: Suite, index: int) -> None:
    contract = contracts(suite)[index]
    fns = contract.functions
    safe = Account.create()
    suite.node.fund(safe.address)
    assert fns.defaultAdmin().call() == suite.admin
    assert fns.defaultAdminDelay().call() == DELAY
    # A stolen admin key cannot simply add an admin, nor can anyone else start a handover.
    assert (
        revert_reason(fns.grantRole(ZERO_ROLE, safe.address), suite.admin) == "AccessControlEnforcedDefaultAdminRules"
    )
    assert revert_reason(fns.beginDefaultAdminTransfer(safe.address), suite.relayer) == (
        "AccessControlUnauthorizedAccount"
    )
    send(fns.beginDefaultAdminTransfer(safe.address), suite.admin)
    assert revert_reason(fns.acceptDefaultAdminTransfer(), safe) == "AccessControlEnforcedDefaultAdminDelay"
    wait(suite, DELAY - 60)
    assert revert_reason(fns.acceptDefaultAdminTransfer(), safe) == "AccessControlEnforcedDefaultAdminDelay"
    wait(suite, 120)
    assert revert_reason(fns.acceptDefaultAdminTransfer(), suite.relayer) == "AccessControlInvalidDefaultAdmin"
    send(fns.acceptDefaultAdminTransfer(), safe)
    assert fns.defaultAdmin().call() == safe.address
    assert fns.hasRole(ZERO_ROLE, safe.address).call()
    assert not fns.hasRole(ZERO_ROLE, suite.admin).call()


def test_a_pending_handover_can_be_cancelled_by_the_admin(suite: Suite) -> None:
    fns = suite.instruments.functions
    thief = Account.create()
    suite.node.fund(thief.address)
    send(fns.beginDefaultAdminTransfer(thief.address), suite.admin)
    send(fns.cancelDefaultAdminTransfer(), suite.admin)
    wait(suite, DELAY + 60)
    assert revert_reason(fns.acceptDefaultAdminTransfer(), thief) == "AccessControlInvalidDefaultAdmin"
    assert fns.defaultAdmin().call() == suite.admin


def test_the_clock_is_back_after_time_travel(suite: Suite) -> None:
    """Guards the fixture: a later test's wall-clock deadlines still lie in the chain's future."""
    wait(suite, DELAY)
    assert suite.w3.eth.get_block("latest")["timestamp"] > time.time() + DELAY - 60


def test_the_clock_stays_with_the_wall_clock(suite: Suite) -> None:
    send(suite.instruments.functions.beginDefaultAdminTransfer(suite.relayer), suite.admin)
    assert suite.w3.eth.get_block("latest")["timestamp"] < time.time() + 60
