"""Store errors of the DynamoDB adapter and the translation of boto3 failures."""

from __future__ import annotations

from drexfy.adapters.aws import error_code, is_transient
from drexfy.domain.errors import DomainError, StoreFailure, StoreUnavailable

__all__ = ["StoreFailure", "StoreUnavailable", "translate"]


def translate(exc: BaseException, action: str) -> DomainError:
    code = error_code(exc) or type(exc).__name__
    if is_transient(exc):
        return StoreUnavailable(f"DynamoDB unavailable during {action}: {code}")
    # AWS error messages describe the request (expressions, key names), not item contents.
    detail = getattr(exc, "response", {}).get("Error", {}).get("Message", "")
    return StoreFailure(f"DynamoDB refused {action}: {code} {detail}".strip())
