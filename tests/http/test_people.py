"""Operators as people: local sign-in (argon2id + TOTP), lockout, token ids and revocation, investor
tokens minted by the frontend, and the four-eyes approvals through the API."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import jwt
import pyotp
import pytest

from drexfy.domain.model import InvestorKind
from drexfy.entrypoints.http import create_app
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.identity.operators import OperatorDirectory
from drexfy.entrypoints.runtime.access import AccessSettings
from tests.http.conftest import JWT_SECRET, Api, http_settings

PASSWORD = "correct horse battery staple"


async def enrol(api: Api, name: str, *roles: str) -> Any:
    directory = OperatorDirectory(api.svc.store.access, api.svc.clock, api.svc.ids, api.svc.vault)
    return await directory.add(name, roles, PASSWORD)


async def sign_in(api: Api, name: str, password: str, code: str, **extra: Any) -> tuple[int, Any, Any]:
    response = await api.client.post(
        "/api/v1/operators/sign-in", json={"name": name, "password": password, "code": code, **extra}
    )
    return response.status, await response.json(content_type=None), response.headers


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_operator_signs_in_with_password_and_code_and_acts_as_themselves(api, caplog):
    caplog.set_level(logging.DEBUG)
    ana = await enrol(api, "ana", "compliance", "auditor")
    code = pyotp.TOTP(ana.totp_secret).now()
    status, body, _ = await sign_in(api, "Ana", PASSWORD, code, role="auditor")
    assert status == 200, body
    claims = jwt.decode(body["token"], JWT_SECRET, algorithms=["HS256"], audience="drexfy-api")
    assert claims["sub"] == ana.id == body["operator_id"] and claims["sub"] != "auditor"
    assert claims["role"] == "auditor" and claims["jti"] == body["token_id"]
    assert claims["exp"] - claims["iat"] == 3600
    # the auditor reads and writes nothing
    response = await api.client.get("/api/v1/investors", headers=bearer(body["token"]))
    assert response.status == 200
    response = await api.client.post("/api/v1/instruments", json={}, headers=bearer(body["token"]))
    assert response.status == 403
    # a code is good once (RFC 6238 replay)
    status, refused, _ = await sign_in(api, "ana", PASSWORD, code)
    assert (status, refused["type"].rsplit("/", 1)[1]) == (401, "sign-in-failed")
    # no password, hash or TOTP secret in any answer or log line
    _, listed = await api.call("GET", "/api/v1/operators", "admin")
    everything = str(body) + str(refused) + str(listed) + caplog.text
    for secret in (PASSWORD, ana.totp_secret, ana.password_hash):
        assert secret not in everything
    assert listed["items"][0] == {
        "id": ana.id,
        "name": "ana",
        "roles": ["compliance", "auditor"],
        "disabled": False,
        "created_at": ana.created_at.isoformat(),
    }
    # the sign-in is in the audit trail as hers (the refused one is not: it changed nothing)
    assert await _audited(api, "OperatorSignedIn") == [(ana.id, ana.id, "auditor")]


async def _audited(api: Api, action: str) -> list[tuple[str, str, str]]:
    """(subject, actor, role) of the audit trail's entries for `action`."""
    _, page = await api.call("GET", f"/api/v1/audit?action={action}", "auditor")
    return [(e["subject"], e["actor"], e["role"]) for e in page["items"]]


@pytest.mark.parametrize("case", ["wrong password", "wrong code", "unknown name", "role not held"])
async def test_a_wrong_sign_in_is_refused_alike(api, case):
    ana = await enrol(api, "ana", "compliance")
    code = pyotp.TOTP(ana.totp_secret).now()
    name, password, extra = "ana", PASSWORD, {}
    if case == "wrong password":
        password = "not the password at all"
    elif case == "wrong code":
        code = f"{(int(code) + 1) % 1_000_000:06d}"
    elif case == "unknown name":
        name = "nobody"
    else:
        extra = {"role": "admin"}
    status, body, _ = await sign_in(api, name, password, code, **extra)
    assert status == 401 and body["type"].endswith("/sign-in-failed")
    assert body["detail"] == "the name, password or code is wrong"


