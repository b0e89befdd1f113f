"""Holders of an issuance without walking the whole ledger (adapters/xrpl/holders.py): Clio's
`mpt_holders` where the server offers it; on rippled the register's addresses when they account for
every outstanding unit, and the `ledger_data` walk only when they do not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.sqlite.store import SqliteStore
from drexfy.adapters.xrpl import XrplLedger, setup_platform
from drexfy.adapters.xrpl import holders as holders_module
from drexfy.domain.model import Wallet
from drexfy.domain.ports import Purchase
from tests.integration.xrpl.conftest import eur, make_config, onboard, spec
from tests.support.xrpl_double import GENESIS_SEED, DoubleConfig, LedgerDouble

pytestmark = pytest.mark.xrpl


async def platform_with_holders(
    double: LedgerDouble, vault: LocalVault, store: SqliteStore
) -> tuple[XrplLedger, str, list[Wallet]]:
    ledger = XrplLedger(make_config(double.url), vault, store.journal)
    await setup_platform(ledger, fund_from_seed=GENESIS_SEED, funding_drops=1_000_000_000, platform_drops=50_000_000)
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    wallets = []
    for n, name in enumerate(("alice", "bob", "carol")):
        wallet = await onboard(ledger, vault, name)
        await ledger.settle_purchase(f"settle:{name}", Purchase(name, wallet, ref, n + 1, eur(10_000 * (n + 1))))
        wallets.append(wallet)
    return ledger, ref, wallets


@pytest.fixture
async def rippled() -> AsyncIterator[LedgerDouble]:
    # No timer: ledgers close after each submission only, so reads pinned to a ledger find it.
    async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=None)) as running:
        yield running


async def test_on_rippled_the_registers_addresses_are_read_not_the_whole_ledger(
    rippled: LedgerDouble, vault: LocalVault, store: SqliteStore
) -> None:
    ledger, ref, (alice, bob, carol) = await platform_with_holders(rippled, vault, store)
    try:
        rippled.calls.clear()
        found = await ledger.holders(ref, known=[alice.address, bob.address, carol.address])
        assert found == {alice.address: 1, bob.address: 2, carol.address: 3}
        assert "ledger_data" not in rippled.calls
        assert "mpt_holders" in rippled.calls  # asked once: rippled does not know it
        rippled.calls.clear()
        await ledger.holders(ref, known=[alice.address, bob.address, carol.address])
        assert "mpt_holders" not in rippled.calls  # remembered
    finally:
        await ledger.close()


async def test_a_holder_the_register_does_not_know_is_found_by_the_walk(
    rippled: LedgerDouble, vault: LocalVault, store: SqliteStore
) -> None:
    ledger, ref, (alice, bob, carol) = await platform_with_holders(rippled, vault, store)
    try:
        rippled.calls.clear()
        found = await ledger.holders(ref, known=[alice.address, bob.address])  # carol is unknown
        assert found == {alice.address: 1, bob.address: 2, carol.address: 3}
        assert "ledger_data" in rippled.calls
    finally:
        await ledger.close()


async def test_on_clio_mpt_holders_answers_page_by_page(
    vault: LocalVault, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with LedgerDouble(DoubleConfig(auto_close=True, close_interval=None, clio=True)) as clio:
        ledger, ref, (alice, bob, carol) = await platform_with_holders(clio, vault, store)
        monkeypatch.setattr(holders_module, "PAGE", 2)
        try:
            clio.calls.clear()
            found = await ledger.holders(ref)  # nothing known: still no walk of the whole ledger
            assert found == {alice.address: 1, bob.address: 2, carol.address: 3}
            assert clio.calls.count("mpt_holders") == 2 and "ledger_data" not in clio.calls
        finally:
            await ledger.close()


async def test_a_ledger_closed_between_the_reads_falls_back_to_the_walk(
    rippled: LedgerDouble, vault: LocalVault, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The double (like a node keeping little history) serves only the latest validated ledger: a
    close between reading its index and the entries must not fail reconciliation."""
    ledger, ref, (alice, bob, carol) = await platform_with_holders(rippled, vault, store)
    real = ledger.rpc.call

    async def closing_first(request: Any) -> Any:
        if getattr(request, "mpt_issuance", None):
            rippled.engine.close()
        return await real(request)

    monkeypatch.setattr(ledger.rpc, "call", closing_first)
    try:
        found = await ledger.holders(ref, known=[alice.address, bob.address, carol.address])
        assert found == {alice.address: 1, bob.address: 2, carol.address: 3}
    finally:
        await ledger.close()
