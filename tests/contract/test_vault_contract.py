"""KeyVault contract: the same promises from the local vault, the KMS envelope vault and the KMS signer.

The KMS vaults talk to moto in server mode over HTTP (tests/support/moto.py). Each implementation comes
with a way for the *test* to read a stored secret out of band (to scan logs and reprs for it) and to
copy one wallet's stored ciphertext onto another's, where such a thing exists.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import boto3
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from drexfy.adapters import secp256k1
from drexfy.adapters.aws import AwsSettings
from drexfy.adapters.kms import EnvelopeKmsVault, KmsSignerVault, SqliteKeyBlobStore
from drexfy.adapters.local_vault import LocalVault
from drexfy.domain.errors import KeyNotFound, VaultError
from drexfy.domain.ports import KeyVault
from tests.support.moto import REGION, MotoServer, moto_server  # noqa: F401  (fixture)

Secret = Callable[[str], Awaitable[bytes | None]]
Copier = Callable[[str, str], Awaitable[None]]


@attrs.define
class VaultCase:
    vault: KeyVault
    #: The clear private key of a wallet read behind the vault's back (None: it never leaves the HSM).
    secret_of: Secret
    #: Copy the stored ciphertext of wallet `src` onto wallet `dst` (None: no ciphertext exists).
    copy_ciphertext: Copier | None


def _local_case(tmp_path: Path) -> VaultCase:
    master = os.urandom(32)
    directory = tmp_path / "vault"
    vault = LocalVault(directory, master)

    def _file(wallet_id: str) -> Path:
        return directory / f"{wallet_id.replace(':', '__')}.json"

    async def secret_of(wallet_id: str) -> bytes | None:
        record = json.loads(_file(wallet_id).read_text())
        return AESGCM(master).decrypt(
            bytes.fromhex(record["nonce"]), bytes.fromhex(record["ciphertext"]), wallet_id.encode()
        )

    async def copy(src: str, dst: str) -> None:
        source, target = json.loads(_file(src).read_text()), json.loads(_file(dst).read_text())
        target["nonce"], target["ciphertext"] = source["nonce"], source["ciphertext"]
        _file(dst).write_text(json.dumps(target))

    return VaultCase(vault, secret_of, copy)


def _envelope_case(server: MotoServer, tmp_path: Path) -> VaultCase:
    settings = AwsSettings(region=REGION, endpoint_url=server.endpoint)
    kms = settings.client("kms")
    key_id = kms.create_key(Description="drexfy test wallets")["KeyMetadata"]["KeyId"]
    db = tmp_path / "blobs.sqlite"
    vault = EnvelopeKmsVault(kms, key_id, SqliteKeyBlobStore(db))
    raw_kms = boto3.client("kms", region_name=REGION, endpoint_url=server.endpoint)

    def _row(wallet_id: str) -> tuple[bytes, bytes]:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT ciphertext, public_key FROM kms_key_blobs WHERE wallet_id = ?", (wallet_id,))
            ciphertext, public = row.fetchone()
        return bytes(ciphertext), bytes(public)

    async def secret_of(wallet_id: str) -> bytes | None:
        ciphertext, _ = _row(wallet_id)
        return bytes(
            raw_kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext={"drexfy:wallet_id": wallet_id})["Plaintext"]
        )

    async def copy(src: str, dst: str) -> None:
        ciphertext, _ = _row(src)
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE kms_key_blobs SET ciphertext = ? WHERE wallet_id = ?", (ciphertext, dst))

    return VaultCase(vault, secret_of, copy)


def _signer_case(server: MotoServer) -> VaultCase:
    settings = AwsSettings(region=REGION, endpoint_url=server.endpoint)
    # A fresh alias prefix per test keeps tests independent on the shared server.
    vault = KmsSignerVault(settings.client("kms"), alias_prefix=f"alias/t-{uuid.uuid4().hex[:12]}/")

    async def secret_of(wallet_id: str) -> bytes | None:
        return None

    return VaultCase(vault, secret_of, None)


def _build(request: pytest.FixtureRequest, tmp_path: Path) -> VaultCase:
    if request.param == "local":
        return _local_case(tmp_path)
    if request.param == "kms-envelope":
        return _envelope_case(request.getfixturevalue("moto_server"), tmp_path)
    return _signer_case(request.getfixturevalue("moto_server"))


@pytest.fixture(params=["local", "kms-envelope"])
async def secret_holding_case(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VaultCase]:
    """The vaults that hold key material outside KMS (encrypted): the signer vault has none, so the
    tests about what could leak or be copied do not apply to it."""
    yield _build(request, tmp_path)


@pytest.fixture(params=["local", "kms-envelope", "kms-signer"])
async def case(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VaultCase]:
    yield _build(request, tmp_path)


def _verify_independently(public_key: bytes, digest: bytes, r: int, s: int) -> None:
    """OpenSSL (through `cryptography`) checks the signature: not the code that made it."""
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), public_key)
    key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def _wallet() -> str:
    return f"wal_{uuid.uuid4().hex[:16]}"


async def test_create_key_is_idempotent_and_returns_a_compressed_public_key(case: VaultCase) -> None:
    wallet = _wallet()
    first = await case.vault.create_key(wallet)
    again = await case.vault.create_key(wallet)
    assert first == again
    assert len(first) == 33 and first[0] in (2, 3)
    assert await case.vault.public_key(wallet) == first


async def test_concurrent_creates_for_one_wallet_agree_on_one_key(case: VaultCase) -> None:
    wallet = _wallet()
    keys = await asyncio.gather(*(case.vault.create_key(wallet) for _ in range(4)))
    assert len(set(keys)) == 1
    assert await case.vault.public_key(wallet) == keys[0]


async def test_each_wallet_gets_its_own_key(case: VaultCase) -> None:
    a, b = await case.vault.create_key(_wallet()), await case.vault.create_key(_wallet())
    assert a != b


async def test_signatures_are_low_s_verify_and_recover_to_the_wallet_key(case: VaultCase) -> None:
    wallet = _wallet()
    public = await case.vault.create_key(wallet)
    for _ in range(5):
        digest = os.urandom(32)
        signature = await case.vault.sign_digest(wallet, digest)
        assert 0 < signature.r < secp256k1.N
        assert 0 < signature.s <= secp256k1.HALF_N, "s must be in the low half"
        assert signature.recovery_id in (0, 1)
        assert secp256k1.recover(digest, signature) == public
        _verify_independently(public, digest, signature.r, signature.s)


async def test_a_signature_does_not_verify_for_another_digest(case: VaultCase) -> None:
    wallet = _wallet()
    public = await case.vault.create_key(wallet)
    signature = await case.vault.sign_digest(wallet, bytes(32))
    with pytest.raises(InvalidSignature):
        _verify_independently(public, b"\x01" * 32, signature.r, signature.s)


async def test_unknown_wallet_raises_key_not_found(case: VaultCase) -> None:
    with pytest.raises(KeyNotFound):
        await case.vault.public_key("wal_never_created")
    with pytest.raises(KeyNotFound):
        await case.vault.sign_digest("wal_never_created", os.urandom(32))


async def test_only_32_byte_digests_are_signed(case: VaultCase) -> None:
    wallet = _wallet()
    await case.vault.create_key(wallet)
    for bad in (b"", os.urandom(31), os.urandom(33)):
        with pytest.raises(VaultError):
            await case.vault.sign_digest(wallet, bad)


async def test_private_key_never_appears_in_repr_or_logs(
    secret_holding_case: VaultCase, caplog: pytest.LogCaptureFixture
) -> None:
    case = secret_holding_case
    caplog.set_level(logging.DEBUG)  # everything, botocore's wire logging included
    wallet = _wallet()
    public = await case.vault.create_key(wallet)
    await case.vault.sign_digest(wallet, os.urandom(32))
    secret = await case.secret_of(wallet)
    assert secret is not None
    assert secp256k1.public_key_of(secret) == public  # the out-of-band read found the real key
    forms = {secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(), repr(secret)}
    text = caplog.text + repr(case.vault) + str(case.vault)
    for form in forms:
        assert form not in text


async def test_a_ciphertext_copied_to_another_wallet_does_not_sign(secret_holding_case: VaultCase) -> None:
    case = secret_holding_case
    assert case.copy_ciphertext is not None
    victim, other = _wallet(), _wallet()
    await case.vault.create_key(victim)
    await case.vault.create_key(other)
    await case.copy_ciphertext(victim, other)
    with pytest.raises(VaultError):
        await case.vault.sign_digest(other, os.urandom(32))


async def test_a_sealed_secret_opens_for_its_purpose_only_and_never_shows_in_clear(case: VaultCase) -> None:
    secret = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    sealed = await case.vault.seal("totp:opr_a", secret)
    assert secret not in sealed and base64.b32decode(secret) not in sealed
    assert await case.vault.unseal("totp:opr_a", sealed) == secret
    assert await case.vault.seal("totp:opr_a", secret) != sealed  # a fresh nonce / ciphertext each time
    with pytest.raises(VaultError):  # bound to its purpose: another operator's row does not open it
        await case.vault.unseal("totp:opr_b", sealed)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(VaultError):
        await case.vault.unseal("totp:opr_a", bytes(tampered))
