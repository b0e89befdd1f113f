"""Fixing an instrument contract later: `drexfy contracts migrate` (docs/evm.md, "Fixing contracts later").

There is no proxy (a UUPS proxy would add a delegatecall to every transfer); instead the old
instrument is replaced by a `MigratedInstrument` that takes over its holders from a snapshot:

1. pause the old instrument (agent key): nothing moves from that block on; its block is the
   snapshot block;
2. snapshot it at that block: every holder's units, frozen units and per-instrument freeze, and
   its classification (kept for the record: the registry is shared and carries over as it is),
   written to a file beside the deployment file, which a re-run reads instead of the chain;
3. deploy the new version (admin key) with the same terms and supply, paused, all units with the
   issuer; delist the old one from the InstrumentRegistry (Settlement and Distribution refuse it);
4. import the holders in batches (admin key): each holder once on chain (`imported`), each batch
   one journalled operation;
5. close the import (unpauses), register the new instrument, and record old -> new in the
   deployment file, which the EvmLedger follows for every ledger ref the platform holds.

Every transaction is a journalled operation `migrate:<chain>:<old>:<step>`: a re-run after a crash
resumes where it stopped (a signed transaction is re-broadcast, never re-signed), and a re-run
after success sends nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from drexfy.adapters.evm.abi import load_artifact
from drexfy.adapters.evm.deployment import ADMIN_KEY, AGENT_KEY
from drexfy.adapters.evm.ledger import EvmLedger
from drexfy.adapters.evm.relayer import TxOutcome
from drexfy.domain.errors import ConfigurationError, LedgerRejected, LedgerUnavailable
from drexfy.domain.ports import JournalStatus

#: Holders placed per import transaction (~60k gas each: a well-filled block holds 100).
IMPORT_BATCH = 100
_TOPICS = {
    keccak(text="Transfer(address,address,uint256)"): 2,  # the receiver
    keccak(text="AccountFrozen(address,bool,address)"): 1,
    keccak(text="TokensFrozen(address,uint256)"): 1,
}


@attrs.frozen
class Holding:
    address: str
    units: int
    frozen_units: int
    frozen: bool
    classification: int


@attrs.frozen
class Snapshot:
    """The old instrument at `block` (the block that paused it)."""

    instrument: str
    block: int
    name: str
    symbol: str
    issuer: str
    eligible_mask: int
    total_supply: int
    holdings: tuple[Holding, ...]

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(attrs.asdict(self), sort_keys=True).encode()).hexdigest()

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(attrs.asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        raw = json.loads(path.read_text())
        raw["holdings"] = tuple(Holding(**h) for h in raw["holdings"])
        return cls(**raw)


@attrs.frozen
class MigrationResult:
    old: str
    new: str
    block: int
    holders: int
    total_supply: int
    snapshot_file: str
    tx_ids: tuple[str, ...]


def _quiet(_: str) -> None:
    pass


def snapshot_path(deployment_file: Path, instrument: str) -> Path:
    return deployment_file.with_name(f"migration-{to_checksum_address(instrument)}.json")


async def migrate_instrument(
    ledger: EvmLedger,
    instrument: str,
    deployment_file: Path,
    *,
    batch_size: int = IMPORT_BATCH,
    progress: Callable[[str], None] = _quiet,
) -> MigrationResult:
    """Replace `instrument` by a new MigratedInstrument carrying its holders (see the module doc).
    The deployment file is rewritten with the migration recorded, and `ledger` follows it at once."""
    old = to_checksum_address(instrument)
    if not 0 < batch_size <= 250:
        raise ConfigurationError("the import batch size is 1..250 holders")
    file = snapshot_path(deployment_file, old)
    moved = ledger.deployment.migrations.get(old)
    if moved is not None:
        progress(f"{old} was migrated to {moved} (recorded in {deployment_file}): nothing to do")
        snapshot = Snapshot.load(file)
        return MigrationResult(old, moved, snapshot.block, len(snapshot.holdings), snapshot.total_supply, str(file), ())
    prefix = f"migrate:{ledger.relayer.chain_id}:{old}"
    tx_ids: list[str] = []

    async def run(step: str, key: str, fingerprint: str, to: str | None, data: bytes) -> TxOutcome:
        op_id = f"{prefix}:{step}"
        done = await ledger.relayer.journal.get(op_id)
        if done is not None and done.status is JournalStatus.CONFIRMED:
            progress(f"{step}: done in an earlier run (journal {op_id})")
        else:
            progress(f"{step}: sending")
        outcome = await ledger.relayer.execute(op_id, fingerprint, key, to, data)
        progress(f"{step}: mined in block {outcome.block} (tx {outcome.tx_id})")
        tx_ids.append(outcome.tx_id)
        return outcome

    def encode(contract: Any, fn: str, *args: Any) -> bytes:
        return bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])

    old_contract = ledger.instrument(old)
    if file.exists():
        snapshot = Snapshot.load(file)
        paused = await ledger.relayer.journal.get(f"{prefix}:pause")
        if paused is not None and paused.status is JournalStatus.CONFIRMED and paused.tx_id:
            tx_ids.append(paused.tx_id)
        progress(f"snapshot: read {file} (block {snapshot.block}, {len(snapshot.holdings)} holders)")
    else:
        pause_op = await ledger.relayer.journal.get(f"{prefix}:pause")
        if pause_op is None and await ledger._read(old_contract.functions.paused()):
            block = int(await ledger.w3.eth.block_number)  # paused before: nothing moved since
        else:
            pause = await run("pause", AGENT_KEY, f"pause:{old}", old, encode(old_contract, "pause"))
            block = pause.block
        snapshot = await take_snapshot(ledger, old, block)
        snapshot.save(file)
        progress(f"snapshot: block {block}, {len(snapshot.holdings)} holders, written to {file}")
    digest = snapshot.digest()

    d = ledger.deployment
    artifact = load_artifact("MigratedInstrument")
    factory = ledger.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    args = [
        snapshot.name,
        snapshot.symbol,
        d.registry,
        snapshot.issuer,
        snapshot.eligible_mask,
        snapshot.total_supply,
        d.admin,
        d.agent,
        d.settlement,
        d.distribution,
        old,
    ]
    data = bytes.fromhex(factory.constructor(*args).data_in_transaction[2:])
    deployed = await run("deploy", ADMIN_KEY, f"deploy:{digest}:{artifact.source_hash}", None, data)
    assert deployed.contract_address is not None
    new = to_checksum_address(deployed.contract_address)
    target = ledger.w3.eth.contract(address=new, abi=artifact.abi)

    registry = ledger.instruments
    if await ledger.relayer.journal.get(f"{prefix}:delist") is not None or await ledger._read(
        registry.functions.isRegistered(old)
    ):
        await run("delist", ADMIN_KEY, f"delist:{old}", registry.address, encode(registry, "delist", old))

    rows = list(snapshot.holdings)
    for n, start in enumerate(range(0, len(rows), batch_size)):
        batch = rows[start : start + batch_size]
        columns = (
            [h.address for h in batch],
            [h.units if h.address != snapshot.issuer else 0 for h in batch],
            [h.frozen_units for h in batch],
            [h.frozen for h in batch],
        )
        fp = hashlib.sha256(json.dumps([digest, columns]).encode()).hexdigest()
        await run(f"import:{n}", ADMIN_KEY, fp, new, encode(target, "importHoldings", *columns))
    closed = await ledger._read(target.functions.importClosed())
    if not closed:
        await _verify(ledger, snapshot, target)  # still paused: nothing moved since the import
    if not closed or await ledger.relayer.journal.get(f"{prefix}:close") is not None:
        await run("close", ADMIN_KEY, f"close:{new}", new, encode(target, "closeImport"))
    if await ledger.relayer.journal.get(f"{prefix}:register") is not None or not await ledger._read(
        registry.functions.isRegistered(new)
    ):
        await run("register", ADMIN_KEY, f"register:{new}", registry.address, encode(registry, "register", new))

    deployment = attrs.evolve(ledger.deployment, migrations={**ledger.deployment.migrations, old: new})
    deployment.save(deployment_file)
    ledger.deployment = deployment
    progress(f"deployment: {old} -> {new} recorded in {deployment_file}")
    return MigrationResult(old, new, snapshot.block, len(rows), snapshot.total_supply, str(file), tuple(tx_ids))


async def take_snapshot(ledger: EvmLedger, instrument: str, block: int) -> Snapshot:
    """Every account the old instrument's logs name (receivers, freezes), read at `block`."""
    contract = ledger.instrument(instrument)
    start = await ledger._creation_block(contract.address)
    candidates: set[str] = set()
    try:
        for low in range(start, block + 1, ledger.log_chunk_blocks):
            high = min(low + ledger.log_chunk_blocks - 1, block)
            logs = await ledger.w3.eth.get_logs({"address": contract.address, "fromBlock": low, "toBlock": high})
            for log in logs:
                topics = log["topics"]
                index = _TOPICS.get(bytes(topics[0])) if topics else None
                if index is not None and len(topics) > index:
                    candidates.add(to_checksum_address(bytes(topics[index])[-20:]))
    except Exception as exc:
        raise LedgerUnavailable(f"EVM log query failed: {type(exc).__name__}") from exc

    async def at(call: Any) -> Any:
        try:
            return await call.call(block_identifier=block)
        except Exception as exc:
            raise LedgerUnavailable(f"EVM read at block {block} failed: {type(exc).__name__}") from exc

    f = contract.functions
    issuer = to_checksum_address(await at(f.issuer()))
    candidates.add(issuer)
    holdings = []
    for address in sorted(candidates):
        units, pinned, frozen = (
            await at(f.balanceOf(address)),
            await at(f.getFrozenTokens(address)),
            await at(f.isFrozen(address)),
        )
        if units or pinned or frozen:
            code = await at(ledger.registry.functions.classOf(address))
            holdings.append(Holding(address, int(units), int(pinned), bool(frozen), int(code)))
    total = int(await at(f.totalSupply()))
    if sum(h.units for h in holdings) != total:
        raise LedgerRejected(f"the snapshot of {instrument} does not add up to its supply", reason="SnapshotMismatch")
    return Snapshot(
        instrument=to_checksum_address(instrument),
        block=block,
        name=str(await at(f.name())),
        symbol=str(await at(f.symbol())),
        issuer=issuer,
        eligible_mask=int(await at(f.eligibleMask())),
        total_supply=total,
        holdings=tuple(holdings),
    )


async def _verify(ledger: EvmLedger, snapshot: Snapshot, target: Any) -> None:
    """The new instrument holds exactly the snapshot: supply, and each holder's units and freezes."""
    f = target.functions
    if int(await ledger._read(f.totalSupply())) != snapshot.total_supply:
        raise LedgerRejected("the new instrument's supply differs from the snapshot", reason="SnapshotMismatch")
    for h in snapshot.holdings:
        state = (
            int(await ledger._read(f.balanceOf(h.address))),
            int(await ledger._read(f.getFrozenTokens(h.address))),
            bool(await ledger._read(f.isFrozen(h.address))),
        )
        if state != (h.units, h.frozen_units, h.frozen):
            raise LedgerRejected(
                f"{h.address} on the new instrument differs from the snapshot: {state}", reason="SnapshotMismatch"
            )