@pytest.mark.parametrize("name", ["ana", "nobody"])
async def test_repeated_failures_lock_the_name_with_backoff(api, name):
    ana = await enrol(api, "ana", "compliance")
    for _ in range(5):
        status, _, _ = await sign_in(api, name, "wrong password x", "000000")
        assert status == 401
    # locked: even the right password and code are refused now, with when to come back
    status, body, headers = await sign_in(api, name, PASSWORD, pyotp.TOTP(ana.totp_secret).now())
    assert status == 429 and body["type"].endswith("/sign-in-locked")
    assert 1 <= int(headers["Retry-After"]) <= 60
    record = await api.svc.store.access.get("sign-in", name)
    assert record is not None and record.data["failures"] == 5


async def test_a_disabled_operator_cannot_sign_in(api):
    ana = await enrol(api, "ana", "compliance")
    directory = OperatorDirectory(api.svc.store.access, api.svc.clock, api.svc.ids, api.svc.vault)
    await directory.disable(ana.id)
    status, _, _ = await sign_in(api, "ana", PASSWORD, pyotp.TOTP(ana.totp_secret).now())
    assert status == 401


async def test_a_revoked_token_is_refused_at_once(api):
    investor_id = await api.active_investor("rev@example.com")
    status, minted = await api.call("POST", f"/api/v1/investors/{investor_id}/tokens", "frontend")
    assert status == 201 and minted["expires_in"] == 900
    token = minted["token"]
    response = await api.client.get(f"/api/v1/investors/{investor_id}", headers=bearer(token))
    assert response.status == 200
    _, listed = await api.call("GET", "/api/v1/tokens", "auditor")
    [record] = [t for t in listed["items"] if t["id"] == minted["token_id"]]
    assert (record["role"], record["investor_id"], record["revoked_at"]) == ("investor", investor_id, None)
    assert "token" not in record
    status, revoked = await api.call("POST", f"/api/v1/tokens/{minted['token_id']}/revoke", "admin")
    assert status == 200 and revoked["revoked_at"] and revoked["revoked_by"] == "admin"
    assert await _audited(api, "TokenIssued") == [(minted["token_id"], "frontend", "frontend")]
    assert await _audited(api, "TokenRevoked") == [(minted["token_id"], "admin", "admin")]
    response = await api.client.get(f"/api/v1/investors/{investor_id}", headers=bearer(token))
    assert response.status == 401
    assert (await response.json())["type"].endswith("/token-revoked")
    status, _ = await api.call("POST", "/api/v1/tokens/tok_unknown/revoke", "admin")
    assert status == 404
    assert await api.svc.store.access.get("api-token", "tok_unknown") is None  # a refusal writes nothing


async def test_a_minted_investor_token_sees_only_its_investor(api):
    alice = await api.active_investor("alice@example.com")
    bob = await api.active_investor("bob@example.com")
    _, minted = await api.call("POST", f"/api/v1/investors/{alice}/tokens", "frontend")
    claims = jwt.decode(minted["token"], JWT_SECRET, algorithms=["HS256"], audience="drexfy-api")
    assert (claims["role"], claims["inv"], claims["exp"] - claims["iat"]) == ("investor", alice, 900)
    response = await api.client.get(f"/api/v1/investors/{bob}", headers=bearer(minted["token"]))
    assert response.status == 404
    status, _ = await api.call("POST", "/api/v1/investors/inv_nobody/tokens", "frontend")
    assert status == 404


# --- four-eyes ------------------------------------------------------------------------------------


async def _blocked_investor(api: Api) -> str:
    investor_id = await api.active_investor("blocked@example.com")
    status, _ = await api.call(
        "POST", f"/api/v1/compliance/investors/{investor_id}/block", "compliance", json={"reason": "sanctions hit"}
    )
    assert status == 200
    return investor_id


