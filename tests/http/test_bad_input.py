"""Bad input never writes and never answers 5xx (issue 15): out-of-range numbers, lone surrogates,
zero or negative units, at every create endpoint and at the webhooks. Each case checks the answer
(400 naming the field, problem+json) and that the store is byte for byte what it was before."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from drexfy.adapters.webhooks import sandbox
from drexfy.domain.bounds import MAX_MINOR, MAX_UNITS, check_text, check_units
from drexfy.domain.errors import AmountOutOfRange, ValidationFailed, ValueOutOfRange
from drexfy.domain.money import Money

SURROGATE = "\ud800"


def store_rows(data_dir: Path) -> dict[str, list[Any]]:
    """Every row of every table of the SQLite store (read through a second connection)."""
    conn = sqlite3.connect(data_dir / "drexfy.sqlite")
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
    finally:
        conn.close()


def money(minor: Any, currency: str = "EUR") -> dict[str, Any]:
    return {"minor": minor, "currency": currency}


def instrument_body(**changes: Any) -> dict[str, Any]:
    body = {
        "symbol": "EDGE1",
        "name": "edge pool",
        "unit_price": money(10_000),
        "total_units": 1000,
        "eligible": ["EU_ACCREDITED", "EU_NON_ACCREDITED"],
        "min_ticket": money(10_000),
        "max_ticket": money(10**9),
    }
    return {**body, **changes}


@pytest.fixture
async def world(api) -> dict[str, str]:
    """An active investor holding 10 units of an open instrument (so orders, withdrawals and
    repayments would otherwise go through)."""
    investor_id = await api.active_investor("edge@example.com")
    instrument_id = await api.open_instrument("HELD1", units=100)
    order = await api.order(investor_id, instrument_id, 10)
    await api.payment(
        sandbox.stripe_event("evt_edge_paid", "payment_intent.succeeded", order_id=order["id"], amount_minor=100_000)
    )
    await api.drain()
    return {"investor": investor_id, "instrument": instrument_id}


def _cases(w: dict[str, str]) -> list[tuple[str, str, str, dict[str, Any], str]]:
    inv, ins = w["investor"], w["instrument"]
    order = {"investor_id": inv, "instrument_id": ins}
    rep = {"period": "2026-12", "interest": money(100), "principal": money(0)}
    register = {"legal_name": "A", "email": "new@example.com", "country": "DE", "kind": "INDIVIDUAL"}
    return [
        ("POST", "/api/v1/instruments", "admin", instrument_body(max_ticket=money(10**30)), "$.max_ticket.minor"),
        ("POST", "/api/v1/instruments", "admin", instrument_body(unit_price=money(10**30)), "$.unit_price.minor"),
        ("POST", "/api/v1/instruments", "admin", instrument_body(total_units=2**63), "$.total_units"),
        ("POST", "/api/v1/instruments", "admin", instrument_body(total_units=MAX_UNITS), "total_units"),
        ("POST", "/api/v1/instruments", "admin", instrument_body(name=SURROGATE), "$.name"),
        ("POST", "/api/v1/instruments", "admin", instrument_body(name="  "), "$.name"),
        (
            "POST",
            "/api/v1/instruments",
            "admin",
            instrument_body(unit_price=money(100, "eur")),
            "$.unit_price.currency",
        ),
        ("POST", "/api/v1/investors", "frontend", {**register, "legal_name": SURROGATE}, "$.legal_name"),
        ("POST", "/api/v1/investors", "frontend", {**register, "email": "x\ud800@example.com"}, "$.email"),
        ("POST", "/api/v1/investors", "frontend", {**register, "legal_name": ""}, "$.legal_name"),
        ("POST", "/api/v1/orders", "frontend", {**order, "units": 10**24}, "$.units"),
        ("POST", "/api/v1/orders", "frontend", {**order, "units": 0}, "$.units"),
        ("POST", "/api/v1/orders", "frontend", {**order, "units": -1}, "$.units"),
        ("POST", "/api/v1/orders", "frontend", {**order, "investor_id": SURROGATE, "units": 1}, "$.investor_id"),
        ("POST", "/api/v1/withdrawals", "frontend", {"investor_id": inv, "amount": money(0)}, "$.amount.minor"),
        ("POST", "/api/v1/withdrawals", "frontend", {"investor_id": inv, "amount": money(10**30)}, "$.amount.minor"),
        ("POST", f"/api/v1/instruments/{ins}/repayments", "admin", {**rep, "interest": money(10**30)}, "$.interest"),
        ("POST", f"/api/v1/instruments/{ins}/repayments", "admin", {**rep, "period": SURROGATE}, "$.period"),
        ("POST", f"/api/v1/compliance/investors/{inv}/block", "compliance", {"reason": SURROGATE}, "$.reason"),
    ]


CASE_IDS = [
    "instrument-max-ticket-1e30",
    "instrument-unit-price-1e30",
    "instrument-total-units-2^63",
    "instrument-value-beyond-bound",
    "instrument-name-surrogate",
    "instrument-name-blank",
    "instrument-lower-case-currency",
    "investor-name-surrogate",
    "investor-email-surrogate",
    "investor-name-empty",
    "order-units-1e24",
    "order-units-0",
    "order-units-minus-1",
    "order-investor-surrogate",
    "withdrawal-zero",
    "withdrawal-1e30",
    "repayment-interest-1e30",
    "repayment-period-surrogate",
    "block-reason-surrogate",
]


@pytest.mark.parametrize("case", range(len(CASE_IDS)), ids=CASE_IDS)
async def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api, world, tmp_path, case):
    method, path, role, body, field = _cases(world)[case]
    before = store_rows(tmp_path)
    headers = {"Idempotency-Key": f"bad-{case}"} if not path.endswith("/block") else {}
    # Sent as JSON text the way a client would: json.dumps escapes the surrogate as \ud800.
    response = await api.client.request(
        method,
        path,
        data=json.dumps(body),
        headers={**api.token(role), **headers, "Content-Type": "application/json"},
    )
    problem = await response.json(content_type=None)
    assert response.status == 400, problem
    assert response.content_type == "application/problem+json"
    assert problem["type"].endswith(("/validation-failed", "-out-of-range")), problem
    assert field in problem["detail"], problem
    assert store_rows(tmp_path) == before
    # Every role still reads every list (a half-written instrument made them all 500).
    for reader in ("admin", "frontend", "compliance"):
        status, _ = await api.call("GET", "/api/v1/instruments", reader)
        assert status == 200


async def test_the_documented_bounds_are_the_enforced_ones(api):
    status, doc = await api.call("GET", "/api/openapi.json")
    assert status == 200
    schemas = doc["components"]["schemas"]
    assert schemas["CreateOrderBody"]["properties"]["units"] == {"type": "integer", "minimum": 1, "maximum": MAX_UNITS}
    assert schemas["MoneyBody"]["properties"]["minor"]["maximum"] == MAX_MINOR
    assert schemas["PositiveMoneyBody"]["properties"]["minor"]["minimum"] == 1
    assert schemas["WithdrawBody"]["properties"]["amount"] == {"$ref": "#/components/schemas/PositiveMoneyBody"}
    assert schemas["MoneyBody"]["properties"]["currency"]["enum"] == ["EUR", "USD", "GBP", "CHF", "JPY"]
    assert schemas["RegisterInvestorBody"]["properties"]["legal_name"]["minLength"] == 1


async def test_a_405_names_the_allowed_methods(api):
    response = await api.client.request("DELETE", "/api/v1/instruments")
    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) == {"GET", "POST"}
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        sandbox.kyc_review("sbx_applicant_x", correlation_id=SURROGATE),
        sandbox.aml_alert(SURROGATE, investor_id="inv_x"),
        sandbox.aml_alert("alert-1", investor_id="inv_x", reason="bad " + SURROGATE),
    ],
    ids=["kyc-correlation-id", "aml-alert-id", "aml-reason"],
)
async def test_a_signed_webhook_with_a_lone_surrogate_is_a_400_and_stores_nothing(api, tmp_path, body):
    before = store_rows(tmp_path)
    status, problem = await (api.kyc(body) if b"applicantReviewed" in body else api.aml(body))
    assert status == 400, problem
    assert "Unicode" in problem["detail"]
    assert store_rows(tmp_path) == before


# A paid amount larger than any order is not bad input: money moved, so the payment is accepted and
# its order ends REFUND_DUE saying why (tests/http/test_payment_amounts.py, the payments issue).
@pytest.mark.parametrize(("event_id", "amount"), [(SURROGATE, 100)], ids=["event-id-surrogate"])
async def test_a_signed_payment_with_bad_content_is_a_400_and_stores_nothing(api, tmp_path, event_id, amount):
    before = store_rows(tmp_path)
    status, problem = await api.payment(
        sandbox.stripe_event(event_id, "payment_intent.succeeded", order_id="ord_x", amount_minor=amount)
    )
    assert status == 400, problem
    assert store_rows(tmp_path) == before


def test_the_domain_names_out_of_range_values() -> None:
    with pytest.raises(AmountOutOfRange):
        Money(MAX_MINOR + 1, "EUR")
    with pytest.raises(AmountOutOfRange):
        Money(10**15, "EUR") * 1
    assert Money(MAX_MINOR, "EUR").minor == MAX_MINOR
    for bad in (0, -1, MAX_UNITS + 1, 2**63):
        with pytest.raises(ValidationFailed):
            check_units(bad)
    with pytest.raises(ValueOutOfRange):
        check_units(10**24)
    with pytest.raises(ValidationFailed):
        check_text(SURROGATE, "name")
    with pytest.raises(ValueOutOfRange):
        check_text("x" * 1001, "name")
