"""Bearer tokens and roles: 401 without a valid token, 403 for a role the endpoint does not allow,
and an investor token never learns whether another investor exists."""

from __future__ import annotations

import re
import time

import jwt
import pytest

from drexfy.entrypoints.http.auth import Role, issue_token
from drexfy.entrypoints.http.people import ENDPOINTS as PEOPLE
from drexfy.entrypoints.http.routes import ENDPOINTS
from tests.http.conftest import JWT_SECRET

ROLES = ["frontend", "admin", "compliance", "investor", "auditor"]

#: The intended matrix, written out independently of the declarations so a changed role shows up.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/v1/investors"): {"frontend", "admin"},
    ("GET", "/api/v1/investors"): {"admin", "compliance", "auditor"},
    ("GET", "/api/v1/investors/{investor_id}"): {"frontend", "admin", "compliance", "investor", "auditor"},
    ("POST", "/api/v1/investors/{investor_id}/kyc"): {"frontend", "investor"},
    ("GET", "/api/v1/investors/{investor_id}/orders"): {"frontend", "admin", "investor", "auditor"},
    ("GET", "/api/v1/instruments"): {"frontend", "admin", "compliance", "investor", "auditor"},
    ("POST", "/api/v1/instruments"): {"admin"},
    ("GET", "/api/v1/instruments/{instrument_id}"): {"frontend", "admin", "compliance", "investor", "auditor"},
    ("GET", "/api/v1/instruments/{instrument_id}/reconciliation"): {"admin", "compliance", "auditor"},
    ("POST", "/api/v1/instruments/{instrument_id}/open"): {"admin"},
    ("POST", "/api/v1/instruments/{instrument_id}/close"): {"admin"},
    ("POST", "/api/v1/orders"): {"frontend", "investor"},
    ("GET", "/api/v1/orders/{order_id}"): {"frontend", "admin", "investor", "auditor"},
    ("POST", "/api/v1/orders/{order_id}/cancel"): {"frontend", "admin", "investor"},
    ("POST", "/api/v1/instruments/{instrument_id}/repayments"): {"admin"},
    ("GET", "/api/v1/instruments/{instrument_id}/repayments"): {"frontend", "admin", "auditor"},
    ("GET", "/api/v1/repayments/{repayment_id}"): {"frontend", "admin", "auditor"},
    ("GET", "/api/v1/repayments/{repayment_id}/allocations"): {"frontend", "admin", "auditor"},
    ("POST", "/api/v1/compliance/investors/{investor_id}/block"): {"compliance"},
    ("POST", "/api/v1/compliance/investors/{investor_id}/unblock"): {"compliance"},
    ("GET", "/api/v1/compliance/investors/{investor_id}/events"): {"compliance", "admin", "auditor"},
    ("GET", "/api/v1/audit"): {"compliance", "admin", "auditor"},
    ("POST", "/api/v1/compliance/investors/{investor_id}/confirm"): {"compliance"},
    ("POST", "/api/v1/compliance/investors/{investor_id}/dismiss"): {"compliance"},
    ("POST", "/api/v1/withdrawals"): {"frontend", "investor"},
    ("GET", "/api/v1/jobs"): {"admin", "auditor"},
    ("POST", "/api/v1/jobs/{job_id}/retry"): {"admin"},
    ("PUT", "/api/v1/investors/{investor_id}/payout-account"): {"frontend", "investor"},
    ("POST", "/api/v1/orders/{order_id}/pay-from-balance"): {"frontend", "investor"},
    ("POST", "/api/v1/bank/statements"): {"admin"},
    ("GET", "/api/v1/bank/deposits"): {"admin", "auditor"},
    ("POST", "/api/v1/bank/deposits/{deposit_id}/assign"): {"admin"},
    ("GET", "/api/v1/bank/payouts"): {"admin", "auditor"},
    ("POST", "/api/v1/bank/payouts"): {"admin"},
    # people, tokens and four-eyes (entrypoints/http/people.py)
    ("GET", "/api/v1/operators"): {"admin", "auditor"},
    ("POST", "/api/v1/operators/{operator_id}/roles"): {"admin"},
    ("GET", "/api/v1/tokens"): {"admin", "auditor"},
    ("POST", "/api/v1/tokens/{token_id}/revoke"): {"admin"},
    ("POST", "/api/v1/investors/{investor_id}/tokens"): {"frontend"},
    ("GET", "/api/v1/approvals"): {"admin", "compliance", "auditor"},
    ("GET", "/api/v1/approvals/{approval_id}"): {"admin", "compliance", "auditor"},
    ("POST", "/api/v1/approvals/{approval_id}/approve"): {"admin", "compliance"},
    ("POST", "/api/v1/approvals/{approval_id}/reject"): {"admin", "compliance"},
    ("POST", "/api/v1/instruments/{instrument_id}/forced-transfers"): {"admin"},
    ("POST", "/api/v1/investors/{investor_id}/wallet-recovery"): {"admin"},
}
#: The auditor reads and never writes: no endpoint that changes anything is open to it.
assert all(method == "GET" for (method, _), roles in EXPECTED.items() if "auditor" in roles)


def test_every_declared_endpoint_is_in_the_expected_matrix():
    declared = {
        (ep.method, ep.path): {r.value for r in ep.roles} for ep in [*ENDPOINTS, *PEOPLE] if ep.roles is not None
    }
    assert declared == EXPECTED


