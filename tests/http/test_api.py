"""The platform API per endpoint: happy paths, validation, problem types, idempotency keys."""

from __future__ import annotations

import json

import pytest

from drexfy.adapters.notify import RecordingNotifier
from drexfy.adapters.webhooks import sandbox

REGISTER = {"legal_name": "Ines Costa", "email": "ines@example.com", "country": "PT", "kind": "INDIVIDUAL"}


# --- investors -------------------------------------------------------------------------------------


async def test_register_returns_the_pending_investor(api):
    status, body = await api.call("POST", "/api/v1/investors", "frontend", json=REGISTER)
    assert status == 201
    assert body["status"] == "PENDING_KYC"
    assert body["id"].startswith("inv_")
    assert body["wallet"] is None and body["classification"] is None


async def test_registering_an_email_twice_is_a_409_duplicate(api):
    await api.call("POST", "/api/v1/investors", "frontend", json=REGISTER)
    status, problem = await api.call("POST", "/api/v1/investors", "frontend", json=REGISTER)
    assert status == 409
    assert problem["type"] == "https://drexfy.dev/problems/duplicate"
    assert problem["title"] == "Conflict"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "ROBOT"}, "$.kind"),
        ({"country": 49}, "$.country"),
        ({"declared_accredited": "yes"}, "$.declared_accredited"),
        ({"extra": 1}, "$"),
        ({"legal_name": None}, "$.legal_name"),
    ],
)
async def test_an_invalid_body_is_a_400_naming_the_field(api, change, field):
    status, problem = await api.call("POST", "/api/v1/investors", "frontend", json={**REGISTER, **change})
    assert status == 400
    assert problem["type"].endswith("/validation-failed")
    assert field in [e["field"] for e in problem["errors"]]


async def test_a_missing_field_is_named(api):
    body = dict(REGISTER)
    del body["email"]
    status, problem = await api.call("POST", "/api/v1/investors", "frontend", json=body)
    assert status == 400
    assert {"field": "$.email", "message": "required field missing"} in problem["errors"]


async def test_domain_validation_is_a_400_with_its_own_type(api):
    status, problem = await api.call("POST", "/api/v1/investors", "frontend", json={**REGISTER, "email": "nope"})
    assert status == 400
    assert problem["type"].endswith("/validation-failed")
    assert "email" in problem["detail"]


