"""AWS KMS key vaults (both implement `drexfy.domain.ports.KeyVault`).

- `EnvelopeKmsVault` (the seeds' model): the wallet key is made locally, encrypted with KMS `Encrypt`
  under one configured symmetric key with the encryption context {"drexfy:wallet_id": <id>}, and the
  ciphertext is kept in a `KeyBlobStore` (DynamoDB or SQLite). Each signature costs one KMS `Decrypt`.
- `KmsSignerVault`: one asymmetric KMS key per wallet (ECC_SECG_P256K1, SIGN_VERIFY); the private key
  never leaves KMS. Each signature costs one KMS `Sign`.

The container builds them with `open_kms_vault(KmsConfig, blobs)`; it alone chooses where the
envelope vault's ciphertexts go, so this package imports no store. See docs/aws.md.
"""

from __future__ import annotations

import attrs

from drexfy.adapters.aws import AwsSettings
from drexfy.adapters.kms.blobs import KeyBlob, KeyBlobStore, SqliteKeyBlobStore
from drexfy.adapters.kms.envelope import EnvelopeKmsVault, create_envelope_vault
from drexfy.adapters.kms.errors import KeyIntegrityError, KmsRejected
from drexfy.adapters.kms.signer import KmsSignerVault, create_signer_vault
from drexfy.domain.errors import ConfigurationError

__all__ = [
    "EnvelopeKmsVault",
    "KeyBlob",
    "KeyBlobStore",
    "KeyIntegrityError",
    "KmsConfig",
    "KmsRejected",
    "KmsSignerVault",
    "SqliteKeyBlobStore",
    "create_envelope_vault",
    "create_signer_vault",
    "open_kms_vault",
]


@attrs.frozen
class KmsConfig:
    """The KMS vault's settings (`vault.kms.*`), validated by the configuration loader.

    - `mode`: "envelope" (wallet keys encrypted under `key_id`, ciphertexts in a KeyBlobStore) or
      "signer" (one KMS key per wallet under `<alias_prefix><wallet id>`; tests sharing one KMS give
      each run its own prefix);
    - `region`, `endpoint_url`: where KMS answers (None: AWS itself).
    """

    mode: str
    region: str
    endpoint_url: str | None = None
    key_id: str | None = None
    alias_prefix: str = "alias/drexfy-wallet/"


async def open_kms_vault(config: KmsConfig, blobs: KeyBlobStore | None = None) -> EnvelopeKmsVault | KmsSignerVault:
    """The KMS vault `config` names. The envelope vault keeps its ciphertexts in `blobs`, which the
    container chooses (DynamoDB or SQLite); the signer vault stores nothing."""
    kms = AwsSettings(region=config.region, endpoint_url=config.endpoint_url)
    if config.mode == "signer":
        return await create_signer_vault(settings=kms, alias_prefix=config.alias_prefix)
    if config.mode != "envelope":
        raise ConfigurationError(f"vault.kms.mode: unknown mode {config.mode!r} (envelope or signer)")
    if not config.key_id:
        raise ConfigurationError("vault.kms.key_id: required for the KMS envelope vault")
    if blobs is None:
        raise ConfigurationError("the KMS envelope vault needs a store for its key ciphertexts")
    vault = EnvelopeKmsVault(kms.client("kms"), config.key_id, blobs)
    await vault.ping()
    return vault
