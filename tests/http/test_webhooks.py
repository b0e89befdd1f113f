"""Webhooks: verified on the raw body, stored in the inbox before the 2xx, duplicates dropped,
and every unhappy path refused with problem+json and nothing stored."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import attrs
import pytest
import stripe

from drexfy.adapters.webhooks import sandbox
from drexfy.adapters.webhooks.signatures import sign_digest
from drexfy.domain.ports import MessageStatus
from drexfy.entrypoints.worker import Worker
from tests.http.conftest import KYC_SECRET, STRIPE_SECRET


async def inbox_size(api) -> int:
    return sum((await api.svc.store.inbox.counts()).values())


class _Shifted:
    def __init__(self, inner, delta: timedelta) -> None:
        self.inner, self.delta = inner, delta

    def now(self):
        return self.inner.now() + self.delta


def real_stripe_header(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    """Signed by the stripe package itself, as Stripe's servers sign."""
    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)


def payment_body(
    event_id: str = "evt_1", order_id: str = "ord_x", event_type: str = "payment_intent.succeeded"
) -> bytes:
    return sandbox.stripe_event(event_id, event_type, order_id=order_id, amount_minor=1000)


# --- payments (Stripe) -------------------------------------------------------------------------


async def test_a_valid_payment_event_is_stored_before_the_answer_and_a_redelivery_is_a_duplicate(api):
    body = payment_body()
    headers = {"Stripe-Signature": real_stripe_header(body), "Content-Type": "application/json"}
    first = await api.client.post("/webhooks/payments", data=body, headers=headers)
    assert first.status == 202
    assert (await first.json())["status"] == "accepted"
    stored = await api.svc.store.inbox.list()
    assert [(m.key, m.kind, m.status) for m in stored] == [("payments:evt_1", "payment.event", MessageStatus.PENDING)]
    assert stored[0].payload["event"]["order_id"] == "ord_x"

    again = await api.client.post(
        "/webhooks/payments",
        data=body,
        headers={"Stripe-Signature": real_stripe_header(body), "Content-Type": "application/json"},
    )
    assert again.status == 200
    assert (await again.json())["status"] == "duplicate"
    assert await inbox_size(api) == 1
    assert api.metrics.webhooks_received.value(source="payments") == 1
    assert api.metrics.webhooks_duplicate.value(source="payments") == 1


@pytest.mark.parametrize(
    ("case", "make_header"),
    [
        ("missing header", lambda body: None),
        ("wrong secret", lambda body: real_stripe_header(body, "whsec_someone_else")),
        ("stale timestamp", lambda body: real_stripe_header(body, timestamp=int(time.time()) - 301)),
        ("far future timestamp", lambda body: real_stripe_header(body, timestamp=int(time.time()) + 3600)),
        ("signature of another body", lambda body: real_stripe_header(body + b" ")),
        ("no v1 scheme", lambda body: real_stripe_header(body).replace("v1=", "v0=")),
        ("garbage header", lambda body: "not-a-signature"),
        ("empty v1", lambda body: f"t={int(time.time())},v1="),
    ],
)
async def test_a_payment_webhook_that_is_not_provably_from_the_gateway_is_refused_and_not_stored(
    api, case, make_header
):
    body = payment_body()
    header = make_header(body)
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    response = await api.client.post("/webhooks/payments", data=body, headers=headers)
    assert response.status == 401, case
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["type"].endswith("/invalid-signature")
    assert problem["status"] == 401
    assert STRIPE_SECRET not in json.dumps(problem)
    assert await inbox_size(api) == 0
    assert api.metrics.webhooks_rejected.value(source="payments", reason="signature") == 1