async def test_a_non_json_body_is_refused(api):
    headers = api.token("frontend")
    r = await api.client.post(
        "/api/v1/investors", data="legal_name=x", headers={**headers, "Content-Type": "text/plain"}
    )
    assert r.status == 415
    r = await api.client.post(
        "/api/v1/investors", data="{oops", headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status == 400
    assert (await r.json())["type"].endswith("/malformed-json")
    r = await api.client.post("/api/v1/investors", data="[1]", headers={**headers, "Content-Type": "application/json"})
    assert r.status == 400


async def test_a_body_over_the_limit_is_a_413(api):
    body = {**REGISTER, "legal_name": "x" * 100_000}
    status, problem = await api.call("POST", "/api/v1/investors", "frontend", json=body)
    assert status == 413
    assert problem["type"].endswith("/payload-too-large")


async def test_start_kyc_returns_the_link_and_is_refused_once_kyc_is_finished(api):
    investor_id = await api.active_investor("kyc-done@example.com")
    status, problem = await api.call("POST", f"/api/v1/investors/{investor_id}/kyc", "frontend")
    assert status == 409
    assert problem["type"].endswith("/illegal-transition")


async def test_admins_and_compliance_list_investors_filtered_and_paged(api):
    active = [await api.active_investor(f"list{n}@example.com") for n in range(3)]
    status, pending = await api.call("POST", "/api/v1/investors", "frontend", json=REGISTER)
    assert status == 201
    status, _ = await api.call(
        "POST", f"/api/v1/compliance/investors/{active[1]}/block", "compliance", json={"reason": "sanctions list"}
    )
    assert status == 200

    status, everyone = await api.call("GET", "/api/v1/investors", "admin")
    assert status == 200 and everyone["next"] is None
    assert [i["id"] for i in everyone["items"]] == sorted([*active, pending["id"]])
    assert "holdings" not in everyone["items"][0] and everyone["items"][0]["email"]

    _, blocked = await api.call("GET", "/api/v1/investors?compliance=BLOCKED", "compliance")
    assert [(i["id"], i["blocked_reason"]) for i in blocked["items"]] == [(active[1], "sanctions list")]
    _, waiting = await api.call("GET", "/api/v1/investors?status=PENDING_KYC", "admin")
    assert [i["id"] for i in waiting["items"]] == [pending["id"]]

    # Pages of one, following `next`, visit every active investor once, in order.
    seen, after = [], ""
    while True:
        _, page = await api.call("GET", f"/api/v1/investors?status=ACTIVE&limit=1{after}", "admin")
        seen += [i["id"] for i in page["items"]]
        if page["next"] is None:
            break
        after = f"&after={page['next']}"
    assert seen == sorted(active)

    status, problem = await api.call("GET", "/api/v1/investors?compliance=GREY", "admin")
    assert status == 400 and "compliance" in json.dumps(problem) and "CLEAR, BLOCKED" in json.dumps(problem)


async def test_an_unknown_investor_is_a_404(api):
    status, problem = await api.call("GET", "/api/v1/investors/inv_missing", "admin")
    assert status == 404
    assert problem["type"].endswith("/investor-not-found")


# --- idempotency -------------------------------------------------------------------------------------


async def test_an_idempotency_key_replays_the_first_answer_and_creates_once(api):
    headers = {"Idempotency-Key": "reg-1"}
    s1, first = await api.call("POST", "/api/v1/investors", "frontend", json=REGISTER, headers=headers)
    response = await api.client.post("/api/v1/investors", json=REGISTER, headers={**headers, **api.token("frontend")})
    assert (s1, response.status) == (201, 201)
    assert response.headers["Idempotent-Replayed"] == "true"
    assert await response.json() == first
    async with api.svc.store.unit_of_work() as uow:
        assert len(await uow.investors.list()) == 1


async def test_an_idempotency_key_reused_with_another_body_is_refused(api):
    headers = {"Idempotency-Key": "reg-2"}
    await api.call("POST", "/api/v1/investors", "frontend", json=REGISTER, headers=headers)
    status, problem = await api.call(
        "POST", "/api/v1/investors", "frontend", json={**REGISTER, "email": "other@example.com"}, headers=headers
    )
    assert status == 422
    assert problem["type"].endswith("/idempotency-key-reused")


async def test_concurrent_requests_with_one_key_create_one_order(api):
    import asyncio

    investor_id = await api.active_investor("idem@example.com")
    instrument_id = await api.open_instrument("IDEM1")
    body = {"investor_id": investor_id, "instrument_id": instrument_id, "units": 1}
    results = await asyncio.gather(
        *(
            api.call("POST", "/api/v1/orders", "frontend", json=body, headers={"Idempotency-Key": "ord-1"})
            for _ in range(5)
        )
    )
    assert {s for s, _ in results} == {201}
    assert len({b["id"] for _, b in results}) == 1
    assert api.state.idempotency_locks == {}  # per-key locks do not pile up
    _, orders = await api.call("GET", f"/api/v1/investors/{investor_id}/orders", "frontend")
    assert len(orders["items"]) == 1


async def test_two_api_replicas_never_both_act_on_one_key(api, services, aiohttp_client, monkeypatch):
    """A second replica (its own app and in-process locks, the same store) gets the key while the
    first attempt is still running: it answers 409 with Retry-After and acts on nothing; its retry
    replays the first answer."""
    import asyncio

    from drexfy.entrypoints.http import create_app
    from tests.http.conftest import http_settings

    replica = await aiohttp_client(create_app(services, http_settings(), notifier=RecordingNotifier()))
    investor_id = await api.active_investor("replicas@example.com")
    instrument_id = await api.open_instrument("REPL1")
    body = {"investor_id": investor_id, "instrument_id": instrument_id, "units": 2}
    headers = {"Idempotency-Key": "ord-replicas", **api.token("frontend")}

    idempotency = services.store.idempotency
    real_finish = idempotency.finish
    finishing, release = asyncio.Event(), asyncio.Event()

    async def held_finish(response):
        finishing.set()  # the first attempt has acted and is about to record its answer
        await release.wait()
        await real_finish(response)

    monkeypatch.setattr(idempotency, "finish", held_finish)
    first = asyncio.create_task(api.client.post("/api/v1/orders", json=body, headers=headers))
    await asyncio.wait_for(finishing.wait(), 5)
    busy = await replica.post("/api/v1/orders", json=body, headers=headers)
    assert busy.status == 409
    assert busy.headers["Retry-After"] == "1"
    assert (await busy.json())["type"].endswith("/idempotency-key-in-use")
    release.set()
    created = await first
    assert created.status == 201
    replayed = await replica.post("/api/v1/orders", json=body, headers=headers)
    assert replayed.status == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert (await replayed.json())["id"] == (await created.json())["id"]
    _, orders = await api.call("GET", f"/api/v1/investors/{investor_id}/orders", "frontend")
    assert len(orders["items"]) == 1


async def test_an_attempt_that_died_holding_a_key_is_taken_over_after_the_lease(api, services):
    from datetime import timedelta

    now = services.clock.now()
    scope = "frontend|POST /api/v1/investors"
    import hashlib

    digest = hashlib.sha256(json.dumps(REGISTER).encode()).hexdigest()
    # A reservation left by a process that died mid-request, two minutes ago.
    assert (
        await services.store.idempotency.begin(
            scope, "reg-dead", digest, now - timedelta(minutes=2), timedelta(seconds=60)
        )
        is None
    )
    status, body = await api.call(
        "POST", "/api/v1/investors", "frontend", json=REGISTER, headers={"Idempotency-Key": "reg-dead"}
    )
    assert status == 201, body
    # ...whereas a fresh reservation is respected.
    assert await services.store.idempotency.begin(scope, "reg-live", digest, now, timedelta(seconds=60)) is None
    status, problem = await api.call(
        "POST", "/api/v1/investors", "frontend", json=REGISTER, headers={"Idempotency-Key": "reg-live"}
    )
    assert status == 409 and problem["type"].endswith("/idempotency-key-in-use")


async def test_a_failed_create_is_not_remembered_under_its_key(api):
    headers = {"Idempotency-Key": "reg-3"}
    status, _ = await api.call(
        "POST", "/api/v1/investors", "frontend", json={**REGISTER, "email": "bad"}, headers=headers
    )
    assert status == 400
    status, _ = await api.call(
        "POST", "/api/v1/investors", "frontend", json={**REGISTER, "email": "bad"}, headers=headers
    )
    assert status == 400


# --- instruments ---------------------------------------------------------------------------------------


INSTRUMENT = {
    "symbol": "SME26",
    "name": "SME pool",
    "unit_price": {"minor": 10_000, "currency": "EUR"},
    "total_units": 500,
    "eligible": ["EU_ACCREDITED"],
    "min_ticket": {"minor": 10_000, "currency": "EUR"},
    "max_ticket": {"minor": 1_000_000, "currency": "EUR"},
    "class_caps": {"EU_ACCREDITED": {"minor": 500_000, "currency": "EUR"}},
}


async def test_instrument_lifecycle(api):
    status, ins = await api.call("POST", "/api/v1/instruments", "admin", json=INSTRUMENT)
    assert status == 201
    assert ins["status"] == "DRAFT" and ins["ledger_ref"]
    assert ins["class_caps"]["EU_ACCREDITED"]["minor"] == 500_000
    status, problem = await api.call("POST", f"/api/v1/instruments/{ins['id']}/close", "admin")
    assert status == 409 and problem["type"].endswith("/illegal-transition")
    status, opened = await api.call("POST", f"/api/v1/instruments/{ins['id']}/open", "admin")
    assert (status, opened["status"]) == (200, "OPEN")
    status, listed = await api.call("GET", "/api/v1/instruments", "investor", investor_id="inv_any")
    assert [i["id"] for i in listed["items"]] == [ins["id"]]
    status, got = await api.call("GET", f"/api/v1/instruments/{ins['id']}", "compliance")
    assert got["units_available"] == 500
    status, request = await api.call("POST", f"/api/v1/instruments/{ins['id']}/close", "admin")
    assert (status, request["kind"], request["status"]) == (202, "close_instrument", "PENDING")  # four-eyes
    status, approved = await api.approve(request["id"], "admin")
    assert (status, approved["status"], approved["result"]["status"]) == (200, "DONE", "CLOSED")
    status, closed = await api.call("GET", f"/api/v1/instruments/{ins['id']}", "admin")
    assert (status, closed["status"]) == (200, "CLOSED")
    status, problem = await api.call("GET", "/api/v1/instruments/ins_missing", "admin")
    assert status == 404 and problem["type"].endswith("/instrument-not-found")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unit_price": {"minor": 1.5, "currency": "EUR"}}, "$.unit_price.minor"),
        ({"unit_price": {"minor": 100, "currency": "XYZ"}}, "$.unit_price.currency"),
        ({"eligible": ["GOLD"]}, "$.eligible[0]"),
        ({"eligible": "EU_ACCREDITED"}, "$.eligible"),
        ({"total_units": "500"}, "$.total_units"),
    ],
)
async def test_an_invalid_instrument_is_a_400_naming_the_field(api, change, field):
    status, problem = await api.call("POST", "/api/v1/instruments", "admin", json={**INSTRUMENT, **change})
    assert status == 400, problem
    assert field in [e["field"] for e in problem["errors"]]


