"""Provider port contracts: every PaymentGateway and KycProvider implementation keeps the same
promises, run against the sandbox adapter and the real one (Stripe / Sumsub against their local
fakes, the real `stripe` client and real signed HTTP requests).

Each implementation comes with a small harness that does what the outside world would (a customer
pays; the provider verifies a person; the provider is down)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from drexfy.adapters.kyc import SumsubConfig, SumsubKyc
from drexfy.adapters.payments import StripeConfig, StripeGateway
from drexfy.adapters.sandbox import SandboxKyc, SandboxPayments
from drexfy.domain.errors import ProviderError
from drexfy.domain.model import KycStatus, Order, OrderStatus
from drexfy.domain.provider_events import KycResult, KycReview, KycReviewKind
from tests.contract import builders as b
from tests.support.stripe_fake import FakeStripe
from tests.support.sumsub_fake import FakeSumsub

NOW = datetime.now(UTC)


def new_order(order_id: str) -> Order:
    return b.order(
        order_id,
        status=OrderStatus.CREATED,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        checkout_ref=None,
        checkout_url=None,
        payment_ref=None,
        paid_amount=None,
        steps=[],
    )


# --- payments ------------------------------------------------------------------------------------


@attrs.define
class Payments:
    gateway: Any
    fake: FakeStripe | None = None

    def pay(self, order: Order) -> Order:
        """The customer pays the order's checkout; the order as the platform then records it."""
        if self.fake is None:
            return attrs.evolve(order, status=OrderStatus.REFUND_DUE, payment_ref=f"pi_{order.id}")
        self.fake.pay(str(order.checkout_ref))
        intent = self.fake.sessions[str(order.checkout_ref)]["payment_intent"]
        return attrs.evolve(order, status=OrderStatus.REFUND_DUE, payment_ref=intent)

    def break_down(self) -> None:
        if self.fake is None:
            self.gateway.available = False
        else:
            self.fake.fail_next(10)


@pytest.fixture(params=["sandbox", "stripe"])
async def payments(request: pytest.FixtureRequest) -> AsyncIterator[Payments]:
    if request.param == "sandbox":
        yield Payments(SandboxPayments())
        return
    fake = FakeStripe()
    url = await fake.start()
    gateway = StripeGateway(
        StripeConfig(
            api_key=fake.api_key,
            success_url="https://app.example/paid",
            cancel_url="https://app.example/back",
            api_base=url,
            max_network_retries=0,
        )
    )
    yield Payments(gateway, fake)
    await gateway.close()
    await fake.close()


async def test_a_checkout_is_opened_once_per_order_however_often_it_is_asked(payments):
    order = new_order("ord_c1")
    first = await payments.gateway.create_checkout(order, b.investor())
    again = await payments.gateway.create_checkout(order, b.investor())
    other = await payments.gateway.create_checkout(new_order("ord_c2"), b.investor())
    assert first.reference == again.reference != other.reference
    assert first.url.startswith("https://")


async def test_expiring_a_checkout_twice_is_fine(payments):
    order = new_order("ord_e1")
    checkout = await payments.gateway.create_checkout(order, b.investor())
    opened = attrs.evolve(order, checkout_ref=checkout.reference)
    await payments.gateway.expire_checkout(opened)
    await payments.gateway.expire_checkout(opened)


async def test_one_refund_attempt_is_one_refund_however_often_it_is_asked(payments):
    order = new_order("ord_r1")
    checkout = await payments.gateway.create_checkout(order, b.investor())
    paid = payments.pay(attrs.evolve(order, checkout_ref=checkout.reference))
    first = await payments.gateway.refund(paid)
    assert await payments.gateway.refund(paid) == first
    if payments.fake is not None:
        assert len(payments.fake.refunds) == 1


async def test_a_gateway_that_is_down_raises_provider_error(payments):
    payments.break_down()
    with pytest.raises(ProviderError):
        await payments.gateway.create_checkout(new_order("ord_d1"), b.investor())


# --- KYC -----------------------------------------------------------------------------------------


@attrs.define
class Kyc:
    provider: Any
    fake: FakeSumsub | None = None

    def verify(self, applicant_id: str, country_alpha3: str, alpha2: str, accredited: bool) -> None:
        """The provider verified the person's document (and questionnaire) and decided GREEN."""
        if self.fake is None:
            self.provider.verified[applicant_id] = KycResult(
                applicant_id, approved=True, verified_country=alpha2, accreditation_verified=accredited
            )
        else:
            self.fake.verify(applicant_id, country=country_alpha3, accredited=accredited)
            self.fake.review(applicant_id, "GREEN")


@pytest.fixture(params=["sandbox", "sumsub"])
async def kyc(request: pytest.FixtureRequest) -> AsyncIterator[Kyc]:
    if request.param == "sandbox":
        yield Kyc(SandboxKyc())
        return
    fake = FakeSumsub()
    url = await fake.start()
    provider = SumsubKyc(SumsubConfig(fake.app_token, fake.secret_key, "basic-kyc-level", api_base=url))
    yield Kyc(provider, fake)
    await provider.close()
    await fake.close()


async def test_starting_twice_gives_the_same_applicant_and_a_link(kyc):
    investor = b.investor("inv_k1", kyc_status=KycStatus.PENDING_KYC, applicant_id=None)
    first = await kyc.provider.start_verification(investor)
    again = await kyc.provider.start_verification(investor)
    assert first.applicant_id == again.applicant_id
    assert first.url.startswith("https://") and first.access_token


async def test_the_verified_result_is_the_providers_with_an_alpha2_country(kyc):
    investor = b.investor("inv_k2", kyc_status=KycStatus.PENDING_KYC, applicant_id=None)
    session = await kyc.provider.start_verification(investor)
    kyc.verify(session.applicant_id, "AUT", "AT", accredited=True)
    result = await kyc.provider.verified_result(
        KycReview(session.applicant_id, KycReviewKind.REVIEWED, "k", answer="GREEN")
    )
    assert (result.applicant_id, result.approved, result.verified_country) == (session.applicant_id, True, "AT")
    assert result.accreditation_verified and not result.sanctions_hit
