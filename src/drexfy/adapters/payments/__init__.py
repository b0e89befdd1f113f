"""Payment gateways: Stripe Checkout (`payments.kind = "stripe"`). The sandbox gateway lives in
`drexfy.adapters.sandbox`; the webhooks of both are verified and parsed in `drexfy.adapters.webhooks`."""

from drexfy.adapters.payments.stripe import StripeConfig, StripeGateway, checkout_expiry

__all__ = ["StripeConfig", "StripeGateway", "checkout_expiry"]
