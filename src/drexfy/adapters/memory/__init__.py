"""An in-memory Ledger for unit tests, the BDD suite and offline runs.
(About 440 lines: one method per port operation, each applying the same rule the chains enforce.)

It keeps balances, classifications, eligibility and freezes with the same rules the real ledgers
enforce on chain (an ineligible, sanctioned or frozen party is refused with ComplianceRejected), and
the at-most-once contract per operation id. It is selected only when the configuration names it
(`ledger = "memory"`). Fault injection (`fail_next`, `crash_after_effect`) lets tests play a node that
goes away or a process that dies between the ledger's effect and the store's commit.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import attrs

from drexfy.adapters.secp256k1 import evm_address
from drexfy.domain.classification import Classification
from drexfy.domain.errors import ComplianceRejected, LedgerRejected, LedgerUnavailable, OperationConflict
from drexfy.domain.model import Wallet
from drexfy.domain.money import Money
from drexfy.domain.ports import (
    AuditAnchor,
    InstrumentSpec,
    IssuedInstrument,
    LedgerHealth,
    LedgerResult,
    Payout,
    Purchase,
    RepaymentFunding,
    TransferPage,
    UnitTransfer,
)

#: The zero address: units come from it when issued and go to it when retired.
NOBODY = "0x" + "0" * 40


class SimulatedCrash(Exception):
    """Raised by the memory ledger *after* applying an effect, to simulate a process dying before
    it could record the result."""


@attrs.define
class _Token:
    symbol: str
    eligible: frozenset[Classification]
    total_units: int
    balances: dict[str, int] = attrs.field(factory=lambda: defaultdict(int))
    frozen: set[str] = attrs.field(factory=set)
    #: Every unit movement, in ledger order (what an EVM node's Transfer logs would say).
    moves: list[UnitTransfer] = attrs.field(factory=list)

    def move(self, sender: str, receiver: str, units: int, tx_id: str, forced: bool = False) -> None:
        self.balances[sender] -= units
        self.balances[receiver] += units
        self.moves.append(UnitTransfer(sender, receiver, units, tx_id, forced))


class MemoryLedger:
    """Ledger port in memory. Addresses are EVM-style (checksummed hex) derived from the public key."""

    kind = "memory"

    def __init__(self, currency: str = "EUR") -> None:
        self.currency = currency
        self.activated: set[str] = set()
        self.classes: dict[str, Classification] = {}
        self.frozen: set[str] = set()
        self.stablecoin: dict[str, int] = defaultdict(int)
        self.stablecoin_supply = 0
        #: Paid so far per (instrument, repayment round), against the round's total.
        self.round_paid: dict[tuple[str, str], int] = {}
        self.tokens: dict[str, _Token] = {}
        self.issuer = "issuer"
        self._ops: dict[str, tuple[str, Any]] = {}
        self._tx_counter = 0
        self.transactions: list[tuple[str, str]] = []  # (tx id, description), for inspection
        self._fail_next: list[Exception] = []
        self._crash_after: set[str] = set()
        self.online = True
        #: Anchored audit heads by transaction id.
        self.anchors: dict[str, AuditAnchor] = {}

    # --- fault injection --------------------------------------------------------------------
    def fail_next(self, error: Exception | None = None) -> None:
        """The next write raises `error` (default LedgerUnavailable) before doing anything."""
        self._fail_next.append(error or LedgerUnavailable("injected: node unreachable"))

    def crash_after_effect(self, op_prefix: str) -> None:
        """The next write whose op id starts with `op_prefix` applies its effect, then raises."""
        self._crash_after.add(op_prefix)

    # --- helpers -----------------------------------------------------------------------------
    def address_for(self, public_key: bytes) -> str:
        return evm_address(public_key)

    def _tx(self, description: str) -> str:
        self._tx_counter += 1
        tx_id = "0x" + hashlib.sha256(f"{self._tx_counter}:{description}".encode()).hexdigest()
        self.transactions.append((tx_id, description))
        return tx_id

    async def _once(self, op_id: str, intent: Any, apply: Any) -> Any:
        fingerprint = hashlib.sha256(json.dumps(intent, sort_keys=True, default=str).encode()).hexdigest()
        if op_id in self._ops:
            seen, result = self._ops[op_id]
            if seen != fingerprint:
                raise OperationConflict(f"operation id {op_id} was used for another operation")
            return result
        if not self.online:
            raise LedgerUnavailable("memory ledger is offline")
        if self._fail_next:
            raise self._fail_next.pop(0)
        result = apply()  # raises before any change when a rule refuses
        self._ops[op_id] = (fingerprint, result)
        for prefix in list(self._crash_after):
            if op_id.startswith(prefix):
                self._crash_after.discard(prefix)
                raise SimulatedCrash(f"crashed after {op_id} took effect")
        return result

    def _token(self, ref: str) -> _Token:
        token = self.tokens.get(ref)
        if token is None:
            raise LedgerRejected(f"unknown instrument {ref}", reason="UnknownInstrument")
        return token

    def _check_party(self, address: str, token: _Token | None, role: str) -> None:
        cls = self.classes.get(address)
        if cls is None:
            raise ComplianceRejected(f"{role} {address} has no classification", reason="Unclassified", party=address)
        if cls is Classification.SANCTIONED:
            raise ComplianceRejected(f"{role} {address} is sanctioned", reason="Sanctioned", party=address)
        if address in self.frozen or (token is not None and address in token.frozen):
            raise ComplianceRejected(f"{role} {address} is frozen", reason="Frozen", party=address)
        if token is not None and cls not in token.eligible:
            raise ComplianceRejected(
                f"{role} {address} ({cls.name}) is not eligible for {token.symbol}", reason="NotEligible", party=address
            )

    def _minor(self, amount: Money) -> int:
        if amount.currency != self.currency:
            raise LedgerRejected(f"the stablecoin is {self.currency}, not {amount.currency}", reason="Currency")
        return amount.minor

    # --- writes ------------------------------------------------------------------------------
    async def activate_wallet(self, op_id: str, wallet: Wallet) -> LedgerResult:
        def apply() -> LedgerResult:
            self.activated.add(wallet.address)
            return LedgerResult((self._tx(f"activate {wallet.address}"),))

        result: LedgerResult = await self._once(op_id, ["activate", wallet.address], apply)
        return result

    async def record_classification(self, op_id: str, wallet: Wallet, classification: Classification) -> LedgerResult:
        def apply() -> LedgerResult:
            if wallet.address not in self.activated:
                raise LedgerRejected(f"wallet {wallet.address} is not activated", reason="NotActivated")
            self.classes[wallet.address] = classification
            return LedgerResult((self._tx(f"classify {wallet.address} {classification.name}"),))

        result: LedgerResult = await self._once(op_id, ["classify", wallet.address, classification.name], apply)
        return result

    async def issue_instrument(self, op_id: str, spec: InstrumentSpec) -> IssuedInstrument:
        def apply() -> IssuedInstrument:
            ref = f"mem:{spec.symbol}"
            if ref in self.tokens:
                raise LedgerRejected(f"{spec.symbol} already issued", reason="Exists")
            self.tokens[ref] = _Token(spec.symbol, spec.eligible, spec.total_units)
            tx_id = self._tx(f"issue {spec.symbol}")
            self.tokens[ref].balances[NOBODY] = spec.total_units
            self.tokens[ref].move(NOBODY, self.issuer, spec.total_units, tx_id)
            return IssuedInstrument(ref, (tx_id,))

        intent = ["issue", spec.symbol, sorted(c.name for c in spec.eligible), spec.total_units]
        result: IssuedInstrument = await self._once(op_id, intent, apply)
        return result

    async def settle_purchase(self, op_id: str, purchase: Purchase) -> LedgerResult:
        return await self._settle(op_id, purchase, from_balance=False)

    async def _settle(self, op_id: str, purchase: Purchase, *, from_balance: bool) -> LedgerResult:
        """Atomic DvP: the issuer delivers the units against the price, paid with stablecoin minted
        1:1 for the fiat received or, `from_balance`, with the buyer's own coins (no mint)."""

        def apply() -> LedgerResult:
            token = self._token(purchase.instrument_ref)
            buyer = purchase.buyer.address
            self._check_party(buyer, token, "buyer")
            if token.balances[self.issuer] < purchase.units:
                raise LedgerRejected("issuer has too few units", reason="InsufficientUnits")
            minor = self._minor(purchase.amount)
            if not from_balance:
                self.stablecoin_supply += minor
            elif self.stablecoin[buyer] < minor:
                raise LedgerRejected("the buyer's balance does not cover the order", reason="InsufficientFunds")
            else:
                self.stablecoin[buyer] -= minor
            self.stablecoin[self.issuer] += minor
            tx_id = self._tx(f"settle {purchase.order_id}{' from balance' if from_balance else ''}")
            token.move(self.issuer, buyer, purchase.units, tx_id)
            return LedgerResult((tx_id,))

        intent = [
            "settle-from-balance" if from_balance else "settle",
            purchase.order_id,
            purchase.buyer.address,
            purchase.instrument_ref,
            purchase.units,
            purchase.amount.minor,
        ]
        result: LedgerResult = await self._once(op_id, intent, apply)
        return result

    async def distribute(
        self,
        op_id: str,
        instrument_ref: str,
        payouts: Sequence[Payout],
        funding: RepaymentFunding | None = None,
    ) -> LedgerResult:
        def apply() -> LedgerResult:
            token = self._token(instrument_ref)
            for payout in payouts:  # check everything first: all or nothing
                self._check_party(payout.wallet.address, None, "payee")
                self._minor(payout.amount)
                if token.balances[payout.wallet.address] < payout.units_to_retire:
                    raise LedgerRejected(f"{payout.wallet.address} holds too few units to retire", reason="Units")
            batch = sum(p.amount.minor for p in payouts)
            if funding is not None:  # as Distribution does on chain: a round never pays past its total
                key = (instrument_ref, funding.repayment_id)
                paid = self.round_paid.get(key, 0) + batch
                if paid > self._minor(funding.total):
                    raise LedgerRejected(
                        f"repayment {funding.repayment_id} would pay {paid}", reason="RepaymentExceeded"
                    )
                self.round_paid[key] = paid
            tx_id = self._tx(f"distribute {len(payouts)} on {token.symbol}")
            for payout in payouts:
                self.stablecoin[payout.wallet.address] += payout.amount.minor
                self.stablecoin_supply += payout.amount.minor
                if payout.units_to_retire:
                    token.move(payout.wallet.address, NOBODY, payout.units_to_retire, tx_id)
            return LedgerResult((tx_id,))

        intent = [
            "distribute",
            instrument_ref,
            [[p.wallet.address, p.amount.minor, p.units_to_retire] for p in payouts],
        ]
        result: LedgerResult = await self._once(op_id, intent, apply)
        return result

    async def set_frozen(
        self, op_id: str, wallet: Wallet, frozen: bool, instrument_refs: Sequence[str]
    ) -> LedgerResult:
        def apply() -> LedgerResult:
            if frozen:
                self.frozen.add(wallet.address)
            else:
                self.frozen.discard(wallet.address)
            for ref in instrument_refs:
                token = self._token(ref)
                (token.frozen.add if frozen else token.frozen.discard)(wallet.address)
            return LedgerResult((self._tx(f"{'freeze' if frozen else 'unfreeze'} {wallet.address}"),))

        intent = ["freeze", wallet.address, frozen, sorted(instrument_refs)]
        result: LedgerResult = await self._once(op_id, intent, apply)
        return result

    async def burn_stablecoin(self, op_id: str, wallet: Wallet, amount: Money) -> LedgerResult:
        def apply() -> LedgerResult:
            self._check_party(wallet.address, None, "holder")
            minor = self._minor(amount)
            if self.stablecoin[wallet.address] < minor:
                raise LedgerRejected("balance too low to burn", reason="InsufficientBalance")
            self.stablecoin[wallet.address] -= minor
            self.stablecoin_supply -= minor
            return LedgerResult((self._tx(f"burn {minor} from {wallet.address}"),))

        result: LedgerResult = await self._once(op_id, ["burn", wallet.address, amount.minor], apply)
        return result

    async def mint_deposit(self, op_id: str, wallet: Wallet, amount: Money, deposit_id: str) -> LedgerResult:
        def apply() -> LedgerResult:
            self._check_party(wallet.address, None, "holder")
            minor = self._minor(amount)
            if minor <= 0:
                raise LedgerRejected("a deposit must be positive", reason="InvalidAmount")
            self.stablecoin[wallet.address] += minor
            self.stablecoin_supply += minor
            return LedgerResult((self._tx(f"deposit {deposit_id}: mint {minor} to {wallet.address}"),))

        intent = ["deposit", deposit_id, wallet.address, amount.minor]
        result: LedgerResult = await self._once(op_id, intent, apply)
        return result

    async def settle_from_balance(self, op_id: str, purchase: Purchase) -> LedgerResult:
        return await self._settle(op_id, purchase, from_balance=True)

    async def force_transfer(
        self, op_id: str, instrument_ref: str, sender: Wallet, receiver: Wallet, units: int
    ) -> LedgerResult:
        def apply() -> LedgerResult:
            token = self._token(instrument_ref)
            self._check_party(receiver.address, token, "receiver")
            if units <= 0 or sender.address == receiver.address:
                raise LedgerRejected("a forced transfer moves a positive number of units", reason="InvalidAmount")
            if token.balances[sender.address] < units:
                raise LedgerRejected(f"{sender.address} holds too few units", reason="InsufficientBalance")
            tx_id = self._tx(f"forced transfer {units} {token.symbol}")
            token.move(sender.address, receiver.address, units, tx_id, forced=True)
            return LedgerResult((tx_id,))

        intent = ["force", instrument_ref, sender.address, receiver.address, units]
        result: LedgerResult = await self._once(op_id, intent, apply)
        return result

    async def recover_wallet(self, op_id: str, instrument_ref: str, lost: Wallet, new: Wallet) -> LedgerResult:
        def apply() -> LedgerResult:
            token = self._token(instrument_ref)
            units = token.balances[lost.address]
            if units == 0:
                return LedgerResult(())
            if new.address in (lost.address, self.issuer):
                raise LedgerRejected(f"{new.address} cannot receive a recovery", reason="InvalidReceiver")
            self._check_party(new.address, token, "receiver")
            tx_id = self._tx(f"recover {units} {token.symbol}")
            token.move(lost.address, new.address, units, tx_id, forced=True)
            if lost.address in token.frozen:  # a freeze in this instrument moves with the units
                token.frozen.discard(lost.address)
                token.frozen.add(new.address)
            return LedgerResult((tx_id,))

        result: LedgerResult = await self._once(op_id, ["recover", instrument_ref, lost.address, new.address], apply)
        return result

    # --- reads -------------------------------------------------------------------------------
    async def stablecoin_balance(self, address: str) -> Money:
        self._reachable()
        return Money(self.stablecoin[address], self.currency)

    async def units_of(self, instrument_ref: str, address: str) -> int:
        self._reachable()
        return self._token(instrument_ref).balances[address]

    async def holders(
        self, instrument_ref: str, since: int | None = None, known: Collection[str] = ()
    ) -> Mapping[str, int]:
        self._reachable()
        token = self._token(instrument_ref)
        return {a: u for a, u in token.balances.items() if u > 0 and a not in (self.issuer, NOBODY)}

    async def transfers(
        self, instrument_ref: str, after: str | None, limit: int, since: int | None = None
    ) -> TransferPage:
        self._reachable()
        moves = self._token(instrument_ref).moves
        start = int(after) if after else 0
        page = moves[start : start + limit]
        end = start + len(page)
        return TransferPage(tuple(page), f"{end:012d}", end >= len(moves))

    def transfer_units(self, instrument_ref: str, sender: str, receiver: str, units: int) -> str:
        """A holder sends units to another holder (what the token lets eligible holders do on
        chain, outside the platform's operations); both must be eligible and not frozen."""
        self._reachable()
        token = self._token(instrument_ref)
        self._check_party(sender, token, "sender")
        self._check_party(receiver, token, "receiver")
        if not 0 < units <= token.balances[sender]:
            raise LedgerRejected(f"{sender} cannot send {units} units", reason="Units")
        tx_id = self._tx(f"transfer {units} {token.symbol}")
        token.move(sender, receiver, units, tx_id)
        return tx_id

    async def classification_of(self, address: str) -> Classification | None:
        self._reachable()
        return self.classes.get(address)

    async def is_frozen(self, address: str) -> bool:
        self._reachable()
        return address in self.frozen

    def _reachable(self) -> None:
        """Reads fail like writes while the "node" is offline."""
        if not self.online:
            raise LedgerUnavailable("memory ledger is offline")

    async def ping(self) -> None:
        self._reachable()

    async def resume_unfinished(self) -> list[str]:
        return []  # effects are applied at once: nothing is ever left in flight

    async def maintain(self) -> None:
        return None  # no nonces or sequences: nothing can stall

    async def health(self) -> LedgerHealth:
        self._reachable()
        return LedgerHealth(head_age_s=0.0)  # every effect is applied at once

    async def anchor_audit_head(self, op_id: str, seq: int, head_hash: str) -> LedgerResult:
        def apply() -> LedgerResult:
            last = max((a.seq for a in self.anchors.values()), default=0)
            if last >= seq:
                raise LedgerRejected(f"anchored up to entry {last} already; this head is {seq}")
            tx_id = self._tx(f"anchor audit head {seq}")
            self.anchors[tx_id] = AuditAnchor(seq, head_hash, tx_id)
            return LedgerResult((tx_id,))

        result: LedgerResult = await self._once(op_id, ["anchor", seq, head_hash], apply)
        return result

    async def audit_anchor(self, tx_id: str) -> AuditAnchor | None:
        self._reachable()
        return self.anchors.get(tx_id)

    async def published_audit_anchors(self) -> list[AuditAnchor]:
        self._reachable()
        return list(self.anchors.values())  # in the order they were anchored
