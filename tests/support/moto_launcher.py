"""Start `moto_server` with corrections that make it behave like AWS where our tests depend on it.

1. Requests are applied one at a time. moto's server is threaded and its backends take no locks, so
   two concurrent conditional writes can both pass their condition (we saw a queue message claimed
   twice). DynamoDB applies each request atomically; a lock around moto's WSGI app gives the same
   guarantee (connections are still accepted concurrently).
2. KMS `Sign` honours `MessageType=DIGEST`.

moto 5.2 ignores MessageType and always hashes the message again (its own docstring says DIGEST "is not
yet implemented"), so an ECDSA_SHA_256 signature over a 32-byte digest comes back as a signature over
SHA-256(digest). Real AWS KMS signs the digest as given. The signer vault must send DIGEST (Ethereum and
XRPL digests are not SHA-256 of anything we could send), so the tests run moto with this patch; the HTTP
round trip, key storage and everything else stay moto's. If moto learns DIGEST, `_moto_honours_digest`
turns the patch off by itself.

3. A DynamoDB transaction backs up the items it touches, not the whole table. moto 5 deep-copies
   the whole table for every item of a TransactWriteItems, to roll back when a condition cancels
   it: a 90-item transaction on a table of 10,000 items took seconds and tripped botocore's read
   timeout (which then resent a commit that had happened). The items a transaction names are the
   only ones it can change, so restoring those is the same rollback; the contract tests of
   cancelled transactions (nothing written) run against this.

Usage: python tests/support/moto_launcher.py -H 127.0.0.1 -p PORT (same options as moto_server).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

# Run as a script, this directory is sys.path[0], and its moto.py (the fixtures) would shadow moto.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p and str(Path(p).resolve()) != _HERE]


def _patch_digest_signing() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from moto.kms import responses, utils
    from moto.kms.exceptions import ValidationException

    original = responses.KmsResponse.sign
    hash_for = {"ECDSA_SHA_256": hashes.SHA256(), "ECDSA_SHA_384": hashes.SHA384(), "ECDSA_SHA_512": hashes.SHA512()}

    def sign(self: responses.KmsResponse) -> str:
        if self._get_param("MessageType") != "DIGEST":
            return original(self)
        key_id = self._get_param("KeyId")
        algorithm = self._get_param("SigningAlgorithm")
        message = self._get_param("Message")
        if isinstance(message, str):
            message = base64.b64decode(message)
        key = self.kms_backend.describe_key(key_id)
        private = getattr(key.private_key, "private_key", None)
        if not isinstance(key.private_key, utils.ECDSAPrivateKey) or algorithm not in hash_for:
            return original(self)
        digest_size = hash_for[algorithm].digest_size
        if len(message) != digest_size:
            raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        signature = private.sign(message, ec.ECDSA(Prehashed(hash_for[algorithm])))
        return json.dumps(
            {"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(), "SigningAlgorithm": algorithm}
        )

    responses.KmsResponse.sign = sign  # type: ignore[method-assign]


def _serialise_requests() -> None:
    import threading

    import moto.server as server

    original = server.run_simple
    lock = threading.Lock()

    def run_simple(host: str, port: int, app: Any, **kwargs: Any) -> Any:
        def locked(environ: Any, start_response: Any) -> Any:
            with lock:
                return list(app(environ, start_response))  # the body is produced inside the lock

        return original(host, port, locked, **kwargs)

    server.run_simple = run_simple


def _back_up_touched_items_only() -> None:
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType

    original = models.DynamoDBBackend.transact_write_items

    class _NoTableCopy:
        """`copy` while a transaction runs: its whole-table backups become no-ops (ours is finer)."""

        def deepcopy(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
            return obj if isinstance(obj, models.Table) else copy.deepcopy(obj, *args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

    def _key(table: Any, op: dict[str, Any]) -> tuple[Any, Any]:
        source = op.get("Key") or op.get("Item") or {}
        hash_value = DynamoType(source[table.hash_key_attr])
        range_value = DynamoType(source[table.range_key_attr]) if table.has_range_key else None
        return hash_value, range_value

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        backups = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            try:
                hash_value, range_value = _key(table, op)
            except KeyError:
                continue  # malformed: moto refuses it before changing anything
            before = table.get_item(hash_value, range_value)
            backups.append((table, hash_value, range_value, copy.deepcopy(before)))
        # Requests are serialised (see `_serialise_requests`), so swapping the module's `copy` is safe.
        models.copy = _NoTableCopy()  # type: ignore[assignment]
        try:
            return original(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, before in reversed(backups):
                if range_value is None:
                    table.items.pop(hash_value, None)
                    if before is not None:
                        table.items[hash_value] = before
                else:
                    table.items[hash_value].pop(range_value, None)
                    if before is not None:
                        table.items[hash_value][range_value] = before
            raise
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main() -> int:
    _serialise_requests()
    _patch_digest_signing()
    _back_up_touched_items_only()
    from moto.server import main as moto_main

    sys.argv[0] = "moto_server"
    moto_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
