"""Reliable transaction submission (https://xrpl.org/docs/concepts/transactions/reliable-transaction-submission).
(Over 400 lines: single and pipelined transactions share the per-account lock and the sequence,
journal, replacement and gap rules, so they stay together; Batch is in batch.py, the JSON-RPC client
in rpc.py, hashes and signatures in signing.py.)

For one operation id the submitter:
1. autofills the transaction: Sequence from the account (through the journal's `allocate_sequence`,
   so concurrent workers never share a number), Fee from the `fee` method (capped), and
   LastLedgerSequence = last validated ledger + `ledger_offset`;
2. signs it through the KeyVault: the signing hash (SHA-512Half of the signing serialisation) is
   signed with the wallet's secp256k1 key and the signature is DER-encoded with low s;
3. persists the signed blob and its hash in the OperationJournal *before* the first broadcast;
4. submits the blob and tracks the hash until a validated ledger holds it or the validated ledger
   passes LastLedgerSequence — only a validated result is final.

After a crash the same operation id finds the journal entry and re-submits the *same* blob (same
sequence, same hash): the ledger applies a transaction at most once. If a transaction provably
expired (validated ledger past its LastLedgerSequence without it), a replacement is signed with the
same sequence number, so at most one of the two can ever apply; if that sequence was used although
no version of the transaction is found (a node without the history), it stops rather than re-sign. A permanent refusal before a
ledger (tem/tef) leaves its sequence number unused; the submitter fills the gap with a no-op
AccountSet so later transactions of the account are not stuck behind it.

`batches.run` does the same for an all-or-nothing XLS-56 Batch (batch.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from xrpl.core.binarycodec import decode, encode, encode_for_signing
from xrpl.models.requests import AccountInfo, Fee, Ledger, SubmitOnly, Tx
from xrpl.models.transactions import AccountSet
from xrpl.models.transactions.transaction import Transaction

from drexfy.adapters.xrpl.batch import Batches
from drexfy.adapters.xrpl.errors import refused_for_good, to_domain_error
from drexfy.adapters.xrpl.gaps import filled_by_keeper, gap_id, reclaim_id
from drexfy.adapters.xrpl.rpc import Rpc, RpcFailure
from drexfy.adapters.xrpl.signing import (
    AUTOFILLED,
    Outcome,
    Signer,
    der_signature,
    entry_outcome,
    fingerprint_of,
    sha512half,
    signer_fields,
    tx_hash,
)
from drexfy.domain.errors import LedgerPending, LedgerRejected, LedgerUnavailable, OperationConflict
from drexfy.domain.ports import LEDGER_WAIT, JournalEntry, JournalStatus, KeyVault, OperationJournal

log = logging.getLogger(__name__)

LEDGER = "xrpl"


class Submitter:
    """Signs, journals, submits and tracks transactions to a validated result."""

    def __init__(
        self,
        rpc: Rpc,
        vault: KeyVault,
        journal: OperationJournal,
        *,
        ledger_offset: int = 20,
        fee_cap_drops: int = 5_000,
        poll_interval: float = 0.5,
        submit_timeout: float = 120.0,
        close_time_s: float = 4.0,
    ) -> None:
        self.rpc = rpc
        self.vault = vault
        self.journal = journal
        self.ledger_offset = ledger_offset
        self.fee_cap_drops = fee_cap_drops
        self.poll_interval = poll_interval
        self.submit_timeout = submit_timeout
        self.close_time_s = close_time_s
        self._locks: dict[str, asyncio.Lock] = {}
        self.batches = Batches(self)

    # --- public --------------------------------------------------------------------------------
    async def run(self, op_id: str, signer: Signer, transaction: Transaction, what: str) -> Outcome:
        """Carry out `transaction` once for `op_id` and return its validated outcome.

        Raises the mapped domain error for a final failure (tec / permanent tef / tem), and
        LedgerUnavailable when no final result could be reached in time (call again: it resumes).
        """
        tx = transaction.to_xrpl()
        if tx.get("Account") != signer.address:
            raise ValueError("the transaction's Account is not the signer's address")
        fingerprint = fingerprint_of(tx)
        lock = self._locks.setdefault(signer.address, asyncio.Lock())
        async with lock:  # one in-flight transaction per account in this process: no sequence gaps
            entry = await self.journal.get(op_id)
            if entry is None:
                entry = await self._prepare(op_id, fingerprint, signer, tx)
            elif entry.fingerprint != fingerprint:
                raise OperationConflict(f"operation {op_id} was used for another XRPL transaction")
            return await self._drive(entry, signer, tx, what)

    async def run_pipelined(
        self,
        signer: Signer,
        items: Sequence[tuple[str, Transaction, str]],
        explain: Callable[[str, LedgerRejected], Awaitable[LedgerRejected]] | None = None,
    ) -> list[Outcome]:
        """Carry out several transactions of one account, in order, without waiting for a ledger
        close between them; returns their validated outcomes in order.

        Each is journalled and submitted with the next sequence first (rippled's open ledger takes
        them one after another), then each is driven to its validated result exactly as `run`
        does. On a network closing a ledger every 3-5 s, N payments take about one close instead
        of N. A submission refused for good (tem, or a permanent tef: its sequence stays unused)
        stops the sending ahead; what follows it is prepared only when its turn comes, which it
        does not (the refusal is raised first, in order), as with `run` one by one. `explain`
        may turn an item's refusal into a more precise error (it gets the item's op id).
        """
        lock = self._locks.setdefault(signer.address, asyncio.Lock())
        async with lock:
            planned: list[tuple[str, str, dict[str, Any], str, JournalEntry | None, str | None]] = []
            ahead = True
            for op_id, transaction, what in items:
                tx = transaction.to_xrpl()
                if tx.get("Account") != signer.address:
                    raise ValueError("every pipelined transaction must be the signer's")
                fingerprint = fingerprint_of(tx)
                entry = await self.journal.get(op_id)
                if entry is not None and entry.fingerprint != fingerprint:
                    raise OperationConflict(f"operation {op_id} was used for another XRPL transaction")
                sent: str | None = None
                if ahead:
                    if entry is None:
                        entry = await self._prepare(op_id, fingerprint, signer, tx)
                    if entry.status in (JournalStatus.PREPARED, JournalStatus.SUBMITTED):
                        sent, _ = await self._broadcast(entry)
                        ahead = not refused_for_good(sent)
                planned.append((op_id, fingerprint, tx, what, entry, sent))
            outcomes = []
            for op_id, fingerprint, tx, what, entry, sent in planned:
                current = await self.journal.get(op_id) if entry is not None else None
                if current is None:
                    current = await self._prepare(op_id, fingerprint, signer, tx)
                try:
                    outcomes.append(await self._drive(current, signer, tx, what, sent))
                except LedgerRejected as rejected:
                    if explain is None:
                        raise
                    raise await explain(op_id, rejected) from rejected
            return outcomes

    async def resume(self, entry: JournalEntry) -> Outcome:
        """Drive an unfinished journal entry (found after a restart) to its final result: the same
        blob is broadcast again and tracked; an expired one is replaced as usual."""
        assert entry.payload is not None and entry.account is not None
        signer = Signer(str(entry.result["wallet_id"]), entry.account, str(entry.result["public_key"]))
        tx = {k: v for k, v in decode(entry.payload).items() if k not in AUTOFILLED}
        if isinstance(tx.get("MaximumAmount"), str) and len(tx["MaximumAmount"]) == 16:
            tx["MaximumAmount"] = str(int(tx["MaximumAmount"], 16))  # the codec decodes UInt64 as hex
        lock = self._locks.setdefault(signer.address, asyncio.Lock())
        async with lock:
            fresh = await self.journal.get(entry.op_id)
            assert fresh is not None
            return await self._drive(fresh, signer, tx, f"resuming {entry.op_id}")

    async def outcome_of(self, op_id: str) -> Outcome | None:
        """The validated outcome recorded for an operation id, if it succeeded."""
        entry = await self.journal.get(op_id)
        if entry is None or entry.status is not JournalStatus.CONFIRMED:
            return None
        return entry_outcome(entry)

    # --- autofill and signing ------------------------------------------------------------------
    async def chain_sequence(self, address: str, ledger: str = "current") -> int:
        result = await self.rpc.call(AccountInfo(account=address, ledger_index=ledger))
        return int(result["account_data"]["Sequence"])

    async def validated_index(self) -> int:
        result = await self.rpc.call(Ledger(ledger_index="validated"))
        return int(result["ledger_index"])

    async def _fee(self) -> int:
        drops = (await self.rpc.call(Fee()))["drops"]
        return min(max(int(drops["open_ledger_fee"]), int(drops["minimum_fee"])), self.fee_cap_drops)

    async def _sign(self, signer: Signer, tx: dict[str, Any], sequence: int) -> tuple[str, str, int]:
        tx = dict(tx)
        tx["Sequence"] = sequence
        tx["Fee"] = str(await self._fee())
        tx["LastLedgerSequence"] = await self.validated_index() + self.ledger_offset
        tx["SigningPubKey"] = signer.public_key.upper()
        digest = sha512half(bytes.fromhex(encode_for_signing(tx)))
        signature = await self.vault.sign_digest(signer.wallet_id, digest)
        tx["TxnSignature"] = der_signature(signature.r, signature.s).hex().upper()
        blob = encode(tx)
        return blob, tx_hash(blob), tx["LastLedgerSequence"]

    async def _prepare(self, op_id: str, fingerprint: str, signer: Signer, tx: dict[str, Any]) -> JournalEntry:
        try:
            chain_next = await self.chain_sequence(signer.address)
        except RpcFailure as failure:
            if failure.error == "actNotFound":
                raise to_domain_error("terNO_ACCOUNT", f"{op_id}", detail=signer.address) from failure
            raise LedgerUnavailable(f"account_info failed: {failure}") from failure
        sequence = await self.journal.allocate_sequence(signer.address, chain_next, op_id)
        while sequence < chain_next:
            # Used on the ledger although this operation journalled nothing: the keeper spent the
            # number of a claim left unsent (gaps.py). Claim a new one.
            sequence = await self.journal.allocate_sequence(signer.address, chain_next, reclaim_id(op_id, sequence))
        blob, digest, lls = await self._sign(signer, tx, sequence)
        stored = await self._claim(
            op_id,
            fingerprint,
            signer.address,
            sequence,
            digest,
            blob,
            {"last_ledger_sequence": lls, **signer_fields(signer)},
            "transaction",
        )
        if stored.sequence != sequence:  # another process journalled first, with another number
            await self._fill_sequence(gap_id(signer.address, sequence), signer, sequence)
        return stored

    async def _claim(
        self,
        op_id: str,
        fingerprint: str,
        account: str,
        sequence: int,
        digest: str,
        blob: str,
        result: dict[str, Any],
        what: str,
    ) -> JournalEntry:
        """Journal a signed blob before it is submitted; if another worker journalled this operation
        first, use theirs (and refuse an op id reused for another intent)."""
        now = datetime.now(UTC)
        entry = JournalEntry(
            op_id=op_id,
            ledger=LEDGER,
            fingerprint=fingerprint,
            status=JournalStatus.PREPARED,
            created_at=now,
            account=account,
            sequence=sequence,
            tx_id=digest,
            payload=blob,
            result=result,
            updated_at=now,
        )
        if not await self.journal.create(entry):
            existing = await self.journal.get(op_id)
            assert existing is not None
            if existing.fingerprint != fingerprint:
                raise OperationConflict(f"operation {op_id} was used for another XRPL {what}")
            return existing
        return entry

    # --- submission and tracking ---------------------------------------------------------------
    def _deadline(self) -> float:
        """When this call stops waiting for a validated result: the caller's `LEDGER_WAIT` (the
        worker's jobs hand their slot back and come again a ledger later), else `submit_timeout`
        (an API call or a command that waits for the outcome)."""
        wait = LEDGER_WAIT.get()
        return asyncio.get_running_loop().time() + (self.submit_timeout if wait is None else wait)

    def _not_yet(self, message: str) -> LedgerUnavailable:
        """The error for a transaction submitted and still unvalidated at the deadline. Nothing
        failed: it is journalled and on the network, so a worker's job is told when to look again
        (`LedgerPending`, about one ledger close), never backed off or dead-lettered for it."""
        if LEDGER_WAIT.get() is None:
            return LedgerUnavailable(message)
        return LedgerPending(message, retry_after_s=self.close_time_s)

    async def _drive(
        self, entry: JournalEntry, signer: Signer, tx: dict[str, Any], what: str, sent: str | None = None
    ) -> Outcome:
        """Broadcast, track and replace until a final result. `sent` is the preliminary result of
        a submission just made (pipelined): the first round tracks without sending again."""
        deadline = self._deadline()
        while True:
            if entry.status is JournalStatus.CONFIRMED:
                return entry_outcome(entry)
            if entry.status is JournalStatus.FAILED:
                raise to_domain_error(
                    entry.result.get("code", "tecUNKNOWN"), what, entry.tx_id, entry.result.get("detail", "")
                )
            assert entry.payload is not None and entry.tx_id is not None
            if sent is not None:
                preliminary, detail, sent = sent, "", None
            else:
                preliminary, detail = await self._broadcast(entry)
            if refused_for_good(preliminary):
                # Never in any ledger as signed: final. Do not leave its sequence as a hole.
                await self._finish(entry, JournalStatus.FAILED, code=preliminary, detail=detail)
                await self._fill_gap(entry, signer)
                raise to_domain_error(preliminary, what, entry.tx_id, detail)
            found = await self._track(entry, deadline)
            if found is not None:
                applied_id, result, ledger_index, meta = found
                if applied_id != entry.tx_id:  # an earlier version with the same sequence was applied
                    entry.result["unapplied"] = entry.tx_id
                    entry.tx_id = applied_id
                extras: dict[str, Any] = {
                    k: meta[k] for k in ("nftoken_id", "offer_id", "mpt_issuance_id") if k in meta
                }
                status = JournalStatus.CONFIRMED if result == "tesSUCCESS" else JournalStatus.FAILED
                await self._finish(entry, status, code=result, ledger_index=ledger_index, extras=extras)
                if status is JournalStatus.FAILED:
                    raise to_domain_error(result, what, entry.tx_id)
                return entry_outcome(entry)
            if asyncio.get_running_loop().time() >= deadline:
                raise self._not_yet(f"{what}: no validated result for {entry.tx_id} yet; retry resumes it")
            entry = await self._replace(entry, signer, tx)

    async def fill_hole(self, filler_id: str, waiting: JournalEntry, sequence: int) -> None:
        """The keeper's fill of an unsent claim (gaps.py): a no-op with `sequence`, signed with the
        key that signed `waiting`, a transaction of the same account held behind the hole."""
        assert waiting.account is not None
        signer = Signer(str(waiting.result["wallet_id"]), waiting.account, str(waiting.result["public_key"]))
        await self._fill_sequence(filler_id, signer, sequence)

    async def rebroadcast(self, entry: JournalEntry) -> None:
        """Submit a journalled blob again and nothing else (the keeper's pass): the ledger applies a
        blob at most once, and the operation's own run records its result."""
        assert entry.payload is not None
        result = await self.rpc.call(SubmitOnly(tx_blob=entry.payload))
        log.info("keeper submitted %s of %s again: %s", entry.tx_id, entry.op_id, result.get("engine_result"))

    async def _broadcast(self, entry: JournalEntry) -> tuple[str, str]:
        assert entry.payload is not None
        try:
            result = await self.rpc.call(SubmitOnly(tx_blob=entry.payload))
            preliminary = str(result.get("engine_result", ""))
            detail = str(result.get("engine_result_message", ""))
        except LedgerUnavailable as exc:
            log.warning("submit of %s failed (%s); tracking the hash anyway", entry.tx_id, exc)
            preliminary, detail = "terRETRY", str(exc)
        except RpcFailure as failure:
            # e.g. invalidTransaction: the node refused the blob outright.
            preliminary, detail = "temMALFORMED", str(failure)
        if entry.status is JournalStatus.PREPARED:
            entry.status = JournalStatus.SUBMITTED
            entry.updated_at = datetime.now(UTC)
            await self.journal.update(entry)
        log.info("submitted %s for %s: %s", entry.tx_id, entry.op_id, preliminary)
        return preliminary, detail

    async def _lookup(self, tx_id: str) -> tuple[str, str, int, dict[str, Any]] | None:
        """(hash, result, ledger, meta) if a validated ledger holds the transaction, else None."""
        try:
            result = await self.rpc.call(Tx(transaction=tx_id))
        except RpcFailure as failure:
            if failure.error != "txnNotFound":
                raise LedgerUnavailable(f"tx lookup failed: {failure}") from failure
            return None
        if not result.get("validated"):
            return None
        meta = dict(result.get("meta") or {})
        return tx_id, str(meta["TransactionResult"]), int(result["ledger_index"]), meta

    async def _track(self, entry: JournalEntry, deadline: float) -> tuple[str, str, int, dict[str, Any]] | None:
        """Poll until validated (returns hash, result, ledger, meta), or None once the validated
        ledger has passed LastLedgerSequence without the transaction (it can never be included)."""
        assert entry.tx_id is not None
        lls = int(entry.result.get("last_ledger_sequence", 0))
        loop = asyncio.get_running_loop()
        while True:
            try:
                found = await self._lookup(entry.tx_id)
                if found is not None:
                    return found
                if await self.validated_index() > lls:
                    # Past its last ledger: a last look at it and at every earlier version with the
                    # same sequence (one of them may be the one that was applied).
                    for tx_id in (entry.tx_id, *entry.result.get("superseded", [])):
                        found = await self._lookup(tx_id)
                        if found is not None:
                            return found
                    return None
            except LedgerUnavailable:
                if loop.time() >= deadline:
                    raise
            if loop.time() >= deadline:
                raise self._not_yet(f"no validated result for {entry.tx_id} yet; retry resumes it")
            await asyncio.sleep(self.poll_interval)

    async def _replace(self, entry: JournalEntry, signer: Signer, tx: dict[str, Any]) -> JournalEntry:
        """The transaction expired unincluded: sign a replacement. Its sequence is reused when the
        account has not consumed it, so the two can never both apply."""
        assert entry.sequence is not None
        validated_next = await self.chain_sequence(signer.address, "validated")
        sequence = entry.sequence  # unused: the replacement takes it, so at most one can ever apply
        if validated_next > entry.sequence:
            if not await self._taken_by_keeper(signer.address, entry.sequence):
                # The sequence was used, yet none of this operation's hashes is found: the node may
                # lack the history. Re-signing with a new sequence could act twice, so stop here.
                raise LedgerUnavailable(
                    f"sequence {entry.sequence} of {signer.address} was used but no version of {entry.op_id}"
                    " is found on this node; check a full-history node before retrying"
                )
            # The keeper's no-op used the number (this operation was slower than its grace):
            # nothing of this operation applied, so a new number cannot make it act twice.
            sequence = await self.journal.allocate_sequence(
                signer.address, await self.chain_sequence(signer.address), reclaim_id(entry.op_id, entry.sequence)
            )
        blob, digest, lls = await self._sign(signer, tx, sequence)
        assert entry.tx_id is not None
        superseded = [*entry.result.get("superseded", []), entry.tx_id]
        replacement = attrs.evolve(
            entry,
            sequence=sequence,
            tx_id=digest,
            payload=blob,
            status=JournalStatus.PREPARED,
            result={"last_ledger_sequence": lls, "superseded": superseded, **signer_fields(signer)},
            updated_at=datetime.now(UTC),
        )
        # If another process replaced it first, its replacement is the one (compare-and-set).
        stored = await self.journal.replace_signed(replacement, previous_tx_id=entry.tx_id)
        log.warning("%s expired unvalidated; replaced by %s (sequence %s)", entry.tx_id, stored.tx_id, sequence)
        return stored

    async def _taken_by_keeper(self, account: str, sequence: int) -> bool:
        """Whether a validated ledger holds the keeper's no-op for `sequence` of `account`."""
        filler = await self.journal.get(gap_id(account, sequence))
        if not filled_by_keeper(filler, sequence):
            return False
        assert filler is not None and filler.tx_id is not None
        return await self._lookup(filler.tx_id) is not None

    async def _finish(
        self,
        entry: JournalEntry,
        status: JournalStatus,
        *,
        code: str,
        detail: str = "",
        ledger_index: int | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> None:
        entry.status = status
        entry.result = {
            **entry.result,
            "code": code,
            "detail": detail,
            "ledger_index": ledger_index,
            "extras": dict(extras or {}),
        }
        entry.updated_at = datetime.now(UTC)
        await self.journal.update(entry)

    async def _fill_gap(self, entry: JournalEntry, signer: Signer) -> None:
        assert entry.sequence is not None
        await self._fill_sequence(f"{entry.op_id}#gap", signer, entry.sequence)

    async def _fill_sequence(self, filler_id: str, signer: Signer, sequence: int) -> None:
        """Consume an unused sequence number with a no-op AccountSet (journaled, idempotent)."""
        try:
            if await self.chain_sequence(signer.address) > sequence:
                return  # not a hole: already used
            filler = AccountSet(account=signer.address).to_xrpl()
            if await self.journal.get(filler_id) is None:
                blob, digest, lls = await self._sign(signer, filler, sequence)
                now = datetime.now(UTC)
                await self.journal.create(
                    JournalEntry(
                        op_id=filler_id,
                        ledger=LEDGER,
                        fingerprint=fingerprint_of(filler),
                        status=JournalStatus.PREPARED,
                        created_at=now,
                        account=signer.address,
                        sequence=sequence,
                        tx_id=digest,
                        payload=blob,
                        result={"last_ledger_sequence": lls, **signer_fields(signer)},
                        updated_at=now,
                    )
                )
            gap = await self.journal.get(filler_id)
            assert gap is not None
            if gap.status in (JournalStatus.PREPARED, JournalStatus.SUBMITTED):
                await self._broadcast(gap)
        except Exception:  # the gap filler is best effort; the next replacement also resolves it
            log.exception("could not fill the sequence gap %s", filler_id)
