"""Operators signed in through an OpenID Connect provider: RS256 tokens verified against the
provider's JWKS, served here by a local aiohttp server the test starts; issuer, audience, lifetime
and the role mapping checked."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from drexfy.adapters.notify import RecordingNotifier
from drexfy.entrypoints.http import create_app
from drexfy.entrypoints.http.state import STATE
from drexfy.entrypoints.runtime.access import AccessSettings, OidcSettings
from tests.http.conftest import http_settings

ISSUER = "https://idp.example.test/realms/drexfy"
AUDIENCE = "drexfy-api"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


PROVIDER_KEY, OTHER_KEY = _key(), _key()


@pytest.fixture
async def jwks_url(aiohttp_server: Any) -> str:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(PROVIDER_KEY.public_key()))
    jwk.update({"kid": "provider-1", "use": "sig", "alg": "RS256"})

    async def keys(request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/protocol/openid-connect/certs", keys)
    server = await aiohttp_server(app)
    return str(server.make_url("/protocol/openid-connect/certs"))


@pytest.fixture
async def client(services: Any, aiohttp_client: Any, jwks_url: str) -> Any:
    oidc = OidcSettings(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=jwks_url,
        group_roles={"/drexfy/compliance": "compliance", "/drexfy/audit": "auditor"},
    )
    app = create_app(services, http_settings(access=AccessSettings(oidc=oidc)), notifier=RecordingNotifier())
    return await aiohttp_client(app)


def provider_token(key: Any = PROVIDER_KEY, kid: str = "provider-1", **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "5f1c3a9e-0d4b-4c1e-9f0a-2b7d8e6c1a20",
        "iat": now,
        "exp": now + 300,
        "groups": ["/drexfy/compliance"],
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def _get(client: Any, token: str, path: str = "/api/v1/investors", **headers: str) -> tuple[int, Any]:
    response = await client.get(path, headers={"Authorization": f"Bearer {token}", **headers})
    return response.status, await response.json(content_type=None)


async def test_a_provider_token_with_a_mapped_group_is_a_person_in_that_role(client):
    status, body = await _get(client, provider_token())
    assert status == 200, body
    status, body = await _get(client, provider_token(), "/api/v1/jobs")
    assert status == 403  # compliance may not read the jobs


async def test_the_subject_is_the_providers_stable_id(client):
    investor_id = "inv_missing"
    response = await client.post(
        f"/api/v1/compliance/investors/{investor_id}/block",
        json={"reason": "x"},
        headers={"Authorization": f"Bearer {provider_token()}"},
    )
    assert response.status == 404  # authenticated and authorised; the investor does not exist
    principal = await client.app[STATE].access.oidc.verify(provider_token())
    assert principal.subject == "oidc:5f1c3a9e-0d4b-4c1e-9f0a-2b7d8e6c1a20"
    assert principal.role.value == "compliance"


@pytest.mark.parametrize(
    ("case", "token", "code"),
    [
        ("wrong audience", lambda: provider_token(aud="another-app"), "invalid-token"),
        ("wrong issuer", lambda: provider_token(iss="https://evil.example.test"), "invalid-token"),
        ("signed by another key", lambda: provider_token(key=OTHER_KEY), "invalid-token"),
        ("unknown key id", lambda: provider_token(key=OTHER_KEY, kid="rogue"), "invalid-token"),
        ("expired", lambda: provider_token(iat=int(time.time()) - 900, exp=int(time.time()) - 600), "token-expired"),
        ("no operator role", lambda: provider_token(groups=["/other/team"]), "invalid-token"),
        ("frontend is not a person's role", lambda: provider_token(groups=[], roles=["frontend"]), "invalid-token"),
        ("too long a life", lambda: provider_token(exp=int(time.time()) + 13 * 3600), "invalid-token"),
        ("no expiry", lambda: provider_token(exp=None), "invalid-token"),
    ],
)
async def test_a_bad_provider_token_is_a_401(client, case, token, code):
    status, body = await _get(client, token())
    assert status == 401, case
    assert body["type"].endswith("/" + code), (case, body)


async def test_several_roles_need_a_choice_and_the_choice_must_be_granted(client):
    both = provider_token(groups=["/drexfy/compliance", "/drexfy/audit"])
    status, body = await _get(client, both)
    assert status == 401 and "X-Drexfy-Role" in body["detail"]
    assert (await _get(client, both, "/api/v1/jobs", **{"X-Drexfy-Role": "auditor"}))[0] == 200
    assert (await _get(client, both, **{"X-Drexfy-Role": "compliance"}))[0] == 200
    assert (await _get(client, both, **{"X-Drexfy-Role": "admin"}))[0] == 403


async def test_a_role_claim_names_the_role_directly(client):
    status, _ = await _get(client, provider_token(groups=[], roles=["auditor"]), "/api/v1/jobs")
    assert status == 200


async def test_our_own_tokens_still_work_beside_the_provider(client):
    from drexfy.entrypoints.http import Role, issue_token
    from tests.http.conftest import JWT_SECRET

    assert (await _get(client, issue_token(JWT_SECRET, Role.ADMIN), "/api/v1/jobs"))[0] == 200