async def _request_unblock(api: Api, investor_id: str, subject: str = "officer-1") -> dict[str, Any]:
    response = await api.client.post(
        f"/api/v1/compliance/investors/{investor_id}/unblock",
        json={"reason": "false positive"},
        headers=api.token("compliance", subject=subject),
    )
    body = await response.json()
    assert response.status == 202, body
    return dict(body)


async def _decide(api: Api, approval_id: str, verb: str, subject: str, role: str = "compliance") -> tuple[int, Any]:
    response = await api.client.post(
        f"/api/v1/approvals/{approval_id}/{verb}",
        json={"reason": "looked at it"},
        headers=api.token(role, subject=subject),
    )
    return response.status, await response.json()


async def test_the_requester_cannot_approve_their_own_unblock(api):
    investor_id = await _blocked_investor(api)
    request = await _request_unblock(api, investor_id)
    status, problem = await _decide(api, request["id"], "approve", "officer-1")
    assert status == 403 and problem["type"].endswith("/approval-refused")
    status, problem = await _decide(api, request["id"], "approve", "admin-1", role="admin")  # role not allowed
    assert status == 403
    _, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "compliance")
    assert investor["compliance"] == "BLOCKED"
    _, listed = await api.call("GET", "/api/v1/approvals?status=PENDING", "auditor")
    assert [a["id"] for a in listed["items"]] == [request["id"]]


async def test_a_rejected_request_never_takes_effect(api):
    investor_id = await _blocked_investor(api)
    request = await _request_unblock(api, investor_id)
    status, rejected = await _decide(api, request["id"], "reject", "officer-2")
    assert (status, rejected["status"], rejected["decided_by"]) == (200, "REJECTED", "officer-2")
    status, problem = await _decide(api, request["id"], "approve", "officer-3")
    assert status == 409 and problem["type"].endswith("/approval-decided")
    _, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "compliance")
    assert investor["compliance"] == "BLOCKED"


async def test_each_request_and_decision_is_in_the_audit_trail_as_the_persons(api):
    investor_id = await _blocked_investor(api)
    rejected = await _request_unblock(api, investor_id)
    assert (await _decide(api, rejected["id"], "reject", "officer-2"))[0] == 200
    approved = await _request_unblock(api, investor_id, subject="officer-3")
    assert (await _decide(api, approved["id"], "approve", "officer-4"))[0] == 200
    _, page = await api.call("GET", f"/api/v1/audit?subject={investor_id}", "auditor")
    decisions = [
        (e["action"], e["actor"], e["role"], e["reason"]) for e in page["items"] if e["action"].startswith("Approval")
    ]
    assert decisions == [
        ("ApprovalRequested", "officer-1", "compliance", "false positive"),
        ("ApprovalRejected", "officer-2", "compliance", "looked at it"),
        ("ApprovalRequested", "officer-3", "compliance", "false positive"),
        ("ApprovalGranted", "officer-4", "compliance", "looked at it"),
    ]
    actions = [e["action"] for e in page["items"]]
    assert actions.index("ApprovalGranted") < actions.index("InvestorUnblocked")  # the decision, then its effect


async def test_an_expired_request_cannot_be_approved(services, aiohttp_client):
    app = create_app(services, http_settings(access=AccessSettings(approval_ttl_s=0)), notifier=None)
    api = Api(await aiohttp_client(app), None, None)  # type: ignore[arg-type]
    request = await _request_unblock(api, await _blocked_investor_no_worker(api))
    assert request["status"] == "EXPIRED"  # a lifetime of 0 s: expired as soon as it is made
    status, problem = await _decide(api, request["id"], "approve", "officer-2")
    assert status == 409 and problem["type"].endswith("/approval-expired")
    _, listed = await api.call("GET", "/api/v1/approvals?status=EXPIRED", "auditor")
    assert [a["id"] for a in listed["items"]] == [request["id"]]
    _, listed = await api.call("GET", "/api/v1/approvals?status=PENDING", "auditor")
    assert listed["items"] == []


