"""Ports: what the domain needs from the outside world, in the domain's own words.
(One module of about 910 lines on purpose: a newcomer reads every promise the adapters keep in one
place; each Protocol is short.)

Adapters implement these Protocols; the container in `drexfy.entrypoints` picks which. Ports speak
domain intents and domain types: no receipts, HexBytes, SDK dicts or floats cross them.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

import attrs

from drexfy.domain.audit import AuditEntry, AuditFilter, AuditHead, AuditRecord
from drexfy.domain.classification import Classification
from drexfy.domain.deposit import Deposit
from drexfy.domain.events import DomainEvent
from drexfy.domain.model import (
    Allocation,
    Instrument,
    Investor,
    Order,
    Position,
    Repayment,
    Wallet,
    Withdrawal,
)
from drexfy.domain.money import Money
from drexfy.domain.provider_events import KycResult, KycReview

# ================================================================================================
# Ledger
# ================================================================================================


@attrs.frozen
class LedgerResult:
    """What a ledger write left behind: the ids (hashes) of the transactions that carried it out."""

    tx_ids: tuple[str, ...] = ()


#: How long a ledger write may wait for its transaction to be included before it hands back
#: `LedgerPending` (seconds); None: the adapter's own receipt timeout. The worker sets a short wait
#: for its jobs, so a slow chain does not hold its slots (the job comes back after a block); an
#: operator's command or an API call waits for the result instead.
LEDGER_WAIT: ContextVar[float | None] = ContextVar("drexfy_ledger_wait", default=None)


@attrs.frozen
class UnitTransfer:
    """Units of an instrument that moved on the ledger from one address to another."""

    sender: str
    receiver: str
    units: int
    tx_id: str
    #: Moved by the platform's agent (forced transfer, wallet recovery): the process that asked for
    #: it records the positions itself, so the register leaves it alone.
    forced: bool = False


@attrs.frozen
class TransferPage:
    """Transfers read from the ledger in ledger order, and where the next read starts: `cursor`
    covers everything up to the last transfer returned, or up to the confirmed head when the page
    reached it (`complete`). Cursors are opaque strings that only the ledger adapter interprets."""

    transfers: tuple[UnitTransfer, ...]
    cursor: str
    complete: bool


@attrs.frozen
class AuditAnchor:
    """An audit log head as published on the ledger."""

    seq: int
    head_hash: str
    tx_id: str


@attrs.frozen
class LedgerHealth:
    """Whether the chain moves and whether the platform's own transactions do (`Ledger.health`).

    - `head_age_s`: seconds since the newest block (EVM) or validated ledger (XRPL) was made;
    - `unconfirmed`: journalled transactions not final yet, and `oldest_unconfirmed_s` how long the
      oldest of them has waited since its current transaction was signed or sent;
    - `sequence_gap`: numbers (EVM nonces, XRPL sequences) the platform's accounts have claimed that
      the chain has not seen used yet; `unsigned_claims` of them belong to operations that have not
      signed (the keeper spends those that stay unsigned).
    """

    head_age_s: float | None = None
    unconfirmed: int = 0
    oldest_unconfirmed_s: float | None = None
    sequence_gap: int = 0
    unsigned_claims: int = 0


@attrs.frozen
class InstrumentSpec:
    """What the ledger needs to issue an instrument token."""

    instrument_id: str
    symbol: str
    name: str
    total_units: int
    eligible: frozenset[Classification]
    unit_price: Money


@attrs.frozen
class IssuedInstrument:
    """`ledger_ref` is the instrument's on-ledger identity (EVM token address, XRPL MPT issuance id)."""

    ledger_ref: str
    tx_ids: tuple[str, ...] = ()
    #: Where on the ledger it was issued (EVM block, XRPL ledger index), so its history can be read
    #: from there without asking a node for old state (pruned nodes keep none).
    position: int | None = None


@attrs.frozen
class Purchase:
    """A paid order to settle: mint `amount` of stablecoin to the buyer (fiat received 1:1), move it
    from the buyer to the issuer, deliver `units` of the instrument to the buyer."""

    order_id: str
    buyer: Wallet
    instrument_ref: str
    units: int
    amount: Money


@attrs.frozen
class Payout:
    """One holder's part of a repayment: `amount` of stablecoin paid to `wallet`, `units_to_retire`
    instrument units taken back and burned (principal)."""

    wallet: Wallet
    amount: Money
    units_to_retire: int = 0


