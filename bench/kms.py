"""KMS vault benchmark: signatures per second and KMS calls per purchase, local vs envelope vs signer.

All three run in one process against one moto server (over HTTP on loopback, started here), so the
figures compare the vaults' own costs: local AES-GCM + secp256k1 in Python, vs one KMS round trip
per signature. In AWS every KMS call also pays network latency (typically a few ms in-region) and is
subject to KMS request quotas (shared per account and region); absolute numbers there differ, the
calls-per-purchase figures do not.

A purchase on the EVM ledger makes two `sign_digest` calls (src/drexfy/adapters/evm): the investor
wallet's EIP-712 permit and the relayer's EIP-1559 transaction. The benchmark replays exactly those
two signatures per purchase (both keys live in the vault) and counts the KMS requests with a
botocore event hook.

    .venv/bin/python -m bench.kms         (or `make bench`, which runs every area)
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
WALLETS = 20
SIGNATURES = 200
PURCHASES = 50
CONCURRENCY = 8


async def _measure(name: str, vault: Any, counter: Any) -> dict[str, Any]:
    from drexfy.adapters import secp256k1

    def kms_calls() -> int:
        return counter.total if counter is not None else 0

    wallets = [f"wal_bench_{i}" for i in range(WALLETS)]
    before = kms_calls()
    started = time.perf_counter()
    keys = {w: await vault.create_key(w) for w in wallets}
    create_s = time.perf_counter() - started
    create_calls = kms_calls() - before

    digests = [os.urandom(32) for _ in range(SIGNATURES)]
    before = kms_calls()
    started = time.perf_counter()
    for i, digest in enumerate(digests):
        await vault.sign_digest(wallets[i % WALLETS], digest)
    serial_s = time.perf_counter() - started
    sign_calls = kms_calls() - before

    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int, digest: bytes) -> Any:
        async with semaphore:
            return await vault.sign_digest(wallets[i % WALLETS], digest)

    started = time.perf_counter()
    signatures = await asyncio.gather(*(one(i, d) for i, d in enumerate(digests)))
    concurrent_s = time.perf_counter() - started
    # Every signature checked, so a fast wrong answer cannot win.
    for i, (digest, signature) in enumerate(zip(digests, signatures, strict=True)):
        assert secp256k1.recover(digest, signature) == keys[wallets[i % WALLETS]], name

    relayer = "wal_bench_relayer"
    await vault.create_key(relayer)
    before = kms_calls()
    started = time.perf_counter()
    for i in range(PURCHASES):
        await vault.sign_digest(wallets[i % WALLETS], os.urandom(32))  # investor's EIP-712 permit
        await vault.sign_digest(relayer, os.urandom(32))  # relayer's settlement transaction
    purchase_s = time.perf_counter() - started
    purchase_calls = kms_calls() - before

    return {
        "vault": name,
        "create_key_per_s": round(WALLETS / create_s, 1),
        "kms_calls_per_create_key": round(create_calls / WALLETS, 2),
        "signatures_per_s_serial": round(SIGNATURES / serial_s, 1),
        "signatures_per_s_concurrent": round(SIGNATURES / concurrent_s, 1),
        "kms_calls_per_signature": round(sign_calls / SIGNATURES, 2),
        "purchases_per_s_signing_only": round(PURCHASES / purchase_s, 1),
        "kms_calls_per_purchase": round(purchase_calls / PURCHASES, 2),
        "kms_calls_by_operation": dict(counter.calls) if counter is not None else {},
    }


async def main() -> dict[str, Any]:
    from tests.support.moto import AWS_ENV, REGION, MotoServer

    from drexfy.adapters.aws import AwsSettings, CallCounter
    from drexfy.adapters.dynamodb.key_blobs import DynamoKeyBlobStore
    from drexfy.adapters.dynamodb.schema import create_table
    from drexfy.adapters.kms import EnvelopeKmsVault, KmsSignerVault
    from drexfy.adapters.local_vault import LocalVault

    for key, value in AWS_ENV.items():
        os.environ.setdefault(key, value)
    server = MotoServer()
    server.start()
    results = []
    try:
        settings = AwsSettings(region=REGION, endpoint_url=server.endpoint)
        with tempfile.TemporaryDirectory() as tmp:
            results.append(await _measure("local", LocalVault(Path(tmp), os.urandom(32)), None))

        kms = settings.client("kms")
        key_id = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
        dynamodb = settings.client("dynamodb")
        create_table(dynamodb, "bench")
        counter = CallCounter().attach(kms)
        envelope = EnvelopeKmsVault(kms, key_id, DynamoKeyBlobStore(dynamodb, "bench"))
        results.append(await _measure("kms-envelope", envelope, counter))

        signer_kms = settings.client("kms")
        counter = CallCounter().attach(signer_kms)
        results.append(await _measure("kms-signer", KmsSignerVault(signer_kms), counter))
    finally:
        server.stop()

    outcome = {
        "what": "KeyVault signing throughput and KMS requests; moto_server on loopback, one process",
        "note": "Absolute KMS latency and quotas in AWS differ (network round trip per call, per-account "
        "request quotas); the KMS calls per signature/purchase carry over unchanged.",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "parameters": {
            "wallets": WALLETS,
            "signatures": SIGNATURES,
            "purchases": PURCHASES,
            "concurrency": CONCURRENCY,
            "signatures_per_purchase": 2,
        },
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "kms.json").write_text(json.dumps(outcome, indent=2) + "\n")
    header = f"{'vault':<14}{'sig/s':>9}{'sig/s x8':>10}{'KMS/sig':>9}{'KMS/purchase':>14}{'create/s':>10}"
    print(header)
    for r in results:
        print(
            f"{r['vault']:<14}{r['signatures_per_s_serial']:>9}{r['signatures_per_s_concurrent']:>10}"
            f"{r['kms_calls_per_signature']:>9}{r['kms_calls_per_purchase']:>14}{r['create_key_per_s']:>10}"
        )
    return outcome


if __name__ == "__main__":
    asyncio.run(main())