async def test_list_limit_is_validated(api):
    status, problem = await api.call("GET", "/api/v1/instruments?limit=0", "admin")
    assert status == 400 and problem["errors"][0]["field"] == "limit"


# --- orders ----------------------------------------------------------------------------------------------


async def test_an_ineligible_order_is_a_403_with_every_reason(api):
    _, inv = await api.call("POST", "/api/v1/investors", "frontend", json=REGISTER)
    instrument_id = await api.open_instrument("ELIG1")
    status, problem = await api.call(
        "POST",
        "/api/v1/orders",
        "frontend",
        json={"investor_id": inv["id"], "instrument_id": instrument_id, "units": 1},
    )
    assert status == 403
    assert problem["type"].endswith("/not-eligible")
    assert any("KYC" in r for r in problem["reasons"])


async def test_an_order_for_more_than_is_left_is_sold_out(api):
    investor_id = await api.active_investor("big@example.com")
    instrument_id = await api.open_instrument("SOLD1", units=5)
    status, problem = await api.call(
        "POST",
        "/api/v1/orders",
        "frontend",
        json={"investor_id": investor_id, "instrument_id": instrument_id, "units": 6},
    )
    assert status == 403
    assert problem["type"].endswith("/sold-out")


async def test_an_investor_cancels_an_unpaid_order_and_a_late_payment_is_refunded(api):
    investor_id = await api.active_investor("cancel@example.com")
    other_id = await api.active_investor("other@example.com")
    instrument_id = await api.open_instrument("CNL1", units=10)
    order = await api.order(investor_id, instrument_id, 4)
    path = f"/api/v1/orders/{order['id']}/cancel"

    status, problem = await api.call("POST", path, "investor", investor_id=other_id)
    assert status == 404 and problem["type"].endswith("/order-not-found")  # not theirs: looks unknown
    status, cancelled = await api.call("POST", path, "investor", investor_id=investor_id)
    assert (status, cancelled["status"], cancelled["reason"]) == (200, "CANCELLED", "cancelled by the investor")
    _, instrument = await api.call("GET", f"/api/v1/instruments/{instrument_id}", "admin")
    assert (instrument["units_available"], instrument["units_reserved"]) == (10, 0)
    status, again = await api.call("POST", path, "frontend")  # a retried request answers the same
    assert (status, again["status"]) == (200, "CANCELLED")

    # The investor had paid in another tab: the money goes back, no units are delivered.
    await api.payment(
        sandbox.stripe_event("evt_cnl1", "payment_intent.succeeded", order_id=order["id"], amount_minor=40_000)
    )
    await api.drain()
    _, late = await api.call("GET", f"/api/v1/orders/{order['id']}", "admin")
    assert (late["status"], late["reason"], late["tx_ids"]) == (
        "REFUND_DUE",  # the refund is started with the gateway; its charge.refunded event ends it
        "payment arrived after the order was cancelled",
        [],
    )

    paid = await api.order(investor_id, instrument_id, 2)
    await api.payment(
        sandbox.stripe_event("evt_cnl2", "payment_intent.succeeded", order_id=paid["id"], amount_minor=20_000)
    )
    await api.drain()
    status, problem = await api.call("POST", f"/api/v1/orders/{paid['id']}/cancel", "admin")
    assert status == 409 and problem["type"].endswith("/illegal-transition") and "SETTLED" in problem["detail"]


