"""secp256k1 helpers shared by the key vaults: signing, recovery, DER and SPKI parsing, addresses.

The curve arithmetic is libsecp256k1 through coincurve (signing in pure Python cost ~1.3 ms and held
the GIL: a third of a settlement's CPU time on a busy relayer); this module adds what the vaults need
around it: low-s normalisation, recovery-id search for signatures
made elsewhere (AWS KMS returns DER without a recovery id), compressed public keys and parsing of
KMS' DER SubjectPublicKeyInfo.

Private keys are handled as `bytearray` so callers can wipe them after use (best effort: the
big-int arithmetic below makes copies Python cannot zero).
"""

from __future__ import annotations

import hashlib
import secrets

import coincurve
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from drexfy.domain.ports import RecoverableSignature

#: Order of the secp256k1 group.
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = N // 2


class InvalidSignature(ValueError):
    """The bytes do not form a valid secp256k1 signature for this digest and key."""


def _check_digest(digest: bytes) -> None:
    if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
        raise ValueError("a digest to sign must be exactly 32 bytes")


def generate_private_key() -> bytearray:
    """A uniformly random scalar in [1, N-1], as 32 big-endian bytes in a wipeable bytearray."""
    while True:
        candidate = bytearray(secrets.token_bytes(32))
        if 0 < int.from_bytes(candidate, "big") < N:
            return candidate
        wipe(candidate)


def wipe(buffer: bytearray) -> None:
    """Overwrite a secret in place (best effort: Python may hold other copies)."""
    for i in range(len(buffer)):
        buffer[i] = 0


def public_key_of(private_key: bytes | bytearray) -> bytes:
    """The compressed (33-byte) public key of a private key."""
    return bytes(coincurve.PublicKey.from_secret(bytes(private_key)).format(compressed=True))


def sign(private_key: bytes | bytearray, digest: bytes) -> RecoverableSignature:
    """Sign a 32-byte digest (RFC 6979 nonce), low s (libsecp256k1 always normalises), with its
    recovery id."""
    _check_digest(digest)
    raw = coincurve.PrivateKey(bytes(private_key)).sign_recoverable(bytes(digest), hasher=None)
    return RecoverableSignature(
        r=int.from_bytes(raw[:32], "big"), s=int.from_bytes(raw[32:64], "big"), recovery_id=raw[64]
    )


def normalize_s(r: int, s: int) -> tuple[int, int, bool]:
    """Return (r, s') with s' <= N/2, and whether s was flipped (which flips the recovery id)."""
    if s > HALF_N:
        return r, N - s, True
    return r, s, False


def recover(digest: bytes, signature: RecoverableSignature) -> bytes:
    """The compressed public key that made `signature` over `digest` (InvalidSignature if none)."""
    _check_digest(digest)
    if signature.recovery_id not in (0, 1, 2, 3) or not 0 < signature.r < N or not 0 < signature.s < N:
        raise InvalidSignature("signature values out of range")
    raw = signature.r.to_bytes(32, "big") + signature.s.to_bytes(32, "big") + bytes([signature.recovery_id])
    try:
        key = coincurve.PublicKey.from_signature_and_message(raw, bytes(digest), hasher=None)
    except Exception as exc:  # coincurve raises ValueError for signatures that recover no key
        raise InvalidSignature(str(exc)) from exc
    return bytes(key.format(compressed=True))


def verify(digest: bytes, signature: RecoverableSignature, public_key: bytes) -> bool:
    """True if `signature` is a valid low-s signature of `digest` by `public_key` (compressed)."""
    if not 0 < signature.r < N or not 0 < signature.s <= HALF_N:
        return False
    try:
        return recover(digest, signature) == public_key
    except InvalidSignature:
        return False


def from_der(der: bytes, digest: bytes, public_key: bytes) -> RecoverableSignature:
    """Turn a DER ECDSA signature made elsewhere (e.g. KMS Sign) into a low-s recoverable one.

    The recovery id is found by recovering with 0 and 1 and keeping the one that yields
    `public_key`; if neither does, the signature is not by that key for that digest.
    """
    _check_digest(digest)
    try:
        r, s = decode_dss_signature(der)
    except ValueError as exc:
        raise InvalidSignature(f"not a DER ECDSA signature: {exc}") from exc
    r, s, _ = normalize_s(r, s)
    for recovery_id in (0, 1):
        candidate = RecoverableSignature(r=r, s=s, recovery_id=recovery_id)
        try:
            if recover(digest, candidate) == public_key:
                return candidate
        except InvalidSignature:
            continue
    raise InvalidSignature("signature does not recover to the expected public key")


def compressed_from_spki(der: bytes) -> bytes:
    """Compressed public key from a DER SubjectPublicKeyInfo (what KMS GetPublicKey returns)."""
    key = serialization.load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256K1):
        raise ValueError("not a secp256k1 public key")
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def uncompressed(public_key: bytes) -> bytes:
    """The 65-byte uncompressed SEC1 form (0x04 || x || y) of a compressed public key."""
    return bytes(coincurve.PublicKey(bytes(public_key)).format(compressed=False))


def evm_address(public_key: bytes) -> str:
    """EIP-55 checksummed EVM address: keccak of the uncompressed point, last 20 bytes."""
    return to_checksum_address(keccak(uncompressed(public_key)[1:])[-20:])


def fingerprint(public_key: bytes) -> str:
    """A short non-secret identifier of a public key, for logs."""
    return hashlib.sha256(public_key).hexdigest()[:16]
