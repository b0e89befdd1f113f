"""KMS envelope vault: wallet keys made locally, stored only as KMS ciphertexts bound to their wallet.

Choice: KMS `Encrypt` of the 32-byte key directly (not GenerateDataKey + local AES). The secret is far
below Encrypt's 4 KB limit, so a data key would add a second cipher and a second secret without
saving a KMS call: either way every signature needs one KMS `Decrypt`. The encryption context
{"drexfy:wallet_id": <wallet id>} is authenticated by KMS, so a ciphertext copied to another wallet's
row fails to decrypt (InvalidCiphertextException -> KeyIntegrityError), and CloudTrail logs which
wallet each Decrypt served.

The clear key exists only inside `create_key` (before encryption) and `sign_digest` (after
decryption), in a bytearray zeroed right after use. Best effort: boto3 and the big-int arithmetic
make copies Python cannot wipe. The clear key is never logged, returned, persisted or put in an error.

Factory::

    vault = await create_envelope_vault(
        region="eu-west-1", endpoint_url=None, key_id="alias/drexfy-wallets",
        blobs=SqliteKeyBlobStore(path),  # or DynamoKeyBlobStore(client, "drexfy") (items in the table)
    )
"""

from __future__ import annotations

import logging
from typing import Any

from drexfy.adapters import secp256k1
from drexfy.adapters.aws import AwsSettings, call
from drexfy.adapters.kms.blobs import KeyBlob, KeyBlobStore
from drexfy.adapters.kms.errors import KeyIntegrityError, translate
from drexfy.domain.errors import KeyNotFound, VaultError
from drexfy.domain.ports import RecoverableSignature

log = logging.getLogger(__name__)

CONTEXT_KEY = "drexfy:wallet_id"
SEAL_CONTEXT_KEY = "drexfy:sealed"


class EnvelopeKmsVault:
    """KeyVault whose keys are stored as KMS ciphertexts (see the module docstring)."""

    def __init__(self, kms: Any, key_id: str, blobs: KeyBlobStore) -> None:
        self._kms = kms
        self._key_id = key_id
        self._blobs = blobs

    def __repr__(self) -> str:
        return f"EnvelopeKmsVault(key_id={self._key_id!r}, blobs={self._blobs!r})"

    @staticmethod
    def _context(wallet_id: str) -> dict[str, str]:
        return {CONTEXT_KEY: wallet_id}

    async def create_key(self, wallet_id: str) -> bytes:
        existing = await self._blobs.get(wallet_id)
        if existing is not None:
            return existing.public_key
        private_key = secp256k1.generate_private_key()
        try:
            public_key = secp256k1.public_key_of(private_key)
            try:
                response = await call(
                    self._kms.encrypt,
                    KeyId=self._key_id,
                    Plaintext=bytes(private_key),
                    EncryptionContext=self._context(wallet_id),
                )
            except Exception as exc:
                raise translate(exc, "Encrypt", wallet_id) from None
        finally:
            secp256k1.wipe(private_key)
        blob = KeyBlob(wallet_id, response["CiphertextBlob"], public_key, str(response.get("KeyId", self._key_id)))
        # A concurrent create for the same wallet may have won: then its key is the wallet's key.
        stored = await self._blobs.put_if_absent(blob)
        log.info("created wallet key", extra={"wallet_id": wallet_id, "key": secp256k1.fingerprint(stored.public_key)})
        return stored.public_key

    async def _blob(self, wallet_id: str) -> KeyBlob:
        blob = await self._blobs.get(wallet_id)
        if blob is None:
            raise KeyNotFound(f"no key for wallet {wallet_id!r}")
        return blob

    async def public_key(self, wallet_id: str) -> bytes:
        return (await self._blob(wallet_id)).public_key

    async def sign_digest(self, wallet_id: str, digest: bytes) -> RecoverableSignature:
        if len(digest) != 32:
            raise VaultError("a digest to sign must be exactly 32 bytes")
        blob = await self._blob(wallet_id)
        try:
            response = await call(
                self._kms.decrypt,
                CiphertextBlob=blob.ciphertext,
                EncryptionContext=self._context(wallet_id),
                KeyId=blob.kms_key_id,
            )
        except Exception as exc:
            raise translate(exc, "Decrypt", wallet_id) from None
        private_key = bytearray(response.pop("Plaintext"))
        del response
        try:
            # The context already binds the ciphertext to the wallet; this also catches a row whose
            # public key was tampered with (or a key that is not a secp256k1 scalar).
            if len(private_key) != 32 or secp256k1.public_key_of(private_key) != blob.public_key:
                raise KeyIntegrityError(f"the stored key of wallet {wallet_id!r} does not match its public key")
            return secp256k1.sign(private_key, digest)
        finally:
            secp256k1.wipe(private_key)

    async def ping(self) -> None:
        try:
            await call(self._kms.describe_key, KeyId=self._key_id)
        except Exception as exc:
            raise translate(exc, "DescribeKey", "-") from None
        await self._blobs.ping()

    async def seal(self, purpose: str, plaintext: bytes) -> bytes:
        # The wallet keys' KMS key, another encryption-context key: a sealed secret never opens as a
        # wallet key nor the other way round, and CloudTrail names the purpose of each Decrypt.
        return await kms_seal(self._kms, self._key_id, purpose, plaintext)

    async def unseal(self, purpose: str, sealed: bytes) -> bytes:
        return await kms_unseal(self._kms, self._key_id, purpose, sealed)


async def kms_seal(kms: Any, key_id: str, purpose: str, plaintext: bytes) -> bytes:
    """KMS `Encrypt` of a small secret under `key_id`, bound to `purpose` by the encryption context."""
    if len(plaintext) > 4096:
        raise VaultError("a sealed secret is at most 4096 bytes")
    try:
        response = await call(
            kms.encrypt, KeyId=key_id, Plaintext=plaintext, EncryptionContext={SEAL_CONTEXT_KEY: purpose}
        )
    except Exception as exc:
        raise translate(exc, "Encrypt", f"sealed:{purpose}") from None
    return bytes(response["CiphertextBlob"])


async def kms_unseal(kms: Any, key_id: str, purpose: str, sealed: bytes) -> bytes:
    try:
        response = await call(
            kms.decrypt, CiphertextBlob=sealed, EncryptionContext={SEAL_CONTEXT_KEY: purpose}, KeyId=key_id
        )
    except Exception as exc:
        raise translate(exc, "Decrypt", f"sealed:{purpose}") from None
    return bytes(response.pop("Plaintext"))


async def create_envelope_vault(
    *,
    key_id: str,
    blobs: KeyBlobStore,
    region: str = "eu-west-1",
    endpoint_url: str | None = None,
    settings: AwsSettings | None = None,
) -> EnvelopeKmsVault:
    """Build the envelope vault from config values; ciphertexts go to `blobs` (the caller's choice:
    DynamoDB items in the store's table, or a SQLite file). The KMS key must exist (checked here)."""
    settings = settings or AwsSettings(region=region, endpoint_url=endpoint_url)
    vault = EnvelopeKmsVault(settings.client("kms"), key_id, blobs)
    await vault.ping()
    return vault
