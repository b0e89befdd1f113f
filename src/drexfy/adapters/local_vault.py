"""Local key vault: secp256k1 keys encrypted with AES-256-GCM under a master key.

Each wallet key is stored as one JSON file (nonce, ciphertext, public key) written once. The wallet id
is the AES-GCM associated data, so a ciphertext copied to another wallet's file does not decrypt.
The clear key exists only inside `sign_digest`, in a bytearray wiped after use (best effort: Python
may keep copies). The master key comes from a file or the DREXFY_VAULT_MASTER_KEY env var (64 hex
chars); it is generated on first run only when `allow_generate` is set (the embedded default), and
refused if missing otherwise (production).

`seal`/`unseal` encrypt small secrets kept elsewhere (TOTP secrets in the store) with AES-256-GCM
under a key derived from the master key by HKDF-SHA256 (so they never share a key with the wallet
keys), the purpose as associated data; the blob is nonce (12 bytes) then ciphertext.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from drexfy.adapters import files, secp256k1
from drexfy.domain.errors import ConfigurationError, KeyNotFound, VaultError, VaultIntegrityError
from drexfy.domain.ports import RecoverableSignature

_WALLET_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
MASTER_KEY_ENV = "DREXFY_VAULT_MASTER_KEY"


def load_master_key(path: Path | None, *, allow_generate: bool) -> bytes:
    """The 32-byte master key from the env var, else from `path`; generate it there if allowed."""
    from_env = os.environ.get(MASTER_KEY_ENV)
    if from_env:
        return _parse_master(from_env, MASTER_KEY_ENV)
    if path is not None and path.exists():
        return _parse_master(path.read_text().strip(), str(path))
    if not allow_generate or path is None:
        raise ConfigurationError(
            f"vault.master_key_file: no master key (set {MASTER_KEY_ENV} or create the file); "
            "refusing to generate one outside the embedded mode"
        )
    key = secrets.token_bytes(32)
    if files.publish_once(path, key.hex().encode()):
        return key
    # another process (say `serve` and `worker` started together) generated it first: use theirs
    return _parse_master(path.read_text().strip(), str(path))


def _parse_master(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: master key must be 64 hex characters") from exc
    if len(key) != 32:
        raise ConfigurationError(f"{where}: master key must be 32 bytes (64 hex characters)")
    return key


class LocalVault:
    """KeyVault on the local disk. Never returns or logs a private key."""

    def __init__(self, directory: Path, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ConfigurationError("vault master key must be 32 bytes")
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._aead = AESGCM(master_key)
        sealing = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"drexfy/local-vault/seal/v1")
        self._sealing = AESGCM(sealing.derive(master_key))
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"LocalVault(directory={str(self._dir)!r})"

    def _path(self, wallet_id: str) -> Path:
        if not _WALLET_ID.match(wallet_id):
            raise VaultError(f"invalid wallet id {wallet_id!r}")
        return self._dir / f"{wallet_id.replace(':', '__')}.json"

    async def create_key(self, wallet_id: str) -> bytes:
        lock = self._locks.setdefault(wallet_id, asyncio.Lock())
        async with lock:
            return await asyncio.to_thread(self._create, wallet_id)

    def _create(self, wallet_id: str) -> bytes:
        path = self._path(wallet_id)
        if path.exists():
            return self._read(wallet_id)[1]
        secret = secp256k1.generate_private_key()
        try:
            public = secp256k1.public_key_of(secret)
            nonce = secrets.token_bytes(12)
            ciphertext = self._aead.encrypt(nonce, bytes(secret), wallet_id.encode())
        finally:
            secp256k1.wipe(secret)
        record = {
            "wallet_id": wallet_id,
            "nonce": nonce.hex(),
            "ciphertext": ciphertext.hex(),
            "public_key": public.hex(),
        }
        if not files.publish_once(path, json.dumps(record).encode()):
            return self._read(wallet_id)[1]  # another process won the race; its key stands
        return public

    def _read(self, wallet_id: str) -> tuple[dict[str, str], bytes]:
        path = self._path(wallet_id)
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise KeyNotFound(f"no key for wallet {wallet_id}") from exc
        return record, bytes.fromhex(record["public_key"])

    async def public_key(self, wallet_id: str) -> bytes:
        return (await asyncio.to_thread(self._read, wallet_id))[1]

    async def sign_digest(self, wallet_id: str, digest: bytes) -> RecoverableSignature:
        if len(digest) != 32:
            raise VaultError("sign_digest needs a 32-byte digest")
        return await asyncio.to_thread(self._sign, wallet_id, digest)

    def _sign(self, wallet_id: str, digest: bytes) -> RecoverableSignature:
        record, public = self._read(wallet_id)
        try:
            clear = self._aead.decrypt(
                bytes.fromhex(record["nonce"]), bytes.fromhex(record["ciphertext"]), wallet_id.encode()
            )
        except InvalidTag as exc:
            raise VaultError(f"key material of wallet {wallet_id} does not belong to it or is corrupt") from exc
        secret = bytearray(clear)
        try:
            if secp256k1.public_key_of(secret) != public:
                raise VaultError(f"key material of wallet {wallet_id} does not match its public key")
            return secp256k1.sign(secret, digest)  # deterministic nonce, low s, recovery id
        finally:
            secp256k1.wipe(secret)

    async def ping(self) -> None:
        if not await asyncio.to_thread(os.access, self._dir, os.W_OK):
            raise VaultError(f"vault directory {self._dir} is not writable")

    async def seal(self, purpose: str, plaintext: bytes) -> bytes:
        if len(plaintext) > 4096:
            raise VaultError("a sealed secret is at most 4096 bytes")
        nonce = secrets.token_bytes(12)
        return nonce + self._sealing.encrypt(nonce, plaintext, b"seal:" + purpose.encode())

    async def unseal(self, purpose: str, sealed: bytes) -> bytes:
        try:
            return self._sealing.decrypt(sealed[:12], sealed[12:], b"seal:" + purpose.encode())
        except (InvalidTag, ValueError) as exc:
            raise VaultIntegrityError(f"a sealed secret for {purpose!r} does not open (tampered or not ours)") from exc
