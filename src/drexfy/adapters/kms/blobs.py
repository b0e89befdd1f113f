"""Durable storage of the envelope vault's key ciphertexts.

A `KeyBlob` holds only what may be stored: the KMS ciphertext of the private key (useless without
KMS and the wallet's encryption context), the public key and the KMS key id. Two implementations:
`SqliteKeyBlobStore` here (a file next to the SQLite store) and
`drexfy.adapters.dynamodb.key_blobs.DynamoKeyBlobStore` (items in the store's table).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import attrs


@attrs.frozen
class KeyBlob:
    wallet_id: str
    ciphertext: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    public_key: bytes = attrs.field(repr=lambda b: b.hex())
    kms_key_id: str
    created_at: datetime = attrs.field(factory=lambda: datetime.now(UTC))


class KeyBlobStore(Protocol):
    async def put_if_absent(self, blob: KeyBlob) -> KeyBlob:
        """Store the blob unless the wallet has one; return the blob that is stored either way."""
        ...

    async def get(self, wallet_id: str) -> KeyBlob | None: ...

    async def ping(self) -> None: ...


class SqliteKeyBlobStore:
    """Key blobs in a SQLite file (one table, `wallet_id` primary key)."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS kms_key_blobs (wallet_id TEXT PRIMARY KEY, ciphertext BLOB NOT NULL,"
            " public_key BLOB NOT NULL, kms_key_id TEXT NOT NULL, created_at TEXT NOT NULL)"
        )

    def __repr__(self) -> str:
        return f"SqliteKeyBlobStore({self._path!r})"

    def _put(self, blob: KeyBlob) -> KeyBlob:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO kms_key_blobs VALUES (?, ?, ?, ?, ?)",
                (blob.wallet_id, blob.ciphertext, blob.public_key, blob.kms_key_id, blob.created_at.isoformat()),
            )
        stored = self._get(blob.wallet_id)
        assert stored is not None
        return stored

    def _get(self, wallet_id: str) -> KeyBlob | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT wallet_id, ciphertext, public_key, kms_key_id, created_at FROM kms_key_blobs"
                " WHERE wallet_id = ?",
                (wallet_id,),
            ).fetchone()
        if row is None:
            return None
        return KeyBlob(row[0], bytes(row[1]), bytes(row[2]), row[3], datetime.fromisoformat(row[4]))

    async def put_if_absent(self, blob: KeyBlob) -> KeyBlob:
        return await asyncio.to_thread(self._put, blob)

    async def get(self, wallet_id: str) -> KeyBlob | None:
        return await asyncio.to_thread(self._get, wallet_id)

    async def ping(self) -> None:
        await asyncio.to_thread(self._get, "")

    def close(self) -> None:
        self._conn.close()