async def test_a_failed_payment_closes_the_order_and_frees_the_units(api):
    investor_id = await api.active_investor("fail@example.com")
    instrument_id = await api.open_instrument("FAIL1", units=10)
    order = await api.order(investor_id, instrument_id, 4)
    await api.payment(
        sandbox.stripe_event(
            "evt_f",
            "payment_intent.payment_failed",
            order_id=order["id"],
            amount_minor=40_000,
            failure_message="insufficient funds",
        )
    )
    await api.drain()
    _, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert (got["status"], got["reason"]) == ("FAILED", "insufficient funds")
    _, ins = await api.call("GET", f"/api/v1/instruments/{instrument_id}", "admin")
    assert ins["units_available"] == 10


async def test_a_payment_for_a_blocked_investor_becomes_a_refund(api):
    investor_id = await api.active_investor("late-block@example.com")
    instrument_id = await api.open_instrument("RFD1")
    order = await api.order(investor_id, instrument_id, 1)
    await api.call("POST", f"/api/v1/compliance/investors/{investor_id}/block", "compliance", json={"reason": "fraud"})
    await api.payment(
        sandbox.stripe_event("evt_r", "checkout.session.completed", order_id=order["id"], amount_minor=10_000)
    )
    await api.drain()
    _, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "admin")
    assert got["status"] == "REFUND_DUE"
    await api.payment(sandbox.stripe_event("evt_r2", "charge.refunded", order_id=order["id"], amount_minor=10_000))
    await api.drain()
    _, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "admin")
    assert got["status"] == "REFUNDED"


