"""The ledger double's state and transaction engine: a strict, small subset of rippled.

Everything here is synchronous and in memory. `Engine.submit(blob)` does what rippled's `submit`
does for a signed blob: decode it with xrpl-py's binary codec, check the signature, run the
preflight (tem), preclaim (tef/ter/tel) and apply (tes/tec) phases against the *open* ledger, and
report the provisional engine result. `Engine.close()` closes the open ledger; the double treats a
closed ledger as validated at once (like a stand-alone rippled after `ledger_accept`), so
`tx` reports `validated: true` and the final `meta.TransactionResult` only after a close.

Each rule names the xrpl.org page it follows. What is not modelled is refused loudly (a
`NotSupported` error), never accepted silently: multi-signing, regular keys, paths and
cross-currency payments, offers, escrows, checks, AMM, and every transaction type not in
`HANDLERS`. Batch answers `temDISABLED`, as on mainnet where the amendment is not enabled, unless
the engine is built with `amendments={"Batch"}` (then all-or-nothing batches are applied).
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from xrpl.core import addresscodec, binarycodec, keypairs

from tests.support.xrpl_double.codes import applied

# Ripple epoch (2000-01-01) in Unix seconds: ledger close times are seconds since then.
RIPPLE_EPOCH = 946684800

#: The stand-alone genesis account of rippled (public, documented test seed), funded at start.
GENESIS_SEED = "snoPBrXtMeMyMHUVTgbuqAfg1SUTb"
GENESIS_ADDRESS = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"
TOTAL_DROPS = 100_000_000_000 * 1_000_000

# --- flags (https://xrpl.org/docs/references/protocol/ledger-data/ledger-entry-types/accountroot) --
LSF_REQUIRE_DEST = 0x00020000
LSF_REQUIRE_AUTH = 0x00040000
LSF_DISALLOW_XRP = 0x00080000
LSF_NO_FREEZE = 0x00200000
LSF_GLOBAL_FREEZE = 0x00400000
LSF_DEFAULT_RIPPLE = 0x00800000
LSF_DEPOSIT_AUTH = 0x01000000
LSF_ALLOW_TRUSTLINE_CLAWBACK = 0x80000000
# AccountSet asf -> lsf (https://xrpl.org/docs/references/protocol/transactions/types/accountset)
ASF_TO_LSF = {
    1: LSF_REQUIRE_DEST,
    2: LSF_REQUIRE_AUTH,
    3: LSF_DISALLOW_XRP,
    6: LSF_NO_FREEZE,
    7: LSF_GLOBAL_FREEZE,
    8: LSF_DEFAULT_RIPPLE,
    9: LSF_DEPOSIT_AUTH,
    16: LSF_ALLOW_TRUSTLINE_CLAWBACK,
}
ASF_DISABLE_MASTER = 4
LSF_DISABLE_MASTER = 0x00100000

# RippleState flags (https://xrpl.org/docs/references/protocol/ledger-data/ledger-entry-types/ripplestate)
LSF_LOW_RESERVE, LSF_HIGH_RESERVE = 0x00010000, 0x00020000
LSF_LOW_AUTH, LSF_HIGH_AUTH = 0x00040000, 0x00080000
LSF_LOW_NO_RIPPLE, LSF_HIGH_NO_RIPPLE = 0x00100000, 0x00200000
LSF_LOW_FREEZE, LSF_HIGH_FREEZE = 0x00400000, 0x00800000
LSF_LOW_DEEP_FREEZE, LSF_HIGH_DEEP_FREEZE = 0x02000000, 0x04000000

# TrustSet flags (https://xrpl.org/docs/references/protocol/transactions/types/trustset)
TF_SETF_AUTH = 0x00010000
TF_SET_NO_RIPPLE = 0x00020000
TF_CLEAR_NO_RIPPLE = 0x00040000
TF_SET_FREEZE = 0x00100000
TF_CLEAR_FREEZE = 0x00200000
TF_SET_DEEP_FREEZE = 0x00400000
TF_CLEAR_DEEP_FREEZE = 0x00800000

# MPT flags (https://xrpl.org/docs/references/protocol/transactions/types/mptokenissuancecreate)
LSF_MPT_LOCKED = 0x01
LSF_MPT_CAN_LOCK = 0x02
LSF_MPT_REQUIRE_AUTH = 0x04
LSF_MPT_CAN_ESCROW = 0x08
LSF_MPT_CAN_TRADE = 0x10
LSF_MPT_CAN_TRANSFER = 0x20
LSF_MPT_CAN_CLAWBACK = 0x40
LSF_MPT_AUTHORIZED = 0x02  # on the holder's MPToken
TF_MPT_LOCK, TF_MPT_UNLOCK = 0x01, 0x02
TF_MPT_UNAUTHORIZE = 0x01
#: rippled Protocol.h `maxMPTokenAmount`: the default MaximumAmount of an issuance.
MAX_MPT_AMOUNT = 0x7FFFFFFFFFFFFFFF

# NFToken flags (https://xrpl.org/docs/references/protocol/transactions/types/nftokenmint)
TF_BURNABLE, TF_ONLY_XRP, TF_TRUSTLINE, TF_TRANSFERABLE, TF_MUTABLE = 0x01, 0x02, 0x04, 0x08, 0x10
TF_SELL_NFTOKEN = 0x01
NFT_PAGE_SIZE = 32

TF_FULLY_CANONICAL_SIG = 0x80000000
TF_INNER_BATCH_TXN = 0x40000000
TF_ALL_OR_NOTHING = 0x00010000
BATCH_MODES = 0x000F0000
TF_PARTIAL_PAYMENT = 0x00020000

#: Flags each transaction type accepts (besides tfFullyCanonicalSig); anything else is temINVALID_FLAG.
ALLOWED_FLAGS = {
    "Payment": 0x00010000 | TF_PARTIAL_PAYMENT | 0x00040000,
    "AccountSet": 0x00010000 | 0x00020000 | 0x00040000 | 0x00080000 | 0x00100000 | 0x00200000,
    "TrustSet": TF_SETF_AUTH
    | TF_SET_NO_RIPPLE
    | TF_CLEAR_NO_RIPPLE
    | TF_SET_FREEZE
    | TF_CLEAR_FREEZE
    | TF_SET_DEEP_FREEZE
    | TF_CLEAR_DEEP_FREEZE,
    "Clawback": 0,
    "MPTokenIssuanceCreate": LSF_MPT_CAN_LOCK
    | LSF_MPT_REQUIRE_AUTH
    | LSF_MPT_CAN_ESCROW
    | LSF_MPT_CAN_TRADE
    | LSF_MPT_CAN_TRANSFER
    | LSF_MPT_CAN_CLAWBACK,
    "MPTokenIssuanceSet": TF_MPT_LOCK | TF_MPT_UNLOCK,
    "MPTokenIssuanceDestroy": 0,
    "MPTokenAuthorize": TF_MPT_UNAUTHORIZE,
    "NFTokenMint": TF_BURNABLE | TF_ONLY_XRP | TF_TRUSTLINE | TF_TRANSFERABLE | TF_MUTABLE,
    "NFTokenBurn": 0,
    "NFTokenCreateOffer": TF_SELL_NFTOKEN,
    "NFTokenAcceptOffer": 0,
    "NFTokenCancelOffer": 0,
    "SignerListSet": 0,
}


class NotSupported(Exception):
    """The double does not model this; refused instead of pretending."""


class InvalidTransaction(Exception):
    """The blob fails local checks (rippled: `invalidTransaction`)."""


class Result(Exception):
    """A non-success result raised from inside a check or handler."""

    def __init__(self, code: str, why: str = "") -> None:
        super().__init__(f"{code}: {why}" if why else code)
        self.code = code
        self.why = why


def sha512half(data: bytes) -> bytes:
    return hashlib.sha512(data).digest()[:32]


def tx_hash(blob: bytes) -> str:
    """Transaction id: SHA-512Half of the 'TXN\\0' prefix and the signed blob."""
    return sha512half(b"TXN\x00" + blob).hex().upper()


def account_id(address: str) -> bytes:
    return addresscodec.decode_classic_address(address)


def iou_text(value: Decimal) -> str:
    """rippled-style decimal text: no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def parse_iou(value: Any) -> Decimal:
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise Result("temBAD_AMOUNT", f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise Result("temBAD_AMOUNT", "amount is not finite")
    return d


# ================================================================================================
# Ledger entries
# ================================================================================================


@dataclass
class AccountRoot:
    account: str
    balance: int
    sequence: int
    flags: int = 0
    owner_count: int = 0
    minted_nftokens: int = 0
    burned_nftokens: int = 0
    previous_txn_id: str = "0" * 64
    previous_txn_lgr_seq: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Account": self.account,
            "Balance": str(self.balance),
            "Flags": self.flags,
            "LedgerEntryType": "AccountRoot",
            "OwnerCount": self.owner_count,
            "PreviousTxnID": self.previous_txn_id,
            "PreviousTxnLgrSeq": self.previous_txn_lgr_seq,
            "Sequence": self.sequence,
            "index": sha512half(b"\x00a" + account_id(self.account)).hex().upper(),
        }
        if self.minted_nftokens:
            out["MintedNFTokens"] = self.minted_nftokens
        if self.burned_nftokens:
            out["BurnedNFTokens"] = self.burned_nftokens
        return out


