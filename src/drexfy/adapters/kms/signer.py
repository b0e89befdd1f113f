"""KMS signer vault: one asymmetric KMS key per wallet; the private key never leaves KMS.

- create: the alias `alias/drexfy-wallet/<wallet id>` is looked up first (idempotent); if absent, a key
  is created (KeySpec ECC_SECG_P256K1, KeyUsage SIGN_VERIFY, tag drexfy:wallet_id=<id>) and the alias
  pointed at it. If a concurrent create won the alias, our spare key is scheduled for deletion.
- public key: GetPublicKey returns a DER SubjectPublicKeyInfo; we keep the compressed point
  (cached in memory: it is public and immutable).
- sign: Sign(ECDSA_SHA_256, MessageType=DIGEST) over the 32-byte digest (EVM tx hash, EIP-712 digest,
  XRPL signing hash: KMS must not hash again); DER -> (r, s), s normalised to the low half, recovery id
  found by recovering the public key.

Sealing (`seal`/`unseal`, small secrets kept in the store) uses one symmetric KMS key found by the
alias `<prefix without its slash>-sealing` (created on first use), outside the wallets' alias space.

Wallet ids that are not alias-safe (letters, digits, `_`, `-`) are hashed into the alias; the tag
keeps the real id.

Factory::

    vault = await create_signer_vault(region="eu-west-1", endpoint_url=None,
                                      alias_prefix="alias/drexfy-wallet/")
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import Any

from drexfy.adapters import secp256k1
from drexfy.adapters.aws import AwsSettings, call, error_code
from drexfy.adapters.kms.envelope import kms_seal, kms_unseal
from drexfy.adapters.kms.errors import KmsRejected, translate
from drexfy.domain.errors import KeyNotFound, VaultError
from drexfy.domain.ports import RecoverableSignature

log = logging.getLogger(__name__)

TAG_KEY = "drexfy:wallet_id"
_ALIAS_SAFE = re.compile(r"[A-Za-z0-9_-]{1,200}")


class KmsSignerVault:
    """KeyVault backed by one KMS ECC_SECG_P256K1 key per wallet."""

    def __init__(self, kms: Any, alias_prefix: str = "alias/drexfy-wallet/", pending_window_days: int = 7) -> None:
        if not alias_prefix.startswith("alias/") or alias_prefix.startswith("alias/aws"):
            raise ValueError("alias_prefix must start with 'alias/' and not be AWS-reserved")
        self._kms = kms
        self._prefix = alias_prefix if alias_prefix.endswith("/") else alias_prefix + "/"
        self._pending_window_days = pending_window_days
        #: wallet id -> (KMS key id, compressed public key); both public.
        self._keys: dict[str, tuple[str, bytes]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._seal_key: str | None = None
        self._seal_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"KmsSignerVault(alias_prefix={self._prefix!r})"

    def alias_for(self, wallet_id: str) -> str:
        if _ALIAS_SAFE.fullmatch(wallet_id):
            return self._prefix + wallet_id
        return self._prefix + "h-" + hashlib.sha256(wallet_id.encode()).hexdigest()[:40]

    async def _lookup(self, wallet_id: str) -> tuple[str, bytes] | None:
        cached = self._keys.get(wallet_id)
        if cached is not None:
            return cached
        try:
            meta = (await call(self._kms.describe_key, KeyId=self.alias_for(wallet_id)))["KeyMetadata"]
        except Exception as exc:
            if error_code(exc) == "NotFoundException":
                return None
            raise translate(exc, "DescribeKey", wallet_id) from None
        if meta.get("KeyState") != "Enabled":
            raise KmsRejected(f"the KMS key of wallet {wallet_id!r} is {meta.get('KeyState')}")
        key_id = str(meta["KeyId"])
        try:
            der = (await call(self._kms.get_public_key, KeyId=key_id))["PublicKey"]
        except Exception as exc:
            raise translate(exc, "GetPublicKey", wallet_id) from None
        entry = (key_id, secp256k1.compressed_from_spki(der))
        self._keys[wallet_id] = entry
        return entry

    async def create_key(self, wallet_id: str) -> bytes:
        lock = self._locks.setdefault(wallet_id, asyncio.Lock())
        async with lock:
            found = await self._lookup(wallet_id)
            if found is not None:
                return found[1]
            try:
                meta = (
                    await call(
                        self._kms.create_key,
                        KeySpec="ECC_SECG_P256K1",
                        KeyUsage="SIGN_VERIFY",
                        Description=f"Drexfy custodial wallet {wallet_id}",
                        Tags=[{"TagKey": TAG_KEY, "TagValue": wallet_id[:256]}],
                    )
                )["KeyMetadata"]
            except Exception as exc:
                raise translate(exc, "CreateKey", wallet_id) from None
            try:
                await call(self._kms.create_alias, AliasName=self.alias_for(wallet_id), TargetKeyId=meta["KeyId"])
            except Exception as exc:
                if error_code(exc) != "AlreadyExistsException":
                    # The alias may or may not exist now (a lost response); never delete a key we
                    # cannot prove unused. A retry finds the alias or creates another key.
                    log.warning("KMS key created but alias failed", extra={"wallet_id": wallet_id})
                    raise translate(exc, "CreateAlias", wallet_id) from None
                # Another process created the wallet's key between our lookup and our alias.
                winner = await self._lookup(wallet_id)
                if winner is not None and winner[0] != meta["KeyId"]:
                    await self._discard(meta["KeyId"], wallet_id)
            found = await self._lookup(wallet_id)
            if found is None:
                raise VaultError(f"the KMS key of wallet {wallet_id!r} vanished right after creation")
            log.info("created KMS wallet key", extra={"wallet_id": wallet_id, "key": secp256k1.fingerprint(found[1])})
            return found[1]

    async def _discard(self, key_id: str, wallet_id: str) -> None:
        try:
            await call(self._kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=self._pending_window_days)
        except Exception:  # a leftover key costs money but harms nothing; say so and go on
            log.warning("could not schedule deletion of a spare KMS key", extra={"wallet_id": wallet_id})

    async def public_key(self, wallet_id: str) -> bytes:
        found = await self._lookup(wallet_id)
        if found is None:
            raise KeyNotFound(f"no KMS key for wallet {wallet_id!r}")
        return found[1]

    async def sign_digest(self, wallet_id: str, digest: bytes) -> RecoverableSignature:
        if len(digest) != 32:
            raise VaultError("a digest to sign must be exactly 32 bytes")
        found = await self._lookup(wallet_id)
        if found is None:
            raise KeyNotFound(f"no KMS key for wallet {wallet_id!r}")
        key_id, public_key = found
        try:
            response = await call(
                self._kms.sign,
                KeyId=key_id,
                Message=bytes(digest),
                MessageType="DIGEST",
                SigningAlgorithm="ECDSA_SHA_256",
            )
        except Exception as exc:
            raise translate(exc, "Sign", wallet_id) from None
        try:
            return secp256k1.from_der(response["Signature"], bytes(digest), public_key)
        except secp256k1.InvalidSignature as exc:
            # KMS hashed the digest again (MessageType ignored) or the key changed under the alias.
            raise KmsRejected(f"KMS returned a signature that is not over the digest for {wallet_id!r}") from exc

    async def ping(self) -> None:
        try:
            await call(self._kms.list_aliases, Limit=1)
        except Exception as exc:
            raise translate(exc, "ListAliases", "-") from None

    async def _sealing_key(self) -> str:
        if self._seal_key is not None:
            return self._seal_key
        alias = self._prefix.rstrip("/") + "-sealing"
        async with self._seal_lock:
            try:
                self._seal_key = str((await call(self._kms.describe_key, KeyId=alias))["KeyMetadata"]["KeyId"])
                return self._seal_key
            except Exception as exc:
                if error_code(exc) != "NotFoundException":
                    raise translate(exc, "DescribeKey", alias) from None
            try:
                key_id = (await call(self._kms.create_key, Description="Drexfy sealed secrets"))["KeyMetadata"]["KeyId"]
                await call(self._kms.create_alias, AliasName=alias, TargetKeyId=key_id)
            except Exception as exc:
                if error_code(exc) != "AlreadyExistsException":
                    raise translate(exc, "CreateKey", alias) from None
                await self._discard(key_id, alias)  # another process made it first: use theirs
                key_id = (await call(self._kms.describe_key, KeyId=alias))["KeyMetadata"]["KeyId"]
            self._seal_key = str(key_id)
            return self._seal_key

    async def seal(self, purpose: str, plaintext: bytes) -> bytes:
        return await kms_seal(self._kms, await self._sealing_key(), purpose, plaintext)

    async def unseal(self, purpose: str, sealed: bytes) -> bytes:
        return await kms_unseal(self._kms, await self._sealing_key(), purpose, sealed)


async def create_signer_vault(
    *,
    region: str = "eu-west-1",
    endpoint_url: str | None = None,
    alias_prefix: str = "alias/drexfy-wallet/",
    settings: AwsSettings | None = None,
) -> KmsSignerVault:
    """Build the signer vault from config values and check KMS answers."""
    settings = settings or AwsSettings(region=region, endpoint_url=endpoint_url)
    vault = KmsSignerVault(settings.client("kms"), alias_prefix)
    await vault.ping()
    return vault