@attrs.frozen
class RepaymentFunding:
    """The repayment round a `distribute` call draws on: its id and its whole total. Every call of
    one round (its batches, and the release of shares held back) names the same funding, so a
    ledger that can bind the treasury's attestation to it never pays the round more than `total`
    in all, however the calls are batched or repeated."""

    repayment_id: str
    total: Money


class Ledger(Protocol):
    """A ledger on which investors hold stablecoin and instrument units.

    Every write takes an operation id and has at-most-once effect per id: calling it again with the
    same id (after a timeout, a crash or a duplicate delivery) returns the first call's result and
    never acts twice. Reusing an id for a different intent raises OperationConflict. Refusals raise
    LedgerRejected / ComplianceRejected (permanent) or LedgerUnavailable (transient, retry).
    """

    #: "memory", "evm" or "xrpl".
    kind: str
    #: The currency the ledger's stablecoin is denominated in.
    currency: str

    def address_for(self, public_key: bytes) -> str:
        """The ledger address of a secp256k1 public key (compressed, 33 bytes)."""
        ...

    async def activate_wallet(self, op_id: str, wallet: Wallet) -> LedgerResult:
        """Make a new custodial wallet able to hold stablecoin and units (XRPL: reserve, trust line)."""
        ...

    async def record_classification(self, op_id: str, wallet: Wallet, classification: Classification) -> LedgerResult:
        """Mint the wallet's non-transferable classification token, or replace its class."""
        ...

    async def issue_instrument(self, op_id: str, spec: InstrumentSpec) -> IssuedInstrument:
        """Create the instrument's permissioned token; its eligible classes are enforced on chain."""
        ...

    async def settle_purchase(self, op_id: str, purchase: Purchase) -> LedgerResult:
        """Delivery versus payment for a paid order (atomic where the ledger can, else a saga that
        resumes where it stopped when called again with the same op id)."""
        ...

    async def distribute(
        self,
        op_id: str,
        instrument_ref: str,
        payouts: Sequence[Payout],
        funding: RepaymentFunding | None = None,
    ) -> LedgerResult:
        """Pay stablecoin to many holders and retire their principal units, as one operation.

        `funding` names the repayment round the payouts belong to: across all calls that name it,
        the ledger pays at most its total (EVM: the treasury attests (instrument, repayment id,
        total) and Distribution enforces it; memory: the same cap; XRPL: no on-chain cap, see
        docs/xrpl.md). None: the call is its own round, capped at its own payouts.

        After a ComplianceRejected the same `op_id` may come again with some payouts removed (the
        refused holders, held back). A ledger that applied part of the first attempt (payouts are
        not one transaction on every ledger) must recognise what it already paid under `op_id` and
        never pay it twice."""
        ...

    async def set_frozen(
        self, op_id: str, wallet: Wallet, frozen: bool, instrument_refs: Sequence[str]
    ) -> LedgerResult:
        """Freeze (or unfreeze) the wallet for the stablecoin and the given instruments."""
        ...

    async def burn_stablecoin(self, op_id: str, wallet: Wallet, amount: Money) -> LedgerResult:
        """Take `amount` of stablecoin out of circulation from the wallet (a withdrawal to fiat)."""
        ...

    async def stablecoin_balance(self, address: str) -> Money: ...

    async def units_of(self, instrument_ref: str, address: str) -> int: ...

    async def holders(
        self, instrument_ref: str, since: int | None = None, known: Collection[str] = ()
    ) -> Mapping[str, int]:
        """Every address holding units of the instrument, for reconciliation; the platform's own
        accounts (issuer, treasury, settlement contracts) are left out. `since` is the position the
        instrument was issued at (`IssuedInstrument.position`), when known. `known`: the addresses
        the store's register says hold units; a ledger without a per-issuance query (rippled) reads
        just those when they account for every unit, and the whole state only when they do not."""
        ...

    async def transfers(
        self, instrument_ref: str, after: str | None, limit: int, since: int | None = None
    ) -> TransferPage:
        """The instrument's unit movements after `after` (a cursor of an earlier page; None: from
        the issue, at position `since` when known), at most `limit`, confirmed ones only. Every
        movement is listed (issues, deliveries, retirements, holder-to-holder transfers): the
        caller picks what its own records lack."""
        ...

    async def classification_of(self, address: str) -> Classification | None: ...

    async def is_frozen(self, address: str) -> bool: ...

    async def ping(self) -> None:
        """Raise LedgerUnavailable if the ledger cannot be reached."""
        ...

    async def resume_unfinished(self) -> list[str]:
        """At start-up: drive every transaction the journal holds as signed-but-unconfirmed (a
        crash between broadcast and confirmation) to its final result, re-broadcasting the same
        signed bytes. Returns the ids of the transactions it finished."""
        ...

    async def health(self) -> LedgerHealth:
        """What the keeper sees now (for `/ready` and the metrics); LedgerUnavailable if the node
        cannot be reached."""
        ...

    async def maintain(self) -> None:
        """One pass of the ledger's keeper (the worker runs it every few seconds): every number an
        operation claimed (EVM nonce, XRPL sequence) reaches the chain, as the operation's own
        transaction or, once the claim has stood unsigned past a grace period, as a journalled
        no-op; signed transactions not yet included are broadcast again. A number left unsent
        stalls every later transaction of its account. Logs, never raises, for a node that
        cannot be reached: the next pass tries again."""
        ...

    async def mint_deposit(self, op_id: str, wallet: Wallet, amount: Money, deposit_id: str) -> LedgerResult:
        """Mint `amount` of stablecoin 1:1 to the wallet for fiat received on the platform's bank
        account (deposit `deposit_id`: a bank credit, or a payout returned), once per deposit. On
        EVM only against the payments attestor's signature of the deposit (usable once); on XRPL
        the issuer pays the investor's trust line."""
        ...

    async def settle_from_balance(self, op_id: str, purchase: Purchase) -> LedgerResult:
        """Delivery versus payment for an order paid from the buyer's stablecoin balance: the same
        settlement as `settle_purchase` without the mint (the buyer's coins move to the issuer, the
        units to the buyer). LedgerRejected(reason="InsufficientFunds") if the balance is short."""
        ...

    async def force_transfer(
        self, op_id: str, instrument_ref: str, sender: Wallet, receiver: Wallet, units: int
    ) -> LedgerResult:
        """The agent moves `units` of the instrument from `sender` to `receiver` without the sender's
        consent (a court order, an error correction). The receiver must be classified, eligible for
        the instrument and frozen nowhere (ComplianceRejected otherwise); the sender's freeze does
        not stop it. Never creates units: the sender must hold them (LedgerRejected otherwise).
        EVM: `forcedTransfer` with the agent key; XRPL: MPT clawback from the sender, then the
        instrument issuer pays the same units to the receiver (a saga, resumed by the same op id)."""
        ...

    async def recover_wallet(self, op_id: str, instrument_ref: str, lost: Wallet, new: Wallet) -> LedgerResult:
        """Move every unit of the instrument from an investor's lost wallet to the same investor's
        new wallet (already activated and classified). The new wallet must be eligible and frozen
        nowhere; nothing to move is no transaction. EVM: `recoverWallet` with the agent key (a
        per-instrument freeze moves with the units); XRPL: clawback of the whole balance and reissue."""
        ...

    async def anchor_audit_head(self, op_id: str, seq: int, head_hash: str) -> LedgerResult:
        """Publish the audit log's head (entry `seq` and its SHA-256, 64 hex digits) on the ledger
        (EVM: the AuditAnchor contract's event, sent by the registrar key; XRPL: a memo on an
        AccountSet of the registrar account). Heads only move forward: the process anchors only a head
        after the last one it recorded, and the EVM contract and the memory ledger refuse
        (LedgerRejected) a head at or before the last anchored one."""
        ...

    async def audit_anchor(self, tx_id: str) -> AuditAnchor | None:
        """The head a transaction anchored, read from the ledger (None if `tx_id` anchored nothing
        the platform's anchoring account sent)."""
        ...

    async def published_audit_anchors(self) -> list[AuditAnchor]:
        """Every head the platform's anchoring account published, in ledger order, read from the
        ledger alone (never from the store, which a database operator could rewrite). EVM: the
        AuditAnchor contract's events by eth_getLogs in bounded block ranges from the deployment
        block (logs only: a pruned node serves them); XRPL: the registrar account's validated
        transactions carrying the anchor memo, by `account_tx` pages."""
        ...


