"""Start `moto_server` with two corrections that make it behave like AWS where our tests depend on it.

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


def main() -> int:
    _serialise_requests()
    _patch_digest_signing()
    from moto.server import main as moto_main

    sys.argv[0] = "moto_server"
    moto_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
