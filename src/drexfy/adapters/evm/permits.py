"""ERC-2612 permits of investor wallets, chained within a process and never a refusal when stale.

Every stablecoin movement out of an investor's wallet (a purchase's payment leg, a cash-out burn)
carries the wallet's permit, signed through the vault with the wallet's own key. Permit nonces are
sequential per wallet, so two operations of one investor contend for them: `Permits.send` chains
them (each takes the nonce after those still in flight, its own process's and, through the node's
pending state, other processes' broadcast ones; simulated on the pending block; the next one goes as
soon as it is broadcast) and turns a permit that went stale into a transient error after reopening
its operation (docs/evm.md, "Known limits").
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from eth_utils.address import to_checksum_address
from web3.contract import AsyncContract

from drexfy.adapters.evm.calldata import encode_call
from drexfy.adapters.evm.permit import permit_digest, permit_message
from drexfy.adapters.evm.relayer import Relayer
from drexfy.domain.errors import LedgerRejected, LedgerUnavailable
from drexfy.domain.model import Wallet
from drexfy.domain.ports import JournalStatus

#: How long a permit signed for one operation stays valid.
PERMIT_TTL_S = 24 * 3600
#: Fresh permits given to an operation journalled without its permit nonce (before the upgrade).
LEGACY_PERMIT_RETRIES = 3

#: (op id, fingerprint, contract, function, *args, **relayer options) -> transaction hash.
Send = Callable[..., Awaitable[str]]
#: A contract call -> its result (LedgerUnavailable when the node cannot answer).
Read = Callable[[Any], Awaitable[Any]]


class Permits:
    """The permit-carrying operations of every investor wallet, for one EvmLedger."""

    def __init__(self, relayer: Relayer, stablecoin: AsyncContract, send: Send, read: Read) -> None:
        self.relayer = relayer
        self.stablecoin = stablecoin
        self._send = send
        self._read = read
        # Weak values: a lock lives while some operation holds it, so the map does not grow forever.
        self._wallet_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        #: owner -> {op id: permit nonce} of this process's permit operations signed, maybe not mined.
        self._permits_in_flight: dict[str, dict[str, int]] = {}

    async def _permit(
        self, wallet: Wallet, spender: str, value: int, nonce: int, deadline: int
    ) -> tuple[int, bytes, bytes]:
        """The wallet's ERC-2612 permit, signed through the vault with the wallet's own key."""
        digest = permit_digest(
            permit_message(
                chain_id=self.relayer.chain_id,
                token=self.stablecoin.address,
                owner=to_checksum_address(wallet.address),
                spender=to_checksum_address(spender),
                value=value,
                nonce=nonce,
                deadline=deadline,
            )
        )
        signature = await self.relayer.vault.sign_digest(wallet.id, digest)
        return 27 + signature.recovery_id, signature.r.to_bytes(32, "big"), signature.s.to_bytes(32, "big")

    async def send(
        self,
        op_id: str,
        fp: str,
        wallet: Wallet,
        spender: str,
        value: int,
        contract: AsyncContract,
        fn: str,
        build: Any,
    ) -> str:
        """Send a call carrying the wallet's ERC-2612 permit.

        Permit nonces are sequential per wallet. Within this process the wallet's operations are
        chained: each takes the next permit nonce after those of its operations still in flight
        (signed, not mined), is simulated on the pending state, and holds the wallet's lock only
        until it is broadcast, so two orders of one investor go out in the same block. The permit
        nonce is journalled with the transaction. A permit that goes stale (its nonce used by
        another process first, an earlier permit of the chain reverted, or its deadline passed
        while the chain was slow) is never a refusal: nothing moved, so the operation is reopened
        and a transient error asks for the retry, which signs a fresh permit."""
        owner = to_checksum_address(wallet.address)
        zero = b"\0" * 32
        entry = await self.relayer.journal.get(op_id)
        if entry is not None and entry.payload is not None:
            # Already signed: the journalled transaction carries its permit; re-sign nothing.
            try:
                return await self._send(op_id, fp, contract, fn, *build(0, zero, zero, 0))
            except LedgerRejected as rejected:
                await self._reopen_if_stale(op_id, rejected, owner)
                raise
        lock = self._wallet_locks.get(owner)
        if lock is None:
            lock = self._wallet_locks[owner] = asyncio.Lock()
        await lock.acquire()
        locked = True
        in_flight = self._permits_in_flight.setdefault(owner, {})
        nonce: int | None = None
        try:
            # A permit of this wallet broadcast by another process and not mined yet shows in the
            # node's pending state: chain on it as on our own (if that transaction never mines,
            # this permit goes stale, which is a retry, never a refusal). Both reads at once: each
            # is a round trip to a node that is busy mining.
            chain_nonce, pending_nonce = await asyncio.gather(self._nonce(owner, "latest"), self._pending_nonce(owner))
            in_flight.pop(op_id, None)
            ahead = await self._live_permits(owner, chain_nonce)
            nonce = max([chain_nonce, pending_nonce, *(n + 1 for n in ahead)])
            in_flight[op_id] = nonce
            deadline = int(time.time()) + PERMIT_TTL_S
            v, r, s = await self._permit(wallet, spender, value, nonce, deadline)
            sent = asyncio.Event()
            sending = asyncio.ensure_future(
                self._send(
                    op_id,
                    fp,
                    contract,
                    fn,
                    *build(deadline, r, s, v),
                    note={"permit_nonce": nonce},
                    simulate_at="pending" if nonce > chain_nonce else "latest",
                    on_sent=sent.set,
                )
            )
            waiting = asyncio.ensure_future(sent.wait())
            try:
                await asyncio.wait({sending, waiting}, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                sending.cancel()
                raise
            finally:
                waiting.cancel()
            lock.release()  # out on the network: the wallet's next operation may chain on it
            locked = False
            tx_id = await sending
            in_flight.pop(op_id, None)
            return tx_id
        except LedgerRejected as rejected:
            in_flight.pop(op_id, None)
            await self._reopen_if_stale(op_id, rejected, owner, nonce)
            raise
        except BaseException:
            journalled = await self.relayer.journal.get(op_id)
            if journalled is None or journalled.payload is None or journalled.result.get("filler"):
                in_flight.pop(op_id, None)  # nothing signed went out: its permit nonce is free
            raise
        finally:
            if locked:
                lock.release()
            if not in_flight:
                self._permits_in_flight.pop(owner, None)

    async def _pending_nonce(self, owner: str) -> int:
        return await self._nonce(owner, "pending")

    async def _nonce(self, owner: str, block: Literal["latest", "pending"]) -> int:
        """The wallet's permit nonce at `block`. Over HTTP a plain eth_call with call data from
        the encoder cache (`calldata.py`): web3's contract call costs ~15 ms of CPU, twice a
        settlement, on cores shared with the node."""
        try:
            if not self.relayer.raw_rpc:
                return int(await self.stablecoin.functions.nonces(owner).call(block_identifier=block))
            data = "0x" + encode_call(self.stablecoin, "nonces", [owner]).hex()
            return int(await self.relayer.rpc("eth_call", [{"to": self.stablecoin.address, "data": data}, block]), 16)
        except Exception as exc:
            raise LedgerUnavailable(f"EVM read failed: {type(exc).__name__}") from exc

    async def _live_permits(self, owner: str, chain_nonce: int) -> list[int]:
        """Permit nonces of this process's operations of `owner` that are signed and not mined yet
        (their transactions will use them first). Stale records are dropped."""
        in_flight = self._permits_in_flight.get(owner, {})
        live = []
        for other, nonce in list(in_flight.items()):
            entry = await self.relayer.journal.get(other)
            pending = (
                entry is not None
                and entry.payload is not None
                and entry.status in (JournalStatus.PREPARED, JournalStatus.SUBMITTED)
                and entry.result.get("permit_nonce") == nonce
            )
            if nonce < chain_nonce or not pending:
                in_flight.pop(other, None)
            else:
                live.append(nonce)
        return live

    async def _reopen_if_stale(self, op_id: str, rejected: LedgerRejected, owner: str, used: int | None = None) -> None:
        """Raise LedgerUnavailable (after reopening the operation) when `rejected` only says that
        its permit went stale; return (the caller re-raises the refusal) otherwise. `used` is the
        permit nonce signed, read from the journal when not given."""
        entry = await self.relayer.journal.get(op_id)
        result = entry.result if entry is not None else {}
        if used is None:
            used = result.get("permit_nonce")
        if used is None and int(result.get("attempt", 0)) < LEGACY_PERMIT_RETRIES:
            # Journalled by a version that did not record the permit nonce: a stale-looking
            # revert gets a few fresh permits before it counts as a refusal.
            used = -1
        if not await self._permit_overtaken(rejected, owner, used):
            return
        await self.relayer.reopen_failed(op_id)
        raise LedgerUnavailable(
            f"the permit of {owner} was overtaken (its nonce used elsewhere, or stale); retry"
        ) from rejected

    async def _permit_overtaken(self, rejected: LedgerRejected, owner: str, used_nonce: int | None) -> bool:
        """True when a permit failed only because it went stale: its nonce was consumed meanwhile
        (or an earlier permit it was chained on did not go through), or its deadline passed while
        the transaction waited. A wrong signature (the nonce it was signed for is the current one)
        is not retried.

        The revert reason is read by replaying the journalled transaction on the state before its
        block; when the operation that took the nonce was mined in the same block, that replay
        succeeds and the reason is the generic "Reverted". A reverted transaction consumes no
        permit nonce, so a nonce other than the one signed means the permit was stale."""
        if rejected.reason in ("ERC2612ExpiredSignature", "AttestationExpired"):
            return True  # the permit, or the attestation signed with it, expired while it waited
        if rejected.reason not in ("ERC2612InvalidSigner", "Reverted") or used_nonce is None:
            return False
        return bool(await self._read(self.stablecoin.functions.nonces(owner)) != used_nonce)
