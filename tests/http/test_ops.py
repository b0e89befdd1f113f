"""Health, readiness, metrics, the OpenAPI document and the JSON logs."""

from __future__ import annotations

import io
import json
import logging

from drexfy.adapters.webhooks import sandbox
from drexfy.domain.ports import LedgerHealth
from drexfy.entrypoints.http.routes import ENDPOINTS
from drexfy.entrypoints.runtime.logs import configure_logging
from tests.support.metrics import families, sample


async def test_ready_checks_store_ledger_and_vault(api):
    status, body = await api.call("GET", "/ready")
    assert status == 200
    assert body["checks"] == {"store": "ok", "ledger": "ok", "vault": "ok", "settlement": "ok"}


async def test_ready_is_503_when_the_ledger_is_down(api):
    api.svc.ledger.inner.online = False
    status, body = await api.call("GET", "/ready")
    assert status == 503
    assert body["type"].endswith("/not-ready")
    assert body["checks"]["ledger"].startswith("error")
    assert body["checks"]["store"] == "ok"


async def test_ready_is_503_when_the_vault_fails(api, monkeypatch):
    async def broken() -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(api.svc.vault, "ping", broken)
    status, body = await api.call("GET", "/ready")
    assert status == 503 and body["checks"]["vault"] == "error: OSError"


async def test_ready_is_503_when_a_ledger_transaction_stays_unconfirmed(api, monkeypatch):
    """The node answers pings, but the relayer is stuck or the chain stopped: /ready says so."""
    limit = api.state.settings.ready_max_unconfirmed_s

    async def stuck() -> LedgerHealth:
        return LedgerHealth(head_age_s=3.0, unconfirmed=4, oldest_unconfirmed_s=limit + 1, sequence_gap=4)

    monkeypatch.setattr(api.svc.ledger.inner, "health", stuck)
    status, body = await api.call("GET", "/ready")
    assert status == 503
    assert body["checks"]["ledger"] == "ok"
    assert body["checks"]["settlement"].startswith("stalled: a ledger transaction is unconfirmed after")


async def test_ready_is_503_when_the_chain_stopped_while_transactions_wait(api, monkeypatch):
    limit = api.state.settings.ready_max_unconfirmed_s

    async def halted() -> LedgerHealth:
        return LedgerHealth(head_age_s=limit + 30, unconfirmed=1, oldest_unconfirmed_s=2.0, sequence_gap=1)

    monkeypatch.setattr(api.svc.ledger.inner, "health", halted)
    status, body = await api.call("GET", "/ready")
    assert status == 503 and body["checks"]["settlement"].startswith("stalled: no new block for")

    async def idle() -> LedgerHealth:  # no block for long, but nothing waits on one: ready
        return LedgerHealth(head_age_s=limit + 30)

    monkeypatch.setattr(api.svc.ledger.inner, "health", idle)
    status, _ = await api.call("GET", "/ready")
    assert status == 200


async def test_paid_but_unsettled_orders_and_the_ledger_progress_are_metrics(api, monkeypatch):
    investor_id = await api.active_investor("backlog@example.com")
    instrument_id = await api.open_instrument("BKL1")
    order = await api.order(investor_id, instrument_id, 1)
    api.svc.ledger.inner.online = False  # the node goes away: the payment cannot settle
    body = sandbox.stripe_event("evt_b", "payment_intent.succeeded", order_id=order["id"], amount_minor=10_000)
    await api.payment(body)
    await api.drain()
    text = await (await api.client.get("/metrics")).text()
    assert sample(text, "drexfy_orders_paid_unsettled") == 1
    assert sample(text, "drexfy_ledger_up") == 0
    assert (sample(text, "drexfy_orders_paid_unsettled_oldest_seconds") or 0) > 0  # it has waited since the payment

    async def progress() -> LedgerHealth:
        return LedgerHealth(head_age_s=6.0, unconfirmed=2, oldest_unconfirmed_s=12.5, sequence_gap=3, unsigned_claims=1)

    api.svc.ledger.inner.online = True
    monkeypatch.setattr(api.svc.ledger.inner, "health", progress)
    text = await (await api.client.get("/metrics")).text()
    for name, value in [
        ("drexfy_ledger_up", 1),
        ("drexfy_ledger_head_age_seconds", 6),
        ("drexfy_ledger_unconfirmed_transactions", 2),
        ("drexfy_ledger_oldest_unconfirmed_seconds", 12.5),
        ("drexfy_relayer_nonce_gap", 3),
        ("drexfy_relayer_unsigned_claims", 1),
    ]:
        assert sample(text, name) == value, name


async def test_metrics_are_prometheus_text_with_the_required_series(api):
    investor_id = await api.active_investor("metrics@example.com")
    instrument_id = await api.open_instrument("MET1")
    order = await api.order(investor_id, instrument_id, 1)
    body = sandbox.stripe_event("evt_m", "payment_intent.succeeded", order_id=order["id"], amount_minor=10_000)
    await api.payment(body)
    await api.payment(body)
    await api.client.post("/webhooks/payments", data=body, headers={"Stripe-Signature": "t=1,v1=00"})
    response = await api.client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert sample(text, "drexfy_inbox_depth") == 1  # accepted, not processed yet
    await api.drain()
    text = await (await api.client.get("/metrics")).text()
    for name, labels, value in [
        ("drexfy_webhooks_received_total", {"source": "payments"}, 1),
        ("drexfy_webhooks_duplicate_total", {"source": "payments"}, 1),
        ("drexfy_webhooks_rejected_total", {"reason": "signature", "source": "payments"}, 1),
        ("drexfy_inbox_depth", {}, 0),
        ("drexfy_jobs", {"queue": "inbox", "status": "pending"}, 0),
        ("drexfy_jobs", {"queue": "inbox", "status": "retrying"}, 0),
        ("drexfy_jobs", {"queue": "inbox", "status": "dead"}, 0),
        ("drexfy_settlement_seconds_count", {}, 1),
        ("drexfy_ledger_tx_seconds_count", {"operation": "settle_purchase", "outcome": "ok"}, 1),
        ("drexfy_ledger_tx_seconds_bucket", {"operation": "settle_purchase", "outcome": "ok", "le": "+Inf"}, 1),
    ]:
        assert sample(text, name, **labels) == value, (name, labels)
    kinds = families(text)
    assert kinds["drexfy_ledger_tx_seconds"] == "histogram" and kinds["drexfy_webhooks_received"] == "counter"
    # the standard process and platform collectors
    assert (sample(text, "process_resident_memory_bytes") or 0) > 0
    assert "python_info" in kinds and "python_gc_collections" in kinds


