"""EvmLedger against anvil, with the real SQLite journal and the local vault."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from eth_utils.crypto import keccak

from drexfy.adapters.evm import EvmConfig, EvmLedger, build_evm_ledger, connect, deploy_suite
from drexfy.adapters.evm.deployment import ADMIN_KEY, ISSUER_KEY, RELAYER_KEY, TREASURY_KEY
from drexfy.adapters.evm.relayer import Relayer
from drexfy.adapters.local_vault import LocalVault
from drexfy.adapters.secp256k1 import evm_address
from drexfy.adapters.sqlite import SqliteStore, open_sqlite_store
from drexfy.domain.classification import Classification
from drexfy.domain.errors import (
    ComplianceRejected,
    ConfigurationError,
    KeyNotFound,
    LedgerRejected,
    LedgerUnavailable,
    OperationConflict,
)
from drexfy.domain.model import Wallet
from drexfy.domain.money import Money
from drexfy.domain.ports import InstrumentSpec, JournalStatus, Payout, Purchase
from tests.support.anvil import AnvilNode, anvil_node, start_anvil  # noqa: F401 - fixture
from tests.support.vaults import SigningGate

pytestmark = pytest.mark.anvil

EU_ACC, US_ACC, EU_NON, US_NON = (
    Classification.EU_ACCREDITED,
    Classification.US_ACCREDITED,
    Classification.EU_NON_ACCREDITED,
    Classification.US_NON_ACCREDITED,
)


@pytest.fixture(autouse=True)
async def _close_every_adapter(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Close every adapter a test builds (restart simulations build several), so no keep-alive RPC
    session is left for the garbage collector to complain about."""
    built: list[EvmLedger] = []
    real = build_evm_ledger

    async def tracking(*args: object, **kwargs: object) -> EvmLedger:
        ledger = await real(*args, **kwargs)  # type: ignore[arg-type]
        built.append(ledger)
        return ledger

    monkeypatch.setattr(sys.modules[__name__], "build_evm_ledger", tracking)
    yield
    for ledger in built:
        await ledger.close()


def eur(cents: int) -> Money:
    return Money(cents, "EUR")


@attrs.define
class Env:
    ledger: EvmLedger
    store: SqliteStore
    vault: LocalVault
    config: EvmConfig
    instrument: str

    async def wallet(self, name: str, classification: Classification | None = None) -> Wallet:
        public_key = await self.vault.create_key(name)
        wallet = Wallet(name, evm_address(public_key), public_key.hex())
        if classification is not None:
            await self.ledger.record_classification(f"classify:{name}", wallet, classification)
        return wallet

    async def reopen(self) -> EvmLedger:
        """A new adapter over the same journal and vault: what a restarted process builds."""
        return await build_evm_ledger(self.config, self.vault, self.store.journal)

    async def with_failing_signature(self, **config: object) -> EvmLedger:
        """An adapter over the same journal whose next relayer signature fails (a crash after the
        nonce was taken); receipts time out quickly, so a nonce hole shows as a timeout."""
        quick = attrs.evolve(self.config, **{"receipt_timeout_s": 5.0, **config})
        return await build_evm_ledger(quick, FailingVault(self.vault), self.store.journal)  # type: ignore[arg-type]

    async def relayer_nonce(self) -> int:
        return int(await self.ledger.w3.eth.get_transaction_count(self.ledger.deployment.relayer))


async def make_env(node: AnvilNode, tmp_path: Path, **config: object) -> tuple[EvmConfig, LocalVault, SqliteStore]:
    vault = LocalVault(tmp_path / "vault", os.urandom(32))
    store = await open_sqlite_store(":memory:")
    cfg = EvmConfig(rpc_url=node.url, chain_id=1287, deployment_file=tmp_path / "deployment.json", **config)
    w3 = await connect(cfg)
    (await deploy_suite(w3, vault, store.journal, cfg)).save(cfg.deployment_file)
    await w3.provider.disconnect()  # type: ignore[union-attr]
    return cfg, vault, store


@pytest.fixture
async def env(anvil_node: AnvilNode, tmp_path: Path) -> AsyncIterator[Env]:  # noqa: F811
    cfg, vault, store = await make_env(anvil_node, tmp_path, batch_size=8)
    ledger = await build_evm_ledger(cfg, vault, store.journal)
    spec = InstrumentSpec("sme-1", "SME1", "SME pool 1", 10_000, frozenset({EU_ACC, US_ACC, EU_NON}), eur(10_000))
    issued = await ledger.issue_instrument("issue:sme-1", spec)
    try:
        yield Env(ledger, store, vault, cfg, issued.ledger_ref)
    finally:
        await ledger.close()
        await store.close()


def purchase(order: str, buyer: Wallet, instrument: str, units: int) -> Purchase:
    return Purchase(order, buyer, instrument, units, eur(units * 10_000))


async def test_settles_a_purchase_once_per_operation(env: Env) -> None:
    buyer = await env.wallet("alice", EU_ACC)
    ledger = env.ledger
    result = await ledger.settle_purchase("settle:o1", purchase("o1", buyer, env.instrument, 3))
    assert len(result.tx_ids) == 1
    assert await ledger.units_of(env.instrument, buyer.address) == 3
    assert await ledger.stablecoin_balance(buyer.address) == eur(0)
    assert await ledger.stablecoin_balance(ledger.deployment.issuer) == eur(30_000)
    assert await ledger.holders(env.instrument) == {buyer.address: 3}
    # The same op id again (a retry, a duplicate delivery): same answer, nothing moves twice.
    again = await ledger.settle_purchase("settle:o1", purchase("o1", buyer, env.instrument, 3))
    assert again == result
    assert await ledger.units_of(env.instrument, buyer.address) == 3
    entry = await env.store.journal.get("settle:o1")
    assert entry is not None and entry.status is JournalStatus.CONFIRMED
    assert entry.tx_id == result.tx_ids[0] and entry.payload and entry.sequence is not None


