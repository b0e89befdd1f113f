"""Sandbox KYC and payment providers for the embedded default and tests.

They behave like the real providers' APIs from our side (an applicant id and a verification link; a
checkout session id and a payment link; refunds), without a network. The webhooks they would send are
produced by the sandbox signers in `drexfy.adapters.webhooks` and go through the same verification
as real ones.
"""

from __future__ import annotations

import attrs

from drexfy.domain.errors import ProviderError
from drexfy.domain.model import Investor, Order
from drexfy.domain.ports import Checkout, KycSession
from drexfy.domain.provider_events import KycResult, KycReview


@attrs.define
class SandboxKyc:
    """KycProvider: the applicant id is derived from the investor id, as providers that key
    applicants by an external user id do, so starting twice gives the same applicant."""

    base_url: str = "https://sandbox.kyc.invalid/verify"
    started: list[str] = attrs.field(factory=list)
    #: What `verified_result` reports per applicant (tests set it); else approved with no country.
    verified: dict[str, KycResult] = attrs.field(factory=dict)

    async def start_verification(self, investor: Investor) -> KycSession:
        applicant_id = f"sbx_applicant_{investor.id}"
        self.started.append(applicant_id)
        return KycSession(applicant_id, f"{self.base_url}/{applicant_id}", access_token=f"sbx_token_{investor.id}")

    async def verified_result(self, review: KycReview) -> KycResult:
        known = self.verified.get(review.applicant_id)
        if known is not None:
            return known
        return KycResult(review.applicant_id, approved=review.answer == "GREEN", reject_labels=review.reject_labels)


@attrs.define
class SandboxPayments:
    """PaymentGateway: checkout sessions named like Stripe's test sessions; refunds recorded."""

    base_url: str = "https://sandbox.pay.invalid/checkout"
    refunds: list[str] = attrs.field(factory=list)
    expired: list[str] = attrs.field(factory=list)
    available: bool = True

    async def create_checkout(self, order: Order, investor: Investor) -> Checkout:
        if not self.available:
            raise ProviderError("payment gateway unavailable")
        reference = f"cs_test_{order.id}"
        return Checkout(reference, f"{self.base_url}/{reference}")

    async def expire_checkout(self, order: Order) -> None:
        if not self.available:
            raise ProviderError("payment gateway unavailable")
        if order.checkout_ref and order.checkout_ref not in self.expired:
            self.expired.append(order.checkout_ref)

    async def refund(self, order: Order) -> str:
        if not self.available:
            raise ProviderError("payment gateway unavailable")
        reference = f"re_test_{order.id}_{order.refund_attempts}"
        if reference not in self.refunds:
            self.refunds.append(reference)
        return reference