async def _blocked_investor_no_worker(api: Api) -> str:
    """A blocked investor written straight through the processes (this app has no worker helper)."""
    from drexfy.domain import processes as p

    investor = await p.register_investor(
        api.svc, p.RegisterInvestor("Eve Example", "eve@example.com", "DE", InvestorKind.INDIVIDUAL, False, False)
    )
    await p.block_investor(api.svc, investor.id, "sanctions hit", "officer:compliance")
    return investor.id


async def test_concurrent_approvals_make_the_unblock_take_effect_exactly_once(api):
    investor_id = await _blocked_investor(api)
    request = await _request_unblock(api, investor_id)
    results = await asyncio.gather(*[_decide(api, request["id"], "approve", f"officer-{n}") for n in range(2, 8)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409, 409, 409, 409, 409], results
    [done] = [body for status, body in results if status == 200]
    assert done["status"] == "DONE" and done["result"] == {"investor_id": investor_id}
    _, investor = await api.call("GET", f"/api/v1/investors/{investor_id}", "compliance")
    assert investor["compliance"] == "CLEAR"
    _, events = await api.call("GET", f"/api/v1/compliance/investors/{investor_id}/events", "compliance")
    assert [e["name"] for e in events["items"]].count("InvestorUnblocked") == 1
    status, _ = await _decide(api, request["id"], "approve", "officer-9")  # a retry changes nothing
    assert status == 409


async def test_granting_a_role_waits_for_a_second_admin(api):
    ana = await enrol(api, "ana", "compliance")
    headers = api.token("admin", subject="admin-1")
    response = await api.client.post(
        f"/api/v1/operators/{ana.id}/roles", json={"role": "auditor", "reason": "audit season"}, headers=headers
    )
    request = await response.json()
    assert response.status == 202 and request["kind"] == "grant_role"
    assert (await _decide(api, request["id"], "approve", "admin-1", role="admin"))[0] == 403
    status, done = await _decide(api, request["id"], "approve", "admin-2", role="admin")
    assert status == 200 and done["result"]["roles"] == ["compliance", "auditor"]
    assert await _audited(api, "OperatorRoleGranted") == [(ana.id, "admin-2", "admin")]


async def test_a_large_repayment_waits_and_a_small_one_does_not(services, aiohttp_client):
    from drexfy.adapters.notify import RecordingNotifier
    from drexfy.entrypoints.worker import Worker
    from tests.http.test_api import _holder_with_units

    settings = http_settings(access=AccessSettings(repayment_threshold_minor=1_000))
    notifier = RecordingNotifier()
    app = create_app(services, settings, notifier=notifier)
    client = await aiohttp_client(app)
    api = Api(client, notifier, Worker(app[STATE].services, notifier, settings.worker, app[STATE].metrics))
    _, instrument_id = await _holder_with_units(api, "big@example.com", "BIG1", 5)

    def body(minor: int, period: str) -> dict[str, Any]:
        return {
            "period": period,
            "interest": {"minor": minor, "currency": "EUR"},
            "principal": {"minor": 0, "currency": "EUR"},
        }

    path = f"/api/v1/instruments/{instrument_id}/repayments"
    status, small = await api.call("POST", path, "admin", json=body(1_000, "p1"))
    assert status == 202 and small["period"] == "p1", small  # at the threshold: at once
    status, large = await api.call("POST", path, "admin", json=body(1_001, "p2"))
    assert status == 202 and large["kind"] == "large_repayment" and large["status"] == "PENDING"
    _, listed = await api.call("GET", path, "admin")
    assert [r["period"] for r in listed["items"]] == ["p1"]
    await api.drain()  # p1 is paid first (one repayment distributes at a time)
    status, done = await api.approve(large["id"], "admin")
    assert status == 200 and done["status"] == "DONE", done
    _, listed = await api.call("GET", path, "admin")
    assert sorted(r["period"] for r in listed["items"]) == ["p1", "p2"]
