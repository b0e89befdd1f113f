"""Named domain errors. Each has a stable `code` that the HTTP layer turns into a problem `type`."""

from __future__ import annotations


class DomainError(Exception):
    """Root of every error the domain raises on purpose. `code` is stable; the message is for people."""

    code = "domain-error"
    #: HTTP status the API maps this error to; the domain itself never speaks HTTP, this is a hint.
    status_hint = 422

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()


# --- money -------------------------------------------------------------------------------------
class InvalidAmount(DomainError):
    """The amount is not a valid amount of money."""

    code = "invalid-amount"


class CurrencyMismatch(DomainError):
    """Amounts in different currencies were combined."""

    code = "currency-mismatch"


# --- lookups and state -------------------------------------------------------------------------
class NotFound(DomainError):
    """The thing asked for does not exist."""

    code = "not-found"
    status_hint = 404


class InvestorNotFound(NotFound):
    """No such investor."""

    code = "investor-not-found"


class InstrumentNotFound(NotFound):
    """No such instrument."""

    code = "instrument-not-found"


class OrderNotFound(NotFound):
    """No such order."""

    code = "order-not-found"


class RepaymentNotFound(NotFound):
    """No such repayment."""

    code = "repayment-not-found"


class IllegalTransition(DomainError):
    """The requested state change is not allowed from the current state."""

    code = "illegal-transition"
    status_hint = 409


class Conflict(DomainError):
    """Someone else changed the record first; retry with fresh state."""

    code = "conflict"
    status_hint = 409


class SettlementInProgress(DomainError):
    """Another attempt is settling this order on the ledger right now; retry shortly."""

    code = "settlement-in-progress"
    status_hint = 409
    transient = True


class DuplicateEntity(Conflict):
    """A record with this identity already exists."""

    code = "duplicate"


class ValidationFailed(DomainError):
    """The input does not describe a valid request."""

    code = "validation-failed"
    status_hint = 400


# --- onboarding ---------------------------------------------------------------------------------
class ClassificationRefused(DomainError):
    """The investor cannot be classified (e.g. residence outside the US and the EU/EEA)."""

    code = "classification-refused"


class KycNotApproved(DomainError):
    """The investor has not passed KYC."""

    code = "kyc-not-approved"


# --- eligibility ---------------------------------------------------------------------------------
class NotEligible(DomainError):
    """The investor may not do this; `reasons` names every rule that refused."""

    code = "not-eligible"
    status_hint = 403

    def __init__(self, reasons: list[str] | tuple[str, ...]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(self.reasons))


class InvestorBlocked(NotEligible):
    """The investor is blocked by compliance."""

    code = "investor-blocked"


class SoldOut(NotEligible):
    """Not enough units are left in the sale."""

    code = "sold-out"


class InsufficientFunds(DomainError):
    """The balance does not cover the amount."""

    code = "insufficient-funds"


# --- ledger ------------------------------------------------------------------------------------
class LedgerError(DomainError):
    """The ledger refused or could not carry out an operation."""

    code = "ledger-error"
    status_hint = 502
    #: A transient error may succeed when retried unchanged (node down, fee spike, timeout).
    transient = False


class LedgerUnavailable(LedgerError):
    """The ledger could not be reached or did not answer in time; retry later."""

    code = "ledger-unavailable"
    status_hint = 503
    transient = True


class LedgerRejected(LedgerError):
    """The ledger rejected the operation (a revert or a failed transaction result)."""

    code = "ledger-rejected"

    def __init__(self, message: str, *, reason: str = "", tx_id: str | None = None) -> None:
        super().__init__(message)
        #: A stable machine-readable reason: the contract's custom error name or the XRPL result code.
        self.reason = reason
        self.tx_id = tx_id


class ComplianceRejected(LedgerRejected):
    """The ledger's own compliance rules refused it (ineligible, sanctioned or frozen party)."""

    code = "ledger-compliance-rejected"

    def __init__(self, message: str, *, reason: str = "", tx_id: str | None = None, party: str | None = None) -> None:
        super().__init__(message, reason=reason, tx_id=tx_id)
        #: The ledger address the rules refused, when the ledger names it (a frozen payee, say).
        self.party = party


class OperationConflict(LedgerError):
    """An operation id was reused for a different operation."""

    code = "operation-conflict"
    status_hint = 409


# --- keys ---------------------------------------------------------------------------------------
class VaultError(DomainError):
    """The key vault could not create a key or sign."""

    code = "vault-error"
    status_hint = 503
    transient = True


class KeyNotFound(VaultError):
    """The vault holds no key for this wallet."""

    code = "key-not-found"
    transient = False


# --- providers -----------------------------------------------------------------------------------
class ProviderError(DomainError):
    """An external provider (KYC, payments, notifications) failed."""

    code = "provider-error"
    status_hint = 502
    transient = True


class InvalidWebhook(DomainError):
    """A webhook's content does not describe a valid event."""

    code = "invalid-webhook"
    status_hint = 400


class ConfigurationError(DomainError):
    """The configuration is missing or invalid."""

    code = "configuration-error"
    status_hint = 500