class JournalStatus(enum.Enum):
    PREPARED = "PREPARED"  # signed and persisted, maybe not broadcast yet
    SUBMITTED = "SUBMITTED"  # broadcast at least once
    CONFIRMED = "CONFIRMED"  # final success
    FAILED = "FAILED"  # final failure (revert, tec code, expiry without inclusion)


@attrs.define
class JournalEntry:
    """One ledger transaction of an operation, persisted *before* it is broadcast.

    `payload` is the signed transaction (hex); a retry or restart re-broadcasts exactly it.
    It never holds a private key. `fingerprint` is a digest of the intent, so reusing an operation id
    for another intent is caught.
    """

    op_id: str
    ledger: str
    fingerprint: str
    status: JournalStatus
    created_at: datetime
    account: str | None = None
    sequence: int | None = None
    tx_id: str | None = None
    payload: str | None = None
    result: dict[str, Any] = attrs.field(factory=dict)
    updated_at: datetime | None = None


class OperationJournal(Protocol):
    """Durable memory of ledger operations, shared by the ledger adapters (store-backed)."""

    async def get(self, op_id: str) -> JournalEntry | None: ...

    async def create(self, entry: JournalEntry) -> bool:
        """Insert if no entry has this op id; False if one exists (then read it with `get`)."""
        ...

    async def update(self, entry: JournalEntry) -> None: ...

    async def record_signed(self, entry: JournalEntry) -> JournalEntry:
        """Store the signed transaction in `entry` (payload, sequence, tx id) unless the stored entry
        already holds one; return what is stored: this one, or the one another preparer stored first.

        Two processes preparing one operation at once both sign, but only the first transaction is
        kept, and both broadcast that one: an operation never reaches the chain as two transactions.
        """
        ...

    async def replace_signed(self, entry: JournalEntry, previous_tx_id: str) -> JournalEntry:
        """Store `entry` (a replacement of the signed transaction: same nonce/sequence, new fee or
        expiry) only if the stored entry still holds `previous_tx_id`; return what is stored. Two
        processes replacing one transaction at once thus agree on one replacement."""
        ...

    async def allocate_sequence(self, account: str, chain_next: int, claim: str) -> int:
        """The nonce/sequence of `account` for `claim` (an operation id): the first call hands out
        max(chain_next, last + 1), atomically; later calls for the same claim and account return the
        same number. A crash between allocating and journalling, or two processes preparing the
        same operation, therefore never leave a hole that would stall the account."""
        ...

    async def held_sequence(self, account: str, claim: str) -> int | None:
        """The number `allocate_sequence` gave `claim` on `account`, or None; allocates nothing. An
        operation abandoned after its number was allocated (its call no longer simulates) must still
        use that number, with a no-op, or every later transaction of the account waits behind it."""
        ...

    async def unfinished(self, ledger: str) -> list[JournalEntry]:
        """PREPARED or SUBMITTED entries, oldest first, for recovery after a restart."""
        ...

    async def order_nonce(self, order_id: str) -> int:
        """The settlement nonce of `order_id`: the first call allocates the store's next one and
        records it for the order in the same atomic write; every later call, from any process,
        returns that number, forever (a retry, a resume, a new attempt or op id of the same order).
        An EVM payment attestation carries it and Settlement uses each nonce once, so one order
        can never be attested for two settlements. Nonces of one store are consecutive (they
        share Settlement's bitmap words); each store starts at a random multiple of 2^32 (below
        2^62), so two stores sharing one Settlement (tests, a store rebuilt empty) do not collide.
        Independent of every account sequence: a no-op filling a relayer nonce frees nothing."""
        ...


