"""Four-eyes on giving an unmatched bank credit to an investor (`assign_deposit`): the request is a
202 approval; the requester cannot approve it; a second admin's approval assigns and mints it,
exactly once; a rejection leaves the credit unassigned. The real app, SQLite, the memory ledger."""

from __future__ import annotations

from typing import Any

from drexfy.domain.errors import LedgerUnavailable
from drexfy.entrypoints.http import issue_token
from drexfy.entrypoints.http.auth import Role
from tests.http.conftest import JWT_SECRET
from tests.http.test_bank_routes import balance_minor, upload
from tests.support.bank_files import Line, camt054


async def _unmatched(api: Any, ref: str, amount: str = "40.00") -> str:
    status, report = await upload(api, camt054([Line(ref, amount, credit=True, remittance="no reference")]))
    assert status == 200 and report["deposits"][0]["status"] == "UNMATCHED", report
    return str(report["deposits"][0]["id"])


async def _request(api: Any, deposit: str, investor: str) -> dict[str, Any]:
    status, request = await api.call(
        "POST", f"/api/v1/bank/deposits/{deposit}/assign", "admin", json={"investor_id": investor}
    )
    assert (status, request["kind"], request["status"]) == (202, "assign_deposit", "PENDING"), request
    assert request["subject"] == deposit and request["params"] == {"investor_id": investor}
    return dict(request)


async def _decide(api: Any, approval: str, verb: str, subject: str) -> tuple[int, Any]:
    headers = {"Authorization": "Bearer " + issue_token(JWT_SECRET, Role.ADMIN, subject=subject)}
    response = await api.client.post(
        f"/api/v1/approvals/{approval}/{verb}", json={"reason": "checked the bank entry"}, headers=headers
    )
    return response.status, await response.json(content_type=None)


async def _deposit(api: Any, deposit: str) -> Any:
    async with api.svc.store.unit_of_work() as uow:
        return await uow.deposits.get(deposit)


async def test_the_requester_cannot_approve_and_a_second_admin_assigns_and_mints_once(api):
    kim = await api.active_investor("kim@example.com")
    deposit = await _unmatched(api, "FE-1")
    request = await _request(api, deposit, kim)
    assert (await _deposit(api, deposit)).status.value == "UNMATCHED"  # nothing happens on a request

    status, problem = await _decide(api, request["id"], "approve", "admin")  # the requester ("admin")
    assert status == 403 and problem["type"].endswith("/approval-refused"), problem
    assert ((await _deposit(api, deposit)).status.value, await balance_minor(api, kim)) == ("UNMATCHED", 0)

    status, approved = await _decide(api, request["id"], "approve", "admin-2")
    assert (status, approved["status"], approved["result"]["status"]) == (200, "DONE", "MINTED"), approved
    minted = await _deposit(api, deposit)
    assert (minted.investor_id, minted.assigned_by) == (kim, "admin, approved by admin-2")
    status, problem = await _decide(api, request["id"], "approve", "admin-3")
    assert status == 409, problem
    assert await balance_minor(api, kim) == 4000
    await api.drain()
    assert [n["aggregate_id"] for n in api.notifier.sent if n["event"] == "DepositMinted"] == [kim]


async def test_a_rejected_assignment_leaves_the_credit_unassigned(api):
    lea = await api.active_investor("lea@example.com")
    deposit = await _unmatched(api, "FE-2")
    request = await _request(api, deposit, lea)
    status, rejected = await _decide(api, request["id"], "reject", "admin-2")
    assert (status, rejected["status"]) == (200, "REJECTED"), rejected
    status, problem = await _decide(api, request["id"], "approve", "admin-3")
    assert status == 409, problem
    left = await _deposit(api, deposit)
    assert (left.status.value, left.investor_id, left.assigned_by) == ("UNMATCHED", None, None)
    assert await balance_minor(api, lea) == 0


async def test_two_requests_for_one_credit_mint_it_once(api):
    max_ = await api.active_investor("max@example.com")
    ned = await api.active_investor("ned@example.com")
    deposit = await _unmatched(api, "FE-3")
    first, second = await _request(api, deposit, max_), await _request(api, deposit, ned)
    status, approved = await _decide(api, first["id"], "approve", "admin-2")
    assert (status, approved["status"]) == (200, "DONE"), approved
    status, problem = await _decide(api, second["id"], "approve", "admin-2")
    assert status == 409 and "not UNMATCHED" in problem["detail"], problem
    assert (await balance_minor(api, max_), await balance_minor(api, ned)) == (4000, 0)


async def test_what_the_assignment_would_refuse_is_refused_before_a_request(api):
    oli = await api.active_investor("oli@example.com")
    deposit = await _unmatched(api, "FE-4")
    path = f"/api/v1/bank/deposits/{deposit}/assign"
    status, problem = await api.call("POST", path, "admin", json={"investor_id": "inv_" + "0" * 32})
    assert status == 404, problem
    status, problem = await api.call(
        "POST", "/api/v1/bank/deposits/dep_unknown/assign", "admin", json={"investor_id": oli}
    )
    assert status == 404, problem
    status, page = await api.call("GET", "/api/v1/approvals", "admin")
    assert status == 200 and page["items"] == [], page


async def test_an_approval_interrupted_by_a_ledger_outage_is_finished_once(api):
    pia = await api.active_investor("pia@example.com")
    deposit = await _unmatched(api, "FE-5")
    request = await _request(api, deposit, pia)
    api.svc.ledger.fail_next(LedgerUnavailable("node down"))
    status, problem = await _decide(api, request["id"], "approve", "admin-2")
    assert status in (502, 503), problem
    assert ((await _deposit(api, deposit)).status.value, await balance_minor(api, pia)) == ("MATCHED", 0)
    status, approved = await _decide(api, request["id"], "approve", "admin-3")  # approved again: finished
    assert (status, approved["status"], approved["result"]["status"]) == (200, "DONE", "MINTED"), approved
    assert await balance_minor(api, pia) == 4000
