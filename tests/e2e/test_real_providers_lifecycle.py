"""The lifecycle over HTTP through the real provider adapters (what "Done when" asks of the issue):
Sumsub KYC against the fake Sumsub API, Stripe Checkout and a refund with the real `stripe` client
against the fake Stripe API (its events signed and posted to /webhooks/payments), a repayment, and a
bank deposit minted from an uploaded camt.054 and spent on an order paid from the balance, a
withdrawal paid out by a pain.001 file and confirmed by a camt.054 statement (the bank routes), an
unmatched credit given to the investor with a second admin's approval, and a credit the ledger
could not mint at import minted by the worker's sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from drexfy.adapters.notify import RecordingNotifier
from drexfy.adapters.webhooks import sandbox
from drexfy.domain.errors import LedgerUnavailable
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.container import build_container
from drexfy.entrypoints.http import create_app
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.worker import Worker
from tests.http.conftest import STRIPE_SECRET, Api, http_settings
from tests.support.bank_files import Line, camt054
from tests.support.stripe_fake import FakeStripe
from tests.support.sumsub_fake import FakeSumsub


@pytest.fixture
async def world(tmp_path: Any, aiohttp_client: Any) -> AsyncIterator[tuple[Api, FakeStripe, FakeSumsub]]:
    stripe_fake, sumsub_fake = FakeStripe(), FakeSumsub()
    stripe_url = await stripe_fake.start()
    await sumsub_fake.start()
    settings = load_settings(
        env={},
        overrides={
            "data_dir": str(tmp_path),
            "ledger.kind": "memory",
            "kyc.kind": "sumsub",
            "kyc.sumsub.app_token": sumsub_fake.app_token,
            "kyc.sumsub.secret_key": sumsub_fake.secret_key,
            "kyc.sumsub.level_name": "basic-kyc-level",
            "kyc.sumsub.api_base": sumsub_fake.url,
            "payments.kind": "stripe",
            "payments.stripe.api_key": stripe_fake.api_key,
            "payments.stripe.api_base": stripe_url,
            "payments.stripe.success_url": "https://app.example/paid",
            "payments.stripe.cancel_url": "https://app.example/back",
            "payments.stripe.max_network_retries": 0,
            "bank.name": "Drexfy Platform GmbH",
            "bank.iban": "DE02120300000000202051",
        },
    )
    container = build_container(settings)
    services = await container.services()
    notifier = RecordingNotifier()
    http = http_settings(kyc_webhook_secret=sumsub_fake.webhook_secret)
    app = create_app(services, http, notifier=notifier)
    client = await aiohttp_client(app)
    yield (
        Api(client, notifier, Worker(app[STATE].services, notifier, http.worker, app[STATE].metrics)),
        stripe_fake,
        sumsub_fake,
    )
    await container.shutdown_resources()  # type: ignore[misc]
    await stripe_fake.close()
    await sumsub_fake.close()


async def stripe_sends(api: Api, fake: FakeStripe) -> None:
    for body in fake.take_events():
        response = await api.client.post(
            "/webhooks/payments", data=body, headers=sandbox.stripe_headers(body, STRIPE_SECRET)
        )
        assert response.status in (200, 202), await response.text()
    await api.drain()


async def test_kyc_purchase_refund_repayment_and_payout_through_the_real_adapters(world):
    api, stripe_fake, sumsub_fake = world
    # KYC with Sumsub: a RETRY first, then GREEN with the country Sumsub read from the passport.
    status, inv = await api.call(
        "POST",
        "/api/v1/investors",
        "frontend",
        json={"legal_name": "Ana Test", "email": "ana@example.com", "country": "DE", "kind": "INDIVIDUAL"},
    )
    assert status == 201
    investor_id = inv["id"]
    status, session = await api.call("POST", f"/api/v1/investors/{investor_id}/kyc", "frontend")
    assert status == 200 and session["access_token"]
    applicant = session["applicant_id"]
    retry = sumsub_fake.review(applicant, "RED", labels=("SCREENSHOTS",), reject_type="RETRY")
    sumsub_fake.verify(applicant, country="DEU")  # the investor uploads a proper document
    green = sumsub_fake.review(applicant, "GREEN")
    for body in (retry, green):
        response = await api.client.post("/webhooks/sumsub", data=body, headers=sumsub_fake.signed(body))
        assert response.status == 202
        await api.drain()
    status, view = await api.call("GET", f"/api/v1/investors/{investor_id}", "frontend")
    assert (view["status"], view["classification"]) == ("ACTIVE", "EU_NON_ACCREDITED")

    # A purchase paid by card through Stripe Checkout settles.
    instrument_id = await api.open_instrument()
    order = await api.order(investor_id, instrument_id, units=2)
    assert order["checkout"]["url"].startswith("https://checkout.stripe.test/")
    session_id = next(iter(stripe_fake.sessions))
    stripe_fake.pay(session_id)
    await stripe_sends(api, stripe_fake)
    status, settled = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert settled["status"] == "SETTLED"

    # A second order is cancelled while the payment is under way: the money goes back.
    late = await api.order(investor_id, instrument_id, units=1)
    late_session = late["checkout"]["reference"]
    stripe_fake.pay(late_session)
    status, _ = await api.call("POST", f"/api/v1/orders/{late['id']}/cancel", "investor", investor_id=investor_id)
    assert status == 200
    await stripe_sends(api, stripe_fake)  # completed -> REFUND_DUE -> refund asked
    await stripe_sends(api, stripe_fake)  # refund.created, charge.refunded, refund.updated
    status, refunded = await api.call("GET", f"/api/v1/orders/{late['id']}", "frontend")
    assert refunded["status"] == "REFUNDED" and len(stripe_fake.refunds) == 1

    # A repayment pays stablecoin; the investor withdraws it to their bank account.
    status, _ = await api.call(
        "POST",
        f"/api/v1/instruments/{instrument_id}/repayments",
        "admin",
        json={
            "period": "2026-12",
            "interest": {"minor": 1500, "currency": "EUR"},
            "principal": {"minor": 0, "currency": "EUR"},
        },
    )
    assert status == 202
    await api.drain()
    status, account = await api.call(
        "PUT",
        f"/api/v1/investors/{investor_id}/payout-account",
        "investor",
        investor_id=investor_id,
        json={"iban": "DE89 3704 0044 0532 0130 00"},
    )
    assert (status, account["iban_ending"]) == (200, "3000")
    status, withdrawal = await api.call(
        "POST",
        "/api/v1/withdrawals",
        "frontend",
        json={"investor_id": investor_id, "amount": {"minor": 1500, "currency": "EUR"}},
    )
    assert status == 201, withdrawal
    response = await api.client.post("/api/v1/bank/payouts", headers=api.token("admin"))
    assert response.status == 200 and withdrawal["id"].encode() in await response.read()
    statement = camt054([Line("BANK-77", "15.00", end_to_end_id=withdrawal["id"])])
    status, report = await upload(api, statement)
    assert (status, report["paid_out"]) == (200, [withdrawal["id"]])
    async with api.svc.store.unit_of_work() as uow:
        assert (await uow.withdrawals.get(withdrawal["id"])).status.value == "PAID_OUT"
    await api.drain()  # the outbox tells the frontend
    assert [n["aggregate_id"] for n in api.notifier.sent if n["event"] == "WithdrawalPaidOut"] == [investor_id]

    # A bank deposit: the investor wires 250.00 EUR naming their id; the statement mints it once,
    # and an order is paid from that balance (no card, no Stripe session).
    deposit = camt054([Line("BANK-78", "250.00", credit=True, remittance=f"DREXFY {investor_id}")])
    for _ in range(2):  # uploaded twice: minted once
        status, report = await upload(api, deposit)
        assert status == 200 and [d["status"] for d in report["deposits"]] == ["MINTED"]
    sessions = len(stripe_fake.sessions)
    second = await api.open_instrument("SME2")  # SME1 is repaying: its sale is over
    from_balance = await api.order(investor_id, second, units=2)  # 200.00 EUR
    status, paid = await api.call(
        "POST", f"/api/v1/orders/{from_balance['id']}/pay-from-balance", "investor", investor_id=investor_id
    )
    assert status == 200, paid
    assert (paid["status"], paid["funding"]) == ("SETTLED", "balance")
    assert len(stripe_fake.sessions) == sessions + 1  # its checkout was opened, then ended unpaid
    assert stripe_fake.sessions[from_balance["checkout"]["reference"]]["status"] == "expired"
    await stripe_sends(api, stripe_fake)  # checkout.session.expired: the settled order stays settled
    status, still = await api.call("GET", f"/api/v1/orders/{from_balance['id']}", "frontend")
    assert still["status"] == "SETTLED"
    async with api.svc.store.unit_of_work() as uow:
        wallet = (await uow.investors.get(investor_id)).wallet
    assert (await api.svc.ledger.stablecoin_balance(wallet.address)).minor == 5000

    # A credit that names nobody waits for an operator; giving it to the investor takes two admins.
    status, report = await upload(api, camt054([Line("BANK-79", "30.00", credit=True, remittance="from Ana")]))
    assert status == 200 and report["deposits"][0]["status"] == "UNMATCHED"
    unmatched = report["deposits"][0]["id"]
    path = f"/api/v1/bank/deposits/{unmatched}/assign"
    status, request = await api.call("POST", path, "admin", json={"investor_id": investor_id, "reason": "her IBAN"})
    assert (status, request["status"]) == (202, "PENDING"), request
    status, approved = await api.approve(request["id"], "admin")
    assert (status, approved["result"]["status"]) == (200, "MINTED"), approved

    # A credit the ledger could not mint at import (node down) is minted by the worker's sweep, once.
    api.svc.ledger.fail_next(LedgerUnavailable("node down"))  # type: ignore[attr-defined]
    status, report = await upload(api, camt054([Line("BANK-80", "20.00", credit=True, remittance=investor_id)]))
    assert status == 200 and report["deposits"][0]["status"] == "MATCHED"
    await api.worker.tick()
    await api.worker.tick()
    assert (await api.svc.ledger.stablecoin_balance(wallet.address)).minor == 5000 + 3000 + 2000


async def upload(api: Api, data: bytes) -> tuple[int, Any]:
    headers = {**api.token("admin"), "Content-Type": "application/xml"}
    response = await api.client.post("/api/v1/bank/statements", data=data, headers=headers)
    return response.status, await response.json(content_type=None)
