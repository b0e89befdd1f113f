"""What the providers tell us, in domain terms: the three inbound events, side by side.

Adapters turn a verified webhook into one of these (the KYC provider's result, the payment
gateway's event, the AML monitor's alert); the worker hands it to its process. They carry no
provider format and no secret.
"""

from __future__ import annotations

import enum
from datetime import date

import attrs

from drexfy.domain.bounds import MAX_MINOR
from drexfy.domain.money import Money


@attrs.frozen
class KycResult:
    """What the KYC/AML provider verified about one applicant."""

    applicant_id: str
    approved: bool
    verified_country: str | None = None
    accreditation_verified: bool = False
    sanctions_hit: bool = False
    pep: bool = False
    reject_labels: tuple[str, ...] = ()
    #: As the provider verified it from the identity document (None: not reported).
    date_of_birth: date | None = None


class KycReviewKind(enum.Enum):
    """What the KYC provider's webhook says happened to an applicant."""

    REVIEWED = "REVIEWED"  # a decision: GREEN, or RED with RETRY or FINAL
    PENDING = "PENDING"  # documents submitted, review under way
    ON_HOLD = "ON_HOLD"  # the provider's compliance team looks at it
    RESET = "RESET"  # the applicant was reset: the investor verifies again


@attrs.frozen
class KycReview:
    """A KYC provider's applicant event whose details are fetched from its API (Sumsub's webhooks
    carry the decision, not the verified data). `event_key` identifies the delivery."""

    applicant_id: str
    kind: KycReviewKind
    event_key: str
    #: GREEN or RED (REVIEWED only).
    answer: str | None = None
    #: RETRY (the investor may submit again) or FINAL (RED only).
    reject_type: str | None = None
    reject_labels: tuple[str, ...] = ()


#: The largest payment amount (minor units) a gateway event may report as such. Larger ones cannot be
#: any order's total (a gateway caps a payment far below it); they are carried as "no valid amount"
#: with the reason, so the order ends in REFUND_DUE instead of a job that can never be stored.
MAX_PAYMENT_MINOR = MAX_MINOR


class PaymentEventKind(enum.Enum):
    SUCCEEDED = "SUCCEEDED"
    #: The payment did not happen (declined card, a delayed method such as SEPA Direct Debit failed).
    FAILED = "FAILED"
    #: The checkout ended unpaid (the gateway's session expired): the reservation is released.
    EXPIRED = "EXPIRED"
    REFUNDED = "REFUNDED"
    #: A refund the platform asked for did not go through; the order stays REFUND_DUE and is retried.
    REFUND_FAILED = "REFUND_FAILED"


@attrs.frozen
class PaymentEvent:
    """A verified payment notification in domain terms."""

    event_id: str
    kind: PaymentEventKind
    order_id: str
    payment_ref: str
    amount: Money | None = None
    reason: str = ""
    #: The gateway's refund id (refund events only).
    refund_ref: str | None = None


@attrs.frozen
class AmlAlert:
    """Ongoing AML monitoring flagged (or cleared) an investor, named by applicant or investor id."""

    alert_id: str
    applicant_id: str | None
    investor_id: str | None
    flagged: bool
    reason: str
