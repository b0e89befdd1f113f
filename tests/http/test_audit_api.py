"""`GET /api/v1/audit`: who may read it, what the entries say about who acted (a token's subject, a
webhook's provider, the worker), filters, the cursor, and the CSV export; a failed request records
nothing."""

from __future__ import annotations

import csv
import io

from drexfy.adapters.webhooks import sandbox
from drexfy.domain.processes.audit import verify_audit


async def _get(api, query: str = "", role: str = "compliance", **headers: str):
    return await api.call("GET", f"/api/v1/audit{query}", role, headers=headers or None)


async def test_only_compliance_admins_and_auditors_read_the_trail(api):
    for role in ("compliance", "admin", "auditor"):
        status, page = await _get(api, role=role)
        assert status == 200 and page == {"items": [], "next": None}
    for role in ("frontend", "investor"):
        status, problem = await api.call(
            "GET", "/api/v1/audit", role, investor_id="inv_1" if role == "investor" else None
        )
        assert status == 403, problem
    status, _ = await api.call("GET", "/api/v1/audit")
    assert status == 401


async def test_entries_name_the_caller_the_webhook_and_the_request(api):
    investor_id = await api.active_investor("ana@example.com", "DE")
    status, page = await _get(api, f"?subject={investor_id}")
    assert status == 200
    by_action = {e["action"]: e for e in page["items"]}
    registered = by_action["InvestorRegistered"]
    # The frontend's token registered the investor, under that request's id.
    assert (registered["actor"], registered["role"]) == ("frontend", "frontend")
    assert len(registered["request_id"]) == 32
    # The KYC webhook's verdict was applied by the worker on the provider's behalf.
    activated = by_action["InvestorActivated"]
    assert activated["actor"].startswith("webhook:") and activated["role"] == "system"
    assert all(len(e["hash"]) == 64 and len(e["digest"]) == 64 for e in page["items"])

    status, blocked = await api.call(
        "POST",
        f"/api/v1/compliance/investors/{investor_id}/block",
        "compliance",
        json={"reason": "alert 42 under review"},
        headers={"X-Request-Id": "req-block-0001"},
    )
    assert status == 200, blocked
    status, page = await _get(api, "?action=InvestorBlocked")
    (entry,) = page["items"]
    assert (entry["actor"], entry["role"], entry["request_id"], entry["reason"]) == (
        "compliance",
        "compliance",
        "req-block-0001",
        "alert 42 under review",
    )
    assert entry["subject"] == investor_id
    checked, problem = await verify_audit(api.svc.store)
    assert problem is None and checked >= 5


async def test_a_refused_request_records_nothing(api):
    investor_id = await api.active_investor("bo@example.com", "DE")
    status, before = await _get(api)
    status, _ = await api.call(
        "POST", "/api/v1/orders", "frontend", json={"investor_id": investor_id, "instrument_id": "ins_none", "units": 1}
    )
    assert status == 404
    status, after = await _get(api)
    assert after == before


async def test_filters_and_the_cursor(api):
    await api.active_investor("cy@example.com", "DE")
    instrument_id = await api.open_instrument("AUD1")
    status, everything = await _get(api, "?limit=500")
    seqs = [e["seq"] for e in everything["items"]]
    assert seqs == list(range(1, len(seqs) + 1))
    status, admin = await _get(api, "?actor=admin")
    assert {e["subject"] for e in admin["items"]} == {instrument_id}
    pages, cursor = [], ""
    while True:
        status, page = await _get(api, f"?limit=2{cursor}")
        assert status == 200
        pages.extend(page["items"])
        if page["next"] is None:
            break
        cursor = f"&after={page['next']}"
    assert pages == everything["items"]
    first = everything["items"][0]["at"]
    status, none = await _get(api, f"?until={first.replace('+', '%2B')}")
    assert none["items"] == []
    for bad in ("?since=yesterday", "?until=2026-01-01T00:00:00", "?after=x", "?format=xml", "?limit=0"):
        status, problem = await _get(api, bad)
        assert status == 400, (bad, problem)


async def test_the_csv_export_has_every_match_and_defuses_formulas(api):
    investor_id = await api.active_investor("di@example.com", "DE")
    status, _ = await api.call(
        "POST",
        f"/api/v1/compliance/investors/{investor_id}/block",
        "compliance",
        json={"reason": '=HYPERLINK("http://x")'},
    )
    assert status == 200
    status, page = await _get(api, "?limit=500")
    for query, headers in (("?format=csv&limit=1", {}), ("", {"Accept": "text/csv"})):
        response = await api.client.get(f"/api/v1/audit{query}", headers={**api.token("admin"), **headers})
        assert response.status == 200
        assert response.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await response.text())))
        assert [int(r["seq"]) for r in rows] == [e["seq"] for e in page["items"]]  # not paged
        blocked = next(r for r in rows if r["action"] == "InvestorBlocked")
        assert blocked["reason"] == '\'=HYPERLINK("http://x")'
        assert blocked["hash"] == next(e["hash"] for e in page["items"] if e["action"] == "InvestorBlocked")


async def test_a_retried_job_is_an_entry_of_the_admin_who_retried_it(api):
    body = sandbox.kyc_review("app_unknown", country="DE")
    status, answer = await api.kyc(body)
    assert status == 202
    await api.drain()  # an unknown applicant: parked
    status, job = await api.call("POST", f"/api/v1/jobs/{answer['job_id']}/retry", "admin")
    assert status == 200, job
    status, page = await _get(api, "?action=JobRetried")
    (entry,) = page["items"]
    assert (entry["actor"], entry["role"], entry["subject"]) == ("admin", "admin", answer["job_id"])
