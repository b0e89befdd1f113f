"""The whole purchase path through HTTP: API calls, signed webhooks, the worker, notifications."""

from __future__ import annotations

from drexfy.adapters.notify.http import RecordingNotifier
from drexfy.adapters.webhooks import sandbox


async def test_register_kyc_buy_and_settle_through_http(api):
    investor_id = await api.active_investor("anna@example.com", "DE", accredited=True)
    status, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "frontend")
    assert status == 200
    assert investor["status"] == "ACTIVE"
    assert investor["classification"] == "EU_ACCREDITED"
    assert investor["wallet"]["address"].startswith("0x")

    instrument_id = await api.open_instrument("SMEA", units=100, price_minor=10_000)
    order = await api.order(investor_id, instrument_id, units=3)
    assert order["status"] == "CREATED"
    assert order["amount"] == {"minor": 30_000, "currency": "EUR", "display": "300.00"}
    assert order["checkout"]["reference"]

    body = sandbox.stripe_event("evt_1", "checkout.session.completed", order_id=order["id"], amount_minor=30_000)
    status, answer = await api.payment(body)
    assert (status, answer["status"]) == (202, "accepted")
    # the request did not settle anything: the order is still CREATED until the worker runs
    status, still = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert still["status"] == "CREATED"

    await api.drain()
    status, settled = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert settled["status"] == "SETTLED"
    status, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "investor", investor_id=investor_id)
    assert status == 200
    assert investor["holdings"] == [{"instrument_id": instrument_id, "symbol": "SMEA", "units": 3}]
    notifier: RecordingNotifier = api.notifier
    assert "OrderSettled" in [n["event"] for n in notifier.sent]
    assert api.metrics.settlement_latency.count() == 1