async def test_a_timestamp_slightly_ahead_is_accepted_as_clock_skew(api):
    body = payment_body()
    response = await api.client.post(
        "/webhooks/payments",
        data=body,
        headers={"Stripe-Signature": real_stripe_header(body, timestamp=int(time.time()) + 60)},
    )
    assert response.status == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "JSON"),
        (b"[1, 2]", "object"),
        (
            json.dumps(
                {
                    "id": "evt_2",
                    "type": "payment_intent.succeeded",
                    "data": {"object": {"id": "pi_1", "amount_received": 10, "currency": "eur", "metadata": {}}},
                }
            ).encode(),
            "order_id",
        ),
        (
            json.dumps(
                {
                    "id": "evt_3",
                    "type": "payment_intent.succeeded",
                    "data": {
                        "object": {
                            "id": "pi_1",
                            "amount_received": "10",
                            "currency": "eur",
                            "metadata": {"order_id": "o"},
                        }
                    },
                }
            ).encode(),
            "amount_received",
        ),
        (
            json.dumps(
                {
                    "id": "evt_4",
                    "type": "payment_intent.succeeded",
                    "data": {
                        "object": {
                            "id": "pi_1",
                            "amount_received": 10,
                            "currency": "xxx",
                            "metadata": {"order_id": "o"},
                        }
                    },
                }
            ).encode(),
            "currency",
        ),
        (json.dumps({"type": "payment_intent.succeeded", "data": {}}).encode(), "id"),
    ],
)
async def test_a_validly_signed_but_malformed_payment_event_is_a_400_and_nothing_is_stored(api, body, field):
    response = await api.client.post(
        "/webhooks/payments", data=body, headers={"Stripe-Signature": real_stripe_header(body)}
    )
    assert response.status == 400
    problem = await response.json()
    assert field in problem["detail"]
    assert await inbox_size(api) == 0


async def test_an_event_type_we_do_not_act_on_is_acknowledged_and_ignored(api):
    body = json.dumps({"id": "evt_9", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}).encode()
    response = await api.client.post(
        "/webhooks/payments", data=body, headers={"Stripe-Signature": real_stripe_header(body)}
    )
    assert response.status == 200
    assert (await response.json())["status"] == "ignored"
    assert await inbox_size(api) == 0


async def test_the_webhook_answer_does_not_wait_for_the_ledger(api):
    """With the ledger offline the webhook is still accepted at once; the worker settles later."""
    investor_id = await api.active_investor("wait@example.com")
    instrument_id = await api.open_instrument("WAIT1")
    order = await api.order(investor_id, instrument_id, 2)
    ledger = api.svc.ledger.inner
    # retries come at least 6 s later, so the drain below sees exactly one attempt
    api.worker.settings = attrs.evolve(api.worker.settings, base_delay=60, max_delay=60)
    ledger.online = False
    transactions_before = len(ledger.transactions)
    body = sandbox.stripe_event("evt_w", "payment_intent.succeeded", order_id=order["id"], amount_minor=20_000)
    status, _ = await api.payment(body)
    assert status == 202
    assert len(ledger.transactions) == transactions_before
    await api.drain()  # the settlement attempt fails: ledger offline; the job waits for a retry
    [job] = [m for m in await api.svc.store.inbox.list() if m.key == "payments:evt_w"]
    assert job.status is MessageStatus.PENDING and job.attempts == 1
    assert job.last_error.startswith("ledger-unavailable")
    ledger.online = True
    later = attrs.evolve(api.svc, clock=_Shifted(api.svc.clock, timedelta(seconds=61)))
    await Worker(later, api.notifier, api.worker.settings, api.metrics).run_until_idle()
    _, settled = await api.call("GET", f"/api/v1/orders/{order['id']}", "frontend")
    assert settled["status"] == "SETTLED"
    assert api.metrics.ledger_latency.count(operation="settle_purchase", outcome="ok") == 1


async def test_an_oversized_webhook_is_refused_with_413(api):
    body = b'{"pad": "' + b"x" * (70 * 1024) + b'"}'
    response = await api.client.post(
        "/webhooks/payments", data=body, headers={"Stripe-Signature": real_stripe_header(body)}
    )
    assert response.status == 413
    assert (await response.json())["type"].endswith("/payload-too-large")
    assert await inbox_size(api) == 0


# --- KYC (Sumsub-style digest) --------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HMAC_SHA256_HEX", "HMAC_SHA512_HEX"])
async def test_kyc_results_signed_with_either_supported_algorithm_are_accepted(api, alg):
    body = sandbox.kyc_review("app_1", country="DE")
    status, answer = await api.kyc(body, alg)
    assert (status, answer["status"]) == (202, "accepted")
    [message] = await api.svc.store.inbox.list()
    assert message.payload["event"]["applicant_id"] == "app_1"
    assert message.payload["event"]["approved"] is True


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("missing digest", lambda body: {}),
        ("wrong secret", lambda body: {"X-Payload-Digest": sign_digest(body, "other")}),
        ("digest of another body", lambda body: {"X-Payload-Digest": sign_digest(body + b"\n", KYC_SECRET)}),
        (
            "sha512 digest labelled sha256",
            lambda body: {
                "X-Payload-Digest": sign_digest(body, KYC_SECRET, "HMAC_SHA512_HEX"),
                "X-Payload-Digest-Alg": "HMAC_SHA256_HEX",
            },
        ),
        (
            "unsupported algorithm",
            lambda body: {"X-Payload-Digest": sign_digest(body, KYC_SECRET), "X-Payload-Digest-Alg": "HMAC_MD5_HEX"},
        ),
        ("truncated digest", lambda body: {"X-Payload-Digest": sign_digest(body, KYC_SECRET)[:-2]}),
        ("non-ascii digest", lambda body: {"X-Payload-Digest": "é" * 64}),
    ],
)
async def test_a_kyc_webhook_with_a_bad_digest_is_refused_and_not_stored(api, case, headers):
    body = sandbox.kyc_review("app_2")
    response = await api.client.post("/webhooks/kyc", data=body, headers=headers(body))
    assert response.status == 401, case
    assert response.content_type == "application/problem+json"
    assert await inbox_size(api) == 0