def _concrete(path: str) -> str:
    return re.sub(r"{\w+}", "missing_id", path)


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
@pytest.mark.parametrize("role", ROLES)
async def test_auth_matrix(api, method, path, role):
    status, body = await api.call(
        method, _concrete(path), role, investor_id="inv_someone", json={} if method == "POST" else None
    )
    if role in EXPECTED[(method, path)]:
        assert status not in (401, 403), (status, body)
        # the refusal (if any) is about the request, never the caller's identity
        # (204: nothing to pay out; 415: the statement upload takes XML, not the JSON sent here)
        assert status in (200, 204, 400, 404, 415), (status, body)
    else:
        assert status == 403, (status, body)
        assert body["type"].endswith("/forbidden")


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
async def test_every_api_endpoint_needs_a_token(api, method, path):
    response = await api.client.request(method, _concrete(path), json={})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("case", "token", "code"),
    [
        ("wrong key", issue_token("another-secret-of-32-bytes-length!", Role.ADMIN), "invalid-token"),
        ("expired", issue_token(JWT_SECRET, Role.ADMIN, now=time.time() - 7200, ttl_seconds=60), "token-expired"),
        ("wrong audience", issue_token(JWT_SECRET, Role.ADMIN, audience="elsewhere"), "invalid-token"),
        ("wrong issuer", issue_token(JWT_SECRET, Role.ADMIN, issuer="mallory"), "invalid-token"),
        (
            "unknown role",
            jwt.encode(
                {
                    "sub": "x",
                    "role": "root",
                    "iss": "drexfy",
                    "aud": "drexfy-api",
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 6 * 3600,  # built at collection time: must outlive a long run
                },
                JWT_SECRET,
            ),
            "invalid-token",
        ),
        (
            "investor without investor id",
            jwt.encode(
                {
                    "sub": "x",
                    "role": "investor",
                    "iss": "drexfy",
                    "aud": "drexfy-api",
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 6 * 3600,  # built at collection time: must outlive a long run
                },
                JWT_SECRET,
            ),
            "invalid-token",
        ),
        (
            "alg none",
            jwt.encode(
                {
                    "sub": "x",
                    "role": "admin",
                    "iss": "drexfy",
                    "aud": "drexfy-api",
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 6 * 3600,  # built at collection time: must outlive a long run
                },
                None,
                algorithm="none",
            ),
            "invalid-token",
        ),
        (
            "expiry in the year 9999",
            jwt.encode(
                {
                    "sub": "x",
                    "role": "admin",
                    "iss": "drexfy",
                    "aud": "drexfy-api",
                    "iat": int(time.time()),
                    "exp": 253402300799,
                },
                JWT_SECRET,
            ),
            "invalid-token",
        ),
        (
            "an admin token for 13 hours",
            jwt.encode(
                {
                    "sub": "x",
                    "role": "admin",
                    "iss": "drexfy",
                    "aud": "drexfy-api",
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 13 * 3600,
                },
                JWT_SECRET,
            ),
            "invalid-token",
        ),
        (
            "no expiry",
            jwt.encode(
                {"sub": "x", "role": "admin", "iss": "drexfy", "aud": "drexfy-api", "iat": int(time.time())}, JWT_SECRET
            ),
            "invalid-token",
        ),
    ],
)
async def test_an_invalid_token_is_a_401(api, case, token, code):
    response = await api.client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 401, case
    assert (await response.json())["type"].endswith("/" + code)


async def test_a_non_bearer_scheme_is_a_401(api):
    response = await api.client.get("/api/v1/jobs", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert response.status == 401


async def test_an_investor_token_cannot_tell_another_investor_from_a_missing_one(api):
    alice = await api.active_investor("alice@example.com")
    bob = await api.active_investor("bob@example.com")
    instrument_id = await api.open_instrument("SCOPE1")
    bobs_order = await api.order(bob, instrument_id, 1)

    def shape(body):
        return {k: v for k, v in body.items() if k not in ("instance", "request_id")}

    for existing, missing in [
        (f"/api/v1/investors/{bob}", "/api/v1/investors/inv_nobody"),
        (f"/api/v1/investors/{bob}/orders", "/api/v1/investors/inv_nobody/orders"),
        (f"/api/v1/orders/{bobs_order['id']}", "/api/v1/orders/ord_nobody"),
    ]:
        s1, b1 = await api.call("GET", existing, "investor", investor_id=alice)
        s2, b2 = await api.call("GET", missing, "investor", investor_id=alice)
        assert (s1, shape(b1)) == (s2, shape(b2)) == (404, shape(b2)), existing
        assert b1["type"] == b2["type"]

    # acting for someone else looks the same as acting for nobody
    s1, b1 = await api.call(
        "POST",
        "/api/v1/orders",
        "investor",
        investor_id=alice,
        json={"investor_id": bob, "instrument_id": instrument_id, "units": 1},
    )
    s2, b2 = await api.call(
        "POST",
        "/api/v1/orders",
        "investor",
        investor_id=alice,
        json={"investor_id": "inv_nobody", "instrument_id": instrument_id, "units": 1},
    )
    assert (s1, shape(b1)) == (s2, shape(b2))
    assert s1 == 404

    # and the own investor is visible
    status, own = await api.call("GET", f"/api/v1/investors/{alice}", "investor", investor_id=alice)
    assert status == 200 and own["id"] == alice


def test_tokens_are_issued_only_within_their_roles_lifetime():
    from drexfy.entrypoints.http.auth import MAX_LIFETIME_S

    for role, limit in MAX_LIFETIME_S.items():
        inv = "inv_1" if role is Role.INVESTOR else None
        assert issue_token(JWT_SECRET, role, investor_id=inv, ttl_seconds=limit)
        with pytest.raises(ValueError, match="lives at most"):
            issue_token(JWT_SECRET, role, investor_id=inv, ttl_seconds=limit + 1)
