"""Rate limits: token buckets per token and per client address, webhooks apart and generous; 429
problem+json with Retry-After; refusals counted."""

from __future__ import annotations

from typing import Any

import pytest

from drexfy.adapters.notify import RecordingNotifier
from drexfy.adapters.webhooks import sandbox
from drexfy.entrypoints.config import load_settings
from drexfy.entrypoints.http import Role, create_app, issue_token
from drexfy.entrypoints.http.ratelimit import TokenBuckets
from drexfy.entrypoints.runtime.access import (
    AccessSettings,
    Bucket,
    RateLimits,
    build_access_settings,
    proxy_networks,
)
from drexfy.entrypoints.runtime.settings import HttpSettings
from tests.http.conftest import JWT_SECRET, STRIPE_SECRET, http_settings


def test_a_bucket_allows_its_burst_then_refills_at_its_rate():
    now = [100.0]
    buckets = TokenBuckets(Bucket(burst=3, per_second=2.0), clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one request comes back in 1/2 s
    assert buckets.take("b") == 0.0  # keys are apart
    now[0] += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    now[0] += 60  # refilled to the burst, never beyond
    assert [buckets.take("a") for _ in range(4)][-1] > 0


def test_tests_and_direct_settings_are_not_throttled_but_a_deployment_is():
    assert HttpSettings("k", "s", "j").access.rate_limits.enabled is False
    deployed = build_access_settings(load_settings(env={}))
    assert deployed.rate_limits.enabled is True
    assert deployed.rate_limits.webhook.burst > deployed.rate_limits.address.burst  # webhooks: generous


def _app(services: Any, **limits: Any) -> Any:
    rate_limits = RateLimits(enabled=True, **limits)
    return create_app(
        services, http_settings(access=AccessSettings(rate_limits=rate_limits)), notifier=RecordingNotifier()
    )


def _bearer(role: str = "admin", subject: str | None = None) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(JWT_SECRET, Role(role), subject=subject)}


async def test_too_many_requests_from_one_address_get_429_with_retry_after(services, aiohttp_client):
    client = await aiohttp_client(_app(services, address=Bucket(3, 0.01)))
    statuses = [(await client.get("/api/v1/instruments", headers=_bearer())).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = await client.get("/api/v1/instruments", headers=_bearer())
    assert response.status == 429
    assert response.content_type == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
    body = await response.json()
    assert body["type"].endswith("/rate-limited") and body["title"] == "Too Many Requests"
    # not even an unauthenticated request gets through (the address counts before the token)
    assert (await client.get("/api/v1/instruments")).status == 429
    # operations endpoints are not limited
    assert (await client.get("/health")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'drexfy_http_requests_total{method="GET",route="/api/v1/instruments",status="429"} 2' in metrics


async def test_each_token_has_its_own_bucket(services, aiohttp_client):
    client = await aiohttp_client(_app(services, token=Bucket(2, 0.01)))
    one, other = _bearer(), _bearer()
    assert [(await client.get("/api/v1/instruments", headers=one)).status for _ in range(3)] == [200, 200, 429]
    assert (await client.get("/api/v1/instruments", headers=other)).status == 200


async def test_webhooks_are_limited_apart_from_the_api(services, aiohttp_client):
    app = _app(services, address=Bucket(1, 0.01), webhook=Bucket(3, 0.01))
    client = await aiohttp_client(app)
    assert (await client.get("/api/v1/instruments", headers=_bearer())).status == 200
    assert (await client.get("/api/v1/instruments", headers=_bearer())).status == 429
    statuses = []
    for n in range(4):  # the API's bucket is empty; the webhooks' is not
        body = sandbox.stripe_event(f"evt_rl_{n}", "payment_intent.succeeded", order_id="ord_none", amount_minor=100)
        response = await client.post(
            "/webhooks/payments", data=body, headers=sandbox.stripe_headers(body, STRIPE_SECRET)
        )
        statuses.append(response.status)
    assert statuses[:3] == [202, 202, 202] and statuses[3] == 429
    metrics = await (await client.get("/metrics")).text()
    assert 'drexfy_webhooks_rejected_total{reason="rate-limited",source="payments"} 1' in metrics


async def test_sign_in_attempts_are_limited_per_address(services, aiohttp_client):
    client = await aiohttp_client(_app(services, sign_in=Bucket(2, 0.01)))
    body = {"name": "nobody", "password": "whatever-password", "code": "123456"}
    statuses = [(await client.post("/api/v1/operators/sign-in", json=body)).status for _ in range(3)]
    assert statuses == [401, 401, 429]


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(services, aiohttp_client):
    """The test client connects from 127.0.0.1: as a trusted proxy, the address it appended to
    X-Forwarded-For is the client's; a client cannot pick a fresh bucket by writing the header."""
    proxies = proxy_networks("127.0.0.0/8, ::1")
    client = await aiohttp_client(_app(services, address=Bucket(2, 0.01), trusted_proxies=proxies))

    async def get(forwarded: str) -> int:
        headers = {**_bearer(), "X-Forwarded-For": forwarded}
        return int((await client.get("/api/v1/instruments", headers=headers)).status)

    assert [await get("203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert await get("198.51.100.9") == 200  # another client behind the same proxy
    assert await get("1.2.3.4, 203.0.113.7") == 429  # a spoofed first hop changes nothing
    assert await get("not-an-address, 10.9.9.9") == 200  # the last hop the proxy saw decides


async def test_without_trusted_proxies_x_forwarded_for_is_ignored(services, aiohttp_client):
    client = await aiohttp_client(_app(services, address=Bucket(2, 0.01)))
    statuses = [
        (await client.get("/api/v1/instruments", headers={**_bearer(), "X-Forwarded-For": f"203.0.113.{n}"})).status
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]  # one peer, one bucket, whatever the header says


def test_trusted_proxies_are_validated_naming_the_setting():
    from drexfy.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"rate_limits\.trusted_proxies"):
        load_settings(env={"DREXFY_RATE_LIMITS__TRUSTED_PROXIES": "10.0.0.0/8, example.com"})
    settings = load_settings(env={"DREXFY_RATE_LIMITS__TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"})
    assert [str(n) for n in build_access_settings(settings).rate_limits.trusted_proxies] == [
        "10.0.0.0/8",
        "192.0.2.1/32",
    ]