@dataclass
class TrustLine:
    """A RippleState. `balance` is from the low account's side: positive = low holds high's IOU."""

    low: str
    high: str
    currency: str
    balance: Decimal = Decimal(0)
    low_limit: Decimal = Decimal(0)
    high_limit: Decimal = Decimal(0)
    flags: int = 0

    def side(self, account: str) -> str:
        return "low" if account == self.low else "high"

    def flag(self, account: str, low_flag: int, high_flag: int) -> bool:
        return bool(self.flags & (low_flag if account == self.low else high_flag))

    def set_flag(self, account: str, low_flag: int, high_flag: int, on: bool) -> None:
        bit = low_flag if account == self.low else high_flag
        self.flags = (self.flags | bit) if on else (self.flags & ~bit)

    def holding(self, account: str) -> Decimal:
        """What `account` holds on this line (negative: it owes / has issued)."""
        return self.balance if account == self.low else -self.balance

    def credit(self, account: str, amount: Decimal) -> None:
        """`account` comes to hold `amount` more."""
        self.balance += amount if account == self.low else -amount

    def limit(self, account: str) -> Decimal:
        return self.low_limit if account == self.low else self.high_limit

    def index(self) -> str:
        return (
            sha512half(b"\x00r" + account_id(self.low) + account_id(self.high) + _currency_bytes(self.currency))
            .hex()
            .upper()
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "LedgerEntryType": "RippleState",
            "Balance": {
                "currency": self.currency,
                "issuer": "rrrrrrrrrrrrrrrrrrrrBZbvji",
                "value": iou_text(self.balance),
            },
            "Flags": self.flags,
            "HighLimit": {"currency": self.currency, "issuer": self.high, "value": iou_text(self.high_limit)},
            "LowLimit": {"currency": self.currency, "issuer": self.low, "value": iou_text(self.low_limit)},
            "index": self.index(),
        }


