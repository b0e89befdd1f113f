"""RFC 9457 problem details: one stable `type` URI per error, `application/problem+json`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from drexfy.domain.errors import (
    AmountOutOfRange,
    CheckoutCompleted,
    ConfigurationError,
    Conflict,
    DomainError,
    IllegalTransition,
    InvalidWebhook,
    LedgerError,
    LedgerUnavailable,
    NotEligible,
    NotFound,
    OperationConflict,
    ProviderError,
    SettlementInProgress,
    StoreFailure,
    StoreUnavailable,
    ValidationFailed,
    VaultError,
    VaultIntegrityError,
    VaultRejected,
)
from drexfy.domain.processes.approvals import ApprovalRefused

#: The HTTP status of each kind of domain error: the most specific class in an error's MRO wins,
#: so a new error is mapped by the kind it derives from. The domain never speaks HTTP.
STATUS_OF: dict[type[DomainError], int] = {
    DomainError: 422,
    ValidationFailed: 400,
    AmountOutOfRange: 400,
    InvalidWebhook: 400,
    NotEligible: 403,
    NotFound: 404,
    Conflict: 409,
    IllegalTransition: 409,
    SettlementInProgress: 409,
    OperationConflict: 409,
    LedgerError: 502,
    ProviderError: 502,
    CheckoutCompleted: 409,
    VaultRejected: 502,
    LedgerUnavailable: 503,
    VaultError: 503,
    StoreUnavailable: 503,
    ConfigurationError: 500,
    StoreFailure: 500,
    VaultIntegrityError: 500,
    ApprovalRefused: 403,
}


def status_of(error: DomainError) -> int:
    """The HTTP status `STATUS_OF` gives the error's kind."""
    for kind in type(error).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 500


PROBLEM_BASE = "https://drexfy.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Problem(Exception):
    """An HTTP-level refusal (auth, validation, limits) raised inside handlers or middlewares."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def problem_type(code: str) -> str:
    return PROBLEM_BASE + code


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return web.Response(status=status, text=json.dumps(body), content_type=PROBLEM_CONTENT_TYPE, headers=headers)


def from_domain_error(error: DomainError) -> tuple[int, str, str, dict[str, Any]]:
    """(status, code, detail, extra) of a domain error: its `code` is the problem type."""
    extra: dict[str, Any] = {}
    reasons = getattr(error, "reasons", None)
    if reasons:
        extra["reasons"] = list(reasons)
    status = status_of(error)
    if status >= 500:
        # Infrastructure detail (node URLs, SDK text) stays in the logs; the client gets the kind.
        return status, error.code, (type(error).__doc__ or error.code).strip().splitlines()[0], extra
    return status, error.code, error.message, extra