# ================================================================================================
# Keys
# ================================================================================================


@attrs.frozen
class RecoverableSignature:
    """A secp256k1 ECDSA signature with low s and its recovery id (0 or 1)."""

    r: int
    s: int
    recovery_id: int


class KeyVault(Protocol):
    """Custodial keys. Creates a key per wallet and signs with it; never hands out a private key."""

    async def create_key(self, wallet_id: str) -> bytes:
        """Create (or, if it exists, return) the key of `wallet_id`; returns the compressed
        secp256k1 public key (33 bytes)."""
        ...

    async def public_key(self, wallet_id: str) -> bytes:
        """The compressed public key of an existing wallet key (KeyNotFound otherwise)."""
        ...

    async def sign_digest(self, wallet_id: str, digest: bytes) -> RecoverableSignature:
        """Sign a 32-byte digest (EVM tx hash, EIP-712 digest, XRPL signing hash) with the wallet key."""
        ...

    async def ping(self) -> None: ...

    async def seal(self, purpose: str, plaintext: bytes) -> bytes:
        """Encrypt a small secret (at most 4 KB: a TOTP secret) for storage outside the vault. The
        ciphertext is bound to `purpose` (say `totp:<operator id>`): it opens for that purpose only."""
        ...

    async def unseal(self, purpose: str, sealed: bytes) -> bytes:
        """The clear secret of a `seal` ciphertext; VaultIntegrityError when it was tampered with or
        sealed for another purpose or by another vault."""
        ...


