"""No tipping-off: an investor blocked by AML monitoring, and the frontend acting for them, see a
neutral RESTRICTED state and a support message on every endpoint they may call, in every error and
in every notification, never the reason, the alert or a SANCTIONED class. Compliance, admins and
auditors still see the reason.

The test walks the route table: every endpoint open to the frontend or investor role is called for
the blocked investor with both tokens, and every body is scanned."""

from __future__ import annotations

import json
from typing import Any

from drexfy.adapters.webhooks import sandbox
from drexfy.domain.events import SUPPORT_MESSAGE
from drexfy.entrypoints.http.auth import Role
from drexfy.entrypoints.http.routes import ENDPOINTS

#: The case number is not hex, so a random request id can never contain it.
REASON = "OFAC SDN list match QZ-4711 (Petrov)"
ALERT = "alert_tip_0042"
#: Text that would tell the investor why (the reason, its parts, the alert, the sanctions class).
SECRETS = (REASON, "OFAC", "QZ-4711", "Petrov", ALERT, "SANCTION", "sanction", "aml:")


def _scan(where: str, body: Any) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    for secret in SECRETS:
        assert secret not in text, f"{where} tips off with {secret!r}: {text[:400]}"


async def _blocked_holder(api) -> dict[str, str]:
    investor_id = await api.active_investor("tip@example.com", "DE")
    instrument_id = await api.open_instrument("TIP1", units=100, price_minor=10_000)
    order = await api.order(investor_id, instrument_id, units=2)
    body = sandbox.stripe_event("evt_tip", "checkout.session.completed", order_id=order["id"], amount_minor=20_000)
    assert (await api.payment(body))[0] == 202
    await api.drain()
    open_order = await api.order(investor_id, instrument_id, units=1)  # cancelled by the block
    status, _ = await api.aml(sandbox.aml_alert(ALERT, investor_id=investor_id, reason=REASON))
    assert status == 202
    await api.drain()
    repayment = {
        "period": "2026-11",
        "interest": {"minor": 1_000, "currency": "EUR"},
        "principal": {"minor": 0, "currency": "EUR"},
    }
    status, rep = await api.call("POST", f"/api/v1/instruments/{instrument_id}/repayments", "admin", json=repayment)
    assert status == 202, rep
    await api.drain()  # the blocked holder's share is held back
    return {
        "investor_id": investor_id,
        "instrument_id": instrument_id,
        "order_id": open_order["id"],
        "repayment_id": rep["id"],
    }


def _bodies(ids: dict[str, str]) -> dict[str, Any]:
    return {
        "/api/v1/investors": {
            "legal_name": "Tip Again",
            "email": "tip@example.com",
            "country": "DE",
            "kind": "INDIVIDUAL",
        },
        "/api/v1/orders": {"investor_id": ids["investor_id"], "instrument_id": ids["instrument_id"], "units": 1},
        "/api/v1/withdrawals": {"investor_id": ids["investor_id"], "amount": {"minor": 100, "currency": "EUR"}},
    }


async def test_no_investor_facing_answer_or_notification_carries_the_reason(api):
    ids = await _blocked_holder(api)
    bodies = _bodies(ids)
    called = 0
    for ep in ENDPOINTS:
        if ep.roles is None or not ep.roles & {Role.FRONTEND, Role.INVESTOR}:
            continue
        path = ep.path.format(**ids)
        for role in sorted(r.value for r in ep.roles & {Role.FRONTEND, Role.INVESTOR}):
            status, body = await api.call(
                ep.method, path, role, investor_id=ids["investor_id"], json=bodies.get(ep.path)
            )
            assert status < 500, (ep.path, status, body)
            _scan(f"{ep.method} {ep.path} as {role} ({status})", body)
            called += 1
    assert called >= 20

    # The investor's own view: neutral state and a support message.
    for role in ("investor", "frontend"):
        status, seen = await api.call(
            "GET", f"/api/v1/investors/{ids['investor_id']}", role, investor_id=ids["investor_id"]
        )
        assert status == 200
        assert (seen["compliance"], seen["blocked"], seen["blocked_reason"], seen["blocked_at"]) == (
            "RESTRICTED",
            True,
            None,
            None,
        )
        assert seen["support_message"] == SUPPORT_MESSAGE
        assert seen["classification"] == "EU_NON_ACCREDITED"  # the class it was approved as, not SANCTIONED
    # Refusals say "restricted" and point to support.
    status, problem = await api.call(
        "POST", "/api/v1/orders", "investor", investor_id=ids["investor_id"], json=bodies["/api/v1/orders"]
    )
    assert status == 403 and "restricted" in problem["detail"] and SUPPORT_MESSAGE in problem["detail"]

    # Every notification the frontend received.
    assert api.notifier.sent, "the block was notified"
    for note in api.notifier.sent:
        _scan(f"notification {note.get('event')}", note)
    blocked = [n for n in api.notifier.sent if n["event"] == "InvestorBlocked"]
    assert blocked and all(
        (n["data"]["state"], n["data"]["message"]) == ("RESTRICTED", SUPPORT_MESSAGE) for n in blocked
    )


async def test_compliance_admins_and_auditors_still_see_the_reason(api):
    ids = await _blocked_holder(api)
    for role in ("compliance", "admin", "auditor"):
        status, seen = await api.call("GET", f"/api/v1/investors/{ids['investor_id']}", role)
        assert status == 200
        assert (seen["compliance"], seen["blocked_reason"]) == ("BLOCKED", REASON)
    status, events = await api.call("GET", f"/api/v1/compliance/investors/{ids['investor_id']}/events", "compliance")
    assert any(e["payload"].get("reason") == REASON for e in events["items"])
    status, page = await api.call("GET", "/api/v1/audit?action=InvestorBlocked", "compliance")
    assert [e["reason"] for e in page["items"]] == [REASON]
