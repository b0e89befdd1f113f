"""`KeyBlobStore` (envelope vault ciphertexts) as items of the store's DynamoDB table.

Item: PK = ``WALLETKEY#<wallet id>``, SK = ``WALLETKEY``; written once with
``attribute_not_exists(PK)``, so two concurrent creates keep the first key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drexfy.adapters.aws import call, error_code, is_transient
from drexfy.adapters.kms.blobs import KeyBlob
from drexfy.domain.errors import VaultError


def _key(wallet_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"WALLETKEY#{wallet_id}"}, "SK": {"S": "WALLETKEY"}}


class DynamoKeyBlobStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def __repr__(self) -> str:
        return f"DynamoKeyBlobStore(table={self._table!r})"

    @staticmethod
    def _fail(exc: BaseException, action: str) -> VaultError:
        error = VaultError(f"DynamoDB {action} of a key blob failed: {error_code(exc) or type(exc).__name__}")
        error.transient = is_transient(exc)
        return error

    async def put_if_absent(self, blob: KeyBlob) -> KeyBlob:
        item = {
            **_key(blob.wallet_id),
            "wallet_id": {"S": blob.wallet_id},
            "ciphertext": {"B": blob.ciphertext},
            "public_key": {"B": blob.public_key},
            "kms_key_id": {"S": blob.kms_key_id},
            "created_at": {"S": blob.created_at.isoformat()},
        }
        try:
            await call(
                self._client.put_item, TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(PK)"
            )
            return blob
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise self._fail(exc, "PutItem") from None
        stored = await self.get(blob.wallet_id)
        assert stored is not None
        return stored

    async def get(self, wallet_id: str) -> KeyBlob | None:
        try:
            response = await call(
                self._client.get_item, TableName=self._table, Key=_key(wallet_id), ConsistentRead=True
            )
        except Exception as exc:
            raise self._fail(exc, "GetItem") from None
        item = response.get("Item")
        if item is None:
            return None
        return KeyBlob(
            wallet_id=item["wallet_id"]["S"],
            ciphertext=bytes(item["ciphertext"]["B"]),
            public_key=bytes(item["public_key"]["B"]),
            kms_key_id=item["kms_key_id"]["S"],
            created_at=datetime.fromisoformat(item["created_at"]["S"]),
        )

    async def ping(self) -> None:
        try:
            await call(self._client.describe_table, TableName=self._table)
        except Exception as exc:
            raise self._fail(exc, "DescribeTable") from None