def _currency_bytes(code: str) -> bytes:
    if len(code) == 40:
        return bytes.fromhex(code)
    return b"\x00" * 12 + code.encode("ascii") + b"\x00" * 5


@dataclass
class MPTIssuance:
    issuer: str
    sequence: int
    flags: int
    outstanding: int = 0
    maximum: int | None = None
    asset_scale: int = 0
    transfer_fee: int = 0
    metadata: str | None = None

    @property
    def id(self) -> str:
        return (self.sequence.to_bytes(4, "big") + account_id(self.issuer)).hex().upper()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "LedgerEntryType": "MPTokenIssuance",
            "Issuer": self.issuer,
            "Sequence": self.sequence,
            "Flags": self.flags,
            "OutstandingAmount": str(self.outstanding),
            "AssetScale": self.asset_scale,
            "mpt_issuance_id": self.id,
            "index": sha512half(b"\x00~" + bytes.fromhex(self.id)).hex().upper(),
        }
        if self.maximum is not None:
            out["MaximumAmount"] = str(self.maximum)
        if self.transfer_fee:
            out["TransferFee"] = self.transfer_fee
        if self.metadata is not None:
            out["MPTokenMetadata"] = self.metadata
        return out


@dataclass
class MPToken:
    account: str
    issuance_id: str
    amount: int = 0
    flags: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "LedgerEntryType": "MPToken",
            "Account": self.account,
            "MPTokenIssuanceID": self.issuance_id,
            "MPTAmount": str(self.amount),
            "Flags": self.flags,
            "index": sha512half(b"\x00t" + bytes.fromhex(self.issuance_id) + account_id(self.account)).hex().upper(),
        }


@dataclass
class NFToken:
    id: str
    owner: str
    issuer: str
    flags: int
    taxon: int
    serial: int
    uri: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Flags": self.flags,
            "Issuer": self.issuer,
            "NFTokenID": self.id,
            "NFTokenTaxon": self.taxon,
            "nft_serial": self.serial,
        }
        if self.uri is not None:
            out["URI"] = self.uri
        return out


