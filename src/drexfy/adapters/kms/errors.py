"""Vault errors specific to KMS, and the translation of boto3 failures into domain errors."""

from __future__ import annotations

from drexfy.adapters.aws import error_code, is_transient
from drexfy.domain.errors import KeyNotFound, VaultError, VaultIntegrityError, VaultRejected


class KmsRejected(VaultRejected):
    """KMS refused the request (access denied, key disabled or pending deletion); retrying won't help."""

    code = "kms-rejected"


class KeyIntegrityError(VaultIntegrityError):
    """A stored key ciphertext does not belong to this wallet or does not match its public key."""


def translate(exc: BaseException, action: str, wallet_id: str) -> VaultError:
    """Map a boto3/botocore failure to a domain error. Messages carry ids and codes, never key bytes."""
    code = error_code(exc)
    if code == "NotFoundException":
        return KeyNotFound(f"no KMS key for wallet {wallet_id!r}")
    if code == "InvalidCiphertextException":
        return KeyIntegrityError(f"the key ciphertext of wallet {wallet_id!r} does not decrypt for it")
    if is_transient(exc):
        return VaultError(f"KMS unavailable during {action} for wallet {wallet_id!r}: {code or type(exc).__name__}")
    return KmsRejected(f"KMS refused {action} for wallet {wallet_id!r}: {code or type(exc).__name__}")
