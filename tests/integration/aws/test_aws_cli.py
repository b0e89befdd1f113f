"""`drexfy store init` and `drexfy kms create-key` against moto."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from drexfy.adapters.dynamodb import open_dynamodb_store
from drexfy.adapters.kms import KmsConfig, SqliteKeyBlobStore, open_kms_vault
from drexfy.entrypoints.cli_aws import register
from tests.support.moto import REGION, MotoServer


def _run(argv: list[str]) -> dict:
    import argparse

    parser = argparse.ArgumentParser(prog="drexfy")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args


async def test_store_init_creates_the_table_once_and_the_store_opens_on_it(
    moto_server: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    table = f"drexfy-cli-{uuid.uuid4().hex[:8]}"
    argv = ["store", "init", "--table", table, "--region", REGION, "--endpoint-url", moto_server.endpoint]
    for expected in (True, False):
        args = _run(argv)
        assert args.func(args) == 0
        assert json.loads(capsys.readouterr().out)["created"] is expected
    description = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server.endpoint).describe_table(
        TableName=table
    )["Table"]
    assert {k["AttributeName"] for k in description["KeySchema"]} == {"PK", "SK"}
    assert sorted(i["IndexName"] for i in description["GlobalSecondaryIndexes"]) == ["GSI1", "GSI2"]
    store = await open_dynamodb_store(table=table, region=REGION, endpoint_url=moto_server.endpoint)
    await store.ping()
    await store.close()


async def test_store_refuses_to_open_on_a_missing_table(moto_server: MotoServer) -> None:
    from drexfy.adapters.dynamodb import StoreFailure

    with pytest.raises(StoreFailure, match="drexfy store init"):
        await open_dynamodb_store(table="no-such-table", region=REGION, endpoint_url=moto_server.endpoint)


async def test_kms_create_key_then_the_container_entry_point_opens_both_vault_modes(
    moto_server: MotoServer, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    alias = f"alias/drexfy-{uuid.uuid4().hex[:8]}"
    args = _run(["kms", "create-key", "--alias", alias, "--region", REGION, "--endpoint-url", moto_server.endpoint])
    assert args.func(args) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["created"] is True
    args.func(args)
    assert json.loads(capsys.readouterr().out)["key_id"] == created["key_id"]

    envelope = await open_kms_vault(
        KmsConfig("envelope", REGION, moto_server.endpoint, key_id=alias),
        SqliteKeyBlobStore(tmp_path / "kms-key-blobs.sqlite"),
    )
    signer = await open_kms_vault(KmsConfig("signer", REGION, moto_server.endpoint))
    for vault in (envelope, signer):
        public = await vault.create_key(f"wal_{uuid.uuid4().hex[:6]}")
        assert len(public) == 33