@dataclass
class NFTOffer:
    index: str
    owner: str
    nftoken_id: str
    amount: Any
    flags: int
    destination: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "LedgerEntryType": "NFTokenOffer",
            "Owner": self.owner,
            "NFTokenID": self.nftoken_id,
            "Amount": self.amount,
            "Flags": self.flags,
            "index": self.index,
        }
        if self.destination:
            out["Destination"] = self.destination
        return out


@dataclass
class State:
    """Everything the ledger holds. Deep-copied to snapshot the validated ledger and to roll back."""

    accounts: dict[str, AccountRoot] = field(default_factory=dict)
    lines: dict[tuple[str, str, str], TrustLine] = field(default_factory=dict)
    issuances: dict[str, MPTIssuance] = field(default_factory=dict)
    mptokens: dict[tuple[str, str], MPToken] = field(default_factory=dict)
    nfts: dict[str, NFToken] = field(default_factory=dict)
    nft_offers: dict[str, NFTOffer] = field(default_factory=dict)
    #: SignerList per account (multisign.py).
    signer_lists: dict[str, Any] = field(default_factory=dict)

    def line(self, a: str, b: str, currency: str) -> TrustLine | None:
        low, high = sorted((a, b), key=account_id)
        return self.lines.get((low, high, currency))

    def lines_of(self, account: str) -> list[TrustLine]:
        return [ln for ln in self.lines.values() if account in (ln.low, ln.high)]

    def nfts_of(self, account: str) -> list[NFToken]:
        return sorted((n for n in self.nfts.values() if n.owner == account), key=lambda n: n.id)


@dataclass
class Fees:
    """Reserve and fee settings (https://xrpl.org/docs/concepts/accounts/reserves)."""

    base_fee: int = 10
    reserve_base: int = 1_000_000
    reserve_inc: int = 200_000
    #: Load-scaled cost to get into the open ledger; raise it to provoke telINSUF_FEE_P.
    open_ledger_fee: int = 10

    def reserve(self, owner_count: int) -> int:
        return self.reserve_base + owner_count * self.reserve_inc


@dataclass
class TxRecord:
    hash: str
    blob: str
    tx_json: dict[str, Any]
    result: str
    meta: dict[str, Any]
    ledger_index: int | None = None  # None while in the open ledger
    close_time: int | None = None


@dataclass
class SubmitOutcome:
    engine_result: str
    hash: str
    tx_json: dict[str, Any]
    applied: bool
    queued: bool = False
    why: str = ""


# ================================================================================================
# The engine
# ================================================================================================