# --- repayments, compliance, withdrawals -------------------------------------------------------------


async def _holder_with_units(api, email: str, symbol: str, units: int) -> tuple[str, str]:
    investor_id = await api.active_investor(email)
    instrument_id = await api.open_instrument(symbol, units=100)
    order = await api.order(investor_id, instrument_id, units)
    await api.payment(
        sandbox.stripe_event(
            f"evt_{symbol}_{email}", "payment_intent.succeeded", order_id=order["id"], amount_minor=units * 10_000
        )
    )
    await api.drain()
    return investor_id, instrument_id


async def test_repayment_trigger_progress_and_withdrawal(api):
    investor_id, instrument_id = await _holder_with_units(api, "holder@example.com", "REP1", 10)
    body = {
        "period": "2026-11",
        "interest": {"minor": 1_234, "currency": "EUR"},
        "principal": {"minor": 20_000, "currency": "EUR"},
    }
    status, rep = await api.call("POST", f"/api/v1/instruments/{instrument_id}/repayments", "admin", json=body)
    # Accepted, not paid in the request: a load balancer's cut would leave a long one half done.
    assert status == 202, rep
    # Recorded only: the worker's job snapshots the holders (`as_of`) and pays.
    assert (rep["status"], rep["paid"]["minor"], rep["as_of"], rep["snapshot_at"]) == ("REQUESTED", 0, None, None)
    assert rep["progress"] == {"holders": 0}
    again_status, again = await api.call("POST", f"/api/v1/instruments/{instrument_id}/repayments", "admin", json=body)
    assert (again_status, again["id"]) == (202, rep["id"])  # the same round, queued once
    jobs = [m for m in await api.svc.store.inbox.list(limit=100) if m.kind == "repayment.pay"]
    assert [m.key for m in jobs] == [f"repayment:{rep['id']}"]
    await api.drain()  # the worker pays the batches
    status, got = await api.call("GET", f"/api/v1/repayments/{rep['id']}", "frontend")
    assert got["status"] == "COMPLETED" and got["paid"]["minor"] == 21_234
    assert got["progress"] == {"holders": 1, "PAID": 1}
    assert (got["batches_paid"], got["units_retired"], got["failure"]) == (1, 2, None)
    assert got["snapshot_at"] is not None
    status, listed = await api.call("GET", f"/api/v1/instruments/{instrument_id}/repayments", "admin")
    assert [r["id"] for r in listed["items"]] == [rep["id"]]
    status, problem = await api.call("POST", f"/api/v1/instruments/{instrument_id}/repayments", "admin", json=body)
    assert status == 409 and problem["type"].endswith("/duplicate")

    status, wd = await api.call(
        "POST",
        "/api/v1/withdrawals",
        "investor",
        investor_id=investor_id,
        json={"investor_id": investor_id, "amount": {"minor": 1_000, "currency": "EUR"}},
    )
    assert (status, wd["status"]) == (201, "BURNED")
    status, problem = await api.call(
        "POST",
        "/api/v1/withdrawals",
        "frontend",
        json={"investor_id": investor_id, "amount": {"minor": 10**9, "currency": "EUR"}},
    )
    assert status == 422 and problem["type"].endswith("/insufficient-funds")
    status, problem = await api.call("GET", "/api/v1/repayments/rep_missing", "admin")
    assert status == 404 and problem["type"].endswith("/repayment-not-found")


