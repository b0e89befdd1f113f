"""Operators signed in through the company's OpenID Connect provider.

A bearer token signed with an asymmetric key (RS256, ES256, ...) is an ID or access token of the
configured provider: its key is fetched from the provider's JWKS by PyJWT's `PyJWKClient` (cached;
fetched again when a token names a key id it does not know, e.g. after the provider rotated keys),
the signature, `iss`, `aud`, `exp` and `iat` are checked, and the role comes from a claim (`roles`,
a string or a list) or from groups mapped to roles (`group_roles`). Only operator roles (admin,
compliance, auditor) can come from the provider. A person holding several roles chooses the one
they act in with the `X-Drexfy-Role` header. The subject is `oidc:<sub>`: the provider's stable
id of the person, never a role name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import jwt

from drexfy.entrypoints.http.auth import MAX_LIFETIME_S, OPERATOR_ROLES, Principal, Role
from drexfy.entrypoints.http.problems import Problem
from drexfy.entrypoints.runtime.access import OidcSettings

ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


def _invalid(detail: str) -> Problem:
    return Problem(401, "invalid-token", detail, www_authenticate=True)


class OidcVerifier:
    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=settings.jwks_lifespan_s, timeout=5)

    async def verify(self, token: str, wanted_role: str | None = None) -> Principal:
        s = self.settings
        try:
            # PyJWKClient reads the JWKS with urllib (blocking): off the event loop.
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(s.algorithms),
                issuer=s.issuer,
                audience=s.audience,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Problem(401, "token-expired", "the bearer token has expired", www_authenticate=True) from None
        except jwt.PyJWKClientConnectionError:
            raise Problem(503, "identity-provider-unavailable", "the identity provider's keys cannot be read") from None
        except jwt.PyJWTError:
            raise _invalid("the bearer token is not valid") from None
        roles = self._roles(claims)
        if wanted_role is not None:
            if wanted_role not in {r.value for r in roles}:
                raise Problem(403, "forbidden", "the token does not grant the role asked for in X-Drexfy-Role")
            role = Role(wanted_role)
        elif len(roles) == 1:
            (role,) = roles
        elif not roles:
            raise _invalid("the token grants no operator role")
        else:
            raise _invalid("the token grants several roles: choose one with the X-Drexfy-Role header")
        issued, expires = claims["iat"], claims["exp"]
        if not isinstance(issued, int) or not isinstance(expires, int):
            raise _invalid("the bearer token's iat and exp must be numbers")
        if expires - issued > MAX_LIFETIME_S[role] or issued > time.time() + 60:
            raise _invalid("the bearer token lives longer than its role allows")
        token_id = claims.get("jti")
        return Principal(f"oidc:{claims['sub']}", role, None, token_id if isinstance(token_id, str) else None)

    def _roles(self, claims: Mapping[str, Any]) -> set[Role]:
        s = self.settings
        names: set[str] = set()
        for claim, mapping in ((s.role_claim, None), (s.group_claim, s.group_roles)):
            value = claims.get(claim)
            items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            for item in items:
                if not isinstance(item, str):
                    continue
                name = item if mapping is None else mapping.get(item)
                if name:
                    names.add(name)
        return {Role(n) for n in names if n in {r.value for r in OPERATOR_ROLES}}
