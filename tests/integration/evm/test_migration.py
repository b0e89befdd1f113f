"""Fixing an instrument contract later (`drexfy contracts migrate`, `adapters/evm/migration.py`) on
anvil: holders move to the new version with their units, partial freezes and freezes; the supply is
the same; a re-run sends nothing; a crash in the middle resumes and moves each holder once; only the
admin can place holdings."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
from eth_utils.crypto import keccak

from drexfy.adapters.evm import EvmLedger, build_evm_ledger
from drexfy.adapters.evm.abi import load_artifact
from drexfy.adapters.evm.deployment import ADMIN_KEY, AGENT_KEY, RELAYER_KEY, Deployment
from drexfy.adapters.evm.migration import Snapshot, migrate_instrument, snapshot_path
from drexfy.domain.errors import LedgerRejected
from drexfy.domain.model import Wallet
from drexfy.domain.ports import InstrumentSpec, JournalStatus
from tests.integration.evm.test_ledger import EU_ACC, EU_NON, US_ACC, US_NON, Env, eur, make_env, purchase
from tests.support.anvil import AnvilNode, anvil_node  # noqa: F401 - fixture

pytestmark = pytest.mark.anvil


class Crash(Exception):
    pass


@attrs.define
class Holders:
    alice: Wallet  # reclassified ineligible after buying: keeps her units
    bob: Wallet  # 7 of his units frozen (partial freeze)
    carol: Wallet  # frozen in this instrument
    dave: Wallet  # frozen in the registry (every instrument)
    erin: Wallet  # plain holder


@pytest.fixture
async def env(anvil_node: AnvilNode, tmp_path: Path) -> AsyncIterator[Env]:  # noqa: F811
    cfg, vault, store = await make_env(anvil_node, tmp_path)
    ledger = await build_evm_ledger(cfg, vault, store.journal)
    spec = InstrumentSpec("sme-m", "SMEM", "SME pool M", 1_000, frozenset({EU_ACC, US_ACC, EU_NON}), eur(10_000))
    issued = await ledger.issue_instrument("issue:sme-m", spec)
    try:
        yield Env(ledger, store, vault, cfg, issued.ledger_ref)
    finally:
        await ledger.close()
        await store.close()


@asynccontextmanager
async def settings_ledger() -> AsyncIterator[tuple[EvmLedger, Any, Any]]:
    """The EVM ledger, store and vault the `drexfy` command builds from the environment."""
    from drexfy.entrypoints.adapter_config import evm_config
    from drexfy.entrypoints.config import load_settings
    from drexfy.entrypoints.container import build_container

    settings = load_settings(None)
    container = build_container(settings)
    try:
        store, vault = await container.store(), await container.vault()
        ledger = await build_evm_ledger(evm_config(settings), vault, store.journal)
        try:
            yield ledger, store, vault
        finally:
            await ledger.close()
    finally:
        await container.shutdown_resources()


async def agent(ledger: EvmLedger, op: str, instrument: str, fn: str, *args: Any) -> None:
    await ledger._send(op, op, ledger.instrument(instrument), fn, *args, key=AGENT_KEY)


async def populate(env: Env) -> Holders:
    h = Holders(
        await env.wallet("alice", EU_ACC),
        await env.wallet("bob", US_ACC),
        await env.wallet("carol", EU_NON),
        await env.wallet("dave", EU_ACC),
        await env.wallet("erin", EU_ACC),
    )
    for n, (who, units) in enumerate([(h.alice, 10), (h.bob, 20), (h.carol, 30), (h.dave, 5), (h.erin, 1)]):
        await env.ledger.settle_purchase(f"settle:m{n}", purchase(f"m{n}", who, env.instrument, units))
    await agent(env.ledger, "pf:bob", env.instrument, "freezePartialTokens", h.bob.address, 7)
    await agent(env.ledger, "fr:carol", env.instrument, "setFrozen", h.carol.address, True)
    await env.ledger.set_frozen("freeze:dave", h.dave, True, [])
    await env.ledger.record_classification("reclassify:alice", h.alice, US_NON)
    return h


async def state(ledger: EvmLedger, address: str, holders: list[str]) -> dict[str, tuple[int, int, bool]]:
    f = ledger._contract("FinancialInstrument", address).functions
    return {
        a: (await f.balanceOf(a).call(), await f.getFrozenTokens(a).call(), await f.isFrozen(a).call()) for a in holders
    }


async def nonces(ledger: EvmLedger) -> list[int]:
    return [
        await ledger.w3.eth.get_transaction_count(await ledger.relayer.address_of(k))  # type: ignore[arg-type]
        for k in (ADMIN_KEY, AGENT_KEY, RELAYER_KEY)
    ]


async def imports_per_holder(ledger: EvmLedger, new: str) -> dict[str, int]:
    topic = keccak(text="HoldingImported(address,uint256,uint256,bool)")
    logs = await ledger.w3.eth.get_logs({"address": new, "fromBlock": 0, "toBlock": "latest"})  # type: ignore[typeddict-item]
    counts: dict[str, int] = {}
    for log in logs:
        if bytes(log["topics"][0]) == topic:
            holder = "0x" + bytes(log["topics"][1])[-20:].hex()
            counts[holder.lower()] = counts.get(holder.lower(), 0) + 1
    return counts


async def test_holders_move_with_their_units_and_freezes_and_a_rerun_sends_nothing(env: Env) -> None:
    h = await populate(env)
    ledger, old = env.ledger, env.instrument
    issuer = ledger.deployment.issuer
    everyone = [w.address for w in (h.alice, h.bob, h.carol, h.dave, h.erin)] + [issuer]
    before = await state(ledger, old, everyone)
    old_supply = await ledger.instrument(old).functions.totalSupply().call()

    result = await migrate_instrument(ledger, old, env.config.deployment_file, batch_size=2)

    new = result.new
    assert new != old and ledger.current_ref(old) == new
    assert await state(ledger, new, everyone) == before
    assert before[h.bob.address] == (20, 7, False) and before[h.carol.address] == (30, 0, True)
    assert await ledger._contract("FinancialInstrument", new).functions.totalSupply().call() == old_supply == 1_000
    # the registry is shared: dave is still frozen everywhere, alice still ineligible (and still holds)
    assert await ledger.is_frozen(h.dave.address)
    snapshot = Snapshot.load(snapshot_path(env.config.deployment_file, old))
    assert {x.address: x.classification for x in snapshot.holdings}[h.alice.address] == US_NON.code
    assert snapshot.total_supply == old_supply
    # the old instrument is paused and delisted; the new one registered and open
    instruments = ledger.instruments.functions
    assert not await instruments.isRegistered(old).call() and await instruments.isRegistered(new).call()
    assert await ledger._contract("FinancialInstrument", old).functions.paused().call()
    migrated = ledger._contract("MigratedInstrument", new).functions
    assert not await migrated.paused().call() and await migrated.importClosed().call()
    assert await migrated.predecessor().call() == old
    # the deployment file the platform reads names the move, and a new adapter follows it
    assert Deployment.load(env.config.deployment_file).migrations == {old: new}
    assert json.loads(env.config.deployment_file.read_text())["migrations"] == {old: new}
    restarted = await env.reopen()
    try:
        assert await restarted.units_of(old, h.erin.address) == 1
        # the platform keeps its ledger ref: a purchase under the old ref settles on the new contract
        await restarted.settle_purchase("settle:after", purchase("after", h.erin, old, 4))
        assert await restarted.units_of(old, h.erin.address) == 5
        assert await restarted._contract("FinancialInstrument", new).functions.balanceOf(h.erin.address).call() == 5
        # the import's Transfer logs are marked forced: the register does not count them again
        page = await restarted.transfers(old, None, 100, since=result.block + 1)
        imports = [t for t in page.transfers if t.sender == issuer and t.receiver != h.erin.address]
        assert len(imports) == 4 and all(t.forced for t in imports)
        assert [t.forced for t in page.transfers if t.receiver == h.erin.address] == [True, False]
    finally:
        await restarted.close()

    # a re-run sends nothing: the deployment records the move
    sent = await nonces(ledger)
    again = await migrate_instrument(ledger, old, env.config.deployment_file, batch_size=2)
    assert (again.new, again.tx_ids) == (new, ())
    # nor does one that finds every step journalled (a crash just before the record was written)
    ledger.deployment = attrs.evolve(ledger.deployment, migrations={})
    again = await migrate_instrument(ledger, old, env.config.deployment_file, batch_size=2)
    assert again.new == new and again.tx_ids == result.tx_ids
    assert await nonces(ledger) == sent
    assert all(n == 1 for n in (await imports_per_holder(ledger, new)).values())


async def test_a_crash_in_the_middle_resumes_and_moves_each_holder_once(env: Env) -> None:
    h = await populate(env)
    old, issuer = env.instrument, env.ledger.deployment.issuer
    everyone = [w.address for w in (h.alice, h.bob, h.carol, h.dave, h.erin)] + [issuer]
    before = await state(env.ledger, old, everyone)
    sent: list[str] = []

    def broadcast_then_die(entry: Any) -> None:
        if entry.op_id.endswith(":import:1"):
            sent.append(entry.payload)
            raise Crash

    env.ledger.relayer.before_broadcast = broadcast_then_die
    with pytest.raises(Crash):
        await migrate_instrument(env.ledger, old, env.config.deployment_file, batch_size=2)
    # the second import batch was journalled, and did leave the process before it died
    await env.ledger.w3.eth.send_raw_transaction(sent[0])
    assert Deployment.load(env.config.deployment_file).migrations == {}  # not recorded yet
    # a second operator without that journal places the first batch again: the contract skips it
    deployed = await env.store.journal.get(f"migrate:1287:{old}:deploy")
    assert deployed is not None and deployed.result.get("contract")
    target = env.ledger._contract("MigratedInstrument", deployed.result["contract"])
    first = Snapshot.load(snapshot_path(env.config.deployment_file, old)).holdings[:2]
    columns = (
        [x.address for x in first],
        [x.units for x in first],
        [x.frozen_units for x in first],
        [x.frozen for x in first],
    )
    await env.ledger._send("import-again", "again", target, "importHoldings", *columns, key=ADMIN_KEY)
    restarted = await env.reopen()
    try:
        result = await migrate_instrument(restarted, old, env.config.deployment_file, batch_size=2)
        assert await state(restarted, result.new, everyone) == before
        counts = await imports_per_holder(restarted, result.new)
        assert sorted(counts) == sorted(a.lower() for a in everyone) and set(counts.values()) == {1}
        entry = await env.store.journal.get(f"migrate:1287:{old}:import:1")
        assert entry is not None and entry.status is JournalStatus.CONFIRMED
        assert Deployment.load(env.config.deployment_file).migrations == {old: result.new}
    finally:
        await restarted.close()


async def test_only_the_admin_places_holdings_and_only_while_the_import_is_open(env: Env) -> None:
    h = await populate(env)
    result = await migrate_instrument(env.ledger, env.instrument, env.config.deployment_file)
    target = env.ledger._contract("MigratedInstrument", result.new)
    for key in (RELAYER_KEY, AGENT_KEY):
        with pytest.raises(LedgerRejected) as refused:
            await env.ledger._send(
                f"steal:{key}", key, target, "importHoldings", [h.erin.address], [100], [0], [False], key=key
            )
        assert refused.value.reason == "AccessControlUnauthorizedAccount"
    with pytest.raises(LedgerRejected) as closed:
        await env.ledger._send(
            "late-import", "late", target, "importHoldings", [h.erin.address], [100], [0], [False], key=ADMIN_KEY
        )
    assert closed.value.reason == "ImportIsClosed"
    assert await target.functions.balanceOf(h.erin.address).call() == 1


def test_the_instrument_bytecode_is_unchanged_by_the_migration_path() -> None:
    """Migration costs the instrument nothing per call: FinancialInstrument itself has no import path."""
    names = {item.get("name") for item in load_artifact("FinancialInstrument").abi}
    assert "importHoldings" not in names and "importHoldings" in {
        item.get("name") for item in load_artifact("MigratedInstrument").abi
    }


async def _issue_and_populate() -> tuple[str, list[str], dict[str, tuple[int, int, bool]], Path]:
    async with settings_ledger() as (ledger, _, vault):
        spec = InstrumentSpec("sme-k", "SMEK", "SME pool K", 500, frozenset({EU_ACC, US_ACC}), eur(10_000))
        old = (await ledger.issue_instrument("issue:sme-k", spec)).ledger_ref
        everyone = []
        for n in range(5):
            public_key = await vault.create_key(f"k{n}")
            wallet = Wallet(f"k{n}", ledger.address_for(public_key), public_key.hex())
            await ledger.record_classification(f"classify:k{n}", wallet, EU_ACC)
            await ledger.settle_purchase(f"settle:k{n}", purchase(f"k{n}", wallet, old, n + 1))
            everyone.append(wallet.address)
        await agent(ledger, "pf:k0", old, "freezePartialTokens", everyone[0], 1)
        await agent(ledger, "fr:k1", old, "setFrozen", everyone[1], True)
        return old, everyone, await state(ledger, old, everyone), ledger.relayer.config.deployment_file


async def _journal_status(op_id: str) -> JournalStatus | None:
    async with settings_ledger() as (_, store, _):
        entry = await store.journal.get(op_id)
        return None if entry is None else entry.status


async def _after(new: str, everyone: list[str]) -> tuple[dict[str, tuple[int, int, bool]], dict[str, int], str]:
    async with settings_ledger() as (ledger, _, _):
        return await state(ledger, new, everyone), await imports_per_holder(ledger, new), ledger.deployment.issuer


def test_the_command_killed_mid_migration_resumes_when_run_again(
    anvil_node: AnvilNode,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`drexfy contracts migrate` as an operator runs it: the process is killed (SIGKILL) once its
    second import batch is out but not mined, then run again; every holder ends imported once."""
    env_vars = {
        "DREXFY_DATA_DIR": str(tmp_path),
        "DREXFY_LEDGER__KIND": "evm",
        "DREXFY_LEDGER__EVM__RPC_URL": anvil_node.url,
        "DREXFY_LEDGER__EVM__CHAIN_ID": "1287",
    }
    for name, value in env_vars.items():
        monkeypatch.setenv(name, value)
    command = [sys.executable, "-m", "drexfy.entrypoints.cli", "contracts"]
    subprocess.run([*command, "deploy"], check=True, capture_output=True, env={**os.environ, **env_vars})
    old, everyone, before, deployment_file = asyncio.run(_issue_and_populate())
    migrate = [*command, "migrate", "--instrument", old, "--batch-size", "2"]

    anvil_node.rpc("evm_setAutomine", False)
    mining = True

    def mine() -> None:
        while mining:
            anvil_node.rpc("evm_mine")
            time.sleep(0.2)

    process = subprocess.Popen(
        migrate, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, **env_vars}
    )
    try:
        assert process.stderr is not None
        miner = threading.Thread(target=mine, daemon=True)
        miner.start()
        for line in process.stderr:
            if line.startswith("import:1: sending"):
                break
        mining = False
        miner.join()
        time.sleep(1.5)  # the batch is signed, journalled and broadcast, and stays unmined: the kill
    finally:
        process.kill()
        process.wait()
        anvil_node.rpc("evm_setAutomine", True)  # the node is shared by the worker's other tests
    assert asyncio.run(_journal_status(f"migrate:1287:{old}:import:1")) is JournalStatus.SUBMITTED
    assert Deployment.load(deployment_file).migrations == {}
    done = subprocess.run(migrate, capture_output=True, text=True, env={**os.environ, **env_vars}, timeout=300)
    assert done.returncode == 0, done.stderr
    new = json.loads(done.stdout)["new"]
    assert "import:0: done in an earlier run" in done.stderr
    after, counts, issuer = asyncio.run(_after(new, everyone))
    assert after == before
    assert sorted(counts) == sorted(a.lower() for a in [*everyone, issuer]) and set(counts.values()) == {1}
    assert Deployment.load(deployment_file).migrations == {old: new}
