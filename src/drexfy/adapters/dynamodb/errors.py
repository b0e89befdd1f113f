"""Store errors of the DynamoDB adapter and the translation of boto3 failures."""

from __future__ import annotations

from drexfy.adapters.aws import error_code, is_transient
from drexfy.domain.errors import DomainError


class StoreUnavailable(DomainError):
    """The store could not be reached or kept throttling after bounded retries; retry later."""

    code = "store-unavailable"
    status_hint = 503
    transient = True


class StoreFailure(DomainError):
    """DynamoDB refused a request for a reason retrying will not fix (validation, access, missing table)."""

    code = "store-failure"
    status_hint = 500
    transient = False


def translate(exc: BaseException, action: str) -> DomainError:
    code = error_code(exc) or type(exc).__name__
    if is_transient(exc):
        return StoreUnavailable(f"DynamoDB unavailable during {action}: {code}")
    # AWS error messages describe the request (expressions, key names), not item contents.
    detail = getattr(exc, "response", {}).get("Error", {}).get("Message", "")
    return StoreFailure(f"DynamoDB refused {action}: {code} {detail}".strip())
