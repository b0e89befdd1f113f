"""EvmLedger: the Ledger port on the Drexfy contract suite, over web3.py's async API.

(About 550 lines: one method per port operation, each short; the mechanics live beside it in
`relayer.py`, `permits.py`, `attestations.py` and `transfers.py`.)"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract

from drexfy.adapters.evm.abi import load_artifact
from drexfy.adapters.evm.anchors import anchor_head, read_anchor, read_anchors
from drexfy.adapters.evm.attestations import (
    balance_payment_message,
    deposit_message,
    payment_message,
    repayment_message,
    sign_typed,
)
from drexfy.adapters.evm.calldata import encode_call
from drexfy.adapters.evm.chunks import holders_of_call, plan_chunks, send_pipelined
from drexfy.adapters.evm.deployment import (
    ADMIN_KEY,
    AGENT_KEY,
    PAYMENTS_ATTESTOR_KEY,
    REGISTRAR_KEY,
    RELAYER_KEY,
    TREASURY_KEY,
    Deployment,
)
from drexfy.adapters.evm.permits import PERMIT_TTL_S, Permits
from drexfy.adapters.evm.relayer import Relayer, _is_transient
from drexfy.adapters.evm.transfers import read_transfers
from drexfy.adapters.secp256k1 import evm_address
from drexfy.domain.classification import Classification
from drexfy.domain.errors import LedgerRejected, LedgerUnavailable, OperationConflict
from drexfy.domain.model import Wallet
from drexfy.domain.money import MINOR_UNITS, Money
from drexfy.domain.ports import (
    AuditAnchor,
    InstrumentSpec,
    IssuedInstrument,
    JournalStatus,
    LedgerHealth,
    LedgerResult,
    Payout,
    Purchase,
    RepaymentFunding,
    TransferPage,
)

#: The stablecoin has 6 decimals; Money is in cents: one cent is 10^4 base units.
STABLECOIN_DECIMALS = 6
CURRENCY = "EUR"
SCALE: int = 10 ** (STABLECOIN_DECIMALS - MINOR_UNITS[CURRENCY])


#: The keys that send transactions (the attestors only sign messages the relayer carries).
SENDING_KEYS = (RELAYER_KEY, REGISTRAR_KEY, ADMIN_KEY)


def _attempt_op(op_id: str, position: int, attempt: int) -> str:
    """The operation id of a chunk's attempt (`_chunk_op`'s naming)."""
    return f"{op_id}#{position}" if attempt == 0 else f"{op_id}#{position}.{attempt}"


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _id32(text: str) -> bytes:
    return keccak(text=text)


class EvmLedger:
    """Ledger on Moonbeam (or any EVM chain): classification NFTs, stablecoin, instrument tokens,
    atomic DvP settlement and batched distributions. Every write goes through the Relayer (one
    journalled, signed transaction per operation id; the platform pays the gas). Each duty signs
    with its own vault key: the relayer submits settlements, repayments and burns; the registrar
    classifies and freezes; the payments attestor and the treasury sign the attestations those
    transactions carry; the admin registers instruments."""

    kind = "evm"
    currency = CURRENCY

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        deployment: Deployment,
        relayer: Relayer,
        batch_size: int = 250,
        log_chunk_blocks: int = 2_000,
    ):
        self.w3 = w3
        self.deployment = deployment
        self.relayer = relayer
        self.batch_size = min(batch_size, deployment.max_batch) if batch_size > 0 else deployment.max_batch
        self.registry = self._contract("InvestorClassification", deployment.registry)
        self.stablecoin = self._contract("Stablecoin", deployment.stablecoin)
        self.settlement = self._contract("Settlement", deployment.settlement)
        self.distribution = self._contract("Distribution", deployment.distribution)
        self.instruments = self._contract("InstrumentRegistry", deployment.instruments)
        self.audit_anchors = self._contract("AuditAnchor", deployment.audit_anchor) if deployment.audit_anchor else None
        self.permits = Permits(relayer, self.stablecoin, self._send, self._read)
        self._created_at: dict[str, int] = {}
        #: Blocks per eth_getLogs request (public RPC endpoints cap the range).
        self.log_chunk_blocks = log_chunk_blocks

    def _contract(self, name: str, address: str) -> AsyncContract:
        return self.w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name).abi)

    def current_ref(self, ref: str) -> str:
        """The instrument's address now: `ref` unless `drexfy contracts migrate` moved it (the
        deployment's `migrations`, old -> new; the platform keeps the ledger ref it issued with)."""
        address = to_checksum_address(ref)
        seen = {address}
        while (moved := self.deployment.migrations.get(address)) is not None and moved not in seen:
            address = to_checksum_address(moved)
            seen.add(address)
        return address

    def instrument(self, ref: str) -> AsyncContract:
        return self._contract("FinancialInstrument", self.current_ref(ref))

    async def _send(
        self, op_id: str, fingerprint: str, contract: AsyncContract, fn: str, *args: Any, **options: Any
    ) -> str:
        """Encode `fn(*args)` and run it through the relayer (`options`: see `Relayer.execute`)."""
        key = options.pop("key", RELAYER_KEY)
        data = encode_call(contract, fn, args)
        outcome = await self.relayer.execute(op_id, fingerprint, key, contract.address, data, **options)
        return outcome.tx_id

    async def _read(self, call: Any) -> Any:
        try:
            return await call.call()
        except Exception as exc:
            raise LedgerUnavailable(f"EVM read failed: {type(exc).__name__}") from exc

    # ------------------------------------------------------------------ port: identity

    def address_for(self, public_key: bytes) -> str:
        return evm_address(public_key)

    async def activate_wallet(self, op_id: str, wallet: Wallet) -> LedgerResult:
        # Nothing to do on an EVM chain: the platform pays gas, so a wallet needs no native coin.
        return LedgerResult(())

    async def record_classification(self, op_id: str, wallet: Wallet, classification: Classification) -> LedgerResult:
        fp = _fingerprint("classify", wallet.address, classification.code)
        address = to_checksum_address(wallet.address)
        entry = await self.relayer.journal.get(op_id)
        if entry is not None and entry.payload is not None:
            # Signed before: the journalled transaction is what counts (the call data is unused).
            return LedgerResult(
                (
                    await self._send(
                        op_id, fp, self.registry, "reclassify", address, classification.code, key=REGISTRAR_KEY
                    ),
                )
            )
        current = await self._read(self.registry.functions.classOf(address))
        if current == classification.code:
            return LedgerResult(())  # already recorded: nothing to send
        fn = "mint" if current == 0 else "reclassify"
        tx = await self._send(op_id, fp, self.registry, fn, address, classification.code, key=REGISTRAR_KEY)
        return LedgerResult((tx,))

    # ------------------------------------------------------------------ port: instruments

    async def issue_instrument(self, op_id: str, spec: InstrumentSpec) -> IssuedInstrument:
        if Classification.SANCTIONED in spec.eligible or not spec.eligible:
            raise LedgerRejected("an instrument needs eligible classes, never SANCTIONED", reason="InvalidEligibleMask")
        mask = sum(1 << c.code for c in spec.eligible)
        d = self.deployment
        artifact = load_artifact("FinancialInstrument")
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        args = [
            spec.name,
            spec.symbol,
            d.registry,
            d.issuer,
            mask,
            spec.total_units,
            d.admin,
            d.agent,
            d.settlement,
            d.distribution,
        ]
        data = bytes.fromhex(factory.constructor(*args).data_in_transaction[2:])
        fp = _fingerprint("issue", spec.instrument_id, spec.symbol, spec.total_units, mask)
        outcome = await self.relayer.execute(op_id, fp, RELAYER_KEY, None, data)
        address = outcome.contract_address
        assert address is not None
        # Settlement and Distribution touch registered instruments only; the admin registers.
        register = await self._send(
            f"{op_id}:register", _fingerprint("register", address), self.instruments, "register", address, key=ADMIN_KEY
        )
        return IssuedInstrument(address, (outcome.tx_id, register), position=outcome.block)

    # ------------------------------------------------------------------ port: money

    def _base_units(self, amount: Money) -> int:
        if amount.currency != CURRENCY:
            raise LedgerRejected(f"the stablecoin is {CURRENCY}, not {amount.currency}", reason="CurrencyMismatch")
        if amount.minor < 0:
            raise LedgerRejected("negative amount", reason="InvalidAmount")
        return amount.minor * SCALE

    async def settle_purchase(self, op_id: str, purchase: Purchase) -> LedgerResult:
        """`Settlement.settle`: the payments attestor vouches for the fiat received for exactly this
        order (`Payment`)."""
        return await self._settle(op_id, purchase, "settle", "settle", payment_message)

    async def settle_from_balance(self, op_id: str, purchase: Purchase) -> LedgerResult:
        """`Settlement.settleFromBalance`: the buyer's permit moves their coins to the issuer and
        the units come back, against the payments attestor's `BalancePayment` of the order's terms."""
        return await self._settle(
            op_id, purchase, "settle-from-balance", "settleFromBalance", balance_payment_message, from_balance=True
        )

    async def _settle(
        self,
        op_id: str,
        purchase: Purchase,
        kind: str,
        function: str,
        message_of: Callable[..., Any],
        *,
        from_balance: bool = False,
    ) -> LedgerResult:
        """Send `Settlement.<function>` with the buyer's permit and the payments attestor's signed
        `message_of` over the order's terms. The attestation is made once, before the operation is
        journalled with its payload; a retry resends the journalled transaction (`kind` names the
        operation in its fingerprint)."""
        amount = self._base_units(purchase.amount)
        buyer = to_checksum_address(purchase.buyer.address)
        instrument = self.current_ref(purchase.instrument_ref)
        fp = _fingerprint(kind, purchase.order_id, buyer, instrument, purchase.units, amount)
        order = _id32(purchase.order_id)
        entry = await self.relayer.journal.get(op_id)
        attestation = b""
        attested_until = 0
        nonce = 0
        if entry is None or entry.payload is None:
            if from_balance:
                held = await self._read(self.stablecoin.functions.balanceOf(buyer))
                if held < amount:  # a clear refusal rather than a reverted permit transfer
                    raise LedgerRejected("the buyer's balance does not cover the order", reason="InsufficientFunds")
            attested_until = int(time.time()) + PERMIT_TTL_S
            # The order's one nonce, whichever op id or attempt asks: never a second attestation
            # of the order that could settle it again.
            nonce = await self.relayer.journal.order_nonce(purchase.order_id)
            message = message_of(
                chain_id=self.relayer.chain_id,
                settlement=self.settlement.address,
                order_id=order,
                nonce=nonce,
                buyer=buyer,
                amount=amount,
                instrument=instrument,
                units=purchase.units,
                deadline=attested_until,
            )
            attestation = await sign_typed(self.relayer.vault, PAYMENTS_ATTESTOR_KEY, message)
        payment = (order, nonce, buyer, amount, instrument, purchase.units, attested_until)

        def build(deadline: int, r: bytes, s: bytes, v: int) -> tuple[Any, ...]:
            return (payment, attestation, deadline, v, r, s)

        tx = await self.permits.send(
            op_id, fp, purchase.buyer, self.settlement.address, amount, self.settlement, function, build
        )
        return LedgerResult((tx,))

    async def mint_deposit(self, op_id: str, wallet: Wallet, amount: Money, deposit_id: str) -> LedgerResult:
        """`Settlement.mintDeposit` against the payments attestor's `Deposit` signature; the
        contract mints each deposit id once, the journal sends each operation once."""
        value = self._base_units(amount)
        investor = to_checksum_address(wallet.address)
        fp = _fingerprint("deposit", deposit_id, investor, value)
        entry = await self.relayer.journal.get(op_id)
        attestation = b""
        attested_until = 0
        if entry is None or entry.payload is None:
            attested_until = int(time.time()) + PERMIT_TTL_S
            message = deposit_message(
                chain_id=self.relayer.chain_id,
                settlement=self.settlement.address,
                deposit_id=_id32(deposit_id),
                investor=investor,
                amount=value,
                deadline=attested_until,
            )
            attestation = await sign_typed(self.relayer.vault, PAYMENTS_ATTESTOR_KEY, message)
        deposit = (_id32(deposit_id), investor, value, attested_until)
        tx = await self._send(op_id, fp, self.settlement, "mintDeposit", deposit, attestation)
        return LedgerResult((tx,))

    async def burn_stablecoin(self, op_id: str, wallet: Wallet, amount: Money) -> LedgerResult:
        value = self._base_units(amount)
        owner = to_checksum_address(wallet.address)
        fp = _fingerprint("burn", owner, value)
        relayer = self.deployment.relayer

        def build(deadline: int, r: bytes, s: bytes, v: int) -> tuple[Any, ...]:
            return (owner, value, deadline, v, r, s)

        tx = await self.permits.send(op_id, fp, wallet, relayer, value, self.stablecoin, "burnWithPermit", build)
        return LedgerResult((tx,))

    async def distribute(
        self,
        op_id: str,
        instrument_ref: str,
        payouts: Sequence[Payout],
        funding: RepaymentFunding | None = None,
    ) -> LedgerResult:
        instrument = self.current_ref(instrument_ref)
        rows = [(to_checksum_address(p.wallet.address), self._base_units(p.amount), p.units_to_retire) for p in payouts]
        # The treasury attests the round's funding: the period is the repayment round, the total
        # the round's whole total, whatever batch or release this call is; Distribution pays no
        # more than that for the round across all its batches. Without a round, the call is one.
        if funding is not None:
            repayment = (instrument, _id32(f"repayment:{funding.repayment_id}"), self._base_units(funding.total))
        else:
            repayment = (instrument, _id32(op_id), sum(r[1] for r in rows))
        message = repayment_message(
            chain_id=self.relayer.chain_id,
            distribution=self.distribution.address,
            instrument=repayment[0],
            period=repayment[1],
            total=repayment[2],
        )
        attestation: bytes | None = None
        # Chunks of `batch_size` holders, planned from what went out before (chunks.py), sent
        # pipelined: one block takes as many as its gas allows.
        starts: list[Callable[[Callable[[], None]], Awaitable[str]]] = []
        for position, chunk in plan_chunks(rows, self.batch_size, await self._sent_chunks(op_id)):
            fp = _fingerprint("distribute-batch", instrument, chunk)
            batch_op = await self._chunk_op(f"{op_id}#{position}", fp)
            entry = await self.relayer.journal.get(batch_op)
            if attestation is None and (entry is None or entry.payload is None):
                attestation = await sign_typed(self.relayer.vault, TREASURY_KEY, message)
            call = (
                _id32(batch_op),
                repayment,
                attestation or b"",
                [r[0] for r in chunk],
                [r[1] for r in chunk],
                [r[2] for r in chunk] if any(r[2] for r in chunk) else [],
            )
            starts.append(functools.partial(self._send_chunk, batch_op, fp, call))
        return LedgerResult(tuple(await send_pipelined(starts)))

    async def _send_chunk(self, op_id: str, fp: str, call: tuple[Any, ...], on_sent: Callable[[], None]) -> str:
        return await self._send(op_id, fp, self.distribution, "pay", *call, on_sent=on_sent)

    async def _sent_chunks(self, op_id: str) -> dict[int, frozenset[str]]:
        """Position -> holders of every chunk of `op_id` that went out, or may have (an attempt
        signed and not failed), read back from its journalled transaction."""
        kept: dict[int, frozenset[str]] = {}
        position = 0
        while True:
            attempt = 0
            while (entry := await self.relayer.journal.get(_attempt_op(op_id, position, attempt))) is not None:
                if entry.status is not JournalStatus.FAILED:
                    if entry.payload is not None and not entry.result.get("filler"):
                        data = TypedTransaction.from_bytes(HexBytes(entry.payload)).as_dict()["data"]
                        kept[position] = holders_of_call(self.distribution.decode_function_input(HexBytes(data)))
                    break
                attempt += 1
            if attempt == 0 and entry is None:
                return kept  # no attempt at this position: none after it either
            position += 1

    async def _chunk_op(self, positional: str, fingerprint: str) -> str:
        """The op id of one on-chain batch of a distribution. A chunk keeps its id while its holders
        stay the same, so a resend recognises what was paid. When the distribution comes again
        without a refused holder, a chunk whose earlier attempts all reverted (nothing was paid)
        goes out as the position's next attempt (`#n.1`, `#n.2`, ...); a position whose attempt was
        paid, or may still be, cannot change (OperationConflict): that would pay its holders twice."""
        attempt = 0
        while True:
            op_id = positional if attempt == 0 else f"{positional}.{attempt}"
            entry = await self.relayer.journal.get(op_id)
            if entry is None or entry.fingerprint == fingerprint:
                return op_id
            if entry.status is not JournalStatus.FAILED:
                raise OperationConflict(f"{op_id} went out with other holders; a paid batch cannot change")
            attempt += 1

    async def set_frozen(
        self, op_id: str, wallet: Wallet, frozen: bool, instrument_refs: Sequence[str]
    ) -> LedgerResult:
        """One registry flag freezes the wallet for the stablecoin and every instrument at once,
        so `instrument_refs` needs no transaction of its own."""
        address = to_checksum_address(wallet.address)
        fp = _fingerprint("freeze", address, frozen)
        unseen = await self.relayer.journal.get(op_id) is None
        if unseen and await self._read(self.registry.functions.isFrozen(address)) == frozen:
            return LedgerResult(())  # already in that state: nothing to send
        tx = await self._send(op_id, fp, self.registry, "setFrozen", address, frozen, key=REGISTRAR_KEY)
        return LedgerResult((tx,))

    # ------------------------------------------------------------------ port: agent

    async def force_transfer(
        self, op_id: str, instrument_ref: str, sender: Wallet, receiver: Wallet, units: int
    ) -> LedgerResult:
        """`forcedTransfer` with the agent key; the contract checks the receiver (eligible, not
        frozen) and refuses to create units."""
        instrument = self.instrument(instrument_ref)
        source, target = to_checksum_address(sender.address), to_checksum_address(receiver.address)
        if units <= 0:
            raise LedgerRejected("a forced transfer moves a positive number of units", reason="InvalidAmount")
        fp = _fingerprint("force", instrument.address, source, target, units)
        tx = await self._send(op_id, fp, instrument, "forcedTransfer", source, target, units, key=AGENT_KEY)
        return LedgerResult((tx,))

    async def recover_wallet(self, op_id: str, instrument_ref: str, lost: Wallet, new: Wallet) -> LedgerResult:
        """`recoverWallet` with the agent key: all units and the instrument's freeze of the lost wallet."""
        instrument = self.instrument(instrument_ref)
        source, target = to_checksum_address(lost.address), to_checksum_address(new.address)
        fp = _fingerprint("recover", instrument.address, source, target)
        unseen = await self.relayer.journal.get(op_id) is None
        if unseen and await self._read(instrument.functions.balanceOf(source)) == 0:
            return LedgerResult(())  # nothing to move (the contract would revert NothingToRecover)
        tx = await self._send(op_id, fp, instrument, "recoverWallet", source, target, key=AGENT_KEY)
        return LedgerResult((tx,))

    # ------------------------------------------------------------------ port: reads

    async def stablecoin_balance(self, address: str) -> Money:
        raw = await self._read(self.stablecoin.functions.balanceOf(to_checksum_address(address)))
        # Platform mints are whole cents; any sub-cent dust (from outside) is not spendable money here.
        return Money(raw // SCALE, CURRENCY)

    async def units_of(self, instrument_ref: str, address: str) -> int:
        return int(await self._read(self.instrument(instrument_ref).functions.balanceOf(to_checksum_address(address))))

    async def holders(
        self, instrument_ref: str, since: int | None = None, known: Collection[str] = ()
    ) -> Mapping[str, int]:
        """Every address that ever received units (from the instrument's Transfer logs, scanned in
        chunks of `log_chunk_blocks` from its creation block, `since` when the platform recorded
        it), with its current balance if > 0. Only logs and current state are read: a pruned node
        serves both."""
        contract = self.instrument(instrument_ref)
        topic = keccak(text="Transfer(address,address,uint256)")
        try:
            start = since if since is not None else await self._creation_block(contract.address)
            latest = await self.w3.eth.block_number
            candidates: set[str] = set()
            for low in range(start, latest + 1, self.log_chunk_blocks):
                high = min(low + self.log_chunk_blocks - 1, latest)
                # Filtered by topic here rather than by the node: eth-tester (embedded) ignores
                # byte-typed topic filters; the instrument emits few other events anyway.
                logs = await self.w3.eth.get_logs({"address": contract.address, "fromBlock": low, "toBlock": high})
                candidates.update(
                    to_checksum_address(log["topics"][2][-20:])
                    for log in logs
                    if len(log["topics"]) == 3 and bytes(log["topics"][0]) == topic
                )
        except Exception as exc:
            raise LedgerUnavailable(f"EVM log query failed: {type(exc).__name__}") from exc
        issuer = to_checksum_address(self.deployment.issuer)
        result: dict[str, int] = {}
        for address in sorted(candidates - {issuer}):
            units = await self.units_of(instrument_ref, address)
            if units:
                result[address] = units
        return result

    async def transfers(
        self, instrument_ref: str, after: str | None, limit: int, since: int | None = None
    ) -> TransferPage:
        """The instrument's Transfer logs after the cursor (see `transfers.py`)."""
        address = self.current_ref(instrument_ref)
        start = since if since is not None else (await self._creation_block(address) if after is None else 0)
        return await read_transfers(
            self.w3,
            address,
            after,
            limit,
            start_block=start,
            confirmations=self.relayer.config.confirmations,
            chunk_blocks=self.log_chunk_blocks,
        )

    async def _creation_block(self, address: str) -> int:
        """The block that created the contract at `address`, for an instrument issued before the
        platform recorded it: a binary search on eth_getCode, cached. A node that keeps no old state
        (pruned, or restarted from a state dump) refuses those reads: then the suite's deployment
        block, which precedes every instrument, is the start (more log pages, the same holders)."""
        if address not in self._created_at:
            low, high = self.deployment.block, int(await self.w3.eth.block_number)
            try:
                while low < high:
                    middle = (low + high) // 2
                    if await self.w3.eth.get_code(address, block_identifier=middle):  # type: ignore[arg-type]
                        high = middle
                    else:
                        low = middle + 1
            except Exception as exc:
                if _is_transient(exc):
                    raise
                low = self.deployment.block
            self._created_at[address] = low
        return self._created_at[address]

    async def classification_of(self, address: str) -> Classification | None:
        code = await self._read(self.registry.functions.classOf(to_checksum_address(address)))
        return Classification(code) if code else None

    async def is_frozen(self, address: str) -> bool:
        return bool(await self._read(self.registry.functions.isFrozen(to_checksum_address(address))))

    async def ping(self) -> None:
        try:
            await self.w3.eth.block_number
        except Exception as exc:
            raise LedgerUnavailable(f"EVM node unreachable: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Release the HTTP session of the RPC provider (nothing to do in embedded mode)."""
        await self.relayer.confirmer.close()
        if isinstance(self.w3.provider, AsyncHTTPProvider):
            await self.w3.provider.disconnect()

    async def _know_senders(self) -> None:
        """Make the relayer's keeper watch every key this ledger sends with."""
        for key in SENDING_KEYS:
            if key != REGISTRAR_KEY or self.deployment.registrar:  # older suites had no registrar key
                await self.relayer.address_of(key)
        if self.deployment.agent:
            await self.relayer.address_of(AGENT_KEY)

    async def health(self) -> LedgerHealth:
        await self._know_senders()
        try:
            return await self.relayer.health()
        except LedgerUnavailable:
            raise
        except Exception as exc:
            raise LedgerUnavailable(f"EVM node unreachable: {type(exc).__name__}") from exc

    async def maintain(self) -> None:
        await self._know_senders()
        await self.relayer.maintain(self.relayer.config.keeper_grace_s)

    async def resume_unfinished(self) -> list[str]:
        """Re-broadcast journalled transactions left unconfirmed by a crash (call at start-up)."""
        await self._know_senders()
        return await self.relayer.resume_unfinished()

    # ------------------------------------------------------------------ port: audit anchors

    async def anchor_audit_head(self, op_id: str, seq: int, head_hash: str) -> LedgerResult:
        return await anchor_head(self, op_id, seq, head_hash)

    async def audit_anchor(self, tx_id: str) -> AuditAnchor | None:
        return await read_anchor(self, tx_id)

    async def published_audit_anchors(self) -> list[AuditAnchor]:
        return await read_anchors(self)
