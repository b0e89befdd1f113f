"""Inbound webhooks: signature verification and provider payloads turned into domain types.

`signatures` checks the HMAC of the raw body (Sumsub-style digest headers, Stripe-Signature through
the `stripe` package); `payloads` parses a verified body into KycResult, PaymentEvent or an AML alert.
Nothing here touches the store: the HTTP layer decides what to persist.
"""

from drexfy.adapters.webhooks.payloads import (
    AmlNotice,
    KycNotice,
    PaymentNotice,
    parse_aml,
    parse_kyc,
    parse_payment,
)
from drexfy.adapters.webhooks.signatures import (
    DIGEST_ALG_HEADER,
    DIGEST_HEADER,
    STRIPE_HEADER,
    SignatureError,
    sign_digest,
    sign_stripe,
    verify_digest,
    verify_stripe,
)

__all__ = [
    "DIGEST_ALG_HEADER",
    "DIGEST_HEADER",
    "STRIPE_HEADER",
    "AmlNotice",
    "KycNotice",
    "PaymentNotice",
    "SignatureError",
    "parse_aml",
    "parse_kyc",
    "parse_payment",
    "sign_digest",
    "sign_stripe",
    "verify_digest",
    "verify_stripe",
]
