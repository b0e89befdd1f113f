"""The relayer: one signed transaction per operation id, journalled before broadcast.
(About 850 lines on purpose: every path that claims, signs, journals, replaces, fills or confirms a
nonce is here, so the invariant "every claimed nonce is sent exactly once" can be checked in one
place; permits are in `permits.py`, the contracts' calls in `ledger.py`, receipts by block in
`confirmer.py`. The ~110 lines of raw JSON-RPC and per-block caches could move to a module of their
own.)

Every ledger write goes through `Relayer.execute(op_id, fingerprint, key_id, to, data)`:

1. the journal entry of `op_id` is read; a different fingerprint is an OperationConflict; a
   CONFIRMED entry returns its outcome; a FAILED one raises its error again; a signed one is
   re-broadcast (same bytes, same nonce, same hash) and awaited — never re-signed with a new nonce;
2. otherwise the entry is claimed (PREPARED, unsigned), the call is simulated (eth_estimateGas): a
   revert is decoded into a domain error before any nonce is used;
3. the nonce comes from `OperationJournal.allocate_sequence`, which gives one op id one nonce (a
   retry after a crash, or a second process preparing the same op, gets the same one back: no
   nonce is ever left unused); the EIP-1559 transaction is signed through the KeyVault
   (`sign_digest`) and written to the journal *before* the broadcast with `record_signed` (the first
   signed transaction of an op id wins, and every preparer sends that one);
4. the receipt is awaited (with `confirmations`); a revert is decoded from the contract's custom
   errors. A timeout or a node that cannot be reached raises LedgerUnavailable and leaves the entry
   as it is, so the next call with the same op id resumes it;
5. a transaction priced out by a risen base fee is replaced (same nonce, higher fees within the
   cap, `replace_signed`); a receipt of any of its versions counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import rlp
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import RPCEndpoint

from drexfy.adapters.evm.abi import COMPLIANCE_ERRORS
from drexfy.adapters.evm.config import EvmConfig
from drexfy.adapters.evm.confirmer import BlockReceiptsRefused, Confirmer
from drexfy.adapters.evm.errors import decode_revert, revert_data
from drexfy.adapters.secp256k1 import evm_address
from drexfy.domain.errors import (
    ComplianceRejected,
    LedgerPending,
    LedgerRejected,
    LedgerUnavailable,
    OperationConflict,
)
from drexfy.domain.ports import LEDGER_WAIT, JournalEntry, JournalStatus, KeyVault, LedgerHealth, OperationJournal

LEDGER = "evm"
_TRANSIENT = (OSError, TimeoutError, asyncio.TimeoutError, ConnectionError)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _TRANSIENT):
        return True
    name = type(exc).__module__
    return name.startswith("aiohttp") or "Timeout" in type(exc).__name__


@attrs.frozen
class TxOutcome:
    """What a confirmed transaction left: its hash, block, gas and (for a deployment) the address."""

    tx_id: str
    block: int
    gas_used: int
    contract_address: str | None = None


log = logging.getLogger("drexfy.evm.relayer")


#: How long after a block is due a job that handed back looks again (the node's timer, and the
#: confirmer's poll, run a little behind the nominal block time).
NEXT_BLOCK_MARGIN_S = 0.5

#: Node refusals meaning "the fee is below what the next block asks" (geth, anvil, Moonbeam/Frontier).
_PRICED_OUT = ("less than block base fee", "underpriced", "fee cap less than", "max fee per gas less than")


class _PricedOut(Exception):
    """The node refused the transaction for its fee: replace it with a higher one."""


def _submitted(entry: JournalEntry) -> None:
    entry.status = JournalStatus.SUBMITTED


def _claim_of(entry: JournalEntry) -> str:
    """The nonce claim of an operation's current attempt: a reopened operation needs a new nonce."""
    attempt = int(entry.result.get("attempt", 0))
    return entry.op_id if attempt == 0 else f"{entry.op_id}#{attempt}"


def _attempts(entry: JournalEntry) -> dict[str, Any]:
    """What an entry's result keeps across attempts: the attempt number and the reverted hashes."""
    return {k: entry.result[k] for k in ("attempt", "reopened") if k in entry.result}


def _versions(entry: JournalEntry) -> tuple[str, ...]:
    """The hashes of the operation's transaction: the journalled one and those it replaced."""
    return (str(entry.tx_id), *entry.result.get("superseded", []))


def _receipt_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """What the relayer reads of a receipt, from the node's JSON (hex quantities)."""
    return {
        "transactionHash": HexBytes(raw["transactionHash"]),
        "blockNumber": int(raw["blockNumber"], 16),
        "gasUsed": int(raw["gasUsed"], 16),
        "status": int(raw.get("status") or "0x0", 16),
        "contractAddress": raw.get("contractAddress"),
    }


def _outcome(entry: JournalEntry) -> TxOutcome:
    r = entry.result
    return TxOutcome(entry.tx_id or "", int(r.get("block", 0)), int(r.get("gas_used", 0)), r.get("contract"))


