"""The KMS vaults against moto over HTTP: what each costs in KMS calls, how they fail, and that
their signatures are accepted by Ethereum (transactions, EIP-712 permits) and XRPL tooling."""

from __future__ import annotations

import os
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_account.typed_transactions import TypedTransaction
from xrpl.core import keypairs
from xrpl.core.binarycodec import encode_for_signing
from xrpl.core.keypairs.helpers import sha512_first_half
from xrpl.models.transactions import Payment

from drexfy.adapters import secp256k1
from drexfy.adapters.aws import AwsSettings, CallCounter
from drexfy.adapters.dynamodb import DynamoStore
from drexfy.adapters.dynamodb.key_blobs import DynamoKeyBlobStore
from drexfy.adapters.dynamodb.schema import create_table
from drexfy.adapters.evm.permit import permit_message
from drexfy.adapters.kms import EnvelopeKmsVault, KeyIntegrityError, KmsSignerVault, create_envelope_vault
from drexfy.domain.errors import KeyNotFound, VaultError
from drexfy.domain.ports import KeyVault, RecoverableSignature
from tests.integration.aws.conftest import fast_failing
from tests.support.moto import REGION, MotoServer


def _kms(server: MotoServer, attempts: int = 4) -> object:
    return fast_failing(server.endpoint, attempts).client("kms")


def _symmetric_key(kms: object) -> str:
    return kms.create_key(Description="wallet keys")["KeyMetadata"]["KeyId"]  # type: ignore[attr-defined]


def _envelope(server: MotoServer, store: DynamoStore, attempts: int = 4) -> tuple[EnvelopeKmsVault, CallCounter]:
    kms = _kms(server, attempts)
    counter = CallCounter().attach(kms)  # type: ignore[arg-type]
    return EnvelopeKmsVault(kms, _symmetric_key(kms), DynamoKeyBlobStore(store.client, store.table.name)), counter


def _signer(server: MotoServer, attempts: int = 4) -> tuple[KmsSignerVault, CallCounter]:
    kms = _kms(server, attempts)
    counter = CallCounter().attach(kms)  # type: ignore[arg-type]
    return KmsSignerVault(kms, alias_prefix=f"alias/t-{uuid.uuid4().hex[:10]}/"), counter


@pytest.fixture(params=["envelope", "signer"])
def vault(request: pytest.FixtureRequest, moto_server: MotoServer, dynamo_store: DynamoStore) -> KeyVault:
    if request.param == "envelope":
        return _envelope(moto_server, dynamo_store)[0]
    return _signer(moto_server)[0]


def _vrs(sig: RecoverableSignature) -> tuple[int, int, int]:
    return sig.recovery_id + 27, sig.r, sig.s


async def test_signatures_serve_eip712_permits(vault: KeyVault) -> None:
    public = await vault.create_key("wal_permit")
    owner = secp256k1.evm_address(public)
    typed = permit_message(
        chain_id=1287,
        token="0x" + "11" * 20,
        owner=owner,
        spender="0x" + "22" * 20,
        value=125_000,
        nonce=0,
        deadline=2**40,
        domain_name="Drexfy EUR",
    )
    signable = encode_typed_data(full_message=typed)
    digest = _hash_eip191_message(signable)
    signature = await vault.sign_digest("wal_permit", digest)
    assert Account.recover_message(signable, vrs=_vrs(signature)) == owner


async def test_signatures_serve_evm_transactions(vault: KeyVault) -> None:
    public = await vault.create_key("wal_tx")
    tx = {
        "type": 2,
        "chainId": 1287,
        "nonce": 7,
        "to": "0x" + "33" * 20,
        "value": 0,
        "gas": 90_000,
        "maxFeePerGas": 2_000_000_000,
        "maxPriorityFeePerGas": 1_000_000_000,
        "data": "0x",
    }
    unsigned = TypedTransaction.from_dict(tx)
    signature = await vault.sign_digest("wal_tx", unsigned.hash())
    signed = TypedTransaction.from_dict({**tx, "v": signature.recovery_id, "r": signature.r, "s": signature.s})
    assert Account.recover_transaction(signed.encode()) == secp256k1.evm_address(public)


async def test_signatures_serve_xrpl_secp256k1(vault: KeyVault) -> None:
    public = await vault.create_key("wal_xrpl")
    public_hex = public.hex().upper()
    account = keypairs.derive_classic_address(public_hex)
    payment = Payment(
        account=account,
        destination="rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe",
        amount="1000",
        sequence=5,
        fee="12",
        signing_pub_key=public_hex,
    )
    blob = encode_for_signing(payment.to_xrpl())
    digest = sha512_first_half(bytes.fromhex(blob))  # XRPL's signing hash
    signature = await vault.sign_digest("wal_xrpl", digest)
    der = encode_dss_signature(signature.r, signature.s).hex().upper()
    assert keypairs.is_valid_message(bytes.fromhex(blob), bytes.fromhex(der), public_hex)