class Crash(Exception):
    """Stands for the process dying at a precise point."""


async def test_crash_before_broadcast_rebroadcasts_the_same_transaction(env: Env) -> None:
    buyer = await env.wallet("bob", US_ACC)
    relayer_address = env.ledger.deployment.relayer
    w3 = env.ledger.w3
    nonce_before = await w3.eth.get_transaction_count(relayer_address)

    def die(entry: object) -> None:
        raise Crash

    env.ledger.relayer.before_broadcast = die
    with pytest.raises(Crash):
        await env.ledger.settle_purchase("settle:o2", purchase("o2", buyer, env.instrument, 2))
    journalled = await env.store.journal.get("settle:o2")
    assert journalled is not None and journalled.status is JournalStatus.PREPARED and journalled.payload
    assert await w3.eth.get_transaction_count(relayer_address) == nonce_before  # nothing reached the chain

    restarted = await env.reopen()
    result = await restarted.settle_purchase("settle:o2", purchase("o2", buyer, env.instrument, 2))
    assert result.tx_ids == (journalled.tx_id,)  # the very transaction signed before the crash
    assert await restarted.units_of(env.instrument, buyer.address) == 2
    assert await w3.eth.get_transaction_count(relayer_address) == nonce_before + 1


async def test_crash_after_broadcast_has_one_effect(env: Env) -> None:
    buyer = await env.wallet("carol", EU_NON)
    w3 = env.ledger.w3
    sent: list[str] = []

    def broadcast_then_die(entry: object) -> None:
        sent.append(entry.payload)  # type: ignore[attr-defined]
        raise Crash

    env.ledger.relayer.before_broadcast = broadcast_then_die
    with pytest.raises(Crash):
        await env.ledger.settle_purchase("settle:o3", purchase("o3", buyer, env.instrument, 4))
    await w3.eth.send_raw_transaction(sent[0])  # it did leave the process before the crash
    restarted = await env.reopen()
    done = await restarted.resume_unfinished()
    assert "settle:o3" in done
    entry = await env.store.journal.get("settle:o3")
    assert entry is not None and entry.status is JournalStatus.CONFIRMED
    result = await restarted.settle_purchase("settle:o3", purchase("o3", buyer, env.instrument, 4))
    assert result.tx_ids == (entry.tx_id,)
    assert await restarted.units_of(env.instrument, buyer.address) == 4


async def test_two_processes_preparing_one_operation_send_one_transaction(env: Env) -> None:
    """Scaled-out workers can prepare the same operation at the same instant (two deliveries of one
    AML alert, a retry racing a slow first attempt). Both sign, with the same nonce; only the first
    transaction journalled is sent, both report it, and the relayer's nonces stay gapless."""
    buyer = await env.wallet("gina", EU_ACC)
    w3 = env.ledger.w3
    relayer_address = env.ledger.deployment.relayer
    nonce_before = await w3.eth.get_transaction_count(relayer_address)
    gate = SigningGate(env.vault, expected=2, only=lambda wallet_id: wallet_id == RELAYER_KEY)
    first = await build_evm_ledger(env.config, gate, env.store.journal)  # type: ignore[arg-type]
    second = await build_evm_ledger(env.config, gate, env.store.journal)  # type: ignore[arg-type]
    try:
        order = purchase("o7", buyer, env.instrument, 2)
        results = await asyncio.gather(
            first.settle_purchase("settle:o7", order), second.settle_purchase("settle:o7", order)
        )
        assert gate.arrived == 2  # both really signed
        assert results[0] == results[1]
        assert await env.ledger.units_of(env.instrument, buyer.address) == 2  # not 4
        assert await w3.eth.get_transaction_count(relayer_address) == nonce_before + 1
        # No nonce was skipped: the next operation is mined at once instead of waiting for a gap.
        again = await first.settle_purchase("settle:o8", purchase("o8", buyer, env.instrument, 1))
        assert len(again.tx_ids) == 1
        assert await w3.eth.get_transaction_count(relayer_address) == nonce_before + 2
    finally:
        await first.close()
        await second.close()


class FailingVault:
    """The env's vault, whose next relayer signature fails: a crash after the nonce was taken."""

    def __init__(self, inner: LocalVault) -> None:
        self.inner, self.fail = inner, True

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def sign_digest(self, wallet_id: str, digest: bytes) -> object:
        if wallet_id == RELAYER_KEY and self.fail:
            self.fail = False
            raise Crash
        return await self.inner.sign_digest(wallet_id, digest)


async def test_a_crash_after_taking_a_nonce_does_not_leave_a_gap(env: Env) -> None:
    buyer = await env.wallet("hugo", US_ACC)
    w3 = env.ledger.w3
    relayer_address = env.ledger.deployment.relayer
    nonce_before = await env.relayer_nonce()
    flaky = await env.with_failing_signature()
    try:
        with pytest.raises(Crash):
            await flaky.settle_purchase("settle:o9", purchase("o9", buyer, env.instrument, 1))
        # The retry gets the nonce taken before the crash (a fresh one would leave that one unused,
        # and the chain would hold this and every later transaction back forever).
        retried = await flaky.settle_purchase("settle:o9", purchase("o9", buyer, env.instrument, 1))
        other = await flaky.settle_purchase("settle:o10", purchase("o10", buyer, env.instrument, 1))
        entries = [await env.store.journal.get(op) for op in ("settle:o9", "settle:o10")]
        assert sorted(e.sequence for e in entries if e) == [nonce_before, nonce_before + 1]
        assert other.tx_ids != retried.tx_ids
        assert await w3.eth.get_transaction_count(relayer_address) == nonce_before + 2
        assert await env.ledger.units_of(env.instrument, buyer.address) == 2
    finally:
        await flaky.close()


