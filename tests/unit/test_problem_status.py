"""The HTTP edge's one table of statuses: every kind of domain error gets the status it always had,
and the domain's errors carry no HTTP status of their own."""

from __future__ import annotations

import inspect

import pytest

from drexfy.adapters.dynamodb import errors as dynamodb_errors
from drexfy.adapters.kms import errors as kms_errors
from drexfy.domain import errors
from drexfy.entrypoints.http.problems import status_of

EXPECTED = {
    "DomainError": 422,
    "InvalidAmount": 422,
    "AmountOutOfRange": 400,
    "ValueOutOfRange": 400,
    "CurrencyMismatch": 422,
    "NotFound": 404,
    "InvestorNotFound": 404,
    "InstrumentNotFound": 404,
    "OrderNotFound": 404,
    "RepaymentNotFound": 404,
    "IllegalTransition": 409,
    "Conflict": 409,
    "SettlementInProgress": 409,
    "DuplicateEntity": 409,
    "ValidationFailed": 400,
    "ClassificationRefused": 422,
    "KycNotApproved": 422,
    "NotEligible": 403,
    "InvestorBlocked": 403,
    "SoldOut": 403,
    "InsufficientFunds": 422,
    "IneligibleTarget": 422,
    "LedgerError": 502,
    "LedgerUnavailable": 503,
    "LedgerPending": 503,
    "RegisterBehind": 503,
    "LedgerRejected": 502,
    "ComplianceRejected": 502,
    "OperationConflict": 409,
    "VaultError": 503,
    "KeyNotFound": 503,
    "VaultRejected": 502,
    "VaultIntegrityError": 500,
    "ProviderError": 502,
    "PaymentRefused": 502,  # the gateway refused (inherits ProviderError)
    "CheckoutCompleted": 409,  # the checkout was paid already: that payment decides the order
    "InvalidWebhook": 400,
    "ConfigurationError": 500,
    "StoreUnavailable": 503,
    "StoreFailure": 500,
    "KmsRejected": 502,
    "KeyIntegrityError": 500,
}


def _kinds() -> dict[str, type[errors.DomainError]]:
    found = {}
    for module in (errors, dynamodb_errors, kms_errors):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, errors.DomainError):
                found[name] = value
    return found


def test_every_kind_of_domain_error_is_in_the_expectations() -> None:
    assert set(_kinds()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_kind_keeps_its_status(name: str) -> None:
    kind = _kinds()[name]
    error = kind.__new__(kind)
    assert status_of(error) == EXPECTED[name]


def test_domain_errors_speak_no_http() -> None:
    assert not any(hasattr(kind, "status_hint") for kind in _kinds().values())
