"""What the submitter signs and returns: transaction hashes, canonical signatures, the intent's
fingerprint, the signing account, and a validated outcome."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from drexfy.adapters import secp256k1
from drexfy.domain.ports import JournalEntry

#: The fields autofill and signing add; the intent is the transaction without them.
AUTOFILLED = ("Sequence", "Fee", "LastLedgerSequence", "SigningPubKey", "TxnSignature")


def sha512half(data: bytes) -> bytes:
    return hashlib.sha512(data).digest()[:32]


def tx_hash(blob_hex: str) -> str:
    return sha512half(b"TXN\x00" + bytes.fromhex(blob_hex)).hex().upper()


@attrs.frozen
class Signer:
    """An account that signs: its vault wallet id, address and compressed public key (hex)."""

    wallet_id: str
    address: str
    public_key: str


@attrs.frozen
class Outcome:
    """A validated transaction: its hash, result and the synthetic meta fields callers need."""

    tx_id: str
    result: str
    ledger_index: int
    extras: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.result == "tesSUCCESS"


def der_signature(r: int, s: int) -> bytes:
    """DER of (r, s) with s normalised low (rippled requires canonical signatures)."""
    r, s, _ = secp256k1.normalize_s(r, s)
    return encode_dss_signature(r, s)


def fingerprint_of(tx: Mapping[str, Any]) -> str:
    """Digest of the intent: the transaction without the fields autofill and signing add."""
    intent = {k: v for k, v in tx.items() if k not in AUTOFILLED}
    return hashlib.sha256(json.dumps(intent, sort_keys=True, default=str).encode()).hexdigest()


def signer_fields(signer: Signer) -> dict[str, str]:
    """Who signs, kept with the entry so a restart can re-sign a replacement (public data only)."""
    return {"wallet_id": signer.wallet_id, "public_key": signer.public_key}


def entry_outcome(entry: JournalEntry) -> Outcome:
    """The outcome a finished journal entry recorded."""
    assert entry.tx_id is not None
    return Outcome(
        entry.tx_id,
        entry.result.get("code", ""),
        int(entry.result.get("ledger_index") or 0),
        dict(entry.result.get("extras", {})),
    )