class Engine:
    """The ledger: an open ledger on top of the last validated one."""

    def __init__(
        self,
        fees: Fees | None = None,
        genesis_drops: int = TOTAL_DROPS,
        amendments: frozenset[str] = frozenset(),
        network_id: int | None = None,
    ) -> None:
        self.fees = fees or Fees()
        #: The node's configured network id (rippled's `[network_id]`); None: not configured, as a
        #: stand-alone rippled without one (then server_info has no network_id and it counts as 0).
        self.network_id = network_id
        #: Enabled optional amendments. Only "Batch" (XLS-56) is known; off by default, as on mainnet.
        self.amendments = amendments
        self._digest = ""
        self._staged_inner: list[TxRecord] = []
        self.open = State()
        self.open.accounts[GENESIS_ADDRESS] = AccountRoot(GENESIS_ADDRESS, genesis_drops, 1)
        self.validated = copy.deepcopy(self.open)
        self.validated_index = 2  # rippled stand-alone starts with ledger 2 closed
        self.ledger_hashes: dict[int, str] = {2: sha512half(b"genesis").hex().upper()}
        self.close_time = int(time.time()) - RIPPLE_EPOCH
        self.txs: dict[str, TxRecord] = {}
        self.pending: list[str] = []  # hashes applied to the open ledger, in order
        self.held: list[tuple[str, dict[str, Any]]] = []  # terPRE_SEQ blobs to retry
        #: Every blob received by `submit`, in order (tests check re-submissions with it).
        self.submissions: list[str] = []
        #: Fault injection for tests: drop the next N submissions unseen (a lost broadcast).
        self.drop_next_submissions = 0
        self._touched: dict[str, dict[str, Any]] = {}

    @property
    def current_index(self) -> int:
        return self.validated_index + 1

    # --- submission ------------------------------------------------------------------------
    def submit(self, blob: str) -> SubmitOutcome:
        """rippled `submit` in binary mode (https://xrpl.org/docs/references/http-websocket-apis/
        public-api-methods/transaction-methods/submit)."""
        try:
            raw = bytes.fromhex(blob)
            tx = binarycodec.decode(blob)
        except Exception as exc:
            raise InvalidTransaction(f"fails local checks: cannot decode blob ({exc})") from exc
        digest = tx_hash(raw)
        # The codec renders UInt64 as 16 hex digits; rippled's JSON shows these amounts in decimal.
        for name in ("MaximumAmount",):
            if isinstance(tx.get(name), str) and len(tx[name]) == 16:
                tx[name] = str(int(tx[name], 16))
        tx_json = dict(tx, hash=digest)
        # Every transaction has these common fields (rippled TxFormats.cpp, soeREQUIRED): a blob
        # without one does not even deserialise into an STTx, so `submit` answers
        # invalidTransaction with the exception text, and nothing is applied or queued.
        for name in ("TransactionType", "Account", "Sequence", "Fee", "SigningPubKey"):
            if name not in tx:
                raise InvalidTransaction(f"Field '{name}' is required but missing.")
        if self.drop_next_submissions > 0:
            self.drop_next_submissions -= 1
            raise ConnectionAbortedError("the double dropped this submission (fault injection)")
        self.submissions.append(blob.upper())
        self._check_supported(tx)
        self._check_signature(tx)
        result, why = self._try_apply(tx, blob.upper(), digest)
        if result == "terPRE_SEQ":
            if all(b != blob.upper() for b, _ in self.held):
                self.held.append((blob.upper(), tx))
            return SubmitOutcome(result, digest, tx_json, False, queued=False, why=why)
        if applied(result):
            self._retry_held()
        return SubmitOutcome(result, digest, tx_json, applied(result), why=why)

    def _check_supported(self, tx: dict[str, Any], inner: bool = False) -> None:
        kind = tx.get("TransactionType")
        if kind == "Batch":
            if "Batch" not in self.amendments:
                return  # answered temDISABLED in preflight, like mainnet
            if inner:
                raise NotSupported("a Batch inside a Batch")
            if int(tx.get("Flags", 0)) & BATCH_MODES != TF_ALL_OR_NOTHING:
                raise NotSupported("the ledger double implements Batch in tfAllOrNothing mode only")
            for raw in tx.get("RawTransactions", []):
                self._check_supported(raw.get("RawTransaction", {}), inner=True)
            for signer in tx.get("BatchSigners", []):
                if "Signers" in signer.get("BatchSigner", {}):
                    raise NotSupported("the ledger double does not implement multi-signed BatchSigners")
            return
        if kind not in HANDLERS:
            raise NotSupported(f"the ledger double does not implement {kind} transactions")
        if tx.get("TicketSequence") is not None:
            raise NotSupported("the ledger double does not implement Tickets")
        unsupported_fields = {
            "Payment": ("Paths", "DeliverMin", "InvoiceID"),
            "TrustSet": ("QualityIn", "QualityOut"),
            "AccountSet": ("TransferRate", "TickSize", "NFTokenMinter", "WalletLocator", "MessageKey"),
            "NFTokenMint": ("Issuer", "Amount", "Destination", "Expiration"),
            "NFTokenCreateOffer": ("Expiration",),
        }.get(kind, ())
        for name in unsupported_fields:
            if name in tx:
                raise NotSupported(f"the ledger double does not implement {kind}.{name}")
        if kind == "Payment":
            if int(tx.get("Flags", 0)) & TF_PARTIAL_PAYMENT:
                raise NotSupported("the ledger double does not implement partial payments")
            if "SendMax" in tx and tx["SendMax"] != tx.get("Amount"):
                raise NotSupported("the ledger double does not implement cross-currency payments")
        if kind == "AccountSet":
            for name in ("SetFlag", "ClearFlag"):
                value = tx.get(name)
                if value is not None and value not in ASF_TO_LSF and value != ASF_DISABLE_MASTER:
                    raise NotSupported(f"the ledger double does not implement AccountSet {name}={value}")

    def _check_signature(self, tx: dict[str, Any]) -> None:
        """A single signature (https://xrpl.org/docs/concepts/transactions/cryptographic-keys) or
        a `Signers` array (multisign.py)."""
        if "Signers" in tx:
            _multisign.check_local(tx)
            return
        pub = tx.get("SigningPubKey")
        sig = tx.get("TxnSignature")
        if not pub or not sig:
            raise InvalidTransaction("fails local checks: Missing signature.")
        message = bytes.fromhex(binarycodec.encode_for_signing(tx))
        try:
            ok = keypairs.is_valid_message(message, bytes.fromhex(sig), pub)
        except Exception:
            ok = False
        if not ok:
            raise InvalidTransaction("fails local checks: Invalid signature.")

    def _try_apply(self, tx: dict[str, Any], blob: str, digest: str) -> tuple[str, str]:
        try:
            self._preflight(tx)
            self._preclaim(tx)
        except Result as res:
            return res.code, res.why
        acct = self.open.accounts[tx["Account"]]
        fee = int(tx["Fee"])
        before = copy.deepcopy(self.open)
        self._touched = {}
        self._digest = digest
        self._staged_inner = []
        prior_balance = acct.balance
        acct.balance -= fee
        acct.sequence += 1
        self._touch_account(acct)
        extra: dict[str, Any] = {}
        result, why = "tesSUCCESS", ""
        try:
            extra = HANDLERS[tx["TransactionType"]](self, tx, prior_balance) or {}
        except Result as res:
            result, why = res.code, res.why
        if result != "tesSUCCESS":
            if not result.startswith("tec"):  # a tem/tef raised late: not applied at all
                self.open = before
                return result, why
            # tec: roll back everything but the fee and the sequence.
            self.open = before
            acct = self.open.accounts[tx["Account"]]
            acct.balance -= fee
            acct.sequence += 1
            self._touched = {}
            self._touch_account(acct)
            extra = {}
        for entry in self._touched.values():
            entry.setdefault("FinalFields", {})
        meta: dict[str, Any] = {
            "AffectedNodes": [{node.pop("_node", "ModifiedNode"): node} for node in self._touched.values()],
            "TransactionIndex": len(self.pending),
            "TransactionResult": result,
            **extra,
        }
        for acc in self.open.accounts.values():
            if acc.account == tx["Account"]:
                acc.previous_txn_id = digest
                acc.previous_txn_lgr_seq = self.current_index
        self.txs[digest] = TxRecord(digest, blob, dict(tx), result, meta)
        self.pending.append(digest)
        for record in self._staged_inner:  # a Batch's applied inner transactions follow it
            record.meta["TransactionIndex"] = len(self.pending)
            self.txs[record.hash] = record
            self.pending.append(record.hash)
        self._staged_inner = []
        return result, why

    # --- Batch (XLS-56, https://xrpl.org/docs/concepts/transactions/batch-transactions) ---------
    def _preflight_batch(self, tx: dict[str, Any]) -> None:
        fee = tx.get("Fee")
        if not isinstance(fee, str) or not fee.isdigit():
            raise Result("temBAD_FEE", "Fee must be XRP drops")
        raws = [raw.get("RawTransaction", {}) for raw in tx.get("RawTransactions", [])]
        if len(raws) < 2:
            raise Result("temARRAY_EMPTY", "a Batch holds at least two transactions")
        if len(raws) > 8:
            raise Result("temARRAY_TOO_LARGE", "a Batch holds at most eight transactions")
        for inner in raws:
            flags = int(inner.get("Flags", 0))
            if (
                not flags & TF_INNER_BATCH_TXN
                or inner.get("Fee") != "0"
                or inner.get("SigningPubKey") != ""
                or ("TxnSignature" in inner)
            ):
                raise Result("temINVALID_INNER_BATCH", "inner transactions are unsigned, fee 0, tfInnerBatchTxn")
            if flags & ~(ALLOWED_FLAGS[inner["TransactionType"]] | TF_FULLY_CANONICAL_SIG | TF_INNER_BATCH_TXN):
                raise Result("temINVALID_FLAG", f"flags {flags:#x} not valid for {inner['TransactionType']}")
        outer = tx["Account"]
        required = {inner["Account"] for inner in raws} - {outer}
        signers = [entry["BatchSigner"] for entry in tx.get("BatchSigners", [])]
        if {s["Account"] for s in signers} != required or len(signers) != len(required):
            raise Result("temBAD_SIGNER", "every other account of the Batch must sign it once, no one else")
        ids = [tx_hash(bytes.fromhex(binarycodec.encode(inner))) for inner in raws]
        for signer in signers:
            message = binarycodec.encode_for_signing_batch(
                {
                    "account": outer,
                    "sequence": int(tx["Sequence"]),
                    "flags": int(tx.get("Flags", 0)),
                    "transaction_ids": ids,
                    "batch_account": signer["Account"],
                }
            )
            try:
                ok = keypairs.is_valid_message(
                    bytes.fromhex(message), bytes.fromhex(signer["TxnSignature"]), signer["SigningPubKey"]
                )
            except Exception:
                ok = False
            if not ok:
                raise Result("temBAD_SIGNATURE", f"invalid BatchSigner signature of {signer['Account']}")
            if keypairs.derive_classic_address(signer["SigningPubKey"]) != signer["Account"]:
                raise Result("tefBAD_AUTH_MASTER", f"BatchSigner key does not control {signer['Account']}")

    def apply_batch(self, tx: dict[str, Any]) -> None:
        """tfAllOrNothing: apply the inner transactions in order; if one does not succeed, none
        stays applied (the outer Batch still succeeds and its fee is claimed)."""
        saved = copy.deepcopy(self.open)
        staged: list[TxRecord] = []
        for raw in tx["RawTransactions"]:
            inner = dict(raw["RawTransaction"])
            blob = binarycodec.encode(inner)
            digest = tx_hash(bytes.fromhex(blob))
            code, extra = self._apply_inner(inner)
            if code != "tesSUCCESS":
                self.open = saved
                self._staged_inner = []
                return
            meta = {"AffectedNodes": [], "ParentBatchID": self._digest, "TransactionResult": code, **extra}
            staged.append(TxRecord(digest, blob, dict(inner, hash=digest), code, meta))
        self._staged_inner = staged

    def _apply_inner(self, inner: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        acct = self.open.accounts.get(inner["Account"])
        if acct is None:
            return "terNO_ACCOUNT", {}
        seq = int(inner.get("Sequence", 0))
        if seq != acct.sequence:
            return ("tefPAST_SEQ" if seq < acct.sequence else "terPRE_SEQ"), {}
        prior = acct.balance
        acct.sequence += 1
        try:
            return "tesSUCCESS", HANDLERS[inner["TransactionType"]](self, inner, prior) or {}
        except Result as res:
            return res.code, {}

    def _touch_account(self, acct: AccountRoot) -> None:
        self._touched[acct.account] = {
            "LedgerEntryType": "AccountRoot",
            "LedgerIndex": acct.to_json()["index"],
            "FinalFields": {
                "Account": acct.account,
                "Balance": str(acct.balance),
                "Sequence": acct.sequence,
                "OwnerCount": acct.owner_count,
                "Flags": acct.flags,
            },
        }

    def _preflight(self, tx: dict[str, Any]) -> None:
        """Checks that need no ledger state; failures are tem (never valid)."""
        if tx["TransactionType"] == "Batch":
            if "Batch" not in self.amendments:
                raise Result("temDISABLED", "Batch is not enabled on this network (as on mainnet)")
            self._preflight_batch(tx)
            return
        fee = tx.get("Fee")
        if not isinstance(fee, str) or not fee.isdigit():
            raise Result("temBAD_FEE", "Fee must be XRP drops")
        flags = int(tx.get("Flags", 0))
        if flags & ~(ALLOWED_FLAGS[tx["TransactionType"]] | TF_FULLY_CANONICAL_SIG):
            raise Result("temINVALID_FLAG", f"flags {flags:#x} not valid for {tx['TransactionType']}")
        self._check_network_id(tx)

    def _check_network_id(self, tx: dict[str, Any]) -> None:
        """rippled Transactor.cpp `preflight0`: on a network whose id is at most 1024 (mainnet 0,
        testnet 1, devnet 2) a transaction may not carry NetworkID at all; above 1024 it must carry
        the node's id. Both are tel: refused locally, not applied, no fee."""
        node = self.network_id or 0
        ours = tx.get("NetworkID")
        if node <= 1024:
            if ours is not None:
                raise Result("telNETWORK_ID_MAKES_TX_NON_CANONICAL", "this network's transactions carry no NetworkID")
        elif ours is None:
            raise Result("telREQUIRES_NETWORK_ID", f"network {node} needs NetworkID")
        elif int(ours) != node:
            raise Result("telWRONG_NETWORK", f"NetworkID {ours} is not this network's {node}")

    def _preclaim(self, tx: dict[str, Any]) -> None:
        """Checks against the open ledger that do not claim a fee: tel/ter/tef.

        - fee vs the open ledger cost and the balance: https://xrpl.org/docs/concepts/transactions/transaction-cost
        - the signing key must be the account's (master) key:
          https://xrpl.org/docs/concepts/accounts/cryptographic-keys
        - Sequence: https://xrpl.org/docs/references/protocol/data-types/basic-data-types#account-sequence
        - LastLedgerSequence: https://xrpl.org/docs/concepts/transactions/reliable-transaction-submission
        """
        fee = int(tx["Fee"])
        required = self.fees.open_ledger_fee
        if tx["TransactionType"] == "Batch":
            # XLS-56: twice the base fee, plus each inner transaction's, plus one per BatchSigner.
            required *= 2 + len(tx["RawTransactions"]) + len(tx.get("BatchSigners", []))
        else:
            required *= 1 + _multisign.signer_count(tx)  # one base fee more per signer
        if fee < required:
            raise Result("telINSUF_FEE_P", f"fee {fee} below the open ledger cost {required}")
        acct = self.open.accounts.get(tx["Account"])
        if acct is None:
            raise Result("terNO_ACCOUNT")
        _multisign.check_authority(self, tx)
        seq = int(tx.get("Sequence", 0))
        if seq < acct.sequence:
            raise Result("tefPAST_SEQ", f"account sequence is {acct.sequence}")
        lls = tx.get("LastLedgerSequence")
        if lls is not None and int(lls) < self.current_index:
            raise Result("tefMAX_LEDGER", f"LastLedgerSequence {lls} < open ledger {self.current_index}")
        if seq > acct.sequence:
            raise Result("terPRE_SEQ", f"account sequence is {acct.sequence}")
        if fee > acct.balance:
            raise Result("terINSUF_FEE_B")

    def _retry_held(self) -> None:
        progressed = True
        while progressed:
            progressed = False
            for blob, tx in list(self.held):
                lls = tx.get("LastLedgerSequence")
                if lls is not None and int(lls) < self.current_index:
                    self.held.remove((blob, tx))
                    continue
                acct = self.open.accounts.get(tx["Account"])
                if acct is not None and int(tx.get("Sequence", 0)) == acct.sequence:
                    self.held.remove((blob, tx))
                    self._try_apply(tx, blob, tx_hash(bytes.fromhex(blob)))
                    progressed = True

    # --- closing ---------------------------------------------------------------------------
    def close(self) -> int:
        """Close the open ledger; in the double a closed ledger is validated at once."""
        index = self.current_index
        self.close_time = max(self.close_time + 1, int(time.time()) - RIPPLE_EPOCH)
        for digest in self.pending:
            rec = self.txs[digest]
            rec.ledger_index = index
            rec.close_time = self.close_time
        self.pending = []
        self.validated = copy.deepcopy(self.open)
        self.validated_index = index
        self.ledger_hashes[index] = (
            sha512half(bytes.fromhex(self.ledger_hashes[index - 1]) + index.to_bytes(4, "big")).hex().upper()
        )
        self._retry_held()
        return index

    # --- helpers used by handlers ------------------------------------------------------------
    def account(self, address: str) -> AccountRoot:
        acct = self.open.accounts.get(address)
        if acct is None:
            raise Result("tecNO_DST", f"{address} does not exist")
        return acct

    def require_reserve(
        self, acct: AccountRoot, prior_balance: int, extra_objects: int = 1, code: str = "tecINSUFFICIENT_RESERVE"
    ) -> None:
        """An account that takes on new objects must hold the reserve for them, counted on its
        balance before the fee (https://xrpl.org/docs/concepts/accounts/reserves)."""
        needed = self.fees.reserve(acct.owner_count + extra_objects)
        if prior_balance < needed:
            raise Result(code, f"{acct.account} holds {prior_balance} drops, needs {needed}")

    def adjust_owner(self, address: str, delta: int) -> None:
        acct = self.open.accounts[address]
        acct.owner_count += delta
        assert acct.owner_count >= 0
        self._touch_account(acct)

    def owns_anything(self, address: str) -> bool:
        """Owner directory non-empty: objects it owns or trust lines it is party to."""
        s = self.open
        return self.open.accounts[address].owner_count > 0 or any(
            address in (ln.low, ln.high) for ln in s.lines.values()
        )

    def nft_pages(self, address: str, count: int | None = None) -> int:
        n = len(self.open.nfts_of(address)) if count is None else count
        return (n + NFT_PAGE_SIZE - 1) // NFT_PAGE_SIZE


Handler = Callable[[Engine, dict[str, Any], int], dict[str, Any] | None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


# Import the transaction rules so they register themselves.
from tests.support.xrpl_double import multisign as _multisign  # noqa: E402
from tests.support.xrpl_double import nfts as _nfts  # noqa: E402,F401
from tests.support.xrpl_double import rules as _rules  # noqa: E402,F401
from tests.support.xrpl_double import trustlines as _trustlines  # noqa: E402,F401