async def test_kms_calls_per_action(moto_server: MotoServer, dynamo_store: DynamoStore) -> None:
    envelope, env_calls = _envelope(moto_server, dynamo_store)
    env_calls.reset()  # forget the set-up's CreateKey of the wallet-encryption key
    await envelope.create_key("wal_a")
    assert dict(env_calls.calls) == {"Encrypt": 1}
    env_calls.reset()
    await envelope.create_key("wal_a")
    assert env_calls.total == 0  # idempotent: the stored blob answers
    for _ in range(3):
        await envelope.sign_digest("wal_a", os.urandom(32))
    assert dict(env_calls.calls) == {"Decrypt": 3}

    signer, sig_calls = _signer(moto_server)
    await signer.create_key("wal_a")
    assert dict(sig_calls.calls) == {"DescribeKey": 2, "CreateKey": 1, "CreateAlias": 1, "GetPublicKey": 1}
    sig_calls.reset()
    for _ in range(3):
        await signer.sign_digest("wal_a", os.urandom(32))
    assert dict(sig_calls.calls) == {"Sign": 3}
    # A fresh process (no cache) finds the key by its alias instead of creating a second one.
    fresh = KmsSignerVault(_kms(moto_server), alias_prefix=signer._prefix)
    assert await fresh.create_key("wal_a") == await signer.public_key("wal_a")


async def test_signer_key_is_tagged_and_aliased_to_its_wallet(moto_server: MotoServer) -> None:
    signer, _ = _signer(moto_server)
    await signer.create_key("wal_tagged")
    kms = _kms(moto_server)
    key_id = kms.describe_key(KeyId=signer.alias_for("wal_tagged"))["KeyMetadata"]["KeyId"]  # type: ignore[attr-defined]
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]  # type: ignore[attr-defined]
    assert (meta["KeySpec"], meta["KeyUsage"]) == ("ECC_SECG_P256K1", "SIGN_VERIFY")
    tags = kms.list_resource_tags(KeyId=key_id)["Tags"]  # type: ignore[attr-defined]
    assert {"TagKey": "drexfy:wallet_id", "TagValue": "wal_tagged"} in tags
    # Ids that are not alias-safe still get a stable alias of their own.
    assert signer.alias_for("wal/ü") == signer.alias_for("wal/ü") != signer.alias_for("wal/u")


async def test_envelope_ciphertext_moved_between_wallet_rows_in_dynamodb_is_refused(
    moto_server: MotoServer, dynamo_store: DynamoStore
) -> None:
    vault, _ = _envelope(moto_server, dynamo_store)
    await vault.create_key("wal_victim")
    await vault.create_key("wal_thief")
    client, table = dynamo_store.client, dynamo_store.table.name
    victim = client.get_item(TableName=table, Key={"PK": {"S": "WALLETKEY#wal_victim"}, "SK": {"S": "WALLETKEY"}})
    client.update_item(
        TableName=table,
        Key={"PK": {"S": "WALLETKEY#wal_thief"}, "SK": {"S": "WALLETKEY"}},
        UpdateExpression="SET ciphertext = :c",
        ExpressionAttributeValues={":c": victim["Item"]["ciphertext"]},
    )
    with pytest.raises(KeyIntegrityError) as info:
        await vault.sign_digest("wal_thief", os.urandom(32))
    assert not info.value.transient
    # The victim's own row still works: the refusal is about the binding, not a broken key.
    await vault.sign_digest("wal_victim", os.urandom(32))


async def test_factory_builds_an_envelope_vault_from_config(moto_server: MotoServer, dynamo_store: DynamoStore) -> None:
    kms = _kms(moto_server)
    key_id = _symmetric_key(kms)
    blobs = DynamoKeyBlobStore(AwsSettings(REGION, moto_server.endpoint).client("dynamodb"), dynamo_store.table.name)
    vault = await create_envelope_vault(key_id=key_id, region=REGION, endpoint_url=moto_server.endpoint, blobs=blobs)
    public = await vault.create_key("wal_cfg")
    digest = os.urandom(32)
    assert secp256k1.recover(digest, await vault.sign_digest("wal_cfg", digest)) == public
    with pytest.raises(VaultError):
        await create_envelope_vault(
            key_id="alias/missing", region=REGION, endpoint_url=moto_server.endpoint, blobs=blobs
        )


@pytest.mark.parametrize("kind", ["envelope", "signer"])
async def test_kms_outage_is_transient_never_a_fallback_and_keys_survive_a_hang(
    kind: str, private_moto_server: MotoServer
) -> None:
    settings = fast_failing(private_moto_server.endpoint, attempts=2)
    store = DynamoStore(settings.client("dynamodb"), "keys")
    create_table(store.client, "keys")
    if kind == "envelope":
        kms = settings.client("kms")
        vault: KeyVault = EnvelopeKmsVault(kms, _symmetric_key(kms), DynamoKeyBlobStore(store.client, "keys"))
    else:
        vault = KmsSignerVault(settings.client("kms"))
    public = await vault.create_key("wal_1")
    digest = os.urandom(32)

    private_moto_server.pause()
    try:
        with pytest.raises(VaultError) as info:
            await vault.sign_digest("wal_1", digest)
        assert info.value.transient and not isinstance(info.value, KeyNotFound)
        with pytest.raises(VaultError):
            await vault.ping()
    finally:
        private_moto_server.resume()
    signature = await vault.sign_digest("wal_1", digest)
    assert secp256k1.recover(digest, signature) == public

    private_moto_server.stop()
    with pytest.raises(VaultError) as info:
        await vault.sign_digest("wal_1", digest)
    assert info.value.transient