# ================================================================================================
# Providers
# ================================================================================================


@attrs.frozen
class KycSession:
    applicant_id: str
    url: str
    #: A short-lived token for the provider's web SDK (Sumsub WebSDK), when it uses one.
    access_token: str = attrs.field(default="", repr=False)


class KycProvider(Protocol):
    async def start_verification(self, investor: Investor) -> KycSession:
        """Create (or find again) the investor's applicant and a way for the frontend to verify."""
        ...

    async def verified_result(self, review: KycReview) -> KycResult:
        """The applicant as the provider verified it (country, date of birth, accreditation,
        screening), read from the provider itself, never from the webhook's own claims."""
        ...


@attrs.frozen
class Checkout:
    reference: str
    url: str


class PaymentGateway(Protocol):
    """The card/SEPA gateway. Every call is idempotent per order (a retry after a timeout never opens
    a second checkout or refunds twice). ProviderError: the gateway is unreachable or failing (retry);
    PaymentRefused: it refused the request for good (the message says why)."""

    async def create_checkout(self, order: Order, investor: Investor) -> Checkout:
        """Open the order's checkout for `order.amount`, ending no later than the reservation."""
        ...

    async def expire_checkout(self, order: Order) -> None:
        """End the order's open checkout so it can no longer be paid (the order was cancelled or
        expired); nothing to do if it already ended unpaid. CheckoutCompleted if it was paid (or a
        delayed payment is under way), whether or not its event has arrived yet."""
        ...

    async def refund(self, order: Order) -> str:
        """Refund the whole of the order's payment (`order.payment_ref`); returns the refund
        reference. Attempt `order.refund_attempts` is one refund: asked again, it is the same one."""
        ...


@attrs.frozen
class CreditTransfer:
    """One payout in a credit-transfer file: `end_to_end_id` comes back on the bank statement."""

    end_to_end_id: str
    creditor_name: str
    iban: str = attrs.field(repr=False)
    amount: Money


@attrs.frozen
class BankEntry:
    """One entry of a bank statement (camt.053/054): `ref` identifies it at the bank; `end_to_end_id`
    is the one we gave a transfer (debits), `reference` the remittance text (credits)."""

    ref: str
    credit: bool
    amount: Money
    booked: bool
    end_to_end_id: str | None = None
    reference: str | None = None
    #: A credit that gives back one of our transfers (reversal indicator, return information or
    #: the bank transaction code of a returned credit transfer); `return_reason` is the ISO code.
    returned: bool = False
    return_reason: str | None = None


class BankFiles(Protocol):
    """The platform's bank account as files (ISO 20022): IBANs, outgoing transfers, statements."""

    def normalize_iban(self, text: str) -> str:
        """The IBAN in its compact form; ValidationFailed (naming the problem) if it is not valid."""
        ...

    def credit_transfers(self, batch_id: str, transfers: Sequence[CreditTransfer], execution: date) -> bytes:
        """A pain.001 credit-transfer file, validated against the ISO schema."""
        ...

    def read_statement(self, data: bytes) -> list[BankEntry]:
        """The entries of a camt.053 or camt.054 file; ValidationFailed naming the line or element."""
        ...


class Notifier(Protocol):
    """Tells the frontend what changed. Called by the outbox relay, never inside a unit of work."""

    async def notify(self, event_id: str, name: str, aggregate_id: str, payload: Mapping[str, Any]) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str: ...


# ================================================================================================
# Store
# ================================================================================================


class InvestorRepository(Protocol):
    async def add(self, investor: Investor) -> None: ...
    async def get(self, investor_id: str) -> Investor: ...
    async def find(self, investor_id: str) -> Investor | None: ...
    async def get_many(self, investor_ids: Sequence[str]) -> dict[str, Investor]:
        """The investors among `investor_ids`, by id (unknown ids left out): a few reads for a
        repayment batch rather than one per holder."""
        ...

    async def get_by_applicant(self, applicant_id: str) -> Investor: ...
    async def get_by_address(self, address: str) -> Investor | None: ...
    async def get_by_email(self, email: str) -> Investor | None: ...
    async def save(self, investor: Investor) -> None:
        """Persist changes; Conflict if someone saved a newer version meanwhile."""
        ...

    async def list(self, limit: int = 100, after: str | None = None) -> list[Investor]: ...


