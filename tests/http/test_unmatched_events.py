"""Provider events that name nothing we know are parked in their own state (not dead-lettered,
not retried); an event id re-sent with another content is refused visibly (issue 15)."""

from __future__ import annotations

import json

from drexfy.adapters.webhooks import sandbox
from drexfy.domain.ports import MessageStatus


async def _only_job(api):
    jobs = await api.svc.store.inbox.list(limit=10)
    assert len(jobs) == 1
    return jobs[0]


async def test_a_kyc_result_for_an_unknown_applicant_is_parked_at_once(api):
    status, accepted = await api.kyc(sandbox.kyc_review("sbx_applicant_nobody"))
    assert status == 202
    await api.drain()
    job = await _only_job(api)
    assert job.status is MessageStatus.PARKED and job.attempts == 1
    assert api.metrics.jobs_processed.value(queue="inbox", outcome="parked") == 1
    assert api.metrics.jobs_processed.value(queue="inbox", outcome="retry") == 0
    status, listed = await api.call("GET", "/api/v1/jobs?status=PARKED", "admin")
    assert status == 200 and [j["id"] for j in listed["items"]] == [accepted["job_id"]]
    assert listed["counts"]["PARKED"] == 1 and listed["counts"]["DEAD"] == 0


async def test_an_aml_alert_for_an_unknown_investor_is_parked_not_retried(api):
    status, _ = await api.aml(sandbox.aml_alert("aml-unknown-1", investor_id="inv_nobody"))
    assert status == 202
    await api.drain()
    job = await _only_job(api)
    assert job.status is MessageStatus.PARKED and job.attempts == 1
    assert "inv_nobody" in (job.last_error or "")


async def test_a_payment_for_an_unknown_order_is_parked_and_an_operator_can_retry_it(api):
    body = sandbox.stripe_event("evt_nobody", "payment_intent.succeeded", order_id="ord_nobody", amount_minor=100)
    status, accepted = await api.payment(body)
    assert status == 202
    await api.drain()
    job = await _only_job(api)
    assert job.status is MessageStatus.PARKED
    status, retried = await api.call("POST", f"/api/v1/jobs/{accepted['job_id']}/retry", "admin")
    assert status == 200 and retried["status"] == "PENDING"
    await api.drain()
    assert (await _only_job(api)).status is MessageStatus.PARKED  # still names nothing we know


async def test_the_same_event_id_with_another_content_is_refused_visibly(api, caplog):
    investor_id = await api.active_investor("conflict@example.com")
    instrument_id = await api.open_instrument("CONF1", units=100)
    order = await api.order(investor_id, instrument_id, 2)
    first = sandbox.stripe_event("evt_same", "payment_intent.succeeded", order_id=order["id"], amount_minor=20_000)
    status, _ = await api.payment(first)
    assert status == 202
    status, answer = await api.payment(first)  # a real redelivery: the same content
    assert (status, answer) == (200, {"status": "duplicate"})
    changed = sandbox.stripe_event("evt_same", "payment_intent.succeeded", order_id=order["id"], amount_minor=1)
    with caplog.at_level("WARNING", logger="drexfy.http.webhooks"):
        status, problem = await api.payment(changed)
    assert status == 409 and problem["type"].endswith("/event-id-reused"), problem
    assert api.metrics.webhooks_conflicting.value(source="payments") == 1
    assert api.metrics.webhooks_duplicate.value(source="payments") == 1
    assert any(r.getMessage() == "webhook event id reused with another content" for r in caplog.records)
    await api.drain()
    status, got = await api.call("GET", f"/api/v1/orders/{order['id']}", "admin")
    assert got["status"] == "SETTLED" and got["amount"]["minor"] == 20_000


async def test_a_kyc_result_re_sent_with_another_answer_is_refused(api):
    first = sandbox.kyc_review("sbx_applicant_a", approved=True, correlation_id="corr-1")
    assert (await api.kyc(first))[0] == 202
    assert (await api.kyc(first))[0] == 200
    flipped = json.loads(sandbox.kyc_review("sbx_applicant_a", approved=False, correlation_id="corr-1"))
    status, problem = await api.kyc(json.dumps(flipped).encode())
    assert status == 409 and problem["type"].endswith("/event-id-reused")
    assert api.metrics.webhooks_conflicting.value(source="kyc") == 1


async def test_a_duplicate_e_mail_tells_the_frontend_the_existing_investor(api):
    body = {"legal_name": "Ann", "email": "ann@example.com", "country": "DE", "kind": "INDIVIDUAL"}
    status, first = await api.call("POST", "/api/v1/investors", "frontend", json=body)
    assert status == 201
    status, problem = await api.call("POST", "/api/v1/investors", "frontend", json={**body, "email": "ANN@example.com"})
    assert status == 409 and problem["type"].endswith("/duplicate")
    assert problem["investor_id"] == first["id"]
    assert "token" not in json.dumps(problem).lower()