async def _freeze_with_the_admin_key(env: Env, address: str, frozen: bool) -> None:
    """Compliance freezes a wallet through the admin key, whose nonces are its own: the relayer's
    nonce hole (if any) does not hold this back."""
    registry = env.ledger.registry
    role = keccak(text="COMPLIANCE_ROLE")
    admin = env.ledger.deployment.admin
    for step, data in (
        ("grant", registry.encode_abi("grantRole", args=[role, admin])),
        (f"freeze-{frozen}", registry.encode_abi("setFrozen", args=[address, frozen])),
    ):
        await env.ledger.relayer.execute(
            f"test:{step}:{address}", f"test:{step}", ADMIN_KEY, registry.address, bytes.fromhex(data[2:])
        )


async def test_a_nonce_abandoned_by_a_refused_retry_is_filled_so_later_transactions_are_mined(env: Env) -> None:
    """The relayer takes a nonce, signing fails, and before the retry the investor is frozen: the
    retry no longer simulates and will never use that nonce. It is spent on a journalled no-op, or
    every later transaction of the relayer would wait behind the hole forever."""
    buyer, other = await env.wallet("nina", EU_ACC), await env.wallet("omar", US_ACC)
    w3 = env.ledger.w3
    relayer_address = env.ledger.deployment.relayer
    nonce_before = await env.relayer_nonce()
    flaky = await env.with_failing_signature()
    try:
        with pytest.raises(Crash):
            await flaky.settle_purchase("settle:o11", purchase("o11", buyer, env.instrument, 1))
        await _freeze_with_the_admin_key(env, buyer.address, True)
        with pytest.raises(ComplianceRejected) as refused:
            await flaky.settle_purchase("settle:o11", purchase("o11", buyer, env.instrument, 1))
        assert refused.value.reason == "WalletFrozen"
        # The next operation is mined at once: the hole was filled.
        await flaky.settle_purchase("settle:o12", purchase("o12", other, env.instrument, 1))
        assert await w3.eth.get_transaction_count(relayer_address) == nonce_before + 2
        entry = await env.store.journal.get("settle:o11")
        assert entry is not None and entry.status is JournalStatus.FAILED and entry.payload is None
        filled = entry.result["nonce_filled"]
        assert filled["nonce"] == nonce_before
        filler = await w3.eth.get_transaction(filled["tx_id"])
        assert (filler["from"], filler["to"], filler["value"], bytes(filler["input"])) == (
            relayer_address,
            relayer_address,
            0,
            b"",
        )
        # The refusal stands on a repeat; once unfrozen, the same op id settles with a new nonce.
        with pytest.raises(ComplianceRejected):
            await flaky.settle_purchase("settle:o11", purchase("o11", buyer, env.instrument, 1))
        await _freeze_with_the_admin_key(env, buyer.address, False)
        await flaky.settle_purchase("settle:o11", purchase("o11", buyer, env.instrument, 1))
        assert await env.ledger.units_of(env.instrument, buyer.address) == 1
        assert await w3.eth.get_transaction_count(relayer_address) == nonce_before + 3
    finally:
        await flaky.close()


async def test_a_crash_after_journalling_the_nonce_filler_is_finished_at_restart(env: Env) -> None:
    buyer = await env.wallet("pia", EU_ACC)
    w3 = env.ledger.w3
    relayer_address = env.ledger.deployment.relayer
    nonce_before = await env.relayer_nonce()
    flaky = await env.with_failing_signature(receipt_timeout_s=env.config.receipt_timeout_s)
    try:
        with pytest.raises(Crash):
            await flaky.settle_purchase("settle:o13", purchase("o13", buyer, env.instrument, 1))
        await _freeze_with_the_admin_key(env, buyer.address, True)

        def die(entry: object) -> None:
            raise Crash

        flaky.relayer.before_broadcast = die
        with pytest.raises(Crash):  # the filler is journalled, then the process dies
            await flaky.settle_purchase("settle:o13", purchase("o13", buyer, env.instrument, 1))
        assert await w3.eth.get_transaction_count(relayer_address) == nonce_before
    finally:
        await flaky.close()
    restarted = await env.reopen()
    try:
        await restarted.resume_unfinished()
        assert await w3.eth.get_transaction_count(relayer_address) == nonce_before + 1
        entry = await env.store.journal.get("settle:o13")
        assert entry is not None and entry.status is JournalStatus.FAILED
        assert entry.result["reason"] == "WalletFrozen" and entry.result["nonce_filled"]["nonce"] == nonce_before
        assert await restarted.units_of(env.instrument, buyer.address) == 0
    finally:
        await restarted.close()