class InstrumentRepository(Protocol):
    async def add(self, instrument: Instrument) -> None: ...
    async def get(self, instrument_id: str) -> Instrument: ...
    async def get_by_symbol(self, symbol: str) -> Instrument | None: ...
    async def save(self, instrument: Instrument) -> None:
        """Persist status, ledger ref and terms (version-checked). Unit counters are not written
        here: they change only through the atomic methods below."""
        ...

    async def list(self, limit: int = 100, after: str | None = None) -> list[Instrument]: ...
    async def reserve_units(self, instrument_id: str, units: int) -> None:
        """Conditional update: reserve only if sold + reserved + units <= total; else SoldOut."""
        ...

    async def release_units(self, instrument_id: str, units: int) -> None: ...
    async def commit_units(self, instrument_id: str, units: int) -> None:
        """Move reserved units to sold (at settlement)."""
        ...

    async def retire_units(self, instrument_id: str, units: int) -> None: ...


class OrderRepository(Protocol):
    async def add(self, order: Order) -> None: ...
    async def get(self, order_id: str) -> Order: ...
    async def save(self, order: Order) -> None: ...
    async def by_investor(self, investor_id: str) -> list[Order]: ...
    async def expired(self, now: datetime, limit: int = 100) -> list[Order]:
        """CREATED orders whose reservation has expired."""
        ...

    async def reserving(self, instrument_id: str) -> list[Order]:
        """The instrument's orders that hold reserved units (CREATED and PAID), for reconciliation."""
        ...

    async def refund_due(self, limit: int = 100) -> list[Order]:
        """REFUND_DUE orders (money owed back), oldest first, for the refund sweep and operators."""
        ...

    async def committed_amount(self, investor_id: str, instrument_id: str) -> Money | None:
        """Sum of the investor's CREATED, PAID and SETTLED orders in the instrument (None if none)."""
        ...


class PositionRepository(Protocol):
    async def units(self, investor_id: str, instrument_id: str) -> int: ...
    async def add_units(self, investor_id: str, instrument_id: str, delta: int) -> None: ...
    async def holders(self, instrument_id: str) -> list[Position]:
        """Positions with units > 0, ordered by investor id."""
        ...

    async def by_investor(self, investor_id: str) -> list[Position]: ...


class RepaymentRepository(Protocol):
    """Repayments and their holders' shares. Shares are rows of their own, in investor-id order;
    they are written only together with their repayment (`add`, `save`), whose version guards them."""

    async def add(self, repayment: Repayment, allocations: Sequence[Allocation] = ()) -> None:
        """Store a new repayment and its shares (any number: 100,000 holders fit)."""
        ...

    async def get(self, repayment_id: str) -> Repayment: ...
    async def save(self, repayment: Repayment, allocations: Sequence[Allocation] = ()) -> None:
        """Save the repayment (version-checked) and the shares it changed, together."""
        ...

    async def allocation(self, repayment_id: str, investor_id: str) -> Allocation: ...
    async def allocations(
        self, repayment_id: str, *, after: str = "", upto: str | None = None, limit: int = 1000
    ) -> list[Allocation]:
        """Shares in investor-id order: ids after `after` and up to `upto` (inclusive), at most `limit`."""
        ...

    async def by_instrument(self, instrument_id: str) -> list[Repayment]: ...
    async def held_back_for(self, investor_id: str) -> list[Repayment]:
        """Repayments with an allocation HELD_BACK for this investor."""
        ...

    async def snapshot(self, repayment: Repayment, allocations: Sequence[Allocation]) -> None:
        """Save a requested repayment (version-checked) with the shares its snapshot allocated (any
        number: 100,000 holders fit), replacing any an unfinished earlier snapshot left behind."""
        ...


class WithdrawalRepository(Protocol):
    async def add(self, withdrawal: Withdrawal) -> None: ...
    async def get(self, withdrawal_id: str) -> Withdrawal: ...
    async def save(self, withdrawal: Withdrawal) -> None: ...
    async def by_investor(self, investor_id: str) -> list[Withdrawal]: ...
    async def payable(self, limit: int = 100) -> list[Withdrawal]:
        """BURNED withdrawals (owed to their investors, not in a transfer file yet), oldest first."""
        ...


