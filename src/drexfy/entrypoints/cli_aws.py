"""AWS commands, registered into the main `drexfy` parser.

    drexfy store init [--table T] [--region R] [--endpoint-url URL]
        create the DynamoDB table (single-table design, two GSIs) unless it exists; wait until ACTIVE.
    drexfy kms create-key [--alias alias/drexfy-wallets] [--region R] [--endpoint-url URL]
        create the symmetric KMS key the envelope vault encrypts wallet keys with (prints its id).

Defaults come from the configuration (`store.dynamodb.*`, `vault.kms.*`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    store = subparsers.add_parser("store", help="manage the persistent store")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    init = store_sub.add_parser("init", help="create the DynamoDB table unless it exists")
    init.add_argument("--table", default=None, help="table name (default: store.dynamodb.table)")
    init.add_argument("--region", default=None, help="AWS region (default: store.dynamodb.region)")
    init.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint (default: AWS or config)")
    _common(init)
    init.set_defaults(func=cmd_store_init)

    kms = subparsers.add_parser("kms", help="AWS KMS helpers")
    kms_sub = kms.add_subparsers(dest="kms_command", required=True)
    create = kms_sub.add_parser("create-key", help="create the envelope vault's symmetric KMS key")
    create.add_argument("--alias", default="alias/drexfy-wallets", help="alias to give the key")
    create.add_argument("--region", default=None, help="AWS region (default: vault.kms.region)")
    create.add_argument("--endpoint-url", default=None, help="KMS endpoint (default: AWS or config)")
    _common(create)
    create.set_defaults(func=cmd_kms_create_key)


def _common(parser: argparse.ArgumentParser) -> None:
    if not any(a.dest == "config" for a in parser._actions):
        parser.add_argument("--config", default=None, help="TOML configuration file (or DREXFY_CONFIG)")


def _settings(args: argparse.Namespace) -> Any:
    from drexfy.entrypoints.config import load_settings

    return load_settings(getattr(args, "config", None))


def cmd_store_init(args: argparse.Namespace) -> int:
    from drexfy.adapters.aws import AwsSettings
    from drexfy.adapters.dynamodb.schema import create_table

    settings = _settings(args)
    table = args.table or settings.get("store.dynamodb.table")
    aws = AwsSettings(
        region=args.region or settings.get("store.dynamodb.region"),
        endpoint_url=args.endpoint_url or settings.get("store.dynamodb.endpoint_url") or None,
    )
    created = create_table(aws.client("dynamodb"), table)
    print(json.dumps({"table": table, "created": created, "status": "ACTIVE"}))
    return 0


def cmd_kms_create_key(args: argparse.Namespace) -> int:
    from drexfy.adapters.aws import AwsSettings

    settings = _settings(args)
    aws = AwsSettings(
        region=args.region or settings.get("vault.kms.region"),
        endpoint_url=args.endpoint_url or settings.get("vault.kms.endpoint_url") or None,
    )
    kms = aws.client("kms")
    try:
        key_id = kms.describe_key(KeyId=args.alias)["KeyMetadata"]["KeyId"]
        created = False
    except kms.exceptions.NotFoundException:
        key_id = kms.create_key(Description="Drexfy wallet key encryption (envelope vault)")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=args.alias, TargetKeyId=key_id)
        created = True
    print(json.dumps({"key_id": key_id, "alias": args.alias, "created": created}))
    return 0