async def test_reconciliation_reports_in_sync_books_then_the_drift_of_a_tampered_ledger(api):
    investor_id, instrument_id = await _holder_with_units(api, "recon@example.com", "REC1", 4)
    path = f"/api/v1/instruments/{instrument_id}/reconciliation"
    status, report = await api.call("GET", path, "compliance")
    assert status == 200, report
    assert (report["in_sync"], report["ledger_units"], report["store_units"], report["drift"]) == (True, 4, 4, [])
    assert (report["units_reserved"], report["reserved_by_orders"]) == (0, 0)
    # An unpaid order holds its units: counted on both sides, still in sync.
    await api.order(investor_id, instrument_id, 2)
    _, report = await api.call("GET", path, "compliance")
    assert (report["in_sync"], report["units_reserved"], report["reserved_by_orders"]) == (True, 2, 2)
    assert report["symbol"] == "REC1" and report["checked_at"]

    # Units move on the ledger outside the platform (say an agent transfer the store never saw).
    ledger = api.state.services.ledger
    _, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "admin")
    _, instrument = await api.call("GET", f"/api/v1/instruments/{instrument_id}", "admin")
    token = ledger.tokens[instrument["ledger_ref"]]
    holder = next(a for a in token.balances if a.lower() == investor["wallet"]["address"].lower())
    token.balances[holder] -= 1
    token.balances["0x00000000000000000000000000000000000000aa"] += 1
    status, report = await api.call("GET", path, "admin")
    assert status == 200 and report["in_sync"] is False
    assert (report["ledger_units"], report["store_units"]) == (4, 4)
    assert report["drift"] == [
        {
            "address": "0x00000000000000000000000000000000000000aa",
            "investor_id": None,
            "ledger_units": 1,
            "store_units": 0,
        },
        {"address": holder.lower(), "investor_id": investor_id, "ledger_units": 3, "store_units": 4},
    ]
    status, problem = await api.call("GET", "/api/v1/instruments/ins_missing/reconciliation", "admin")
    assert status == 404 and problem["type"].endswith("/instrument-not-found")


