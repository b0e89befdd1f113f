"""Purchases as one all-or-nothing XLS-56 Batch (`ledger.xrpl.batch = true`), against a double with
the Batch amendment enabled; and the refusal on a network without it (mainnet today)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.sqlite.store import SqliteStore
from drexfy.adapters.xrpl import XrplLedger, setup_platform
from drexfy.domain.errors import LedgerRejected
from drexfy.domain.ports import JournalStatus, Purchase
from tests.integration.xrpl.conftest import eur, make_config, onboard, spec
from tests.support.xrpl_double import GENESIS_SEED, DoubleConfig, LedgerDouble

pytestmark = pytest.mark.xrpl


@pytest.fixture
async def batch_double() -> AsyncIterator[LedgerDouble]:
    async with LedgerDouble(DoubleConfig(close_interval=0.05, amendments=frozenset({"Batch"}))) as running:
        yield running


async def _ledger(double: LedgerDouble, vault: LocalVault, store: SqliteStore) -> XrplLedger:
    ledger = XrplLedger(make_config(double.url, batch=True), vault, store.journal)
    await setup_platform(ledger, fund_from_seed=GENESIS_SEED, funding_drops=1_000_000_000, platform_drops=50_000_000)
    return ledger


async def test_a_purchase_settles_in_one_batch(
    batch_double: LedgerDouble, vault: LocalVault, store: SqliteStore
) -> None:
    ledger = await _ledger(batch_double, vault, store)
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    result = await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 5, eur(50_000)))
    batch_id = next(t for t in result.tx_ids if batch_double.engine.txs[t].tx_json["TransactionType"] == "Batch")
    inner = [r for r in batch_double.engine.txs.values() if r.meta.get("ParentBatchID") == batch_id]
    assert [r.tx_json["TransactionType"] for r in inner] == [
        "MPTokenAuthorize",
        "MPTokenAuthorize",
        "Payment",
        "Payment",
        "Payment",
    ]
    assert {r.hash for r in inner} <= set(result.tx_ids)
    assert await ledger.units_of(ref, alice.address) == 5
    company = await ledger.platform("instrument_issuer")
    assert await ledger.stablecoin_balance(company.address) == eur(50_000)
    applied = len(batch_double.engine.txs)
    assert await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 5, eur(50_000))) == result
    assert len(batch_double.engine.txs) == applied
    # A second purchase needs no opt-in any more: three inner payments.
    second = await ledger.settle_purchase("settle:o2", Purchase("o2", alice, ref, 1, eur(10_000)))
    assert len(second.tx_ids) == 4
    assert await ledger.units_of(ref, alice.address) == 6
    await ledger.close()


async def test_a_failing_leg_rolls_the_whole_purchase_back(
    batch_double: LedgerDouble, vault: LocalVault, store: SqliteStore
) -> None:
    ledger = await _ledger(batch_double, vault, store)
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref  # 1,000 units at most
    with pytest.raises(LedgerRejected) as rolled_back:
        await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 2_000, eur(50_000)))
    assert rolled_back.value.reason == "batch-rolled-back"
    company = await ledger.platform("instrument_issuer")
    assert await ledger.stablecoin_balance(alice.address) == eur(0)
    assert await ledger.stablecoin_balance(company.address) == eur(0)
    assert await ledger.units_of(ref, alice.address) == 0
    # The unused inner sequences were filled: every account goes on.
    await ledger.settle_purchase("settle:o2", Purchase("o2", alice, ref, 2, eur(20_000)))
    assert await ledger.units_of(ref, alice.address) == 2
    await ledger.close()


async def test_without_the_amendment_batch_is_refused_and_nothing_moves(
    double: LedgerDouble, vault: LocalVault, store: SqliteStore
) -> None:
    ledger = await _ledger(double, vault, store)
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    with pytest.raises(LedgerRejected) as disabled:
        await ledger.settle_purchase("settle:o1", Purchase("o1", alice, ref, 1, eur(10_000)))
    assert disabled.value.reason == "temDISABLED"
    entry = await store.journal.get("settle:o1/batch")
    assert entry is not None and entry.status is JournalStatus.FAILED
    assert await ledger.units_of(ref, alice.address) == 0
    # The issuer's next transaction is not stuck behind the batch's unused sequence.
    saga = XrplLedger(make_config(double.url), vault, store.journal)
    await saga.settle_purchase("settle:o2", Purchase("o2", alice, ref, 1, eur(10_000)))
    assert await saga.units_of(ref, alice.address) == 1
    await ledger.close()
    await saga.close()


async def test_an_order_paid_from_the_balance_settles_in_one_batch_without_an_issue(
    batch_double: LedgerDouble, vault: LocalVault, store: SqliteStore
) -> None:
    ledger = await _ledger(batch_double, vault, store)
    alice = await onboard(ledger, vault, "alice")
    ref = (await ledger.issue_instrument("issue:SME1", spec())).ledger_ref
    await ledger.mint_deposit("deposit:dep_1", alice, eur(30_000), "dep_1")
    with pytest.raises(LedgerRejected) as short:
        await ledger.settle_from_balance("settle:o0", Purchase("o0", alice, ref, 5, eur(50_000)))
    assert short.value.reason == "InsufficientFunds"
    result = await ledger.settle_from_balance("settle:o1", Purchase("o1", alice, ref, 2, eur(20_000)))
    batch_id = next(t for t in result.tx_ids if batch_double.engine.txs[t].tx_json["TransactionType"] == "Batch")
    inner = [r for r in batch_double.engine.txs.values() if r.meta.get("ParentBatchID") == batch_id]
    issuer = await ledger.platform("issuer")
    assert [r.tx_json["Account"] for r in inner if r.tx_json["TransactionType"] == "Payment"] == [
        alice.address,
        (await ledger.platform("instrument_issuer")).address,
    ]
    assert issuer.address not in {r.tx_json["Account"] for r in inner}
    assert await ledger.units_of(ref, alice.address) == 2
    assert await ledger.stablecoin_balance(alice.address) == eur(10_000)
    await ledger.close()
