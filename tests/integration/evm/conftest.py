"""Fixtures of the EVM tests: anvil (one per xdist worker), the deployed contract suite, investors.

Contract tests drive the contracts with web3's sync API and anvil's unlocked dev accounts for the
platform roles; investors are fresh keys that sign their own transactions and permits. Each test
runs inside an `evm_snapshot` that is reverted afterwards, so tests do not see each other's state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from web3 import Web3

from tests.integration.evm.suite import Suite
from tests.support.anvil import AnvilNode, anvil_node  # noqa: F401 - fixture

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="session")
def w3(anvil_node: AnvilNode) -> Web3:  # noqa: F811
    return Web3(Web3.HTTPProvider(anvil_node.url))


@pytest.fixture(scope="session")
def deployed(w3: Web3, anvil_node: AnvilNode) -> Suite:  # noqa: F811
    return Suite.deploy(w3, anvil_node)


@pytest.fixture
def suite(deployed: Suite, anvil_node: AnvilNode) -> Iterator[Suite]:  # noqa: F811
    snapshot = anvil_node.rpc("evm_snapshot")
    try:
        yield deployed
    finally:
        anvil_node.rpc("evm_revert", snapshot)


@pytest.fixture
def investor_keys() -> list:
    return [Account.create() for _ in range(4)]
