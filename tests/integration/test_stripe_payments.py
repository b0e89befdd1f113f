"""Buying with Stripe Checkout end to end through the processes: the real `stripe` client against
the local fake Stripe API (tests/support/stripe_fake.py), the events it emits verified and parsed
as the webhook does, and handed to the processes as the worker does."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drexfy.adapters.payments import StripeConfig, StripeGateway, checkout_expiry
from drexfy.adapters.webhooks import parse_payment, sign_stripe, verify_stripe
from drexfy.domain import processes as p
from drexfy.domain.errors import CheckoutCompleted, PaymentRefused, ProviderError
from drexfy.domain.model import Order, OrderStatus
from drexfy.domain.money import Money
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from tests.support.scenarios import instrument, onboard
from tests.support.stripe_fake import FakeStripe

WHSEC = "whsec_fake_endpoint_secret"


@pytest.fixture
async def stripe_fake() -> AsyncIterator[FakeStripe]:
    fake = FakeStripe()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def svc(tmp_path: Any, stripe_fake: FakeStripe) -> AsyncIterator[p.Services]:
    assert stripe_fake.server is not None
    settings = load_settings(
        env={},
        overrides={
            "data_dir": str(tmp_path),
            "ledger.kind": "memory",
            "payments.kind": "stripe",
            "payments.stripe.api_key": stripe_fake.api_key,
            "payments.stripe.api_base": str(stripe_fake.server.make_url("")).rstrip("/"),
            "payments.stripe.success_url": "https://app.example/paid?session={CHECKOUT_SESSION_ID}",
            "payments.stripe.cancel_url": "https://app.example/cancelled",
            "payments.stripe.max_network_retries": 0,
        },
    )
    container = build_container(settings)
    services = await container.services()
    assert isinstance(services.payments, StripeGateway)
    yield services
    await container.shutdown_resources()  # type: ignore[misc]


async def deliver(svc: p.Services, fake: FakeStripe) -> list[str]:
    """Every event Stripe sent since the last call, through signature check and parsing, handed to
    the payment process; returns the event types acted on."""
    acted = []
    for body in fake.take_events():
        verify_stripe(body, sign_stripe(body, WHSEC), WHSEC)
        notice = parse_payment(body)
        if notice is not None:
            await p.handle_payment(svc, notice.event)
            acted.append(notice.event.kind.value)
    return acted


async def order_of(svc: p.Services, order_id: str) -> Any:
    async with svc.store.unit_of_work() as uow:
        return await uow.orders.get(order_id)


async def units_reserved(svc: p.Services, instrument_id: str) -> int:
    async with svc.store.unit_of_work() as uow:
        return (await uow.instruments.get(instrument_id)).units_reserved


async def test_an_order_opens_one_checkout_session_as_stripe_documents_it(svc, stripe_fake):
    investor_id = await onboard(svc, "ana")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 3))

    session = stripe_fake.sessions[order.checkout_ref]
    assert order.checkout_url == session["url"]
    assert (session["amount_total"], session["currency"]) == (3000, "eur")
    assert session["client_reference_id"] == order.id and session["metadata"]["order_id"] == order.id
    assert session["_intent_metadata"] == {"order_id": order.id}
    assert session["success_url"].startswith("https://app.example/paid")
    # The reservation (30 minutes by default) lies inside Stripe's window, clamped with a margin.
    assert 30 * 60 < session["expires_at"] - time.time() <= 24 * 3600
    (method, path, params) = stripe_fake.requests[-1]
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert params["line_items"][0]["quantity"] == "3"
    assert params["line_items"][0]["price_data"]["unit_amount"] == "1000"


async def test_a_retried_checkout_request_returns_the_first_session_not_a_second(svc, stripe_fake):
    investor_id = await onboard(svc, "ben")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    again = await svc.payments.create_checkout(order, await _investor(svc, investor_id))
    assert again.reference == order.checkout_ref
    assert len(stripe_fake.sessions) == 1


async def _investor(svc: p.Services, investor_id: str) -> Any:
    async with svc.store.unit_of_work() as uow:
        return await uow.investors.get(investor_id)


async def test_a_card_payment_settles_and_its_redelivery_changes_nothing(svc, stripe_fake):
    investor_id = await onboard(svc, "cai")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 2))
    stripe_fake.pay(order.checkout_ref)
    bodies = stripe_fake.take_events()
    for body in bodies + bodies:  # Stripe redelivers
        await p.handle_payment(svc, parse_payment(body).event)  # type: ignore[union-attr]
    settled = await order_of(svc, order.id)
    assert settled.status is OrderStatus.SETTLED
    assert settled.payment_ref == stripe_fake.sessions[order.checkout_ref]["payment_intent"]
    assert (
        await svc.ledger.units_of(
            (await _instrument(svc, instrument_id)).ledger_ref, (await _investor(svc, investor_id)).wallet.address
        )
        == 2
    )


@pytest.mark.parametrize("delayed", [False, True], ids=["card", "sepa"])
async def test_an_order_paid_at_the_gateway_is_not_paid_again_from_the_balance(svc, stripe_fake, delayed):
    """The investor paid by card (or a SEPA debit is under way) and, before Stripe's event arrived,
    asks to pay from the balance: refused, nothing taken; the card payment then settles the order."""
    investor_id = await onboard(svc, "dup")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 2))
    wallet = (await _investor(svc, investor_id)).wallet
    await svc.ledger.mint_deposit("dep:dep_dup", wallet, order.amount, "dep_dup")
    stripe_fake.pay(order.checkout_ref, delayed=delayed)  # its event is still on its way
    with pytest.raises(CheckoutCompleted):
        await p.pay_from_balance(svc, order.id)
    assert (await order_of(svc, order.id)).status is OrderStatus.CREATED
    assert await svc.ledger.stablecoin_balance(wallet.address) == order.amount
    await deliver(svc, stripe_fake)
    if delayed:
        stripe_fake.settle_delayed(order.checkout_ref, succeeded=True)
        await deliver(svc, stripe_fake)
    settled = await order_of(svc, order.id)
    assert settled.status is OrderStatus.SETTLED and not settled.funded_from_balance
    assert await svc.ledger.stablecoin_balance(wallet.address) == order.amount  # the balance is untouched


async def _instrument(svc: p.Services, instrument_id: str) -> Any:
    async with svc.store.unit_of_work() as uow:
        return await uow.instruments.get(instrument_id)


async def test_sepa_debit_waits_for_the_async_result_then_settles_or_releases(svc, stripe_fake):
    investor_id = await onboard(svc, "dan")
    instrument_id = await instrument(svc)
    good = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    bad = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    stripe_fake.pay(good.checkout_ref, delayed=True)
    stripe_fake.pay(bad.checkout_ref, delayed=True)
    assert await deliver(svc, stripe_fake) == []  # completed but unpaid: nothing to do yet
    assert (await order_of(svc, good.id)).status is OrderStatus.CREATED
    stripe_fake.settle_delayed(good.checkout_ref, succeeded=True)
    stripe_fake.settle_delayed(bad.checkout_ref, succeeded=False)
    assert await deliver(svc, stripe_fake) == ["SUCCEEDED", "FAILED"]
    assert (await order_of(svc, good.id)).status is OrderStatus.SETTLED
    failed = await order_of(svc, bad.id)
    assert (failed.status, failed.reason) == (OrderStatus.FAILED, "the delayed payment failed")
    assert await units_reserved(svc, instrument_id) == 0


async def test_cancelling_an_order_expires_its_session_and_stripes_expiry_releases_a_reservation(svc, stripe_fake):
    investor_id = await onboard(svc, "eva")
    instrument_id = await instrument(svc)
    cancelled = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    lapsed = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    await p.cancel_order(svc, cancelled.id, "investor changed their mind")
    assert stripe_fake.sessions[cancelled.checkout_ref]["status"] == "expired"
    stripe_fake.lapse(lapsed.checkout_ref)
    assert await deliver(svc, stripe_fake) == ["EXPIRED", "EXPIRED"]  # ours (no-op) and Stripe's own
    assert (await order_of(svc, lapsed.id)).status is OrderStatus.EXPIRED
    assert (await order_of(svc, cancelled.id)).status is OrderStatus.CANCELLED
    assert await units_reserved(svc, instrument_id) == 0


async def test_a_payment_after_cancellation_is_refunded_once_and_the_order_ends_refunded(svc, stripe_fake):
    investor_id = await onboard(svc, "fay")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    stripe_fake.pay(order.checkout_ref)  # the customer paid just before the cancel reached Stripe
    await p.cancel_order(svc, order.id, "cancelled")
    events = stripe_fake.take_events()
    for body in events + events:
        notice = parse_payment(body)
        assert notice is not None
        await p.handle_payment(svc, notice.event)
    assert len(stripe_fake.refunds) == 1
    await deliver(svc, stripe_fake)  # refund.created, charge.refunded, refund.updated
    refunded = await order_of(svc, order.id)
    assert refunded.status is OrderStatus.REFUNDED
    assert refunded.refund_ref in stripe_fake.refunds
    [refund] = stripe_fake.refunds.values()
    assert refund["metadata"] == {"order_id": order.id} and refund["amount"] == 1000


async def test_a_failed_refund_is_kept_for_operators_and_retried_as_a_new_refund(svc, stripe_fake):
    investor_id = await onboard(svc, "gus")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    stripe_fake.refund_status = "pending"
    stripe_fake.pay(order.checkout_ref)
    await p.cancel_order(svc, order.id, "cancelled")
    await deliver(svc, stripe_fake)
    [first] = stripe_fake.refunds
    stripe_fake.fail_refund(first)
    await deliver(svc, stripe_fake)
    await deliver(svc, stripe_fake)  # redelivered failure: counted once
    owed = await order_of(svc, order.id)
    assert (owed.status, owed.refund_attempts, owed.refund_ref) == (OrderStatus.REFUND_DUE, 1, None)
    assert owed.refund_error == "refund failed: expired_or_canceled_card"
    assert await p.retry_refunds(svc) == 0  # backing off
    later = _shift_clock(svc, timedelta(minutes=6))
    assert await p.retry_refunds(later) == 1
    [_, second] = stripe_fake.refunds
    stripe_fake.settle_refund(second)
    await deliver(later, stripe_fake)
    done = await order_of(svc, order.id)
    assert (done.status, done.refund_ref) == (OrderStatus.REFUNDED, second)


def _shift_clock(svc: p.Services, by: timedelta) -> p.Services:
    import attrs

    class Later:
        def now(self) -> datetime:
            return datetime.now(UTC) + by

    return attrs.evolve(svc, clock=Later())


async def test_a_gateway_that_is_down_postpones_the_same_refund_without_a_second_one(svc, stripe_fake):
    investor_id = await onboard(svc, "hal")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    stripe_fake.pay(order.checkout_ref)
    await p.cancel_order(svc, order.id, "cancelled")
    stripe_fake.fail_next(1)
    await deliver(svc, stripe_fake)  # the refund request got a 500
    owed = await order_of(svc, order.id)
    assert (owed.status, owed.refund_attempts, owed.refund_ref) == (OrderStatus.REFUND_DUE, 0, None)
    assert owed.refund_error.startswith("gateway unavailable")
    assert stripe_fake.refunds == {}
    assert await p.retry_refunds(_shift_clock(svc, timedelta(minutes=6))) == 1
    assert len(stripe_fake.refunds) == 1


async def test_an_amount_beyond_any_order_ends_refund_due_with_the_reason_not_a_dead_job(svc, stripe_fake):
    investor_id = await onboard(svc, "ida")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    stripe_fake.pay(order.checkout_ref)
    [body] = stripe_fake.take_events()
    body = body.replace(b'"amount_total":1000', b'"amount_total":' + str(10**30).encode())
    notice = parse_payment(body)
    assert notice is not None and notice.event.amount is None
    await p.handle_payment(svc, notice.event)
    owed = await order_of(svc, order.id)
    assert owed.status is OrderStatus.REFUND_DUE
    assert "more than any order can cost" in owed.reason
    assert len(stripe_fake.refunds) == 1  # the whole payment goes back
    assert await units_reserved(svc, instrument_id) == 0


async def test_a_checkout_that_stripe_cannot_reach_fails_the_order_and_releases_its_units(svc, stripe_fake):
    investor_id = await onboard(svc, "jon")
    instrument_id = await instrument(svc)
    stripe_fake.fail_next(1)
    with pytest.raises(ProviderError):
        await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    assert stripe_fake.sessions == {}
    assert await units_reserved(svc, instrument_id) == 0


def _order_at(created: datetime, reservation: timedelta) -> Any:
    return Order("ord_x", "inv_x", "ins_x", 1, Money(1000, "EUR"), created, created + reservation)


def test_the_session_expiry_is_the_reservation_deadline_clamped_into_the_window_from_the_order():
    at = datetime.fromtimestamp(1_800_000_000, UTC)
    start = int(at.timestamp())
    assert checkout_expiry(_order_at(at, timedelta(hours=2))) == start + 7200
    assert checkout_expiry(_order_at(at, timedelta(minutes=10))) == start + 35 * 60
    assert checkout_expiry(_order_at(at, timedelta(days=3))) == start + 24 * 3600 - 300


async def test_a_retry_minutes_later_sends_the_same_request_and_gets_the_first_session(svc, stripe_fake, monkeypatch):
    investor_id = await onboard(svc, "ivo")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    first = stripe_fake.requests[-1]
    real_time = time.time
    for later in (7 * 60, 3 * 3600):  # past minute boundaries; then past the window of a new request
        # The wall clock moves on (for Stripe and for the platform alike); the order does not.
        monkeypatch.setattr(time, "time", lambda later=later: real_time() + later)
        again = await svc.payments.create_checkout(order, await _investor(svc, investor_id))
        assert again.reference == order.checkout_ref
        assert stripe_fake.requests[-1] == first  # the same parameters: Stripe replays its answer
    assert len(stripe_fake.sessions) == 1


async def test_a_key_reused_with_other_parameters_is_refused_as_stripe_documents(svc, stripe_fake):
    investor_id = await onboard(svc, "uma")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    other = copy.copy(order)
    other.expires_at = order.expires_at + timedelta(hours=1)  # another expiry under the same key
    with pytest.raises(PaymentRefused, match="same parameters"):
        await svc.payments.create_checkout(other, await _investor(svc, investor_id))
    assert len(stripe_fake.sessions) == 1


async def test_a_checkout_first_asked_for_too_late_for_the_window_fails_the_order(svc, stripe_fake):
    """An order created more than the margin (5 min) before its first checkout request: the expiry
    anchored on the order is less than 30 minutes ahead, Stripe refuses it, the units go back."""
    investor_id = await onboard(svc, "eli")
    instrument_id = await instrument(svc)
    late = _shift_clock(svc, timedelta(minutes=-40))  # the order's clock is 40 minutes behind
    with pytest.raises(PaymentRefused, match="30 minutes"):
        await p.create_order(late, p.CreateOrder(investor_id, instrument_id, 1))
    assert stripe_fake.sessions == {}
    assert await units_reserved(svc, instrument_id) == 0


def test_stripe_config_refuses_a_missing_key_or_relative_urls():
    from drexfy.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="api_key"):
        StripeConfig(api_key="", success_url="https://a/", cancel_url="https://a/")
    with pytest.raises(ConfigurationError, match="cancel_url"):
        StripeConfig(api_key="sk_test_x", success_url="https://a/", cancel_url="/back")


async def test_a_refund_failure_that_overtakes_the_recording_of_its_request_still_counts_once(svc, stripe_fake):
    """Stripe's webhook for a refund can reach another worker before this one has stored the
    refund's id: the failure must count, the late recording must not revive the failed refund,
    and the retry must be a new refund."""
    import attrs

    investor_id = await onboard(svc, "kim")
    instrument_id = await instrument(svc)
    order = await p.create_order(svc, p.CreateOrder(investor_id, instrument_id, 1))
    stripe_fake.refund_status = "pending"
    stripe_fake.pay(order.checkout_ref)
    await p.cancel_order(svc, order.id, "cancelled")
    real = svc.payments

    class Overtaken:
        async def refund(self, owed: Any) -> str:
            ref = await real.refund(owed)
            stripe_fake.fail_refund(ref)
            await deliver(svc, stripe_fake)  # the failure is handled before the answer is recorded
            await deliver(svc, stripe_fake)  # and redelivered
            return ref

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    racing = attrs.evolve(svc, payments=Overtaken())
    await deliver(racing, stripe_fake)  # checkout completed -> REFUND_DUE -> refund asked
    owed = await order_of(svc, order.id)
    assert (owed.status, owed.refund_ref, owed.refund_attempts) == (OrderStatus.REFUND_DUE, None, 1)
    assert owed.refund_failures == tuple(stripe_fake.refunds)
    assert await p.retry_refunds(_shift_clock(svc, timedelta(minutes=6))) == 1
    assert len(stripe_fake.refunds) == 2


def test_a_refund_made_in_the_dashboard_is_acknowledged_and_ignored_not_refused():
    """Stripe disables an endpoint that keeps answering errors: a refund event without our order
    id (an operator refunded in the dashboard) is ignored, not a 400."""
    import json

    body = json.dumps(
        {
            "id": "evt_dash",
            "object": "event",
            "type": "refund.updated",
            "data": {"object": {"id": "re_dash", "object": "refund", "status": "succeeded", "metadata": {}}},
        }
    ).encode()
    assert parse_payment(body) is None