async def test_the_default_digest_algorithm_is_sha256(api):
    body = sandbox.kyc_review("app_3")
    response = await api.client.post(
        "/webhooks/kyc", data=body, headers={"X-Payload-Digest": sign_digest(body, KYC_SECRET)}
    )
    assert response.status == 202


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "applicantReviewed", "reviewResult": {"reviewAnswer": "GREEN"}}, "applicantId"),
        ({"type": "applicantReviewed", "applicantId": "a", "reviewResult": {"reviewAnswer": "MAYBE"}}, "reviewAnswer"),
        (
            {
                "type": "applicantReviewed",
                "applicantId": "a",
                "reviewResult": {"reviewAnswer": "GREEN"},
                "verifiedCountry": "Germany",
            },
            "verifiedCountry",
        ),
        (
            {
                "type": "applicantReviewed",
                "applicantId": "a",
                "reviewResult": {"reviewAnswer": "GREEN"},
                "sanctions": {"hit": "no"},
            },
            "sanctions.hit",
        ),
    ],
)
async def test_a_signed_but_malformed_kyc_result_is_a_400_naming_the_field(api, payload, field):
    status, problem = await api.kyc(json.dumps(payload).encode())
    assert status == 400
    assert field in problem["detail"]
    assert await inbox_size(api) == 0


async def test_a_redelivered_kyc_result_changes_nothing(api):
    investor_id = await api.active_investor("dup@example.com")
    _, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "admin")
    body = sandbox.kyc_review(investor["applicant_id"], country="DE")
    status, answer = await api.kyc(body)
    assert (status, answer["status"]) == (200, "duplicate")
    assert await api.drain() == 0


async def test_a_rejected_kyc_result_rejects_the_investor(api):
    _, inv = await api.call(
        "POST",
        "/api/v1/investors",
        "frontend",
        json={"legal_name": "R", "email": "r@example.com", "country": "DE", "kind": "INDIVIDUAL"},
    )
    _, kyc = await api.call("POST", f"/api/v1/investors/{inv['id']}/kyc", "frontend")
    await api.kyc(sandbox.kyc_review(kyc["applicant_id"], approved=False, reject_labels=("FORGERY",)))
    await api.drain()
    _, investor = await api.call("GET", f"/api/v1/investors/{inv['id']}", "frontend")
    assert investor["status"] == "REJECTED"
    assert investor["kyc_reasons"] == ["FORGERY"]
    assert investor["wallet"] is None


# --- AML -------------------------------------------------------------------------------------------


async def test_an_aml_flag_blocks_and_a_clearance_leaves_the_unblock_to_an_officer(api):
    investor_id = await api.active_investor("aml@example.com")
    status, _ = await api.aml(sandbox.aml_alert("al_1", investor_id=investor_id, reason="watchlist match"))
    assert status == 202
    await api.drain()
    _, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "compliance")
    assert investor["compliance"] == "BLOCKED"
    assert investor["classification"] != "SANCTIONED"  # an alert under review publishes nothing
    assert await api.svc.ledger.is_frozen(investor["wallet"]["address"])

    status, _ = await api.aml(sandbox.aml_alert("al_1", investor_id=investor_id, flagged=False))
    assert status == 202
    await api.drain()
    _, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "compliance")
    assert investor["compliance"] == "BLOCKED"


async def test_an_aml_alert_without_a_subject_is_refused(api):
    status, problem = await api.aml(json.dumps({"alertId": "a", "status": "FLAGGED"}).encode())
    assert status == 400
    assert "applicantId" in problem["detail"]
    status, _ = await api.aml(json.dumps({"alertId": "a", "status": "MAYBE", "applicantId": "x"}).encode())
    assert status == 400
    bad = await api.client.post("/webhooks/aml", data=b"{}", headers={"X-Payload-Digest": "00"})
    assert bad.status == 401