def _stored_error(entry: JournalEntry) -> LedgerRejected:
    reason = str(entry.result.get("reason", "Reverted"))
    message = str(entry.result.get("message", "the transaction failed"))
    if reason in COMPLIANCE_ERRORS:
        return ComplianceRejected(message, reason=reason, tx_id=entry.tx_id, party=entry.result.get("party"))
    return LedgerRejected(message, reason=reason, tx_id=entry.tx_id)


def _refusal(error: LedgerRejected) -> dict[str, Any]:
    """What the journal keeps of a refusal, so that a later call raises the same error."""
    kept: dict[str, Any] = {"reason": error.reason, "message": error.message}
    if isinstance(error, ComplianceRejected) and error.party:
        kept["party"] = error.party
    return kept


@attrs.define
class _Call:
    """One call of `Relayer.execute`: what to send, and what the caller asked to be told."""

    to: str | None
    data: bytes
    note: dict[str, Any] = attrs.field(factory=dict)
    simulate_at: str = "latest"
    on_sent: Callable[[], None] | None = None

    def sent(self) -> None:
        """Tell the caller (once) that the transaction is out, or that there will be none."""
        if self.on_sent is not None:
            callback, self.on_sent = self.on_sent, None
            callback()


class Relayer:
    """Signs and sends the platform's transactions; the platform pays every fee."""

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        chain_id: int,
        vault: KeyVault,
        journal: OperationJournal,
        config: EvmConfig,
    ) -> None:
        self.w3 = w3
        self.chain_id = chain_id
        self.vault = vault
        self.journal = journal
        self.config = config
        self._addresses: dict[str, str] = {}
        # Weak values: a lock lives while some call holds it, so the map does not grow forever.
        self._op_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        #: Test hook: called with the entry after the signed tx is journalled, before broadcast.
        self.before_broadcast: Any = None
        #: (op id, nonce claim) of unsigned operations the keeper saw -> when it first saw them.
        self._unsigned_seen: dict[tuple[str, str], float] = {}
        #: Waiting calls' receipts, read once per new block for all of them (confirmer.py).
        #: Raw JSON-RPC on the hot path (`rpc`) over HTTP; the embedded tester chain keeps web3's.
        self.raw_rpc = isinstance(getattr(w3, "provider", None), AsyncHTTPProvider)
        self.confirmer = Confirmer(
            self._head,
            self._receipt,
            config.poll_interval_s,
            _is_transient,
            block_receipts=self._block_receipts,
            on_head=self._new_head,
        )
        #: Per-block caches (emptied when the confirmer sees a new head): the fee offer, the next
        #: block's base fee, and each sender's pending transaction count.
        self._fee_cache: dict[int, int] = {}
        self._next_base_cache: dict[int, int] = {}
        self._count_cache: dict[tuple[str, int], int] = {}
        #: Reads under way, per cache key: concurrent jobs in one block share one request.
        self._reads: dict[object, asyncio.Future[int]] = {}

    async def _head(self) -> int:
        if self.raw_rpc:
            return int(await self.rpc("eth_blockNumber", []), 16)
        return int(await self.w3.eth.block_number)

    async def rpc(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call straight through the provider, for the relayer's hot path: web3's
        middlewares and formatters cost more CPU per settlement than the node's answer (about
        15 ms a call on this machine), on cores shared with the node. An error answer is raised as
        web3 would: a revert as ContractLogicError with its data (so `revert_data` reads it), any
        other refusal as Web3RPCError."""
        response: Any = await self.w3.provider.make_request(RPCEndpoint(method), params)
        error = response.get("error")
        if error is not None:
            message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
            data = error.get("data") if isinstance(error, dict) else None
            if data is not None or "revert" in message.lower():
                raise ContractLogicError(message, data=data)
            raise Web3RPCError(str(error), rpc_response=response)
        return response.get("result")

    async def _estimate_gas(self, call: dict[str, Any], block: str) -> int:
        if not self.raw_rpc:
            return int(await self.w3.eth.estimate_gas(call, block))  # type: ignore[arg-type]
        params = {k: ("0x" + bytes(v).hex() if isinstance(v, bytes | bytearray) else v) for k, v in call.items()}
        return int(await self.rpc("eth_estimateGas", [params, block]), 16)

    async def _block_receipts(self, block: int) -> list[Any]:
        """Every receipt of `block` in one request (`eth_getBlockReceipts`), straight from the
        node's JSON: web3's formatters would cost more CPU than the request for a full block, and
        only the few fields the relayer reads are converted (`_receipt_fields`)."""
        response: Any = await self.w3.provider.make_request(RPCEndpoint("eth_getBlockReceipts"), [hex(block)])
        error = response.get("error") if isinstance(response, dict) else None
        if error is not None:
            raise BlockReceiptsRefused(str(error.get("message", error) if isinstance(error, dict) else error))
        result = response.get("result") if isinstance(response, dict) else None
        if result is None:
            raise ConnectionError(f"block {block} is not served yet")  # transient: the next poll asks again
        return [_receipt_fields(r) for r in result]

    def _new_head(self, _head: int) -> None:
        self._fee_cache.clear()
        self._next_base_cache.clear()
        self._count_cache.clear()
        self._reads.clear()

    async def _read_once(self, key: object, read: Callable[[], Awaitable[int]]) -> int:
        """`read()` once for all the callers asking for `key` at the same time (single flight): a
        burst of settlements in one block would otherwise each read before the first filled the cache."""
        flight = self._reads.get(key)
        if flight is None:
            flight = self._reads[key] = asyncio.ensure_future(read())
            flight.add_done_callback(lambda _f: self._reads.pop(key, None))  # keys carry the block
        return await asyncio.shield(flight)

    def _current_block(self) -> int | None:
        """The head the confirmer saw within the last poll or two (what the per-block caches are
        keyed on), or None when it is not watching (then every read goes to the node)."""
        c = self.confirmer
        if c.head is not None and time.monotonic() - c.head_seen_at <= max(2 * c.poll_s, 0.5):
            return c.head
        return None

    async def _chain_next(self, sender: str) -> int:
        """The sender's pending transaction count, once per block: only a floor for the journal's
        own nonce counter (`allocate_sequence` takes the larger), so a count a block old is safe."""
        block = self._current_block()
        if block is not None and (sender, block) in self._count_cache:
            return self._count_cache[(sender, block)]

        async def read() -> int:
            if self.raw_rpc:
                return int(await self.rpc("eth_getTransactionCount", [sender, "pending"]), 16)
            return int(await self.w3.eth.get_transaction_count(sender, "pending"))  # type: ignore[arg-type]

        if block is None:
            return await read()
        count = await self._read_once(("count", sender, block), read)
        self._count_cache[(sender, block)] = count
        return count

    async def address_of(self, key_id: str) -> str:
        """The address of a vault key (cached)."""
        if key_id not in self._addresses:
            self._addresses[key_id] = evm_address(await self.vault.public_key(key_id))
        return self._addresses[key_id]

    # ------------------------------------------------------------------------------------------

    async def execute(
        self,
        op_id: str,
        fingerprint: str,
        key_id: str,
        to: str | None,
        data: bytes,
        *,
        note: dict[str, Any] | None = None,
        simulate_at: str = "latest",
        on_sent: Callable[[], None] | None = None,
    ) -> TxOutcome:
        """Run one operation to its outcome. `note` is kept in the journal with the signed
        transaction (what the caller needs to judge a later revert, e.g. the permit nonce);
        `simulate_at` is the block the call is simulated on ("pending" when it builds on a
        transaction not mined yet); `on_sent` is called once the transaction is broadcast (or the
        call ends without one), so a caller can let a dependent operation go while this one waits."""
        lock = self._op_locks.get(op_id)
        if lock is None:
            lock = self._op_locks[op_id] = asyncio.Lock()
        call = _Call(to, data, note or {}, simulate_at, on_sent)
        async with lock:
            try:
                return await self._execute(op_id, fingerprint, key_id, call)
            except (LedgerRejected, LedgerUnavailable, OperationConflict):
                raise
            except Exception as exc:
                if _is_transient(exc):
                    raise LedgerUnavailable(f"EVM node unreachable: {type(exc).__name__}") from exc
                raise
            finally:
                call.sent()

    async def _execute(self, op_id: str, fingerprint: str, key_id: str, call: _Call) -> TxOutcome:
        entry = await self.journal.get(op_id)
        if entry is None:
            entry = JournalEntry(op_id, LEDGER, fingerprint, JournalStatus.PREPARED, datetime.now(UTC))
            if not await self.journal.create(entry):
                entry = await self.journal.get(op_id)
                assert entry is not None
        if entry.fingerprint != fingerprint:
            raise OperationConflict(f"operation id {op_id!r} was already used for a different operation")
        if entry.status is JournalStatus.CONFIRMED:
            return _outcome(entry)
        if entry.payload is not None:
            if entry.status is JournalStatus.FAILED:
                raise _stored_error(entry)
            return await self._send_and_wait(entry, key_id, call)
        # Claimed but never signed (or refused by simulation): nothing reached the chain; prepare.
        return await self._prepare_and_send(entry, key_id, call)

    async def _prepare_and_send(self, entry: JournalEntry, key_id: str, call: _Call) -> TxOutcome:
        sender = await self.address_of(key_id)
        to, data = call.to, call.data
        simulated: dict[str, Any] = {"from": sender, "data": data}
        if to is not None:
            simulated["to"] = to
        claim = _claim_of(entry)
        try:
            gas = await self._estimate_gas(simulated, call.simulate_at)
        except Exception as exc:
            if _is_transient(exc):
                raise
            error = decode_revert(revert_data(exc))
            held = await self.journal.held_sequence(sender, claim)
            if held is not None:
                return await self._fill_nonce(entry, key_id, sender, held, error)
            entry.status = JournalStatus.FAILED
            entry.result = {**_attempts(entry), **_refusal(error), "signed": False}
            entry.updated_at = datetime.now(UTC)
            await self.journal.update(entry)
            raise error from None
        fees = await self._fees()  # a fee above the cap is refused before any nonce is taken
        chain_next = await self._chain_next(sender)
        nonce = await self.journal.allocate_sequence(sender, chain_next, claim)
        tx = self._transaction(nonce, to, data, gas * 5 // 4 + 20_000, fees)
        result = {**call.note, **_attempts(entry)}
        if to is None:
            created = keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]
            result["contract"] = to_checksum_address(created)
        return await self._sign_journal_send(entry, key_id, sender, tx, result, call)

    async def _fill_nonce(
        self, entry: JournalEntry, key_id: str, sender: str, nonce: int, error: LedgerRejected
    ) -> TxOutcome:
        """The operation took `nonce`, did not get to sign (the vault failed, the process died) and
        now no longer simulates (say the investor was frozen meanwhile). It will never send a
        transaction with that nonce, and the chain would hold every later transaction of the
        relayer behind the hole. So the operation's journal entry gets a 0-value self-transfer with
        that nonce instead (XRPL's submitter fills holes with a no-op the same way). Journalled like
        any transaction, it survives crashes and is sent once; once mined, the operation ends as the
        refusal `error`, and a later attempt under the same op id takes a new nonce."""
        tx = self._transaction(nonce, sender, b"", 21_000, await self._fees())
        result = {**_attempts(entry), "filler": True, **_refusal(error)}
        log.warning("operation %s abandoned nonce %s (%s); filling it with a no-op", entry.op_id, nonce, error.reason)
        return await self._sign_journal_send(entry, key_id, sender, tx, result, _Call(sender, b""))

    async def _sign_journal_send(
        self,
        entry: JournalEntry,
        key_id: str,
        sender: str,
        tx: dict[str, Any],
        result: dict[str, Any],
        call: _Call,
    ) -> TxOutcome:
        """Sign `tx`, journal it as the operation's transaction (before anything is broadcast),
        then send it and await the outcome."""
        digest = TypedTransaction.from_dict(tx).hash()
        signature = await self.vault.sign_digest(key_id, bytes(digest))
        raw = TypedTransaction.from_dict(
            {**tx, "v": signature.recovery_id, "r": signature.r, "s": signature.s}
        ).encode()
        entry.account = sender
        entry.sequence = int(tx["nonce"])
        entry.tx_id = "0x" + keccak(raw).hex()
        entry.payload = "0x" + raw.hex()
        entry.status = JournalStatus.PREPARED
        entry.result = result
        entry.updated_at = datetime.now(UTC)
        signed = entry.tx_id
        entry = await self.journal.record_signed(entry)  # persisted before it can reach the network
        if entry.tx_id != signed:
            # Another process prepared this operation at the same moment and journalled first: its
            # transaction (same nonce, same intent, or the nonce's filler) is the one; ours is
            # dropped unsent.
            log.info("operation %s was signed elsewhere first; sending %s", entry.op_id, entry.tx_id)
            if entry.status is JournalStatus.CONFIRMED:
                return _outcome(entry)
            if entry.status is JournalStatus.FAILED:
                raise _stored_error(entry)
        elif entry.status is JournalStatus.PREPARED:
            self.confirmer.broadcasting(signed)  # ours, never broadcast yet: no block holds it
        if self.before_broadcast is not None:
            self.before_broadcast(entry)
        return await self._send_and_wait(entry, key_id, call)

    async def reopen_failed(self, op_id: str) -> bool:
        """Let an operation whose transaction was mined but reverted be prepared again, as a new
        transaction with a new nonce. Only for failures that say nothing about the intent (a permit
        overtaken by another operation of the same wallet): a reverted transaction changed nothing,
        and the contracts' one-shot ids still keep the effect single. False if there was none."""
        entry = await self.journal.get(op_id)
        if entry is None or entry.status is not JournalStatus.FAILED or entry.payload is None:
            return False
        attempt = int(entry.result.get("attempt", 0)) + 1
        reverted = [*entry.result.get("reopened", []), entry.tx_id]

        def reopened(e: JournalEntry) -> None:
            e.status = JournalStatus.PREPARED
            e.payload = e.tx_id = e.account = None
            e.sequence = None
            e.result = {"attempt": attempt, "reopened": reverted, "reverted_reason": entry.result.get("reason")}

        await self._save(entry, reopened)
        log.info("operation %s reopened (attempt %s) after %s reverted", op_id, attempt, reverted[-1])
        return True

    def _transaction(self, nonce: int, to: str | None, data: bytes, gas: int, fees: tuple[int, int]) -> dict[str, Any]:
        """An unsigned 0-value EIP-1559 transaction (`to` None: a deployment); `fees` from `_fees`."""
        max_fee, tip = fees
        return {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to or b"",
            "value": 0,
            "data": data,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "accessList": [],
        }

    async def _fees(self) -> tuple[int, int]:
        """The fee offer from the latest block's base fee, read once per block (`_current_block`)."""
        head = self._current_block()
        base = self._fee_cache.get(head) if head is not None else None
        if base is None:

            async def read() -> int:
                block = await self.w3.eth.get_block("latest")
                return int(block.get("baseFeePerGas", 0) or 0)

            base = await (read() if head is None else self._read_once(("fee", head), read))
            if head is not None:
                self._fee_cache[head] = base
        tip = self.config.priority_fee_wei
        cap = self.config.max_fee_per_gas_wei
        if base + tip > cap:
            raise LedgerUnavailable(f"base fee {base} wei is above the configured cap {cap} wei; retry later")
        return min(cap, 2 * base + tip), tip

    async def _send_and_wait(self, entry: JournalEntry, key_id: str, call: _Call) -> TxOutcome:
        assert entry.payload is not None and entry.tx_id is not None
        known, receipt = self.confirmer.known(_versions(entry))
        if not known:
            receipt = await self._any_receipt(entry)
        if receipt is None:
            if entry.status is JournalStatus.SUBMITTED:
                # Sent before and still not mined: it may be priced out by a risen base fee.
                entry = await self._bump_if_priced_out(entry, key_id)
            try:
                await self._broadcast(entry)
            except _PricedOut:
                entry = await self._bump_if_priced_out(entry, key_id)
                try:
                    await self._broadcast(entry)
                except _PricedOut as still:
                    raise LedgerUnavailable(f"broadcast refused for its fee: {still}; retry later") from still
            if entry.status is JournalStatus.PREPARED:
                entry = await self._save(entry, _submitted)
            call.sent()
            receipt = await self._wait_receipt(entry)
        mined = "0x" + bytes(receipt["transactionHash"]).hex()
        block, gas_used = int(receipt["blockNumber"]), int(receipt["gasUsed"])
        await self._wait_confirmations(block)

        def mined_as(e: JournalEntry, status: JournalStatus, **extra: Any) -> None:
            if mined != e.tx_id:  # an earlier version (same nonce) was the one mined
                e.result = {**e.result, "unapplied": e.tx_id}
                e.tx_id = mined
            e.result = {**e.result, "block": block, "gas_used": gas_used, **extra}
            e.status = status

        self.confirmer.forget(_versions(entry))  # recorded below: nothing more to keep in memory
        if int(receipt["status"]) == 1 and entry.result.get("filler"):
            raise await self._filled(entry)
        if int(receipt["status"]) == 1:
            entry = await self._save(entry, lambda e: mined_as(e, JournalStatus.CONFIRMED))
            return _outcome(entry)
        error = await self._revert_reason(entry, block)
        await self._save(
            entry,
            lambda e: mined_as(e, JournalStatus.FAILED, **_refusal(error), signed=True),
        )
        error.tx_id = mined
        raise error

    async def _save(self, entry: JournalEntry, change: Callable[[JournalEntry], None]) -> JournalEntry:
        """Apply `change` to the operation's entry and write it only while the journal still holds
        the transaction this copy holds (compare-and-set on the hash, `replace_signed`). If another
        process replaced the transaction meanwhile (a fee bump), the change is applied to that newer
        version instead: writing this stale copy back would drop the replacement and its superseded
        hashes, and the relayer would then wait for a receipt that never comes."""
        for _ in range(8):
            held = entry.tx_id
            assert held is not None
            changed = copy.deepcopy(entry)
            change(changed)
            changed.updated_at = datetime.now(UTC)
            stored = await self.journal.replace_signed(changed, previous_tx_id=held)
            if stored.tx_id == changed.tx_id and stored.status is changed.status:
                return stored
            entry = stored  # replaced meanwhile: apply the change to what the journal holds now
            if entry.tx_id is None:
                return entry  # reopened or filled elsewhere: nothing of ours to record
        raise LedgerUnavailable(f"the journal entry of {entry.op_id} keeps changing; retry")

    async def _filled(self, entry: JournalEntry) -> LedgerRejected | LedgerUnavailable:
        """A nonce filler was mined. The operation is unsigned again (nothing of it reached the
        chain), so that a later attempt under the same op id prepares afresh with a new nonce. A
        filler for a refused retry ends the operation as that refusal; a gap filler (the keeper
        spent a nonce whose operation never signed) leaves it PREPARED: the operation was refused by
        nobody and its own retry goes on (a transient error for whoever waited on it)."""
        gap = bool(entry.result.get("gap"))
        error = _stored_error(entry) if not gap else None

        def unsigned(e: JournalEntry) -> None:
            filled = {"nonce": e.sequence, "tx_id": e.tx_id}
            e.status = JournalStatus.PREPARED if gap else JournalStatus.FAILED
            e.payload = e.tx_id = e.account = None
            e.sequence = None
            refusal = {} if error is None else {**_refusal(error), "signed": False}
            e.result = {
                **_attempts(e),
                "attempt": int(e.result.get("attempt", 0)) + 1,
                **refusal,
                "nonce_filled": filled,
            }

        await self._save(entry, unsigned)
        if error is None:
            return LedgerUnavailable(f"the nonce of {entry.op_id} was given up for a no-op; retry")
        error.tx_id = None
        return error

    # -- keeping the relayer's nonces moving ---------------------------------------------------

    async def maintain(self, grace_s: float) -> None:
        """One pass of the keeper (the worker runs it every few seconds, and once at start-up).

        - A nonce claimed by an operation that never signed (its process died between the claim
          and the journal, or its vault call failed and the job has not come back) holds every
          later transaction of the relayer in the node's queue. Once such a claim has been seen
          unsigned for `grace_s` (a live preparer signs within milliseconds) the nonce is spent on
          a journalled no-op; the operation itself prepares afresh on its next run.
        - The oldest signed transaction of each account, if not mined after `grace_s`, is broadcast
          again (a restarted node forgets its queue, and every later nonce waits for that one; the
          others go out again with their own jobs, which come back every block): one request per
          account and pass, not one per pending transaction. A mined gap filler hands its
          operation back.

        Entries an operation of this process is driving right now are left to it. Failures are
        logged and tried again on the next pass."""
        now = time.monotonic()
        seen_unsigned: dict[str, float] = {}
        chain_next: dict[str, int] = {}
        unfinished = await self.journal.unfinished(LEDGER)
        oldest_signed: dict[str, JournalEntry] = {}
        for entry in unfinished:
            if entry.payload is not None and entry.account and not entry.result.get("filler"):
                held = oldest_signed.get(entry.account)
                if held is None or int(entry.sequence or 0) < int(held.sequence or 0):
                    oldest_signed[entry.account] = entry
        for entry in unfinished:
            lock = self._op_locks.get(entry.op_id)
            if lock is not None and lock.locked():
                continue
            try:
                if entry.payload is None:
                    key = (entry.op_id, _claim_of(entry))
                    first = self._unsigned_seen.get(key, now)
                    seen_unsigned[str(key)] = first
                    self._unsigned_seen[key] = first
                    if now - first >= grace_s:
                        await self._fill_gap(entry, chain_next)
                elif entry.result.get("gap") or (
                    oldest_signed.get(entry.account or "") is entry
                    and (datetime.now(UTC) - (entry.updated_at or entry.created_at)).total_seconds() >= grace_s
                ):
                    await self._keep_signed(entry)
            except (LedgerRejected, LedgerUnavailable, OperationConflict) as error:
                log.warning("keeper: %s: %s", entry.op_id, error.message)
            except Exception as exc:
                if not _is_transient(exc):
                    raise
                log.warning("keeper: node unreachable (%s); next pass", type(exc).__name__)
                return
        # Forget claims that were signed (or finished) meanwhile.
        for key in [k for k in self._unsigned_seen if str(k) not in seen_unsigned]:
            del self._unsigned_seen[key]

    async def health(self) -> LedgerHealth:
        """The chain's head age and the relayer's unconfirmed work, from the journal and two reads."""
        now = datetime.now(UTC)
        latest = await self.w3.eth.get_block("latest")
        head_age = max(0.0, now.timestamp() - float(latest["timestamp"]))
        unfinished = await self.journal.unfinished(LEDGER)
        signed = [e for e in unfinished if e.payload is not None]
        oldest = min((e.updated_at or e.created_at for e in signed), default=None)
        gap = 0
        for account in {e.account for e in signed if e.account}:
            highest = max(int(e.sequence or 0) for e in signed if e.account == account)
            mined = int(await self.w3.eth.get_transaction_count(account))  # type: ignore[arg-type]
            gap += max(0, highest + 1 - mined)
        unsigned = 0
        for entry in unfinished:
            if entry.payload is None:
                claim = _claim_of(entry)
                for sender in set(self._addresses.values()):
                    if await self.journal.held_sequence(sender, claim) is not None:
                        unsigned += 1
                        break
        return LedgerHealth(
            head_age_s=head_age,
            unconfirmed=len(signed),
            oldest_unconfirmed_s=None if oldest is None else (now - oldest).total_seconds(),
            sequence_gap=gap + unsigned,
            unsigned_claims=unsigned,
        )

    async def _fill_gap(self, entry: JournalEntry, chain_next: dict[str, int]) -> None:
        """Spend the nonce an unsigned operation holds on a 0-value self-transfer (journalled on the
        operation's entry: if its preparer journals first after all, its transaction is the one)."""
        claim = _claim_of(entry)
        for key_id, sender in list(self._addresses.items()):
            nonce = await self.journal.held_sequence(sender, claim)
            if nonce is None:
                continue
            if sender not in chain_next:
                chain_next[sender] = int(await self.w3.eth.get_transaction_count(sender))  # type: ignore[arg-type]
            if nonce < chain_next[sender]:
                return  # the number was used (by a filler of an earlier pass that got mined): not a gap
            tx = self._transaction(nonce, sender, b"", 21_000, await self._fees())
            log.warning("operation %s holds nonce %s unsigned; filling it with a no-op", entry.op_id, nonce)
            digest = TypedTransaction.from_dict(tx).hash()
            signature = await self.vault.sign_digest(key_id, bytes(digest))
            raw = TypedTransaction.from_dict(
                {**tx, "v": signature.recovery_id, "r": signature.r, "s": signature.s}
            ).encode()
            entry.account, entry.sequence = sender, nonce
            entry.tx_id, entry.payload = "0x" + keccak(raw).hex(), "0x" + raw.hex()
            entry.result = {**_attempts(entry), "filler": True, "gap": True}
            entry.updated_at = datetime.now(UTC)
            stored = await self.journal.record_signed(entry)
            if stored.payload is not None and stored.status in (JournalStatus.PREPARED, JournalStatus.SUBMITTED):
                with contextlib.suppress(_PricedOut):
                    await self._broadcast(stored)
            return

    async def _keep_signed(self, entry: JournalEntry) -> None:
        """A signed, unconfirmed transaction: a mined gap filler hands its operation back; one not
        mined is broadcast again (same bytes)."""
        receipt = await self._any_receipt(entry)
        if receipt is None:
            with contextlib.suppress(_PricedOut):  # the operation's own run replaces it
                await self._broadcast(entry)
        elif entry.result.get("gap") and int(receipt["status"]) == 1:
            await self._filled(entry)

    async def _receipt(self, tx_id: str) -> Any:
        try:
            return await self.w3.eth.get_transaction_receipt(tx_id)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    async def _broadcast(self, entry: JournalEntry) -> None:
        assert entry.payload is not None
        try:
            if self.raw_rpc:
                await self.rpc("eth_sendRawTransaction", [entry.payload])
            else:
                await self.w3.eth.send_raw_transaction(HexBytes(entry.payload))
        except Exception as exc:
            if _is_transient(exc):
                raise
            text = str(exc).lower()
            # Our own bytes are already known, or already mined: the receipt will tell.
            if any(s in text for s in ("already known", "already imported", "known transaction", "nonce too low")):
                return
            if any(s in text for s in _PRICED_OUT):
                raise _PricedOut(str(exc)) from exc
            raise LedgerUnavailable(f"broadcast refused: {exc}") from exc

    async def _any_receipt(self, entry: JournalEntry) -> Any:
        """The receipt of the journalled transaction or of a version it replaced (same nonce: at most
        one of them is ever mined)."""
        for tx_id in (entry.tx_id, *entry.result.get("superseded", [])):
            receipt = await self._receipt(str(tx_id))
            if receipt is not None:
                return receipt
        return None

    def _wait_s(self) -> float:
        """How long this call may wait for inclusion: the caller's `LEDGER_WAIT` (the worker's short
        one), else `receipt_timeout_s`."""
        wait = LEDGER_WAIT.get()
        return self.config.receipt_timeout_s if wait is None else wait

    def _wait_blocks(self) -> int | None:
        """How many new blocks this call may wait for inclusion: `receipt_timeout_blocks`, unless
        the caller set its own short `LEDGER_WAIT` (the worker's jobs, which come back later)."""
        return self.config.receipt_timeout_blocks if LEDGER_WAIT.get() is None else None

    async def _wait_receipt(self, entry: JournalEntry) -> Any:
        """The receipt of the transaction (any version), from the confirmer's once-per-block look.

        A worker's job waits only briefly (`LEDGER_WAIT`) and comes back later. On a chain seen to
        make a block every `block_time_s` it does not even wait that long when no block is due
        within the wait: after one look at the chain (a node that mines each transaction at once
        has it already), it hands back at once, to come back just after the next block is due,
        rather than hold its worker slot for nothing and come back a fixed block time later."""
        assert entry.tx_id is not None
        seconds = self._wait_s()
        retry_after = self.config.block_time_s
        if LEDGER_WAIT.get() is not None:
            started = time.monotonic()
            receipt = await self.confirmer.receipt(_versions(entry), blocks=None, seconds=seconds, rounds=1)
            if receipt is not None:
                return receipt
            seconds -= time.monotonic() - started
            due = self.confirmer.next_block_in(self.config.block_time_s)
            if due is not None and due > seconds:
                retry_after = due + NEXT_BLOCK_MARGIN_S + 2 * self.confirmer.poll_s
                seconds = 0.0
        receipt = None
        if seconds > 0:
            receipt = await self.confirmer.receipt(_versions(entry), blocks=self._wait_blocks(), seconds=seconds)
        if receipt is None:
            raise LedgerPending(
                f"transaction {entry.tx_id} not included yet; it stays journalled",
                retry_after_s=retry_after,
            )
        return receipt

    async def _next_base_fee(self) -> int:
        """The base fee of the block being built (eth_feeHistory's last entry), else the latest's;
        once per block (`_current_block`)."""
        head = self._current_block()
        if head is not None and head in self._next_base_cache:
            return self._next_base_cache[head]
        try:
            history = await self.w3.eth.fee_history(1, "latest")
            if head is not None:
                self._next_base_cache[head] = int(history["baseFeePerGas"][-1])
            return int(history["baseFeePerGas"][-1])
        except Exception as exc:
            if _is_transient(exc):
                raise
            block = await self.w3.eth.get_block("latest")
            return int(block.get("baseFeePerGas", 0) or 0)

    async def _bump_if_priced_out(self, entry: JournalEntry, key_id: str) -> JournalEntry:
        """A journalled transaction whose fee cap is below the next block's base fee can never be
        included, and it holds back every later nonce of the relayer. Replace it: the same nonce and
        call, fees raised by at least 12.5 % (nodes want 10 % to accept a replacement), never above
        the configured cap. Raises the transient LedgerUnavailable while even the cap is too low."""
        assert entry.payload is not None and entry.tx_id is not None
        fields = TypedTransaction.from_bytes(HexBytes(entry.payload)).as_dict()
        old_max, old_tip = int(fields["maxFeePerGas"]), int(fields["maxPriorityFeePerGas"])
        next_base = await self._next_base_fee()
        if old_max >= next_base:
            return entry  # includable as signed: keep the same bytes
        cap = self.config.max_fee_per_gas_wei
        tip = max(self.config.priority_fee_wei, old_tip * 9 // 8 + 1)
        max_fee = max(min(cap, 2 * next_base + tip), old_max * 9 // 8 + 1)
        if max_fee > cap or max_fee < next_base or tip > max_fee:
            raise LedgerUnavailable(
                f"transaction {entry.tx_id} is priced out (base fee {next_base} wei) and the fee cap"
                f" {cap} wei allows no replacement; it stays journalled"
            )
        unsigned = {k: v for k, v in fields.items() if k not in ("v", "r", "s")}
        unsigned.update(maxFeePerGas=max_fee, maxPriorityFeePerGas=tip)
        signature = await self.vault.sign_digest(key_id, bytes(TypedTransaction.from_dict(unsigned).hash()))
        raw = TypedTransaction.from_dict(
            {**unsigned, "v": signature.recovery_id, "r": signature.r, "s": signature.s}
        ).encode()
        replaced = copy.deepcopy(entry)
        replaced.payload = "0x" + raw.hex()
        replaced.tx_id = "0x" + keccak(raw).hex()
        replaced.result = {**entry.result, "superseded": [*entry.result.get("superseded", []), entry.tx_id]}
        replaced.updated_at = datetime.now(UTC)
        stored = await self.journal.replace_signed(replaced, previous_tx_id=entry.tx_id)
        log.warning(
            "transaction %s of %s priced out at base fee %s wei; replaced by %s (max fee %s wei)",
            entry.tx_id,
            entry.op_id,
            next_base,
            stored.tx_id,
            max_fee,
        )
        return stored

    async def _wait_confirmations(self, block: int) -> None:
        if self.config.confirmations <= 1:
            return  # a receipt is one confirmation: no need to ask the head
        deadline = time.monotonic() + self._wait_s()
        while await self.w3.eth.block_number - block + 1 < self.config.confirmations:
            if time.monotonic() > deadline:
                raise LedgerPending(
                    f"block {block} has not reached {self.config.confirmations} confirmations",
                    retry_after_s=self.config.block_time_s,
                )
            await asyncio.sleep(self.config.poll_interval_s)

    async def _revert_reason(self, entry: JournalEntry, block: int) -> LedgerRejected:
        """Replay the journalled transaction (its own sender, target and input: never what the
        caller passed this time, which may be a placeholder) on the state before its block, to
        read the custom error. When a transaction earlier in the same block caused the revert, the
        replay succeeds and the reason is the generic "Reverted"."""
        assert entry.payload is not None
        fields = TypedTransaction.from_bytes(HexBytes(entry.payload)).as_dict()
        replay: dict[str, Any] = {"from": entry.account, "data": HexBytes(fields["data"])}
        if fields.get("to"):
            replay["to"] = to_checksum_address(fields["to"])
        try:
            await self.w3.eth.call(replay, block_identifier=max(block - 1, 0))  # type: ignore[arg-type]
        except Exception as exc:
            if not _is_transient(exc):
                return decode_revert(revert_data(exc), tx_id=entry.tx_id)
        return LedgerRejected("the transaction reverted", reason="Reverted", tx_id=entry.tx_id)

    async def resume_unfinished(self) -> list[str]:
        """After a restart: re-broadcast every journalled, unconfirmed EVM transaction, all of them
        before awaiting any (a later nonce never waits behind an earlier one that is not out), then
        await each. Returns the op ids that finished (confirmed or failed)."""
        done = []
        signed = [e for e in await self.journal.unfinished(LEDGER) if e.payload is not None and e.account]
        for entry in signed:
            with contextlib.suppress(_PricedOut, LedgerUnavailable):
                await self._broadcast(entry)
        for entry in signed:
            key = next((k for k, a in self._addresses.items() if a == entry.account), None)
            if key is None:
                continue
            try:
                await self._send_and_wait(entry, key, _Call(None, b""))
            except LedgerPending:
                continue  # out on the network, not mined yet: its own job finishes it
            except LedgerRejected:
                pass
            done.append(entry.op_id)
        return done