class DepositRepository(Protocol):
    """Bank credits (`Deposit`), keyed by an id derived from the bank's entry reference."""

    async def add(self, deposit: Deposit) -> None:
        """DuplicateEntity if the deposit exists (the entry was imported before)."""
        ...

    async def get(self, deposit_id: str) -> Deposit: ...
    async def find(self, deposit_id: str) -> Deposit | None: ...
    async def save(self, deposit: Deposit) -> None: ...
    async def with_status(self, status: str, limit: int = 100, after: str | None = None) -> list[Deposit]:
        """Deposits in `status` (a DepositStatus value), by id: UNMATCHED for the operators'
        list, MATCHED for the mints still due."""
        ...


@attrs.frozen
class StoredEvent:
    """A domain event as persisted: the audit trail."""

    id: str
    name: str
    aggregate_id: str
    occurred_at: datetime
    payload: dict[str, Any]


class EventLog(Protocol):
    async def list(
        self, aggregate_id: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[StoredEvent]: ...


class AuditLog(Protocol):
    """The append-only, hash-chained audit trail (`drexfy.domain.audit`). Units of work append an
    entry for every event they persist, in their own transaction; `append` is for operator or machine
    actions that change no aggregate. Appends by concurrent writers stay one linear chain."""

    async def head(self) -> AuditHead:
        """The last entry's seq and hash (read consistently)."""
        ...

    async def append(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Chain and write `records` in a transaction of their own."""
        ...

    async def list(
        self, where: AuditFilter | None = None, after: int = 0, limit: int = 100
    ) -> tuple[list[AuditEntry], int | None]:
        """Entries after seq `after` matching `where`, in seq order: up to `limit` and the cursor of
        the next page (None at the end). A filtered page may be short; follow the cursor."""
        ...


class MessageStatus(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    DEAD = "DEAD"
    #: A provider event that names nothing we know (an unknown applicant, investor or order): not
    #: a failure, never retried, kept apart from DEAD so it can be looked at and retried by hand.
    PARKED = "PARKED"


#: The states an operator may put back in the queue (`jobs retry`).
RETRYABLE = frozenset({MessageStatus.DEAD, MessageStatus.PARKED})


@attrs.define
class QueuedMessage:
    """A durable message: an accepted webhook in the inbox, or a notification in the outbox.

    `key` is unique per queue (the provider's event id; the domain event id for the outbox):
    adding the same key twice is a no-op, which is how duplicates are dropped.
    """

    id: str
    key: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    status: MessageStatus = MessageStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None


class MessageQueue(Protocol):
    """Inbox and outbox share this shape."""

    async def add(self, message: QueuedMessage) -> bool:
        """Store the message unless its key exists; True if it was new."""
        ...

    async def claim(self, now: datetime, limit: int, lease_seconds: int) -> list[QueuedMessage]:
        """Take due PENDING messages (and RUNNING ones whose lease ran out) and mark them RUNNING."""
        ...

    async def complete(self, message_id: str) -> None: ...
    async def retry_later(self, message_id: str, error: str, at: datetime) -> None: ...
    async def dead(self, message_id: str, error: str) -> None: ...
    async def park(self, message_id: str, error: str) -> None:
        """Set the message PARKED: it names nothing we know; kept, never retried by itself."""
        ...

    async def requeue(self, message_id: str, now: datetime) -> None:
        """Put a DEAD or PARKED message back to PENDING (operator's `jobs retry`)."""
        ...

    async def get(self, message_id: str) -> QueuedMessage: ...
    async def get_by_key(self, key: str) -> QueuedMessage | None:
        """The message stored under `key`, if any (to compare a redelivery with the original)."""
        ...

    async def list(self, status: MessageStatus | None = None, limit: int = 100) -> list[QueuedMessage]: ...
    async def counts(self) -> dict[MessageStatus, int]: ...
    async def purge_done(self, before: datetime, limit: int = 500) -> int:
        """Delete up to `limit` DONE messages created before `before`; the number deleted.

        Their keys are forgotten with them: a provider redelivering such an event afterwards would
        be accepted again, so the retention must outlast every provider's redelivery window (Stripe
        retries for three days). DEAD and PARKED messages are never purged: an operator must look at them.
        """
        ...


@attrs.frozen
class IdempotentResponse:
    """A stored answer to a POST made with an Idempotency-Key."""

    scope: str
    key: str
    request_hash: str
    status: int
    body: dict[str, Any]
    created_at: datetime


#: `IdempotentResponse.status` of a reservation: a first attempt is running (see `begin`).
IN_PROGRESS = 0


class IdempotencyRepository(Protocol):
    """Answers to POSTs made with an Idempotency-Key, shared by every API process.

    A first attempt reserves its key (`begin`) before it acts, so two attempts with the same key at
    the same moment, on two processes, never both act: the second sees the reservation.
    """

    async def get(self, scope: str, key: str) -> IdempotentResponse | None: ...
    async def put(self, response: IdempotentResponse) -> bool:
        """Store unless the (scope, key) exists; False if it did."""
        ...

    async def begin(
        self, scope: str, key: str, request_hash: str, now: datetime, lease: timedelta
    ) -> IdempotentResponse | None:
        """Reserve (scope, key) for a first attempt: None means the caller holds it now, and must
        `finish` or `abandon` it. Otherwise the stored record: an answer to replay, or (status
        IN_PROGRESS) an attempt still running elsewhere. A reservation older than `lease` belongs to
        an attempt that died: it is taken over."""
        ...

    async def finish(self, response: IdempotentResponse) -> None:
        """Replace the caller's reservation of (scope, key) by the answer to replay."""
        ...

    async def abandon(self, scope: str, key: str) -> None:
        """Drop the reservation of an attempt that gave no answer worth replaying (a retry may run)."""
        ...

    async def purge(self, before: datetime, limit: int = 500) -> int:
        """Delete up to `limit` records (answers or dead reservations) created before `before`; the
        number deleted. A key is only worth keeping while a client may still retry with it."""
        ...


class UnitOfWork(Protocol):
    """A transaction over the store. Events of saved aggregates are persisted with the change;
    events whose class has `notify = True` also go into the outbox, in the same transaction."""

    investors: InvestorRepository
    instruments: InstrumentRepository
    orders: OrderRepository
    positions: PositionRepository
    repayments: RepaymentRepository
    withdrawals: WithdrawalRepository
    events: EventLog
    deposits: DepositRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    async def commit(self) -> None: ...

    def record(self, event: DomainEvent) -> None:
        """Persist an event not tied to a saved aggregate (e.g. an audit entry)."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class Store(Protocol):
    """Everything persistent: units of work plus the queues, journal and idempotency records that
    live outside business transactions."""

    def unit_of_work(self) -> UnitOfWork: ...

    inbox: MessageQueue
    outbox: MessageQueue
    journal: OperationJournal
    idempotency: IdempotencyRepository
    audit: AuditLog

    async def ping(self) -> None: ...
    async def close(self) -> None: ...

    #: Operators, API tokens, sign-in counters and approval requests (`AccessRecords`).
    access: AccessRecords


@attrs.frozen
class AccessRecord:
    """A small JSON document of the access-control side (an operator, an API token, an approval
    request), stored by (kind, id) with a version that guards every change."""

    kind: str
    id: str
    version: int
    data: dict[str, Any]


class AccessRecords(Protocol):
    """Who may act, and what waits for a second person: documents by (kind, id), changed only by
    compare-and-set on their version, so two processes deciding the same thing never both win."""

    async def get(self, kind: str, record_id: str) -> AccessRecord | None: ...

    async def create(self, kind: str, record_id: str, data: Mapping[str, Any]) -> bool:
        """Store version 1 unless (kind, id) exists; False if it did."""
        ...

    async def replace(self, kind: str, record_id: str, data: Mapping[str, Any], version: int) -> bool:
        """Replace the document if its stored version is still `version` (it becomes version + 1);
        False if another change came first or the record does not exist."""
        ...

    async def list(self, kind: str, after: str | None = None, limit: int = 100) -> list[AccessRecord]:
        """Records of a kind in id order, ids after `after`."""
        ...

    async def count_in_window(self, counter: str, window: int, limit: int, expires_at: float) -> bool:
        """Count one event of `counter` in the fixed window numbered `window` if fewer than `limit`
        were counted there, atomically for every process sharing the store; False (nothing counted)
        at the limit. A later window starts from zero; the count may be dropped after `expires_at`
        (epoch seconds). Shared rate limits (docs/http.md)."""
        ...


KycResultHandler = Callable[[str, KycResult], Awaitable[None]]
