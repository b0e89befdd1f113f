"""Named domain errors. Each has a stable `code` that the HTTP layer turns into a problem `type`;
which HTTP status a kind of error gets is the HTTP edge's business (one table in
`entrypoints/http/problems.py`), never the domain's."""

from __future__ import annotations

from datetime import datetime


class DomainError(Exception):
    """Root of every error the domain raises on purpose. `code` is stable; the message is for people."""

    code = "domain-error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()


# --- money -------------------------------------------------------------------------------------
class InvalidAmount(DomainError):
    """The amount is not a valid amount of money."""

    code = "invalid-amount"


class AmountOutOfRange(InvalidAmount):
    """The amount is beyond what the ledgers and the stores can hold exactly."""

    code = "amount-out-of-range"


class CurrencyMismatch(DomainError):
    """Amounts in different currencies were combined."""

    code = "currency-mismatch"


# --- lookups and state -------------------------------------------------------------------------
class NotFound(DomainError):
    """The thing asked for does not exist."""

    code = "not-found"


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


class Conflict(DomainError):
    """Someone else changed the record first; retry with fresh state."""

    code = "conflict"


class SettlementInProgress(DomainError):
    """Another attempt is settling this order on the ledger right now; retry shortly."""

    code = "settlement-in-progress"
    transient = True

    def __init__(self, message: str = "", until: datetime | None = None) -> None:
        super().__init__(message)
        #: When the other attempt's lease runs out (a retry before then is refused again).
        self.until = until


class DuplicateEntity(Conflict):
    """A record with this identity already exists."""

    code = "duplicate"

    def __init__(self, message: str = "", existing_id: str | None = None) -> None:
        super().__init__(message)
        #: The id of the record that exists (for callers allowed to see it; never logged).
        self.existing_id = existing_id


class ValidationFailed(DomainError):
    """The input does not describe a valid request."""

    code = "validation-failed"


class ValueOutOfRange(ValidationFailed):
    """A number or a length is outside its bounds (`drexfy.domain.bounds`)."""

    code = "value-out-of-range"


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

    def __init__(self, reasons: list[str] | tuple[str, ...]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(self.reasons))


class InvestorBlocked(NotEligible):
    """The investor is blocked by compliance."""

    code = "investor-blocked"


class SoldOut(NotEligible):
    """Not enough units are left in the sale."""

    code = "sold-out"


class IneligibleTarget(DomainError):
    """The agent's move names a receiver that may not hold the instrument (not active, blocked,
    frozen or of an ineligible class); `reasons` names every rule that refused."""

    code = "ineligible-target"

    def __init__(self, reasons: list[str] | tuple[str, ...]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(self.reasons))


class InsufficientFunds(DomainError):
    """The balance does not cover the amount."""

    code = "insufficient-funds"


# --- ledger ------------------------------------------------------------------------------------
class LedgerError(DomainError):
    """The ledger refused or could not carry out an operation."""

    code = "ledger-error"
    #: A transient error may succeed when retried unchanged (node down, fee spike, timeout).
    transient = False


class LedgerUnavailable(LedgerError):
    """The ledger could not be reached or did not answer in time; retry later."""

    code = "ledger-unavailable"
    transient = True


class LedgerPending(LedgerUnavailable):
    """The transaction is journalled and on the network, not included yet: nothing failed. Come back
    after about `retry_after_s` (a block); the same call then finds it included."""

    code = "ledger-pending"

    def __init__(self, message: str = "", retry_after_s: float = 6.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RegisterBehind(LedgerUnavailable):
    """The ledger shows units moving that the store has not recorded arriving yet (a settlement
    mined but not written back): the register waits for it; retry shortly."""

    code = "register-behind"


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


# --- keys ---------------------------------------------------------------------------------------
class VaultError(DomainError):
    """The key vault could not create a key or sign."""

    code = "vault-error"
    transient = True


class KeyNotFound(VaultError):
    """The vault holds no key for this wallet."""

    code = "key-not-found"
    transient = False


# --- providers -----------------------------------------------------------------------------------
class ProviderError(DomainError):
    """An external provider (KYC, payments, notifications) failed."""

    code = "provider-error"
    transient = True


class PaymentRefused(ProviderError):
    """The payment gateway refused a request for good (an invalid amount, a payment that cannot be
    refunded): retrying the same request will not help."""

    code = "payment-refused"
    transient = False


class CheckoutCompleted(PaymentRefused):
    """The order's checkout was already paid, or a delayed payment (SEPA Direct Debit) is under way:
    that payment decides the order, so it cannot end the checkout and be paid another way."""

    code = "checkout-completed"


class InvalidWebhook(DomainError):
    """A webhook's content does not describe a valid event."""

    code = "invalid-webhook"


class ConfigurationError(DomainError):
    """The configuration is missing or invalid."""

    code = "configuration-error"


class StoreUnavailable(DomainError):
    """The store could not be reached or kept throttling after bounded retries; retry later."""

    code = "store-unavailable"
    transient = True


class StoreFailure(DomainError):
    """The store refused a request for a reason retrying will not fix (validation, access, missing table)."""

    code = "store-failure"
    transient = False


class VaultRejected(VaultError):
    """The key service refused the request (access denied, key disabled or pending deletion)."""

    code = "vault-rejected"
    transient = False


class VaultIntegrityError(VaultError):
    """A stored key does not belong to its wallet or does not match its public key."""

    code = "key-integrity"
    transient = False
