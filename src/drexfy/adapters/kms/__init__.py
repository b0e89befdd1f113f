"""AWS KMS key vaults (both implement `drexfy.domain.ports.KeyVault`).

- `EnvelopeKmsVault` (the seeds' model): the wallet key is made locally, encrypted with KMS `Encrypt`
  under one configured symmetric key with the encryption context {"drexfy:wallet_id": <id>}, and the
  ciphertext is kept in a `KeyBlobStore` (DynamoDB or SQLite). Each signature costs one KMS `Decrypt`.
- `KmsSignerVault`: one asymmetric KMS key per wallet (ECC_SECG_P256K1, SIGN_VERIFY); the private key
  never leaves KMS. Each signature costs one KMS `Sign`.

Build them from plain configuration values with the async factories `create_envelope_vault` and
`create_signer_vault`. See docs/aws.md.
"""

from __future__ import annotations

from pathlib import Path

from drexfy.adapters.aws import AwsSettings
from drexfy.adapters.kms.blobs import KeyBlob, KeyBlobStore, SqliteKeyBlobStore
from drexfy.adapters.kms.envelope import EnvelopeKmsVault, create_envelope_vault
from drexfy.adapters.kms.errors import KeyIntegrityError, KmsRejected
from drexfy.adapters.kms.signer import KmsSignerVault, create_signer_vault

__all__ = [
    "EnvelopeKmsVault",
    "KeyBlob",
    "KeyBlobStore",
    "KeyIntegrityError",
    "KmsRejected",
    "KmsSignerVault",
    "SqliteKeyBlobStore",
    "create_envelope_vault",
    "create_signer_vault",
    "open_kms_vault",
]


async def open_kms_vault(
    *,
    mode: str,
    region: str,
    endpoint_url: str | None = None,
    key_id: str | None = None,
    table: str | None = None,
    store_endpoint_url: str | None = None,
    data_dir: str | Path | None = None,
    alias_prefix: str = "alias/drexfy-wallet/",
) -> EnvelopeKmsVault | KmsSignerVault:
    """The container's entry point (`vault.kms.*`).

    mode "envelope": `key_id` (required) encrypts the wallet keys; the ciphertexts go to the DynamoDB
    `table` (reached at `store_endpoint_url`, or AWS) or, without a table, to
    `<data_dir>/kms-key-blobs.sqlite`. mode "signer": one KMS key per wallet under
    `<alias_prefix><wallet id>`, nothing stored here (tests sharing one KMS give each run its own
    prefix).
    """
    from drexfy.domain.errors import ConfigurationError

    kms = AwsSettings(region=region, endpoint_url=endpoint_url)
    if mode == "signer":
        return await create_signer_vault(settings=kms, alias_prefix=alias_prefix)
    if mode != "envelope":
        raise ConfigurationError(f"vault.kms.mode: unknown mode {mode!r} (envelope or signer)")
    if not key_id:
        raise ConfigurationError("vault.kms.key_id: required for the KMS envelope vault")
    blobs: KeyBlobStore
    if table:
        from drexfy.adapters.dynamodb.key_blobs import DynamoKeyBlobStore

        dynamodb = AwsSettings(region=region, endpoint_url=store_endpoint_url)
        blobs = DynamoKeyBlobStore(dynamodb.client("dynamodb"), table)
    else:
        blobs = SqliteKeyBlobStore(Path(data_dir or ".") / "kms-key-blobs.sqlite")
    vault = EnvelopeKmsVault(kms.client("kms"), key_id, blobs)
    await vault.ping()
    return vault