async def test_block_holds_back_and_unblock_releases(api):
    investor_id, instrument_id = await _holder_with_units(api, "blocked@example.com", "BLK1", 5)
    status, blocked = await api.call(
        "POST",
        f"/api/v1/compliance/investors/{investor_id}/block",
        "compliance",
        json={"reason": "sanctions list update"},
    )
    # Frozen, not reclassified: only a confirmed sanctions match publishes SANCTIONED.
    assert (status, blocked["compliance"], blocked["classification"]) == (200, "BLOCKED", "EU_NON_ACCREDITED")
    await api.call(
        "POST",
        f"/api/v1/instruments/{instrument_id}/repayments",
        "admin",
        json={
            "period": "2026-12",
            "interest": {"minor": 500, "currency": "EUR"},
            "principal": {"minor": 0, "currency": "EUR"},
        },
    )
    await api.drain()
    _, view = await api.call("GET", f"/api/v1/investors/{investor_id}", "compliance")
    assert [h["amount"]["minor"] for h in view["held_back_repayments"]] == [500]
    status, problem = await api.call(
        "POST",
        "/api/v1/withdrawals",
        "frontend",
        json={"investor_id": investor_id, "amount": {"minor": 1, "currency": "EUR"}},
    )
    assert status == 403 and problem["type"].endswith("/investor-blocked")

    status, problem = await api.call(
        "POST", f"/api/v1/compliance/investors/{investor_id}/unblock", "compliance", json={"reason": "  "}
    )
    assert status == 400 and problem["errors"][0]["field"] == "$.reason"
    status, request = await api.call(
        "POST",
        f"/api/v1/compliance/investors/{investor_id}/unblock",
        "compliance",
        json={"reason": "cleared after review"},
    )
    assert (status, request["status"]) == (202, "PENDING")  # four-eyes: a second officer approves
    status, approved = await api.approve(request["id"], "compliance")
    assert (status, approved["status"]) == (200, "DONE")
    status, cleared = await api.call("GET", f"/api/v1/investors/{investor_id}", "compliance")
    assert (status, cleared["compliance"], cleared["classification"]) == (200, "CLEAR", "EU_NON_ACCREDITED")
    assert cleared["held_back_repayments"] == []
    status, audit = await api.call("GET", f"/api/v1/compliance/investors/{investor_id}/events", "compliance")
    names = [e["name"] for e in audit["items"]]
    assert "InvestorBlocked" in names and "InvestorUnblocked" in names
    status, problem = await api.call(
        "POST", f"/api/v1/compliance/investors/{investor_id}/unblock", "compliance", json={"reason": "again"}
    )
    assert status == 409


# --- generic ------------------------------------------------------------------------------------------------


async def test_unknown_routes_and_methods_are_problems(api):
    status, problem = await api.call("GET", "/api/v1/nothing-here", "admin")
    assert status == 404 and problem["type"].endswith("/route-not-found")
    status, problem = await api.call("DELETE", "/api/v1/instruments", "admin")
    assert status == 405 and problem["type"].endswith("/method-not-allowed")


async def test_every_response_carries_a_request_id_and_problems_repeat_it(api):
    r = await api.client.get("/api/v1/jobs", headers={"X-Request-Id": "req-abc-123"})
    assert r.headers["X-Request-Id"] == "req-abc-123"
    assert (await r.json())["request_id"] == "req-abc-123"
    r = await api.client.get("/health", headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["X-Request-Id"] != "bad id with spaces" and len(r.headers["X-Request-Id"]) == 32


async def test_an_unexpected_error_is_a_500_that_reveals_nothing(api, monkeypatch):
    from drexfy.domain import processes

    async def boom(*args, **kwargs):
        raise RuntimeError("secret connection string postgres://user:pw@host")

    monkeypatch.setattr(processes, "register_investor", boom)
    status, problem = await api.call("POST", "/api/v1/investors", "frontend", json=REGISTER)
    assert status == 500
    assert problem["type"].endswith("/internal-error")
    assert "postgres" not in json.dumps(problem)