async def test_an_overtaken_permit_is_a_transient_failure_and_the_retry_settles(env: Env) -> None:
    """Two workers settle two orders of one investor at the same instant: both sign a permit with
    the same nonce, and only the first can use it. The second must not fail for good (that would
    refund a paid, eligible order): it is transient, and its retry settles with a fresh permit."""
    buyer = await env.wallet("iris", EU_ACC)
    gate = SigningGate(env.vault, expected=2, only=lambda wallet_id: wallet_id == "iris")
    first = await build_evm_ledger(env.config, gate, env.store.journal)  # type: ignore[arg-type]
    second = await build_evm_ledger(env.config, gate, env.store.journal)  # type: ignore[arg-type]
    orders = [purchase("o11", buyer, env.instrument, 1), purchase("o12", buyer, env.instrument, 2)]
    outcomes = await asyncio.gather(
        first.settle_purchase("settle:o11", orders[0]),
        second.settle_purchase("settle:o12", orders[1]),
        return_exceptions=True,
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert gate.arrived == 2 and len(failures) == 1  # both signed the same nonce; one lost
    assert isinstance(failures[0], LedgerUnavailable) and "overtaken" in str(failures[0])
    lost = 0 if isinstance(outcomes[0], BaseException) else 1
    retried = await (first, second)[lost].settle_purchase(f"settle:o1{lost + 1}", orders[lost])
    assert len(retried.tx_ids) == 1
    assert await env.ledger.units_of(env.instrument, buyer.address) == 3
    entry = await env.store.journal.get(f"settle:o1{lost + 1}")
    assert entry is not None and entry.status is JournalStatus.CONFIRMED


async def test_a_wrong_permit_signature_is_still_a_final_rejection(env: Env) -> None:
    """Only an overtaken permit is retried: a permit the chain rejects for another reason is final."""
    buyer = await env.wallet("jack", EU_ACC)

    class WrongKey:
        def __getattr__(self, name: str) -> object:
            return getattr(env.vault, name)

        async def sign_digest(self, wallet_id: str, digest: bytes) -> object:
            # The buyer's permit signed with another wallet's key: InvalidSigner, nonce unchanged.
            return await env.vault.sign_digest("alice" if wallet_id == "jack" else wallet_id, digest)

    await env.vault.create_key("alice")
    forged = await build_evm_ledger(env.config, WrongKey(), env.store.journal)  # type: ignore[arg-type]
    with pytest.raises(LedgerRejected) as rejected:
        await forged.settle_purchase("settle:o13", purchase("o13", buyer, env.instrument, 1))
    assert rejected.value.reason == "ERC2612InvalidSigner"


async def test_a_transaction_priced_out_by_a_base_fee_rise_is_replaced_not_stuck(
    env: Env,
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """A journalled transaction whose fee cap fell below the base fee can never be mined, and it holds
    back every later nonce of the relayer. The retry replaces it (same nonce, higher fee, within the
    configured cap) instead of re-sending the same bytes forever; with a cap too low to replace it,
    the failure is transient and the journal is left as it was."""
    from eth_account.typed_transactions.typed_transaction import TypedTransaction
    from hexbytes import HexBytes

    buyer = await env.wallet("kate", EU_ACC)
    w3 = env.ledger.w3
    relayer_address = env.ledger.deployment.relayer
    nonce_before = await w3.eth.get_transaction_count(relayer_address)

    def die(entry: object) -> None:
        raise Crash

    env.ledger.relayer.before_broadcast = die
    order = purchase("o14", buyer, env.instrument, 2)
    with pytest.raises(Crash):
        await env.ledger.settle_purchase("settle:o14", order)
    signed = await env.store.journal.get("settle:o14")
    assert signed is not None and signed.payload is not None
    old_max = int(TypedTransaction.from_bytes(HexBytes(signed.payload)).as_dict()["maxFeePerGas"])

    anvil_node.rpc("anvil_setNextBlockBaseFeePerGas", hex(old_max * 3))
    capped = await build_evm_ledger(
        attrs.evolve(env.config, max_fee_per_gas_wei=old_max * 2), env.vault, env.store.journal
    )
    with pytest.raises(LedgerUnavailable, match="priced out"):
        await capped.settle_purchase("settle:o14", order)
    assert await env.store.journal.get("settle:o14") == signed  # nothing replaced, nothing sent

    restarted = await env.reopen()
    result = await restarted.settle_purchase("settle:o14", order)
    entry = await env.store.journal.get("settle:o14")
    assert entry is not None and entry.status is JournalStatus.CONFIRMED
    assert entry.result["superseded"] == [signed.tx_id]
    assert result.tx_ids == (entry.tx_id,) and entry.tx_id != signed.tx_id
    assert entry.sequence == signed.sequence  # the same nonce: the two versions can never both apply
    assert int(TypedTransaction.from_bytes(HexBytes(entry.payload or "")).as_dict()["maxFeePerGas"]) > old_max * 3
    assert await env.ledger.units_of(env.instrument, buyer.address) == 2
    assert await w3.eth.get_transaction_count(relayer_address) == nonce_before + 1


async def test_reusing_an_operation_id_for_another_intent_conflicts(env: Env) -> None:
    buyer = await env.wallet("dan", EU_ACC)
    await env.ledger.settle_purchase("op-1", purchase("o4", buyer, env.instrument, 1))
    with pytest.raises(OperationConflict):
        await env.ledger.settle_purchase("op-1", purchase("o4", buyer, env.instrument, 2))
    with pytest.raises(OperationConflict):
        await env.ledger.set_frozen("op-1", buyer, True, [env.instrument])
    assert await env.ledger.units_of(env.instrument, buyer.address) == 1


async def test_compliance_reverts_become_compliance_rejections(env: Env) -> None:
    retail_us = await env.wallet("erin", US_NON)
    with pytest.raises(ComplianceRejected) as refused:
        await env.ledger.settle_purchase("settle:o5", purchase("o5", retail_us, env.instrument, 1))
    assert refused.value.reason == "IneligibleReceiver"
    unclassified = await env.wallet("frank")
    with pytest.raises(ComplianceRejected) as refused:
        await env.ledger.settle_purchase("settle:o6", purchase("o6", unclassified, env.instrument, 1))
    assert refused.value.reason == "UnclassifiedWallet"
    assert await env.ledger.units_of(env.instrument, retail_us.address) == 0


async def test_other_reverts_become_ledger_rejections(env: Env) -> None:
    buyer = await env.wallet("gina", EU_ACC)
    await env.ledger.settle_purchase("settle:o7", purchase("o7", buyer, env.instrument, 1))
    with pytest.raises(LedgerRejected) as refused:  # the same order under another op id
        await env.ledger.settle_purchase("settle:o7-again", purchase("o7", buyer, env.instrument, 1))
    assert refused.value.reason == "NonceAlreadyUsed"  # the order keeps its one nonce
    assert not isinstance(refused.value, ComplianceRejected)
    with pytest.raises(LedgerRejected) as refused:
        await env.ledger.settle_purchase("settle:o8", Purchase("o8", buyer, env.instrument, 1, Money(100, "USD")))
    assert refused.value.reason == "CurrencyMismatch"


async def test_a_refused_operation_can_succeed_later_under_the_same_id(env: Env) -> None:
    """A refusal found by simulation signed nothing, so the op id is not burnt."""
    buyer = await env.wallet("hal", EU_ACC)
    await env.ledger.set_frozen("freeze:hal", buyer, True, [env.instrument])
    with pytest.raises(ComplianceRejected):
        await env.ledger.settle_purchase("settle:o9", purchase("o9", buyer, env.instrument, 1))
    await env.ledger.set_frozen("unfreeze:hal", buyer, False, [env.instrument])
    await env.ledger.settle_purchase("settle:o9", purchase("o9", buyer, env.instrument, 1))
    assert await env.ledger.units_of(env.instrument, buyer.address) == 1


async def test_freeze_and_unfreeze(env: Env) -> None:
    buyer = await env.wallet("ivy", EU_ACC)
    await env.ledger.settle_purchase("settle:o10", purchase("o10", buyer, env.instrument, 5))
    first = await env.ledger.set_frozen("freeze:ivy", buyer, True, [env.instrument])
    assert len(first.tx_ids) == 1 and await env.ledger.is_frozen(buyer.address)
    assert await env.ledger.set_frozen("freeze:ivy", buyer, True, [env.instrument]) == first
    assert (await env.ledger.set_frozen("freeze:ivy-again", buyer, True, [])).tx_ids == ()  # already frozen
    with pytest.raises(ComplianceRejected) as refused:
        await env.ledger.burn_stablecoin("burn:ivy", buyer, eur(1))
    assert refused.value.reason == "WalletFrozen"
    await env.ledger.set_frozen("unfreeze:ivy", buyer, False, [env.instrument])
    assert not await env.ledger.is_frozen(buyer.address)


async def test_classification_is_recorded_then_replaced(env: Env) -> None:
    investor = await env.wallet("jack")
    ledger = env.ledger
    minted = await ledger.record_classification("class:jack:1", investor, EU_NON)
    assert await ledger.classification_of(investor.address) is EU_NON
    replaced = await ledger.record_classification("class:jack:2", investor, Classification.SANCTIONED)
    assert replaced.tx_ids != minted.tx_ids
    assert await ledger.classification_of(investor.address) is Classification.SANCTIONED
    uri = await ledger.registry.functions.tokenURI(int(investor.address, 16)).call()
    attributes = json.loads(base64.b64decode(uri.split(",", 1)[1]))["attributes"]
    assert {"trait_type": "classification", "value": "SANCTIONED"} in attributes
    restored = await ledger.record_classification("class:jack:3", investor, EU_NON)
    assert await ledger.classification_of(investor.address) is EU_NON and restored.tx_ids
    assert (await ledger.record_classification("class:jack:4", investor, EU_NON)).tx_ids == ()
    nobody = await env.wallet("nobody")
    assert await ledger.classification_of(nobody.address) is None


async def test_distribution_to_many_holders_in_batches(env: Env) -> None:
    holders = [await env.wallet(f"h{i}", EU_ACC) for i in range(20)]
    for i, wallet in enumerate(holders):
        await env.ledger.settle_purchase(f"settle:h{i}", purchase(f"oh{i}", wallet, env.instrument, 10))
    payouts = [Payout(w, eur(101 + i), 1) for i, w in enumerate(holders)]
    result = await env.ledger.distribute("repay:1", env.instrument, payouts)
    assert len(result.tx_ids) == 3  # 8 + 8 + 4 with batch_size 8
    for i, wallet in enumerate(holders):
        assert await env.ledger.stablecoin_balance(wallet.address) == eur(101 + i)
        assert await env.ledger.units_of(env.instrument, wallet.address) == 9
    assert await env.ledger.distribute("repay:1", env.instrument, payouts) == result
    with pytest.raises(OperationConflict):
        await env.ledger.distribute("repay:1", env.instrument, payouts[:-1])


async def _wait_pending(node: AnvilNode, count: int, task: asyncio.Future[Any]) -> int:
    """How many transactions wait in the node's pool once `count` do (or `task` ended)."""
    for _ in range(200):
        if int(node.rpc("txpool_status")["pending"], 16) >= count or task.done():
            break
        await asyncio.sleep(0.05)
    return int(node.rpc("txpool_status")["pending"], 16)


async def test_the_chunks_of_a_distribution_go_out_together_in_one_block(
    env: Env,
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """The chunks are pipelined: each is broadcast once the one before is, without waiting for its
    receipt, so one block takes them all (one chunk per block made a 100,000-holder repayment take
    a block per 250 holders). With mining paused, all three must be waiting at once."""
    holders = [await env.wallet(f"p{i}", EU_ACC) for i in range(20)]
    for i, wallet in enumerate(holders):
        await env.ledger.settle_purchase(f"settle:p{i}", purchase(f"op{i}", wallet, env.instrument, 1))
    payouts = [Payout(w, eur(100 + i)) for i, w in enumerate(holders)]
    anvil_node.rpc("evm_setAutomine", False)
    sending = asyncio.ensure_future(env.ledger.distribute("repay:pipelined", env.instrument, payouts))
    try:
        assert await _wait_pending(anvil_node, 3, sending) == 3, "the chunks were not all sent at once"
        anvil_node.rpc("evm_mine")
        result = await asyncio.wait_for(sending, 30)
    finally:
        anvil_node.rpc("evm_setAutomine", True)
        sending.cancel()
    receipts = [await env.ledger.w3.eth.get_transaction_receipt(tx) for tx in result.tx_ids]  # type: ignore[arg-type]
    assert len(receipts) == 3 and len({r["blockNumber"] for r in receipts}) == 1
    assert [await env.ledger.stablecoin_balance(w.address) for w in holders] == [eur(100 + i) for i in range(20)]
    assert await env.ledger.distribute("repay:pipelined", env.instrument, payouts) == result


async def test_a_chunk_reverting_when_mined_while_later_chunks_were_paid_is_resent_without_its_refused_holder(
    env: Env,
    anvil_node: AnvilNode,  # noqa: F811
) -> None:
    """Pipelined, chunk 0 passes its simulation, then a holder of it is frozen before it is mined
    (an AML alert during a repayment); chunks 1 and 2, behind it, are paid. The repayment holds the
    refused holder back and calls again with the others: the paid chunks are recognised (their
    holders are read back from the journalled transactions, not cut again from the shorter list,
    which would shift them by one holder into an OperationConflict), chunk 0's other holders are
    paid as its next attempt, and nobody is paid twice."""
    holders = [await env.wallet(f"q{i}", EU_ACC) for i in range(20)]
    for i, wallet in enumerate(holders):
        await env.ledger.settle_purchase(f"settle:q{i}", purchase(f"oq{i}", wallet, env.instrument, 1))
    payouts = [Payout(w, eur(200 + i)) for i, w in enumerate(holders)]
    frozen = holders[1]
    anvil_node.rpc("evm_setAutomine", False)
    sending = asyncio.ensure_future(env.ledger.distribute("repay:refused", env.instrument, payouts))
    freezing: asyncio.Future[Any] | None = None
    try:
        assert await _wait_pending(anvil_node, 3, sending) == 3
        chunks = [await env.store.journal.get(f"repay:refused#{n}") for n in range(3)]
        assert all(c is not None and c.payload is not None for c in chunks)
        # Take the chunks out of the pool (all three signed and journalled), freeze a holder of
        # chunk 0 in a block of its own, then let the same signed chunks go: chunk 0 reverts, 1
        # and 2 are paid.
        anvil_node.rpc("anvil_dropAllTransactions")
        freezing = asyncio.ensure_future(env.ledger.set_frozen("freeze:q1", frozen, True, [env.instrument]))
        assert await _wait_pending(anvil_node, 1, freezing) == 1
        anvil_node.rpc("evm_mine")
        await asyncio.wait_for(freezing, 30)
        for chunk in chunks:
            assert chunk is not None
            anvil_node.rpc("eth_sendRawTransaction", chunk.payload)
        anvil_node.rpc("evm_mine")
        with pytest.raises(ComplianceRejected) as refused:
            await asyncio.wait_for(sending, 30)
    finally:
        anvil_node.rpc("evm_setAutomine", True)
        sending.cancel()
    assert refused.value.party == frozen.address
    paid_behind = [await env.ledger.stablecoin_balance(w.address) for w in holders[8:]]
    assert paid_behind == [eur(200 + i) for i in range(8, 20)]  # chunks 1 and 2 were paid
    again = [p for p in payouts if p.wallet is not frozen]
    result = await env.ledger.distribute("repay:refused", env.instrument, again)
    assert len(result.tx_ids) == 3
    for i, wallet in enumerate(holders):
        expected = eur(0) if wallet is frozen else eur(200 + i)
        assert await env.ledger.stablecoin_balance(wallet.address) == expected, i  # once each
    assert await env.ledger.distribute("repay:refused", env.instrument, again) == result


async def test_redemption_burns_all_units(env: Env) -> None:
    a, b = await env.wallet("ka", EU_ACC), await env.wallet("kb", US_ACC)
    await env.ledger.settle_purchase("settle:ka", purchase("oka", a, env.instrument, 6))
    await env.ledger.settle_purchase("settle:kb", purchase("okb", b, env.instrument, 4))
    await env.ledger.distribute("redeem", env.instrument, [Payout(a, eur(60_000), 6), Payout(b, eur(40_000), 4)])
    assert await env.ledger.holders(env.instrument) == {}
    assert await env.ledger.stablecoin_balance(a.address) == eur(60_000)


async def test_cash_out_burns_with_the_investors_permit(env: Env) -> None:
    a = await env.wallet("leo", EU_ACC)
    await env.ledger.settle_purchase("settle:leo", purchase("oleo", a, env.instrument, 5))
    await env.ledger.distribute("repay:leo", env.instrument, [Payout(a, eur(500), 0)])
    await env.ledger.burn_stablecoin("burn:leo", a, eur(300))
    assert await env.ledger.stablecoin_balance(a.address) == eur(200)
    with pytest.raises(LedgerRejected) as refused:
        await env.ledger.burn_stablecoin("burn:leo-2", a, eur(201))
    assert refused.value.reason == "ERC20InsufficientBalance"


async def test_concurrent_operations_get_distinct_nonces(env: Env) -> None:
    buyers = [await env.wallet(f"m{i}", EU_ACC) for i in range(4)]
    results = await asyncio.gather(
        *(
            env.ledger.settle_purchase(f"settle:m{i}", purchase(f"om{i}", b, env.instrument, 1))
            for i, b in enumerate(buyers)
        )
    )
    sequences = {(await env.store.journal.get(f"settle:m{i}")).sequence for i in range(4)}  # type: ignore[union-attr]
    assert len(sequences) == 4 and len({r.tx_ids for r in results}) == 4
    for b in buyers:
        assert await env.ledger.units_of(env.instrument, b.address) == 1


async def test_fee_cap_refuses_to_overpay(anvil_node: AnvilNode, tmp_path: Path) -> None:  # noqa: F811
    cfg, vault, store = await make_env(anvil_node, tmp_path)
    try:
        capped = attrs.evolve(cfg, max_fee_per_gas_wei=1)
        ledger = await build_evm_ledger(capped, vault, store.journal)
        wallet = Wallet("n", evm_address(await vault.create_key("n")), "")
        with pytest.raises(LedgerUnavailable):
            await ledger.record_classification("class:n", wallet, EU_ACC)
        entry = await store.journal.get("class:n")
        assert entry is None or entry.payload is None  # nothing was signed
    finally:
        await store.close()


async def test_unreachable_node_is_transient(tmp_path: Path) -> None:
    node = start_anvil()
    store = None
    try:
        cfg, vault, store = await make_env(node, tmp_path)
        ledger = await build_evm_ledger(cfg, vault, store.journal)
        node.stop()
        with pytest.raises(LedgerUnavailable):
            await ledger.ping()
        with pytest.raises(LedgerUnavailable):
            await ledger.classification_of(ledger.deployment.issuer)
        wallet = Wallet("p", evm_address(await vault.create_key("p")), "")
        with pytest.raises(LedgerUnavailable):
            await ledger.record_classification("class:p", wallet, EU_ACC)
    finally:
        node.stop()
        if store is not None:
            await store.close()


async def test_platform_keys_are_vault_keys(env: Env) -> None:
    d = env.ledger.deployment
    assert d.relayer == evm_address(await env.vault.public_key(RELAYER_KEY))
    assert d.issuer == evm_address(await env.vault.public_key(ISSUER_KEY))
    assert isinstance(env.ledger.relayer, Relayer)


async def test_embedded_mode_runs_the_same_code_path(tmp_path: Path) -> None:
    vault = LocalVault(tmp_path / "vault", os.urandom(32))
    store = await open_sqlite_store(":memory:")
    try:
        cfg = EvmConfig(rpc_url="embedded", deployment_file=tmp_path / "embedded.json")
        ledger = await build_evm_ledger(cfg, vault, store.journal)
        spec = InstrumentSpec("e1", "EMB1", "Embedded pool", 100, frozenset({EU_ACC}), eur(100))
        instrument = (await ledger.issue_instrument("issue:e1", spec)).ledger_ref
        buyer = Wallet("q", evm_address(await vault.create_key("q")), "")
        await ledger.record_classification("class:q", buyer, EU_ACC)
        await ledger.settle_purchase("settle:q", Purchase("oq", buyer, instrument, 3, eur(300)))
        assert await ledger.units_of(instrument, buyer.address) == 3
        assert await ledger.holders(instrument) == {buyer.address: 3}
        retail = Wallet("r", evm_address(await vault.create_key("r")), "")
        await ledger.record_classification("class:r", retail, EU_NON)
        with pytest.raises(ComplianceRejected) as refused:
            await ledger.settle_purchase("settle:r", Purchase("or", retail, instrument, 1, eur(100)))
        assert refused.value.reason == "IneligibleReceiver"
        assert cfg.deployment_file.exists()
    finally:
        await store.close()


async def test_deploying_again_resumes_instead_of_redeploying(anvil_node: AnvilNode, tmp_path: Path) -> None:  # noqa: F811
    cfg, vault, store = await make_env(anvil_node, tmp_path)
    try:
        first = json.loads(cfg.deployment_file.read_text())
        w3 = await connect(cfg)
        try:
            again = await deploy_suite(w3, vault, store.journal, cfg)
        finally:
            await w3.provider.disconnect()  # type: ignore[union-attr]
        assert attrs.asdict(again) == first
    finally:
        await store.close()


def test_cli_deploys_and_shows_the_suite(
    anvil_node: AnvilNode,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from drexfy.entrypoints.cli import main

    monkeypatch.setenv("DREXFY_DATA_DIR", str(tmp_path))
    assert main(["contracts", "deploy", "--rpc-url", anvil_node.url, "--chain-id", "1287"]) == 0
    out, progress = capsys.readouterr()
    printed = json.loads(out)
    assert printed["chain_id"] == 1287 and printed["registry"].startswith("0x")
    # progress on stderr: each contract and each role transaction as it is sent, then mined
    lines = progress.splitlines()
    for step in ("deploy InvestorClassification", "deploy Settlement", "Stablecoin.grantRole (role-burner)"):
        sending = lines.index(f"{step}: sending")
        sent = lines.index(f"{step}: sent, waiting to be mined")
        mined = next(i for i, line in enumerate(lines) if line.startswith(f"{step}: mined in block "))
        assert sending < sent < mined, step
    assert f"deploy InvestorClassification: at {printed['registry']}" in lines
    assert sum(": mined in block " in line for line in lines) >= 14
    assert main(["contracts", "deploy", "--rpc-url", anvil_node.url, "--chain-id", "1287"]) == 0  # resumes
    assert (
        "deploy Settlement: done in an earlier run (journal deploy:1287:default:settlement)" in capsys.readouterr().err
    )
    assert main(["contracts", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["registry"] == printed["registry"]
    assert main(["contracts", "deploy", "--rpc-url", anvil_node.url, "--chain-id", "1"]) == 2  # wrong chain


async def test_holders_are_found_across_log_chunks(env: Env) -> None:
    buyers = [await env.wallet(f"s{i}", EU_ACC) for i in range(3)]
    for i, buyer in enumerate(buyers):
        await env.ledger.settle_purchase(f"settle:s{i}", purchase(f"os{i}", buyer, env.instrument, i + 1))
    env.ledger.log_chunk_blocks = 2  # every settlement is its own block on anvil: many small requests
    assert await env.ledger.holders(env.instrument) == {b.address: i + 1 for i, b in enumerate(buyers)}
    created = await env.ledger._creation_block(env.instrument)
    assert await env.ledger.w3.eth.get_code(env.instrument, block_identifier=created)
    assert not await env.ledger.w3.eth.get_code(env.instrument, block_identifier=created - 1)


async def test_a_transaction_not_mined_in_time_is_resumed_not_resent(anvil_node: AnvilNode, tmp_path: Path) -> None:  # noqa: F811
    cfg, vault, store = await make_env(anvil_node, tmp_path, receipt_timeout_s=0.5)
    try:
        ledger = await build_evm_ledger(cfg, vault, store.journal)
        wallet = Wallet("t", evm_address(await vault.create_key("t")), "")
        anvil_node.rpc("evm_setAutomine", False)
        try:
            with pytest.raises(LedgerUnavailable):
                await ledger.record_classification("class:t", wallet, EU_ACC)
            pending = await store.journal.get("class:t")
            assert pending is not None and pending.status is JournalStatus.SUBMITTED
            anvil_node.rpc("evm_mine")
        finally:
            anvil_node.rpc("evm_setAutomine", True)
        result = await ledger.record_classification("class:t", wallet, EU_ACC)
        assert result.tx_ids == (pending.tx_id,)
        assert await ledger.classification_of(wallet.address) is EU_ACC
    finally:
        await store.close()


async def test_confirmations_are_awaited(anvil_node: AnvilNode, tmp_path: Path) -> None:  # noqa: F811
    cfg, vault, store = await make_env(anvil_node, tmp_path)
    try:
        cfg = attrs.evolve(cfg, confirmations=3, receipt_timeout_s=0.5)
        ledger = await build_evm_ledger(cfg, vault, store.journal)
        wallet = Wallet("u", evm_address(await vault.create_key("u")), "")
        with pytest.raises(LedgerUnavailable):  # included, but not yet under two more blocks
            await ledger.record_classification("class:u", wallet, EU_ACC)
        entry = await store.journal.get("class:u")
        assert entry is not None and entry.status is JournalStatus.SUBMITTED
        anvil_node.rpc("anvil_mine", "0x2")
        result = await ledger.record_classification("class:u", wallet, EU_ACC)
        assert result.tx_ids == (entry.tx_id,)
        confirmed = await store.journal.get("class:u")
        assert confirmed is not None and confirmed.status is JournalStatus.CONFIRMED
    finally:
        await store.close()


def test_deploying_to_a_node_that_is_not_there_is_a_clear_error_without_a_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    from drexfy.entrypoints.cli import main

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DREXFY_DATA_DIR", str(tmp_path))
    assert main(["contracts", "deploy", "--rpc-url", f"http://127.0.0.1:{port}", "--chain-id", "1287"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ledger-unavailable:") and f"127.0.0.1:{port} unreachable" in err
    assert "Traceback" not in err and not (tmp_path / "evm-deployment.json").exists()


@pytest.mark.parametrize("refused_at", [0, 1, 2])
async def test_a_distribution_in_chunks_resent_without_a_refused_holder_pays_each_holder_once(
    env: Env, refused_at: int
) -> None:
    """One holder per on-chain batch: the chunks before the frozen holder are paid, its chunk
    reverts, the rest are not sent. Resent without that holder, the paid chunks are recognised
    (same holders, same id), the others go out once; changing a paid chunk is refused."""
    one_per_tx = await build_evm_ledger(attrs.evolve(env.config, batch_size=1), env.vault, env.store.journal)
    try:
        holders = [await env.wallet(f"chunk{refused_at}{n}", EU_ACC) for n in range(3)]
        for n, wallet in enumerate(holders):
            await env.ledger.settle_purchase(
                f"settle:ch{refused_at}{n}", purchase(f"ch{refused_at}{n}", wallet, env.instrument, 1)
            )
        frozen = holders[refused_at]
        await env.ledger.set_frozen(f"freeze:{frozen.id}", frozen, True, [env.instrument])
        payouts = [Payout(w, eur(100 * (n + 1))) for n, w in enumerate(holders)]
        op = f"repay:chunks{refused_at}:0"
        with pytest.raises(ComplianceRejected) as refusal:
            await one_per_tx.distribute(op, env.instrument, payouts)
        assert refusal.value.reason == "WalletFrozen" and refusal.value.party == frozen.address
        paid_before = [await env.ledger.stablecoin_balance(w.address) for w in holders[:refused_at]]
        assert paid_before == [eur(100 * (n + 1)) for n in range(refused_at)]
        rest = [p for p in payouts if p.wallet is not frozen]
        resent = await one_per_tx.distribute(op, env.instrument, rest)
        assert len(resent.tx_ids) == 2
        balances = [await env.ledger.stablecoin_balance(w.address) for w in holders]
        assert balances == [eur(0) if w is frozen else eur(100 * (n + 1)) for n, w in enumerate(holders)]
        assert await one_per_tx.distribute(op, env.instrument, rest) == resent  # a retry changes nothing
        with pytest.raises(OperationConflict):  # a paid batch cannot change (it would pay twice)
            await one_per_tx.distribute(op, env.instrument, rest[1:])
    finally:
        await one_per_tx.close()


class _WithoutKey:
    """A vault that has lost one key (a restore without it, the wrong KMS account)."""

    def __init__(self, inner: LocalVault, missing: str) -> None:
        self._inner, self._missing = inner, missing

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def public_key(self, wallet_id: str) -> bytes:
        if wallet_id == self._missing:
            raise KeyNotFound(f"no key for wallet {wallet_id}")
        return await self._inner.public_key(wallet_id)


async def test_production_refuses_to_start_without_the_attestor_or_treasury_key(
    anvil_node: AnvilNode,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg, vault, store = await make_env(anvil_node, tmp_path)
    try:
        ledger = await build_evm_ledger(cfg, vault, store.journal, require_duty_keys=True)  # intact: starts
        await ledger.close()
        lost = _WithoutKey(vault, TREASURY_KEY)
        with pytest.raises(ConfigurationError, match=r"vault: holds no treasury key \(platform:treasury\)"):
            await build_evm_ledger(cfg, lost, store.journal, require_duty_keys=True)  # type: ignore[arg-type]
        recorded = json.loads(cfg.deployment_file.read_text())
        cfg.deployment_file.write_text(json.dumps({**recorded, "payments_attestor": recorded["relayer"]}))
        with pytest.raises(ConfigurationError, match=r"vault: its payments attestor key .* is not the one"):
            await build_evm_ledger(cfg, vault, store.journal, require_duty_keys=True)
        cfg.deployment_file.write_text(json.dumps({**recorded, "treasury": ""}))
        with pytest.raises(ConfigurationError, match=r"ledger.evm.deployment_file .*names no treasury key"):
            await build_evm_ledger(cfg, vault, store.journal, require_duty_keys=True)
        ledger = await build_evm_ledger(cfg, vault, store.journal)  # outside production: not checked here
        await ledger.close()
    finally:
        await store.close()