async def test_the_openapi_document_is_generated_from_the_routes(api):
    status, doc = await api.call("GET", "/api/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    for ep in ENDPOINTS:
        op = doc["paths"][ep.path][ep.method.lower()]
        assert set(op["x-roles"]) == {r.value for r in ep.roles}
        assert "401" in op["responses"]
    register = doc["paths"]["/api/v1/investors"]["post"]
    schema = register["requestBody"]["content"]["application/json"]["schema"]
    body = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert set(body["required"]) == {"legal_name", "email", "country", "kind"}
    assert body["properties"]["kind"]["enum"] == ["INDIVIDUAL", "ENTITY"]
    assert any(p["name"] == "Idempotency-Key" for p in register["parameters"])
    assert "/webhooks/payments" in doc["paths"] and "/metrics" in doc["paths"]
    # every route the app serves is documented
    served = {(r.method, r.resource.canonical) for r in api.client.app.router.routes() if r.method != "HEAD"}
    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert served == documented
    status, page = await api.call("GET", "/api/docs")
    assert status == 200 and "/api/openapi.json" in page


async def test_every_query_parameter_a_handler_reads_is_documented_with_its_values(api):
    """The frontend builds its calls from the OpenAPI document: a filter the handler reads but the
    document leaves out would be invisible to it."""
    import inspect
    import re

    _, doc = await api.call("GET", "/api/openapi.json")
    for ep in ENDPOINTS:
        source = inspect.getsource(ep.handler)
        read = set(re.findall(r'query\.get\("(\w+)"', source)) | set(
            re.findall(r'_enum_query\(call\.request, "(\w+)"', source)
        )
        if "_limit(call.request)" in source:
            read.add("limit")
        op = doc["paths"][ep.path][ep.method.lower()]
        documented = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        assert read == set(documented), (ep.path, read, set(documented))
    investors = {p["name"]: p for p in doc["paths"]["/api/v1/investors"]["get"]["parameters"]}
    assert investors["compliance"]["schema"]["enum"] == ["CLEAR", "BLOCKED"]
    assert investors["status"]["schema"]["enum"] == ["PENDING_KYC", "ACTIVE", "REJECTED"]
    assert investors["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}


async def test_logs_are_json_with_request_ids_and_no_personal_data_or_secrets(api):
    stream = io.StringIO()
    configure_logging("INFO", stream)
    try:
        token = api.token("frontend")
        await api.client.post(
            "/api/v1/investors",
            headers={**token, "X-Request-Id": "rid-42"},
            json={
                "legal_name": "Maria Secretname",
                "email": "maria.private@example.com",
                "country": "ES",
                "kind": "INDIVIDUAL",
            },
        )
        await api.call("GET", "/api/v1/investors/inv_x", "admin")
        body = sandbox.kyc_review("app_logs")
        await api.client.post(
            "/webhooks/kyc",
            data=body,
            headers={**sandbox.digest_headers(body, "kyc-test-secret"), "X-Request-Id": "rid-kyc"},
        )
        await api.client.post("/webhooks/kyc", data=body, headers={"X-Payload-Digest": "bad"})
        await api.drain()  # the job fails (no such applicant) and is retried: logged under the webhook's id
    finally:
        logging.getLogger("drexfy").handlers.clear()
        logging.getLogger("drexfy").propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "nothing was logged"
    assert any(line.get("request_id") == "rid-42" and line.get("status") == 201 for line in lines)
    assert all("request_id" in line for line in lines if line["msg"] == "request")
    worker_lines = [line for line in lines if line["logger"] == "drexfy.worker"]
    assert worker_lines and all(line.get("request_id") == "rid-kyc" for line in worker_lines)
    text = stream.getvalue()
    for secret in (
        "Secretname",
        "maria.private",
        token["Authorization"].split()[1],
        "kyc-test-secret",
        "jwt-test-secret",
    ):
        assert secret not in text


async def test_the_docs_page_is_swagger_ui_served_by_the_app_itself(api):
    """No CDN: the page loads Swagger UI from this app, and only the files it needs are served."""
    status, page = await api.call("GET", "/api/docs")
    assert status == 200 and "SwaggerUIBundle" in page and "/api/openapi.json" in page
    assert "https://" not in page and "http://" not in page
    response = await api.client.get("/api/docs/static/swagger-ui-bundle.js")
    assert response.status == 200 and response.content_type == "application/javascript"
    assert b"SwaggerUIBundle" in await response.read()
    response = await api.client.get("/api/docs/static/swagger-ui.css")
    assert response.status == 200 and response.content_type == "text/css"
    for other in ("index.html", "..%2F__init__.py", "swagger-editor.js"):
        response = await api.client.get(f"/api/docs/static/{other}")
        assert response.status == 404, other
