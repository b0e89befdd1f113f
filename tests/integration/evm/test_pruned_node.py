"""Reconciliation on a node that keeps no old state: anvil restarted from a state dump refuses
eth_getCode at earlier blocks, as a pruned Moonbeam node does. Holders are read from the Transfer
logs from the block the instrument was issued at (recorded by the platform), and current balances."""

from __future__ import annotations

from pathlib import Path

import pytest

from drexfy.adapters.evm import build_evm_ledger
from drexfy.adapters.secp256k1 import evm_address
from drexfy.domain.model import Wallet
from drexfy.domain.money import Money
from drexfy.domain.ports import InstrumentSpec
from tests.integration.evm.test_ledger import EU_ACC, make_env, purchase
from tests.support.anvil import start_anvil

pytestmark = pytest.mark.anvil


async def test_holders_are_read_on_a_node_that_kept_no_old_state(tmp_path: Path) -> None:
    node = start_anvil(extra_args=("--state", str(tmp_path / "anvil-state.json")))
    try:
        cfg, vault, store = await make_env(node, tmp_path)
        ledger = await build_evm_ledger(cfg, vault, store.journal)
        try:
            public_key = await vault.create_key("ivy")
            buyer = Wallet("ivy", evm_address(public_key), public_key.hex())
            await ledger.record_classification("classify:ivy", buyer, EU_ACC)
            spec = InstrumentSpec("sme-p", "SMEP", "SME pool P", 1_000, frozenset({EU_ACC}), Money(10_000, "EUR"))
            issued = await ledger.issue_instrument("issue:sme-p", spec)
            assert issued.position is not None and issued.position > cfg_block(ledger)
            await ledger.settle_purchase("settle:p1", purchase("p1", buyer, issued.ledger_ref, 2))
        finally:
            await ledger.close()

        node.stop()
        node.start()  # from the state dump: no state of earlier blocks
        restarted = await build_evm_ledger(cfg, vault, store.journal)
        try:
            with pytest.raises(Exception, match=r"BlockOutOfRange|out of range|not available|missing"):
                await restarted.w3.eth.get_code(issued.ledger_ref, block_identifier=issued.position)
            expected = {buyer.address: 2}
            assert await restarted.holders(issued.ledger_ref, since=issued.position) == expected
            # An instrument issued before its block was recorded: the scan starts at the suite's block.
            assert await restarted.holders(issued.ledger_ref) == expected
        finally:
            await restarted.close()
            await store.close()
    finally:
        node.stop()


def cfg_block(ledger: object) -> int:
    return int(ledger.deployment.block)  # type: ignore[attr-defined]
